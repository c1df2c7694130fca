/* Soft state of the chunkds as the leader sees them: address, label, space,
 * last heartbeat, liveness, the orders waiting for their next heartbeat, and
 * copies reported bad. Never in the Raft log: a new leader rebuilds it from
 * registrations and heartbeats (chunkds re-register when told to).
 *
 * Not thread-safe: the meta's libuv loop owns it, so no field is locked. */
#ifndef META_REGISTRY_H
#define META_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_label.h"

struct meta_registry;

/* An order for a chunkd (wire.proto CsOrder). */
struct meta_order {
	uint32_t kind;          /* 1 = delete copy, 2 = replicate from source */
	uint64_t chunk_id;
	uint64_t version;
	char *source;           /* kind 2: host:port of a good copy */
	uint64_t prev_version;  /* kind 3: the version the copy has */
};

#define META_ORDER_DELETE 1u
#define META_ORDER_REPLICATE 2u
#define META_ORDER_PROMOTE 3u

struct meta_node {
	char *node_id;
	char *address;
	char *label;            /* "" when none */
	struct gd_label loc;    /* label parsed (empty when it does not parse) */
	bool draining;          /* the FSM says so (meta_drain.h): no new copies */
	uint64_t copies;        /* chunk records naming it, last complete scan */
	uint64_t copies_scan;   /* idem, scan in progress */
	bool copies_known;      /* a complete scan counted them */
	bool resync;            /* orders were dropped: ask for its chunk report */
	uint64_t total_bytes;
	uint64_t free_bytes;
	uint64_t chunk_count;
	uint64_t last_seen_ms;  /* monotonic */
	uint64_t reads;         /* recent read chains that put it first (decays) */
	uint64_t suspect_until_ms; /* a client named it failed: placed last until then */
	struct meta_order *orders;
	size_t n_orders;
	size_t cap_orders;
};

int meta_registry_new(uint64_t dead_after_ms, struct meta_registry **out);
void meta_registry_free(struct meta_registry *reg);
/* Forgets every node (a leader that just took over starts empty). */
void meta_registry_clear(struct meta_registry *reg);

/* Records a (re)registration. Returns 0 and *out, or GD_ENOMEM / GD_EINVAL. */
int meta_registry_register(struct meta_registry *reg, const char *node_id,
			   const char *address, const char *label,
			   uint64_t total, uint64_t free_bytes, uint64_t chunk_count,
			   uint64_t now_ms, struct meta_node **out);
/* A heartbeat; GD_ENOENT when the node has not registered with this leader. */
int meta_registry_heartbeat(struct meta_registry *reg, const char *node_id,
			    uint64_t total, uint64_t free_bytes, uint64_t chunk_count,
			    uint64_t now_ms, struct meta_node **out);

struct meta_node *meta_registry_get(struct meta_registry *reg, const char *node_id);
bool meta_registry_node_alive(const struct meta_registry *reg, const struct meta_node *n,
			      uint64_t now_ms);
/* The address of node_id when it is registered and alive, else NULL. */
const char *meta_registry_alive_address(struct meta_registry *reg, const char *node_id,
					uint64_t now_ms);

/* Chooses up to want alive nodes for a new chunk: not draining, most free
 * space first, distinct nodes, spread over racks and zones
 * (meta_place_pick; a fallback onto a shared rack is logged, rate-limited).
 * Fills ids[] (room for cap; want above cap is cut to cap) with node id
 * pointers (valid until the registry changes) and returns how many. */
size_t meta_registry_place(struct meta_registry *reg, uint64_t now_ms, size_t want,
			   const char **ids, size_t cap);
/* One node for a new copy of chunk_id, whose copies are on have[0..n_have)
 * (node ids; skip[0..n_skip) may not be chosen either, e.g. a copy being
 * made): alive, not draining, the most spread against have, then the most
 * free. NULL when there is none. */
const char *meta_registry_place_one(struct meta_registry *reg, uint64_t now_ms,
				    uint64_t chunk_id, const char *const *have, size_t n_have,
				    const char *const *skip, size_t n_skip);
/* Sets whether node_id is draining (unknown node: nothing). */
void meta_registry_set_draining(struct meta_registry *reg, const char *node_id, bool draining);
/* The chunk-record count per node of the leader's scan: count one record
 * naming node_id in the pass in progress; pass_end publishes the pass. */
void meta_registry_count_copy(struct meta_registry *reg, const char *node_id);
void meta_registry_pass_end(struct meta_registry *reg);
/* The meta_place view of n (borrows n's strings). */
struct meta_place_node;
void meta_registry_place_node(const struct meta_node *n, struct meta_place_node *out);

/* A client named node_id as a failed chain member: new chunks go to other
 * nodes first for the time the meta needs to see it dead (a hung chunkd
 * still looks alive until then, and each chunk placed on it costs a writer
 * the chain's deadline). Unknown node: nothing. */
void meta_registry_suspect(struct meta_registry *reg, const char *node_id, uint64_t now_ms);

/* Queues a promote order: the node's copy of chunk_id at prev_version is
 * renamed to version (a lease's first write never came: no write at
 * version was acknowledged anywhere, so the copy at prev_version is the
 * chunk's content). 0 or GD_ENOMEM. */
int meta_registry_order_promote(struct meta_registry *reg, const char *node_id,
				uint64_t chunk_id, uint64_t version, uint64_t prev_version);

/* Queues an order (source copied; may be NULL). Unknown node: dropped (its
 * registration report reconciles it). Returns 0 or GD_ENOMEM; a full queue
 * sets n->resync (its next heartbeat asks for the report that reconciles
 * what the dropped orders would have done). */
int meta_registry_order(struct meta_registry *reg, const char *node_id, uint32_t kind,
			uint64_t chunk_id, uint64_t version, const char *source);
/* Hands the node's queued orders over (the caller frees them with
 * meta_registry_orders_free) and empties the queue. */
void meta_registry_take_orders(struct meta_node *n, struct meta_order **orders, size_t *count);
void meta_registry_orders_free(struct meta_order *orders, size_t count);

/* Copies reported bad (moved aside by the chunkd): reads and leases skip them
 * until the node reports the chunk again at the right version. */
int meta_registry_mark_bad(struct meta_registry *reg, uint64_t chunk_id, const char *node_id);
bool meta_registry_is_bad(struct meta_registry *reg, uint64_t chunk_id, const char *node_id);
void meta_registry_clear_bad(struct meta_registry *reg, uint64_t chunk_id, const char *node_id);

/* Sums over alive nodes. */
void meta_registry_totals(struct meta_registry *reg, uint64_t now_ms, uint64_t *total,
			  uint64_t *free_bytes, uint64_t *alive);
/* Walks the nodes: *pos starts at 0; NULL at the end. */
struct meta_node *meta_registry_next(struct meta_registry *reg, size_t *pos);
/* Halves every node's recent-read count (called once a second). */
void meta_registry_decay(struct meta_registry *reg);

#endif
