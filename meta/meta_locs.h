/* The leader's soft state of chunk locations: which chunkds really hold a
 * copy of each chunk at its current version, learnt from registrations (the
 * chunk report) and from leases granted since; the replication ordered for
 * each chunk and not yet confirmed; the copy a failure dropped from a chain,
 * deleted once the new chain has written; and per chunkd, the orders it was
 * given and when to ask it for a new report.
 *
 * The FSM keeps the valid node set of each chunk (durable); this module only
 * says which of those (and of the copies made since) can serve now. Read
 * chains and lease chains come from it, and every entry is checked against
 * the FSM's version before use. Nothing here survives a change of leader: a
 * new leader starts empty (meta_locs_clear) and learns again from reports.
 *
 * Ownership and threads: one struct meta_locs per meta server, created and
 * held by struct meta_server (meta_server.h); it is touched only by the
 * meta's loop thread, so nothing is locked. Time is always passed in (now_ms,
 * a monotonic clock in ms) so that tests can drive it. */
#ifndef META_LOCS_H
#define META_LOCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_fsm.h"
#include "meta_ns.h"
#include "meta_registry.h"
#include "proto/wire.pb-c.h"

#define META_LOCS_CHAIN_MAX 16      /* longest chain handed out */
_Static_assert(META_NS_GOAL_MAX <= META_LOCS_CHAIN_MAX, "a goal must fit in a chain");
#define META_LOCS_NODE_NONE UINT32_MAX
/* After a member left a chain (or copies were told to move up a version),
 * the reports of the chunk's holders are asked for this soon. */
#define META_LOCS_DROP_CONFIRM_MS 1000

struct meta_locs;

/* An interned chunkd (node ids become small numbers in the tables). */
struct meta_locs_node {
	char *id;
	uint32_t n_pending;     /* replications ordered to it, not yet confirmed */
	uint64_t last_order_ms; /* when the last one was ordered */
	uint64_t asked_ms;      /* when it was last asked to re-register */
	uint64_t recheck_ms;    /* ask for a report at this time (0 = no) */
};

/* The copies of one chunk as the leader knows them. The fields after
 * `pending_ms` (but pending_bytes, which pending set and clear count) belong
 * to the re-replication scan (meta_repl.c), which keeps them here because
 * they live and die with the entry. */
struct meta_loc {
	uint64_t version;       /* the chunk version the holders have */
	uint64_t lease_until_ms;
	uint64_t lease_ms;      /* when the lease was granted */
	uint32_t *holders;
	uint32_t n_holders;
	uint32_t cap_holders;
	uint32_t pending;       /* node replicating a copy, or META_LOCS_NODE_NONE */
	uint64_t pending_ms;
	bool trimming;          /* a copy above goal is being dropped */
	uint32_t move_from;     /* a move's copy to drop once the new one is in (meta_balance.h) */
	uint8_t why;            /* why it is not being copied (meta_repl.c), for the log */
	uint8_t tries;          /* copies ordered that timed out: picks another source */
	uint64_t under_since_ms; /* first seen under goal by a scan (0 = not under) */
	uint64_t pending_bytes; /* the estimated size of the copy pending */
	uint64_t promote_ms;    /* when copies at prev_version were last told to move up */
	/* a member that left the chain at a failure; its copy (at
	 * dropped_version) is deleted once a holder reports this version */
	uint32_t dropped;
	uint64_t dropped_version;
	/* valid-set members still at the record's prev_version (their lease's
	 * first write never came), as reported at registration */
	uint64_t prev_version;
	uint32_t *prevh;
	uint32_t n_prevh;
	uint32_t cap_prevh;
};

/* An empty table: 0 or GD_ENOMEM. */
int meta_locs_new(struct meta_locs **out);
void meta_locs_free(struct meta_locs *locs);
/* Forgets everything (this node stopped or started being leader). */
void meta_locs_clear(struct meta_locs *locs);

/* ---- node names ---- */

/* The interned number of node_id, added when new; META_LOCS_NODE_NONE on
 * ENOMEM, NULL or past 65536 nodes. */
uint32_t meta_locs_intern(struct meta_locs *locs, const char *node_id);
/* The interned number of node_id without adding it, or META_LOCS_NODE_NONE. */
uint32_t meta_locs_find(const struct meta_locs *locs, const char *node_id);
/* The node id of an interned number, or NULL. */
const char *meta_locs_name(const struct meta_locs *locs, uint32_t idx);
/* The node of an interned number (valid until the next intern), or NULL. */
struct meta_locs_node *meta_locs_node(struct meta_locs *locs, uint32_t idx);

/* ---- entries ---- */

/* The entry of chunk_id, or NULL (valid until the next change of the table). */
struct meta_loc *meta_locs_get(const struct meta_locs *locs, uint64_t chunk_id);
/* The entry of chunk_id at version: created, or reset when it recorded
 * another version (holders, pending and lease go). NULL on ENOMEM. */
struct meta_loc *meta_locs_at(struct meta_locs *locs, uint64_t chunk_id, uint64_t version);
/* Walks the entries: *pos starts at 0; NULL at the end. */
struct meta_loc *meta_locs_next(const struct meta_locs *locs, size_t *pos, uint64_t *chunk_id);

/* Holders of chunk_id at version: replaces whatever was recorded (a lease or
 * a new chain bumped the version). lease_until_ms > 0: a lease runs until
 * then (no re-replication meanwhile), and for a few seconds a
 * re-registration that does not show the copy yet keeps the holder (the
 * lease's first write may not have reached it) and is checked again later. */
int meta_locs_set(struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
		  const char *const *node_ids, size_t n, uint64_t lease_until_ms, uint64_t now_ms);
/* Adds one holder at version (an entry at another version is reset first);
 * a replication pending to that node is confirmed by it. */
int meta_locs_add(struct meta_locs *locs, uint64_t chunk_id, uint64_t version, uint32_t node);
/* Removes node from the holders (and pending replication) of chunk_id. */
void meta_locs_remove(struct meta_locs *locs, uint64_t chunk_id, uint32_t node);
/* Forgets chunk_id entirely. */
void meta_locs_drop(struct meta_locs *locs, uint64_t chunk_id);
/* Whether node holds chunk_id at version (by the soft state). */
bool meta_locs_has(const struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
		   uint32_t node);
/* Whether node was ordered to replicate chunk_id (at version) and is not yet confirmed. */
bool meta_locs_pending(const struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
		       uint32_t node);

/* ---- pending replications ---- */

/* Records that node was ordered to make a copy of l's chunk now, of about
 * bytes (the estimated size of the copy, counted until it is over). */
void meta_locs_pending_set(struct meta_locs *locs, struct meta_loc *l, uint32_t node,
			   uint64_t now_ms, uint64_t bytes);
/* The replication pending on l (if any) is over: confirmed or given up. */
void meta_locs_pending_clear(struct meta_locs *locs, struct meta_loc *l);
/* Replications ordered and not yet confirmed, over all chunks. */
size_t meta_locs_n_pending(const struct meta_locs *locs);
/* The estimated bytes of those replications. */
uint64_t meta_locs_pending_bytes(const struct meta_locs *locs);

/* ---- the choices made from it ---- */

/* Fills ids (up to max) with the holders of the chunk that can serve it now:
 * alive, not marked bad, at the FSM's version. With for_read, least loaded
 * first (and the first one's read count in reg goes up), then the alive
 * holders marked bad (a bad block fails only its own range); otherwise in
 * FSM chain order, then the rest. Returns how many. */
size_t meta_locs_live(const struct meta_locs *locs, struct meta_registry *reg,
		      const struct meta_fsm_chunk *c, bool for_read, uint64_t now_ms,
		      const char **ids, size_t max);

/* Fills ids with the live valid-set members still at the record's
 * prev_version (a lease bumped the version, its first write never came).
 * When nobody holds the current version, no write at it was acknowledged
 * (an acknowledged write is on every chain member), so these copies hold
 * every acknowledged byte: reads use them at prev_version, and a new lease
 * moves them straight to the next version (MetaEntry.lease_prev). */
size_t meta_locs_live_prev(const struct meta_locs *locs, struct meta_registry *reg,
			   const struct meta_fsm_chunk *c, uint64_t now_ms,
			   const char **ids, size_t max);

/* Whether chunk c (prev_version 0: created by a lease) provably has no copy
 * anywhere: every valid-set member is live and registered, none has it, and
 * no copy was ever seen. Then it reads as a hole and a new lease may create
 * it afresh. One live member without the copy proves nothing (it may have
 * lost it while a member that is down holds the only one): the read then
 * fails with EIO until that member is back. */
bool meta_locs_never_written(const struct meta_locs *locs, struct meta_registry *reg,
			     const struct meta_fsm_chunk *c, uint64_t now_ms);

/* ---- what chunkds tell ---- */

/* Called by meta_locs_register for every copy that confirms a replication
 * ordered to node_id: the caller records the new valid set in the FSM. */
typedef void (*meta_locs_confirmed_fn)(void *arg, const struct meta_fsm_chunk *c,
				       const char *node_id);

/* A (re)registration of node_id with its chunk report, checked against fsm:
 * the copies to drop go to drop[] (pointers into the report; capacity n),
 * holders are updated, pending replications confirmed (confirmed() is
 * called for each), and a copy that shows a new chain has written lets the
 * copy a failure dropped be deleted (an order in reg). Holders the report
 * does not confirm lose the node, except right after a lease. Returns the
 * count of drop[]. */
size_t meta_locs_register(struct meta_locs *locs, struct meta_fsm *fsm,
			  struct meta_registry *reg, const char *node_id,
			  Godfs__ChunkReport *const *report, size_t n, Godfs__ChunkReport **drop,
			  uint64_t now_ms, meta_locs_confirmed_fn confirmed, void *arg);

/* node_id (interned as node) holds chunk c at its version, confirmed by
 * itself (a report, or a replication it says finished): it becomes a holder
 * (a replication pending to it is over), the copy a failure dropped from
 * c's chain may be deleted (an order in reg: the new chain has written),
 * and its copy is no longer marked bad. */
void meta_locs_confirm(struct meta_locs *locs, struct meta_registry *reg,
		       const struct meta_fsm_chunk *c, uint32_t node, const char *node_id);

/* Whether node_id should re-register now to confirm replications it was
 * given or the first write of a new chain (asks at most every few seconds). */
bool meta_locs_want_report(struct meta_locs *locs, const char *node_id, uint64_t now_ms);

/* Chunks an apply freed: delete orders (in reg) to every node with a copy,
 * listed by the FSM or only known here, and the table forgets them. */
void meta_locs_freed(struct meta_locs *locs, struct meta_registry *reg,
		     const struct meta_fsm_result *res);

/* A member left the chain of chunk_id when the version went to version: its
 * copy (at prev_version) is deleted once a holder reports the new version
 * (the new chain acknowledged a write), never before. */
void meta_locs_dropped(struct meta_locs *locs, struct meta_registry *reg, uint64_t chunk_id,
		       uint64_t version, const char *node_id, uint64_t prev_version,
		       uint64_t now_ms);

#endif
