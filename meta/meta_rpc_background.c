/* The leader's periodic work and the soft state it runs on (see
 * meta_rpc_internal.h): chunk locations learnt from registrations and leases,
 * re-replication of chunks below goal (one pending copy per chunk, in the
 * order of meta_repl_plan.h: fewest live copies first; a bound per target
 * chunkd), deletion orders for freed chunks, session expiry, orphan purge,
 * lease expiry, and the rebuild of soft state when this node becomes leader.
 *
 * Everything here runs on the meta's loop thread, so nothing is locked. The
 * state is one static instance: a process runs one meta server. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_balance.h"
#include "meta_drain.h"
#include "meta_ns.h"
#include "meta_repl_plan.h"
#include "meta_rpc.h"
#include "meta_rpc_internal.h"

#define FSM(name) GODFS__FSM_METHOD__M_FSM_##name

#define SCAN_PER_TICK 1024          /* chunk records looked at per tick */
#define SCAN_PASS_MIN_MS 1000       /* a new scan pass at most once a second */
/* Copies are confirmed by the target's next heartbeat (it comes early for
 * them), so these bounds are about the meta's work per tick, not the
 * throughput: that is the chunkds' (--repl-rate-limit) and the per-node
 * bound (--repl-max-per-node). Before heartbeat confirmations, 32 pending
 * copies confirmed by a registration every 5 s capped repair at 6.4
 * copies a second. */
#define REPL_MAX_PENDING 4096       /* replications ordered and not yet confirmed */
#define REPL_PER_TICK 256           /* replication orders per tick */
#define PLAN_LOOK_PER_TICK 4096     /* plan entries looked at per tick */
#define REPL_PER_NODE_DEFAULT 32
#define REPL_TIMEOUT_MS 30000       /* a replication not confirmed by then is retried */
/* After a write lease ends, writes started under it may still be on their
 * way (a client waits up to its chunk timeout, 10 s by default, for a chain
 * whose members forward with less): a copy made before they end would miss
 * them and still carry the lease's version. */
#define LEASE_DRAIN_MS 12000
#define WHY_MAX 16                  /* under-goal chunks whose reason status shows */
#define WHY_LEN 200
#define REPORT_AFTER_MS 2000        /* ask for a report this long after a replication order */
#define REPORT_EVERY_MS 5000        /* and not more often than this per node */
#define EXPIRE_PER_TICK 64
#define PURGE_PER_TICK 64
#define DECAY_EVERY_MS 1000
#define FIRST_WRITE_MS 5000         /* a lease's first write reaches its chain by then */
/* After a member left a chain, the new chain's reports are asked for this
 * soon: its copy is deleted once they show the new version, and until then
 * a reader with a location cached before the change may still read it. */
#define DROP_CONFIRM_MS 1000

/* An interned chunkd. */
struct rnode {
	char *id;
	uint32_t n_pending;     /* replications ordered to it, not yet confirmed */
	uint64_t last_order_ms; /* when the last one was ordered */
	uint64_t asked_ms;      /* when it was last asked to re-register */
	uint64_t recheck_ms;    /* ask for a report at this time (0 = no) */
};

/* The copies of one chunk as the leader knows them. */
struct loc {
	uint64_t version;       /* the chunk version the holders have */
	uint64_t lease_until_ms;
	uint64_t lease_ms;      /* when the lease was granted */
	uint32_t *holders;
	uint32_t n_holders;
	uint32_t cap_holders;
	uint32_t pending;       /* node replicating a copy, or META_RPC_NODE_NONE */
	uint64_t pending_ms;
	bool trimming;          /* a copy above goal is being dropped */
	uint32_t move_from;     /* a move's copy to drop once the new one is in (meta_balance.h) */
	uint8_t why;            /* why it is not being copied (enum why), for the log */
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

struct soft {
	struct rnode *nodes;
	size_t n_nodes;
	size_t cap_nodes;
	struct meta_ns_map locs;    /* chunk id -> struct loc */
	size_t n_pending;
	size_t scan_pos;
	bool scanning;
	uint64_t scan_started_ms;
	uint64_t scan_under;        /* under-goal count of the pass in progress */
	uint64_t under_goal;        /* of the last complete pass */
	uint64_t last_decay_ms;
	uint64_t repl_after_ms;     /* no copies before (leases of a former leader) */
	uint64_t repl_done;         /* copies confirmed */
	uint64_t repl_failed;       /* copies not confirmed in time, or failed */
	uint64_t pending_bytes;     /* estimated bytes of the copies pending */
	/* the priority of copies (meta_repl_plan.h): a scan pass fills
	 * next_plan and census_scan; at its end they become plan and census */
	struct meta_repl_plan plan;
	struct meta_repl_plan next_plan;
	struct meta_repl_census census;
	struct meta_repl_census census_scan;
	struct meta_repl_rate rate;
	uint64_t pass_end_ms;
	uint32_t max_per_node;      /* --repl-max-per-node, as of the last tick */
	Godfs__ReplProgress progress;          /* what meta_rpc_repl_status hands out */
	uint64_t progress_hist[META_REPL_HIST];
	char last_error[WHY_LEN];
	char scan_why[WHY_MAX][WHY_LEN];  /* of the pass in progress */
	size_t n_scan_why;
	char why[WHY_MAX][WHY_LEN];       /* of the last complete pass */
	size_t n_why;
	char *why_ptrs[WHY_MAX];
};

/* Why a chunk under goal is not being copied. */
enum why {
	WHY_NONE = 0,
	WHY_COPYING,            /* a copy is on its way */
	WHY_LEASE,              /* a write lease (or its drain time) holds it */
	WHY_LEADER,             /* leases of a former leader may still run */
	WHY_NO_COPY,            /* no live copy at its version */
	WHY_NO_TARGET,          /* every live chunkd holds it already */
	WHY_ORDER,              /* the order could not be queued */
	WHY_PROMOTING,          /* copies at the previous version are being moved up */
	WHY_QUEUED,             /* in the plan: chunks with fewer copies go first */
	WHY_NODE_LIMIT,         /* every chunkd it may go to has its most copies coming */
};

static struct soft S;

/* ---- node names ------------------------------------------------------------------ */

uint32_t meta_rpc_node_intern(const char *node_id)
{
	size_t i;

	if (!node_id)
		return META_RPC_NODE_NONE;
	for (i = 0; i < S.n_nodes; i++)
		if (strcmp(S.nodes[i].id, node_id) == 0)
			return (uint32_t)i;
	if (S.n_nodes >= 65536)
		return META_RPC_NODE_NONE;
	if (S.n_nodes == S.cap_nodes) {
		size_t cap = S.cap_nodes ? S.cap_nodes * 2 : 16;
		struct rnode *n = gd_realloc(S.nodes, cap * sizeof(*n));
		if (!n)
			return META_RPC_NODE_NONE;
		S.nodes = n;
		S.cap_nodes = cap;
	}
	memset(&S.nodes[S.n_nodes], 0, sizeof(S.nodes[0]));
	S.nodes[S.n_nodes].id = gd_strdup(node_id);
	if (!S.nodes[S.n_nodes].id)
		return META_RPC_NODE_NONE;
	return (uint32_t)S.n_nodes++;
}

const char *meta_rpc_node_name(uint32_t idx)
{
	return idx < S.n_nodes ? S.nodes[idx].id : NULL;
}

/* The interned number of a node id without adding it. */
static uint32_t node_find(const char *node_id)
{
	size_t i;

	for (i = 0; node_id && i < S.n_nodes; i++)
		if (strcmp(S.nodes[i].id, node_id) == 0)
			return (uint32_t)i;
	return META_RPC_NODE_NONE;
}

/* ---- locations ------------------------------------------------------------------- */

/* The data bytes of one copy of c (an estimate: a sparse chunk moves less). */
static uint64_t chunk_bytes(struct meta_server *ms, const struct meta_fsm_chunk *c)
{
	return meta_repl_chunk_bytes(c->file_size, c->index, meta_fsm_chunk_size(ms->fsm));
}

static void pending_clear(struct loc *l)
{
	if (l->pending == META_RPC_NODE_NONE)
		return;
	if (l->pending < S.n_nodes && S.nodes[l->pending].n_pending)
		S.nodes[l->pending].n_pending--;
	if (S.n_pending)
		S.n_pending--;
	S.pending_bytes -= l->pending_bytes <= S.pending_bytes ? l->pending_bytes
							       : S.pending_bytes;
	l->pending_bytes = 0;
	l->pending = META_RPC_NODE_NONE;
}

static void loc_free(struct loc *l)
{
	pending_clear(l);
	gd_free(l->holders);
	gd_free(l->prevh);
	gd_free(l);
}

/* The entry of chunk_id at version: created, or reset when it recorded
 * another version. NULL on ENOMEM. */
static struct loc *loc_at(uint64_t chunk_id, uint64_t version)
{
	struct loc *l = meta_ns_map_get(&S.locs, chunk_id);

	if (l) {
		if (l->version != version) {
			pending_clear(l);
			l->n_holders = 0;
			l->n_prevh = 0;
			l->lease_until_ms = 0;
			l->promote_ms = 0;
			l->tries = 0;
			l->move_from = META_RPC_NODE_NONE;
			l->version = version;
		}
		return l;
	}
	l = gd_calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->version = version;
	l->pending = META_RPC_NODE_NONE;
	l->dropped = META_RPC_NODE_NONE;
	l->move_from = META_RPC_NODE_NONE;
	if (meta_ns_map_put(&S.locs, chunk_id, l) != 0) {
		gd_free(l);
		return NULL;
	}
	return l;
}

static bool loc_holds(const struct loc *l, uint32_t node)
{
	uint32_t i;

	for (i = 0; i < l->n_holders; i++)
		if (l->holders[i] == node)
			return true;
	return false;
}

static bool in_list(const uint32_t *a, uint32_t n, uint32_t node)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (a[i] == node)
			return true;
	return false;
}

/* Adds node to a set of node numbers (no duplicates). */
static int list_push(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t node)
{
	if (in_list(*a, *n, node))
		return 0;
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 4;
		uint32_t *h = gd_realloc(*a, c * sizeof(*h));
		if (!h)
			return GD_ENOMEM;
		*a = h;
		*cap = c;
	}
	(*a)[(*n)++] = node;
	return 0;
}

static int loc_push(struct loc *l, uint32_t node)
{
	return list_push(&l->holders, &l->n_holders, &l->cap_holders, node);
}

static void loc_pop(struct loc *l, uint32_t node)
{
	uint32_t i;

	for (i = 0; i < l->n_holders; i++) {
		if (l->holders[i] == node) {
			memmove(&l->holders[i], &l->holders[i + 1],
				(l->n_holders - i - 1) * sizeof(l->holders[0]));
			l->n_holders--;
			return;
		}
	}
}

int meta_rpc_loc_set(uint64_t chunk_id, uint64_t version, const char *const *node_ids,
		     size_t n, uint64_t lease_until_ms)
{
	struct loc *l = loc_at(chunk_id, version);
	size_t i;
	int rc = 0;

	if (!l)
		return GD_ENOMEM;
	pending_clear(l);
	l->n_holders = 0;
	l->n_prevh = 0;
	l->lease_until_ms = lease_until_ms;
	l->lease_ms = lease_until_ms ? meta_server_now_ms() : 0;
	for (i = 0; i < n && rc == 0; i++) {
		uint32_t x = meta_rpc_node_intern(node_ids[i]);
		rc = x == META_RPC_NODE_NONE ? GD_ENOMEM : loc_push(l, x);
	}
	return rc;
}

int meta_rpc_loc_add(uint64_t chunk_id, uint64_t version, uint32_t node)
{
	struct loc *l;

	if (node == META_RPC_NODE_NONE)
		return GD_EINVAL;
	l = loc_at(chunk_id, version);
	if (!l)
		return GD_ENOMEM;
	if (l->pending == node)
		pending_clear(l);
	return loc_push(l, node);
}

/* Records that node still has chunk_id at prev_version (record at version). */
static int loc_add_prev(uint64_t chunk_id, uint64_t version, uint64_t prev_version,
			uint32_t node)
{
	struct loc *l;
	uint32_t i;

	if (node == META_RPC_NODE_NONE)
		return GD_EINVAL;
	l = loc_at(chunk_id, version);
	if (!l)
		return GD_ENOMEM;
	if (l->prev_version != prev_version) {
		l->n_prevh = 0;
		l->prev_version = prev_version;
	}
	for (i = 0; i < l->n_prevh; i++)
		if (l->prevh[i] == node)
			return 0;
	return list_push(&l->prevh, &l->n_prevh, &l->cap_prevh, node);
}

void meta_rpc_loc_remove(uint64_t chunk_id, uint32_t node)
{
	struct loc *l = meta_ns_map_get(&S.locs, chunk_id);
	uint32_t i;

	if (!l)
		return;
	loc_pop(l, node);
	for (i = 0; i < l->n_prevh; i++) {
		if (l->prevh[i] == node) {
			l->prevh[i] = l->prevh[--l->n_prevh];
			break;
		}
	}
	if (l->pending == node)
		pending_clear(l);
}

void meta_rpc_loc_drop(uint64_t chunk_id)
{
	struct loc *l = meta_ns_map_del(&S.locs, chunk_id);

	if (l)
		loc_free(l);
}

bool meta_rpc_loc_has(uint64_t chunk_id, uint64_t version, uint32_t node)
{
	struct loc *l = meta_ns_map_get(&S.locs, chunk_id);

	return l && l->version == version && loc_holds(l, node);
}

bool meta_rpc_loc_pending(uint64_t chunk_id, uint64_t version, uint32_t node)
{
	struct loc *l = meta_ns_map_get(&S.locs, chunk_id);

	return l && l->version == version && node != META_RPC_NODE_NONE && l->pending == node;
}

/* Whether node_id is in the FSM's valid set of c. */
static bool fsm_valid(const struct meta_fsm_chunk *c, const char *node_id)
{
	size_t i;

	for (i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i], node_id) == 0)
			return true;
	return false;
}

/* Sort key for read chains: least recently loaded first. */
struct cand {
	const char *id;
	struct meta_node *n;
	size_t order;
};

static int cmp_reads(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->n->reads != y->n->reads)
		return x->n->reads < y->n->reads ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

size_t meta_rpc_loc_live(struct meta_server *ms, const struct meta_fsm_chunk *c,
			 bool for_read, const char **ids, size_t max)
{
	struct loc *l = meta_ns_map_get(&S.locs, c->chunk_id);
	struct cand cands[META_RPC_CHAIN_MAX];
	const char *bad[META_RPC_CHAIN_MAX];
	uint64_t now = meta_server_now_ms();
	size_t n = 0, n_bad = 0, i;
	uint32_t k;

	if (!l || l->version != c->version || max == 0)
		return 0;
	if (max > META_RPC_CHAIN_MAX)
		max = META_RPC_CHAIN_MAX;
	/* FSM chain order first, then holders the FSM does not list (yet). */
	for (i = 0; i < c->n_nodes + l->n_holders && n < max; i++) {
		const char *id;
		struct meta_node *node;
		if (i < c->n_nodes) {
			id = c->nodes[i];
			if (!loc_holds(l, node_find(id)))
				continue;
		} else {
			id = meta_rpc_node_name(l->holders[i - c->n_nodes]);
			if (!id || fsm_valid(c, id))
				continue;
		}
		node = meta_registry_get(ms->reg, id);
		if (!meta_registry_node_alive(ms->reg, node, now))
			continue;
		if (meta_registry_is_bad(ms->reg, c->chunk_id, id)) {
			if (for_read && n_bad < META_RPC_CHAIN_MAX)
				bad[n_bad++] = node->node_id;
			continue;
		}
		cands[n].id = node->node_id;
		cands[n].n = node;
		cands[n].order = n;
		n++;
	}
	if (for_read && n > 1)
		qsort(cands, n, sizeof(cands[0]), cmp_reads);
	if (for_read && n > 0)
		cands[0].n->reads++;
	for (k = 0; k < n; k++)
		ids[k] = cands[k].id;
	/* copies with a bad block come last: their other blocks are good, and
	 * the client goes on to the next copy for a range that fails */
	for (i = 0; i < n_bad && n < max; i++)
		ids[n++] = bad[i];
	return n;
}

size_t meta_rpc_loc_live_prev(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char **ids, size_t max)
{
	struct loc *l = meta_ns_map_get(&S.locs, c->chunk_id);
	uint64_t now = meta_server_now_ms();
	size_t n = 0;
	uint32_t i;

	if (!l || l->version != c->version || l->prev_version != c->prev_version ||
	    c->prev_version == 0)
		return 0;
	for (i = 0; i < l->n_prevh && n < max; i++) {
		const char *id = meta_rpc_node_name(l->prevh[i]);
		struct meta_node *node = meta_registry_get(ms->reg, id);
		if (!id || !fsm_valid(c, id) || !meta_registry_node_alive(ms->reg, node, now) ||
		    meta_registry_is_bad(ms->reg, c->chunk_id, id))
			continue;
		ids[n++] = node->node_id;
	}
	return n;
}

bool meta_rpc_loc_never_written(struct meta_server *ms, const struct meta_fsm_chunk *c)
{
	struct loc *l = meta_ns_map_get(&S.locs, c->chunk_id);
	uint64_t now = meta_server_now_ms();
	bool witness = false;
	size_t i;

	if (c->prev_version != 0 || c->chunk_id == 0)
		return false;
	for (i = 0; i < c->n_nodes; i++) {
		const char *id = c->nodes[i];
		uint32_t x = node_find(id);
		struct meta_node *node = meta_registry_get(ms->reg, id);
		if (meta_registry_is_bad(ms->reg, c->chunk_id, id))
			return false;   /* a copy with data existed */
		if (l && l->version == c->version && x != META_RPC_NODE_NONE &&
		    (in_list(l->holders, l->n_holders, x) || in_list(l->prevh, l->n_prevh, x)))
			return false;
		/* A member that is down may hold the only copy (another may
		 * have lost its own): only when every member is up and none
		 * has it was nothing ever written. */
		if (!meta_registry_node_alive(ms->reg, node, now))
			return false;
		witness = true;
	}
	return witness;
}

/* Orders the delete of the copy a failure dropped from the chain of chunk_id. */
static void dropped_delete(struct meta_server *ms, uint64_t chunk_id, struct loc *l,
			   const char *why)
{
	const char *id = meta_rpc_node_name(l->dropped);

	if (id) {
		gd_info("chunk %" PRIu64 ": deleting the copy v%" PRIu64 " on %s (left the chain"
			" at a failure; %s)", chunk_id, l->dropped_version, id, why);
		meta_registry_order(ms->reg, id, META_ORDER_DELETE, chunk_id,
				    l->dropped_version, NULL);
	}
	l->dropped = META_RPC_NODE_NONE;
}

/* A holder reported chunk_id at version: the chain at it has written. */
static void loc_written(struct meta_server *ms, uint64_t chunk_id, uint64_t version)
{
	struct loc *l = meta_ns_map_get(&S.locs, chunk_id);

	if (l && l->version == version && l->dropped != META_RPC_NODE_NONE)
		dropped_delete(ms, chunk_id, l, "the new chain has written");
}

/* Whether node x's copy of chunk_id at version v is the one a failure
 * dropped from the chain and that is kept until the new chain has written
 * (a registration of x meanwhile must not delete it before that). */
static bool loc_kept_dropped(uint64_t chunk_id, uint32_t x, uint64_t v)
{
	const struct loc *l = meta_ns_map_get(&S.locs, chunk_id);

	return l && x != META_RPC_NODE_NONE && l->dropped == x && l->dropped_version == v;
}

void meta_rpc_loc_dropped(struct meta_server *ms, uint64_t chunk_id, uint64_t version,
			  const char *node_id, uint64_t prev_version)
{
	struct loc *l = meta_ns_map_get(&S.locs, chunk_id);
	uint32_t x = meta_rpc_node_intern(node_id);
	uint64_t at = meta_server_now_ms() + DROP_CONFIRM_MS;
	uint32_t i;

	if (!l || l->version != version || x == META_RPC_NODE_NONE)
		return;
	if (l->dropped != META_RPC_NODE_NONE && l->dropped != x)
		dropped_delete(ms, chunk_id, l, "an older version");
	l->dropped = x;
	l->dropped_version = prev_version;
	/* the new chain's reports confirm the first write */
	for (i = 0; i < l->n_holders; i++)
		if (S.nodes[l->holders[i]].recheck_ms < at)
			S.nodes[l->holders[i]].recheck_ms = at;
}

/* Proposes the FSM's valid set of c plus node (a confirmed replica), minus
 * the copies marked bad. */
static void propose_valid_set(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char *node_id);

size_t meta_rpc_loc_register(struct meta_server *ms, const char *node_id,
			     Godfs__ChunkReport *const *report, size_t n,
			     Godfs__ChunkReport **drop)
{
	struct meta_ns_map seen;
	uint32_t me = meta_rpc_node_intern(node_id);
	uint64_t now = meta_server_now_ms(), key;
	size_t i, n_drop = 0, pos = 0;
	struct loc *l;

	meta_ns_map_init(&seen);
	for (i = 0; i < n; i++) {
		Godfs__ChunkReport *r = report[i];
		struct meta_fsm_chunk c;
		uint64_t v = r->has_version ? r->version : 0;

		if (!r->has_chunk_id || r->chunk_id == 0)
			continue;
		if (meta_fsm_chunk_by_id(ms->fsm, r->chunk_id, &c) != 0) {
			drop[n_drop++] = r;     /* freed while the node was away */
			continue;
		}
		if (v > c.version)
			continue;               /* newer than the FSM: keep, never serve */
		if (v < c.version) {
			/* A lease (or a chain change, or several) bumped the version
			 * but no write reached this copy yet: not stale, just not
			 * moved (see docs/meta-rpc.md). A member of the valid set
			 * never misses an acknowledged write (an acknowledgement
			 * needs every member of the chain, and a member that failed
			 * left the valid set), so its copy at any older version holds
			 * the chunk; the next write renames it. */
			if (fsm_valid(&c, node_id)) {
				loc_add_prev(c.chunk_id, c.version, c.prev_version, me);
				continue;
			}
			if (!loc_kept_dropped(c.chunk_id, me, v))
				drop[n_drop++] = r;
			continue;
		}
		if (!fsm_valid(&c, node_id) && !meta_rpc_loc_pending(c.chunk_id, v, me) &&
		    !meta_rpc_loc_has(c.chunk_id, v, me)) {
			drop[n_drop++] = r;
			continue;
		}
		if (me == META_RPC_NODE_NONE)
			continue;
		meta_ns_map_put(&seen, r->chunk_id, (void *)(uintptr_t)1);
		if (meta_rpc_loc_pending(c.chunk_id, v, me)) {
			propose_valid_set(ms, &c, node_id);
			S.repl_done++;
			meta_repl_rate_add(&S.rate, now, chunk_bytes(ms, &c));
		}
		meta_rpc_loc_add(c.chunk_id, v, me);
		loc_written(ms, c.chunk_id, v);
		meta_registry_clear_bad(ms->reg, c.chunk_id, node_id);
	}
	/* Holders the report does not confirm lose the node, except right after
	 * a lease (its first write may not have reached the node yet): those are
	 * checked again with a later report. */
	while (me != META_RPC_NODE_NONE && (l = meta_ns_map_next(&S.locs, &pos, &key)) != NULL) {
		if (!loc_holds(l, me) || meta_ns_map_get(&seen, key))
			continue;
		if (l->lease_ms && now - l->lease_ms < FIRST_WRITE_MS) {
			uint64_t at = l->lease_ms + FIRST_WRITE_MS;
			if (S.nodes[me].recheck_ms < at)
				S.nodes[me].recheck_ms = at;
			continue;
		}
		loc_pop(l, me);
	}
	meta_ns_map_release(&seen);
	return n_drop;
}

void meta_rpc_loc_replicated(struct meta_server *ms, const char *node_id,
			     const Godfs__CsReplicated *r)
{
	uint32_t me = node_find(node_id);
	struct meta_fsm_chunk c;
	struct loc *l;

	if (!r || !r->has_chunk_id || !r->has_version || me == META_RPC_NODE_NONE ||
	    !meta_rpc_loc_pending(r->chunk_id, r->version, me) ||
	    meta_fsm_chunk_by_id(ms->fsm, r->chunk_id, &c) != 0 || c.version != r->version)
		return;     /* not ordered here, or moved on: the next report says */
	l = meta_ns_map_get(&S.locs, r->chunk_id);
	if (r->has_status && r->status != 0) {
		snprintf(S.last_error, sizeof(S.last_error), "chunk %" PRIu64 " v%" PRIu64
			 ": the copy to %s failed: %s", r->chunk_id, r->version, node_id,
			 gd_strerror(r->status));
		gd_warn("%s: ordering another one", S.last_error);
		S.repl_failed++;
		if (l) {
			l->tries++;     /* another source next time */
			pending_clear(l);
		}
		return;
	}
	propose_valid_set(ms, &c, node_id);
	S.repl_done++;
	meta_repl_rate_add(&S.rate, meta_server_now_ms(),
			   r->has_bytes ? r->bytes : chunk_bytes(ms, &c));
	meta_rpc_loc_add(c.chunk_id, c.version, me);
	loc_written(ms, c.chunk_id, c.version);
	meta_registry_clear_bad(ms->reg, c.chunk_id, node_id);
}

bool meta_rpc_loc_want_report(const char *node_id, uint64_t now_ms)
{
	uint32_t x = node_find(node_id);
	struct rnode *r;

	if (x == META_RPC_NODE_NONE)
		return false;
	r = &S.nodes[x];
	if (r->recheck_ms && now_ms >= r->recheck_ms) {
		r->recheck_ms = 0;
		r->asked_ms = now_ms;
		return true;
	}
	if (r->n_pending == 0 || now_ms - r->last_order_ms < REPORT_AFTER_MS ||
	    now_ms - r->asked_ms < REPORT_EVERY_MS)
		return false;
	r->asked_ms = now_ms;
	return true;
}

void meta_rpc_freed(struct meta_server *ms, const struct meta_fsm_result *res)
{
	size_t i, j;

	for (i = 0; res && i < res->n_freed; i++) {
		const struct meta_fsm_freed *f = &res->freed[i];
		struct loc *l = meta_ns_map_get(&S.locs, f->chunk_id);

		for (j = 0; j < f->n_nodes; j++)
			meta_registry_order(ms->reg, f->nodes[j], META_ORDER_DELETE,
					    f->chunk_id, f->version, NULL);
		/* copies the FSM does not list (replicas not yet recorded) */
		for (j = 0; l && j < l->n_holders + 1; j++) {
			uint32_t x = j < l->n_holders ? l->holders[j] : l->pending;
			const char *id = meta_rpc_node_name(x);
			size_t k;
			bool listed = false;
			for (k = 0; id && k < f->n_nodes; k++)
				listed = listed || strcmp(f->nodes[k], id) == 0;
			if (id && !listed)
				meta_registry_order(ms->reg, id, META_ORDER_DELETE,
						    f->chunk_id, f->version, NULL);
		}
		meta_rpc_loc_drop(f->chunk_id);
	}
}

uint64_t meta_rpc_under_goal(void)
{
	return S.under_goal;
}

static void repl_progress(Godfs__ReplProgress *p);

void meta_rpc_repl_status(Godfs__AdminStatusResp *r)
{
	size_t i;

	r->has_repl_pending = r->has_repl_done = r->has_repl_failed = 1;
	r->repl_pending = S.n_pending;
	r->repl_done = S.repl_done;
	r->repl_failed = S.repl_failed;
	r->repl_last_error = S.last_error[0] ? S.last_error : NULL;
	for (i = 0; i < S.n_why; i++)
		S.why_ptrs[i] = S.why[i];
	r->n_under_goal_why = S.n_why;
	r->under_goal_why = S.why_ptrs;
	repl_progress(&S.progress);
	r->repl = &S.progress;
}

/* The census of the last pass and the live figures, for `godfs-admin chunks`. */
static void repl_progress(Godfs__ReplProgress *p)
{
	const struct meta_repl_census *c = &S.census;
	uint64_t now = meta_server_now_ms(), bps, mcps, eta;
	size_t n = META_REPL_HIST;

	godfs__repl_progress__init(p);
	/* the histogram up to its last non-zero entry */
	while (n > 0 && c->under_by_live[n - 1] == 0)
		n--;
	memcpy(S.progress_hist, c->under_by_live, sizeof(S.progress_hist));
	p->n_under_by_live = n;
	p->under_by_live = S.progress_hist;
	p->has_at_goal = p->has_over_goal = p->has_copies_todo = p->has_bytes_todo = 1;
	p->at_goal = c->at_goal;
	p->over_goal = c->over_goal;
	p->copies_todo = c->copies_todo;
	p->bytes_todo = c->bytes_todo;
	p->has_pending = p->has_pending_bytes = p->has_copies_done = p->has_bytes_done = 1;
	p->pending = S.n_pending;
	p->pending_bytes = S.pending_bytes;
	p->copies_done = S.rate.total_copies;
	p->bytes_done = S.rate.total_bytes;
	meta_repl_rate_get(&S.rate, now, &bps, &mcps);
	p->has_rate_bps = p->has_rate_mcps = 1;
	p->rate_bps = bps;
	p->rate_mcps = mcps;
	eta = meta_repl_eta_s(c->copies_todo, c->bytes_todo, bps, mcps);
	p->has_eta_s = eta != META_REPL_ETA_UNKNOWN;
	p->eta_s = p->has_eta_s ? eta : 0;
	p->has_max_per_node = 1;
	p->max_per_node = S.max_per_node ? S.max_per_node : REPL_PER_NODE_DEFAULT;
	p->has_pass_age_ms = S.pass_end_ms != 0;
	p->pass_age_ms = S.pass_end_ms && now >= S.pass_end_ms ? now - S.pass_end_ms : 0;
	p->has_failed = 1;
	p->failed = S.repl_failed;
}

void meta_rpc_soft_clear(void)
{
	size_t pos = 0, i;
	struct loc *l;

	while ((l = meta_ns_map_next(&S.locs, &pos, NULL)) != NULL)
		loc_free(l);
	meta_ns_map_release(&S.locs);
	meta_repl_plan_release(&S.plan);
	meta_repl_plan_release(&S.next_plan);
	meta_ns_map_init(&S.locs);
	for (i = 0; i < S.n_nodes; i++)
		gd_free(S.nodes[i].id);
	gd_free(S.nodes);
	memset(&S, 0, sizeof(S));
	meta_balance_clear();
	meta_ns_map_init(&S.locs);
}

/* ---- proposals of the background work ----------------------------------------------- */

struct bg_arg {
	uint64_t id;            /* session id, inode or chunk id */
};

static struct bg_arg *bg_arg_new(uint64_t id)
{
	struct bg_arg *a = gd_malloc(sizeof(*a));

	if (a)
		a->id = id;
	return a;
}

static void chunk_nodes_done(struct meta_server *ms, struct gd_request *req, int status,
			     struct meta_fsm_result *res, void *arg)
{
	struct bg_arg *a = arg;

	if (status == 0 && res && res->status != 0)
		gd_debug("chunk %llu: new valid set not recorded: %s",
			 (unsigned long long)(a ? a->id : 0), gd_strerror(res->status));
	gd_free(a);
	if (req)
		meta_server_reply_status(ms, req, status ? status : GD_EIO);
}

static void propose_valid_set(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char *node_id)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	Godfs__ChunkReport cr = GODFS__CHUNK_REPORT__INIT;
	char *chain[META_RPC_CHAIN_MAX + 1];
	uint8_t buf[32];
	size_t i, n = 0;
	struct bg_arg *a;

	for (i = 0; i < c->n_nodes && n < META_RPC_CHAIN_MAX; i++)
		if (!meta_registry_is_bad(ms->reg, c->chunk_id, c->nodes[i]) &&
		    strcmp(c->nodes[i], node_id) != 0)
			chain[n++] = c->nodes[i];
	chain[n++] = (char *)node_id;
	cr.has_chunk_id = cr.has_version = 1;
	cr.chunk_id = c->chunk_id;
	cr.version = c->version;
	if (godfs__chunk_report__get_packed_size(&cr) > sizeof(buf))
		return;
	e.has_method = 1;
	e.method = FSM(CHUNK_NODES);
	e.has_request = 1;
	e.request.data = buf;
	e.request.len = godfs__chunk_report__pack(&cr, buf);
	e.n_chain = n;
	e.chain = chain;
	a = bg_arg_new(c->chunk_id);
	if (!a)
		return;
	gd_info("chunk %llu v%llu: copy on %s confirmed", (unsigned long long)c->chunk_id,
		(unsigned long long)c->version, node_id);
	meta_server_propose(ms, &e, NULL, chunk_nodes_done, a);
}

static void expire_done(struct meta_server *ms, struct gd_request *req, int status,
			struct meta_fsm_result *res, void *arg)
{
	struct bg_arg *a = arg;

	if (status == 0 && res && (res->status == 0 || res->status == GD_ENOSESSION)) {
		gd_info("session %llu expired", (unsigned long long)a->id);
		meta_sessions_remove(ms->sess, a->id);
	} else {
		meta_sessions_unmark(ms->sess, a->id);
	}
	if (res)
		meta_rpc_freed(ms, res);
	gd_free(a);
	if (req)
		meta_server_reply_status(ms, req, status ? status : GD_EIO);
}

static void purge_done(struct meta_server *ms, struct gd_request *req, int status,
		       struct meta_fsm_result *res, void *arg)
{
	struct bg_arg *a = arg;

	if (status == 0 && res && (res->status == 0 || res->status == GD_ENOENT)) {
		gd_debug("orphan inode %llu purged", (unsigned long long)a->id);
		meta_sessions_orphan_del(ms->sess, a->id);
		meta_rpc_freed(ms, res);
	} else {
		meta_sessions_orphan_unmark(ms->sess, a->id);
	}
	meta_rpc_client_removed(ms, a->id);     /* opens that waited for it */
	gd_free(a);
	if (req)
		meta_server_reply_status(ms, req, status ? status : GD_EIO);
}

static void expire_sessions(struct meta_server *ms, uint64_t now)
{
	uint64_t ids[EXPIRE_PER_TICK];
	size_t n = meta_sessions_take_expired(ms->sess, now, ms->opt.session_timeout_ms,
					      ids, EXPIRE_PER_TICK), i;

	for (i = 0; i < n; i++) {
		Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
		struct bg_arg *a = bg_arg_new(ids[i]);
		if (!a) {
			meta_sessions_unmark(ms->sess, ids[i]);
			continue;
		}
		e.has_method = e.has_expire_session = 1;
		e.method = FSM(SESSION_EXPIRE);
		e.expire_session = ids[i];
		meta_server_propose(ms, &e, NULL, expire_done, a);
	}
}

static void purge_orphans(struct meta_server *ms)
{
	uint64_t inos[PURGE_PER_TICK];
	size_t n = meta_sessions_take_purgeable(ms->sess, inos, PURGE_PER_TICK), i;

	for (i = 0; i < n; i++) {
		Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
		struct bg_arg *a = bg_arg_new(inos[i]);
		if (!a) {
			meta_sessions_orphan_unmark(ms->sess, inos[i]);
			continue;
		}
		e.has_method = e.has_purge_ino = 1;
		e.method = FSM(PURGE);
		e.purge_ino = inos[i];
		meta_server_propose(ms, &e, NULL, purge_done, a);
	}
}

/* ---- re-replication -------------------------------------------------------------------- */

static uint32_t repl_max_per_node(const struct meta_server *ms)
{
	return ms->opt.repl_max_per_node ? ms->opt.repl_max_per_node : REPL_PER_NODE_DEFAULT;
}

/* Queues the order for a new copy of c on target from a live holder
 * (another one after each order that timed out) and marks it pending.
 * Returns WHY_COPYING or WHY_ORDER. */
static enum why order_copy(struct meta_server *ms, const struct meta_fsm_chunk *c,
			   struct loc *l, const char *target, const char *const *live,
			   size_t n_live, uint64_t now, const char **src_out)
{
	const char *src = meta_rpc_node_address(ms, live[l->tries % n_live]);
	uint32_t t;

	if (!src || (t = meta_rpc_node_intern(target)) == META_RPC_NODE_NONE ||
	    meta_registry_order(ms->reg, target, META_ORDER_REPLICATE, c->chunk_id,
				c->version, src) != 0)
		return WHY_ORDER;
	l->pending = t;
	l->pending_ms = now;
	l->pending_bytes = chunk_bytes(ms, c);
	S.pending_bytes += l->pending_bytes;
	S.nodes[t].n_pending++;
	S.nodes[t].last_order_ms = now;
	S.n_pending++;
	*src_out = src;
	return WHY_COPYING;
}

/* Orders one new copy of c (below goal, holders live[0..n_live)): to the
 * best placed node without a good copy (meta_registry_place_one) that has
 * room for one more copy on its way (--repl-max-per-node). Returns
 * WHY_COPYING, or why it could not. */
static enum why replicate_one(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char *const *live, size_t n_live, uint64_t now)
{
	struct loc *l = meta_ns_map_get(&S.locs, c->chunk_id);
	const char **skip;
	const char *target, *src = NULL;
	size_t n_skip = 0, n_reg = 0, pos = 0, cap;
	bool full = false;
	enum why why;
	uint32_t i;

	if (!l || n_live == 0)
		return WHY_NO_COPY;
	while (meta_registry_next(ms->reg, &pos))
		n_reg++;
	/* the holders, then each node found at its limit of copies on their way */
	cap = (size_t)l->n_holders + n_reg;
	skip = gd_calloc(cap ? cap : 1, sizeof(*skip));
	if (!skip)
		return WHY_ORDER;
	/* a node whose copy has a bad block may take the new copy: it
	 * replaces the bad one (chunkd_store_import_commit) */
	for (i = 0; i < l->n_holders; i++) {
		const char *id = meta_rpc_node_name(l->holders[i]);
		if (id && !meta_registry_is_bad(ms->reg, c->chunk_id, id))
			skip[n_skip++] = id;
	}
	while ((target = meta_registry_place_one(ms->reg, now, c->chunk_id, live, n_live,
						 skip, n_skip)) != NULL) {
		uint32_t x = node_find(target);
		if (x == META_RPC_NODE_NONE || S.nodes[x].n_pending < repl_max_per_node(ms))
			break;
		full = true;
		if (n_skip == cap) {
			target = NULL;
			break;
		}
		skip[n_skip++] = target;
	}
	if (!target) {
		gd_free(skip);
		return full ? WHY_NODE_LIMIT : WHY_NO_TARGET;
	}
	why = order_copy(ms, c, l, target, live, n_live, now, &src);
	if (why == WHY_COPYING)
		gd_info("chunk %llu v%llu: %zu of %u copies, replicating to %s from %s",
			(unsigned long long)c->chunk_id, (unsigned long long)c->version,
			n_live, c->goal, target, src);
	gd_free(skip);
	return why;
}

/* Chunk c is at its goal and idle: moves a copy when meta_balance says so
 * (off a draining node, off a shared rack, off a full disk): a new copy
 * first; the old one is dropped by trim_one once the new one is confirmed.
 * Returns whether an order was queued. */
static bool move_one(struct meta_server *ms, const struct meta_fsm_chunk *c, struct loc *l,
		     const char *const *live, size_t n_live, uint64_t now)
{
	const char *from = NULL, *to = NULL, *src = NULL;
	enum meta_move_why why = meta_balance_move(ms->reg, c, live, n_live, &from, &to);
	uint32_t f;

	if (why == META_MOVE_NONE || (f = meta_rpc_node_intern(from)) == META_RPC_NODE_NONE ||
	    order_copy(ms, c, l, to, live, n_live, now, &src) != WHY_COPYING)
		return false;
	l->move_from = f;
	meta_balance_spent(why);
	gd_info("chunk %" PRIu64 " v%" PRIu64 ": moving the copy on %s to %s from %s (%s)",
		c->chunk_id, c->version, from, to, src, meta_place_move_name(why));
	return true;
}

/* A chunk without a live copy at its version whose valid copies are still
 * at prev_version (the lease that bumped it was never written: a written
 * one renames every member it reached): once no lease can still write,
 * those copies are the chunk's content, and they are told to move up to the
 * version (a promote order; their next report makes them live, then the
 * usual copies restore the goal). Returns the chunk's reason. */
static enum why promote_prev(struct meta_server *ms, const struct meta_fsm_chunk *c,
			     struct loc *l, uint64_t now, bool may_order)
{
	const char *ids[META_RPC_CHAIN_MAX];
	size_t n = meta_rpc_loc_live_prev(ms, c, ids, META_RPC_CHAIN_MAX), i;

	if (n == 0)
		return WHY_NO_COPY;
	if (!may_order || now < S.repl_after_ms)
		return WHY_LEADER;
	if (l->lease_until_ms + LEASE_DRAIN_MS > now)
		return WHY_LEASE;
	if (l->promote_ms && now - l->promote_ms < REPL_TIMEOUT_MS)
		return WHY_PROMOTING;
	for (i = 0; i < n; i++) {
		uint32_t x = node_find(ids[i]);
		if (meta_registry_order_promote(ms->reg, ids[i], c->chunk_id, c->version,
						c->prev_version) != 0)
			return WHY_ORDER;
		if (x != META_RPC_NODE_NONE && S.nodes[x].recheck_ms < now + DROP_CONFIRM_MS)
			S.nodes[x].recheck_ms = now + DROP_CONFIRM_MS;
	}
	gd_info("chunk %" PRIu64 " v%" PRIu64 ": no copy at it, %zu at v%" PRIu64
		" (a lease that was never written): moving them up", c->chunk_id, c->version,
		n, c->prev_version);
	l->promote_ms = now;
	return WHY_PROMOTING;
}

/* Records why chunk c (under goal, n_live live copies) is or is not being
 * copied: in the status of this scan pass (the first WHY_MAX chunks), and in
 * the log when the reason of the chunk changes (info when nothing the meta
 * does will fix it by itself soon). */
static void why_note(const struct meta_fsm_chunk *c, struct loc *l, size_t n_live,
		     uint32_t goal, enum why why, uint64_t now)
{
	char text[WHY_LEN - 64];
	const char *target;

	switch (why) {
	case WHY_COPYING:
		target = l ? meta_rpc_node_name(l->pending) : NULL;
		snprintf(text, sizeof(text), "copying to %s for %" PRIu64 " s",
			 target ? target : "?", l ? (now - l->pending_ms) / 1000 : 0);
		break;
	case WHY_LEASE:
		snprintf(text, sizeof(text), "a write lease holds it for %" PRIu64 " s more",
			 l ? (l->lease_until_ms + LEASE_DRAIN_MS - now + 999) / 1000 : 0);
		break;
	case WHY_LEADER:
		snprintf(text, sizeof(text), "new leader: leases it did not grant may run"
			 " for %" PRIu64 " s more, chunkds may still register",
			 S.repl_after_ms > now ? (S.repl_after_ms - now + 999) / 1000 : 0);
		break;
	case WHY_NO_COPY:
		if (l && l->n_prevh > 0)
			snprintf(text, sizeof(text), "no live copy at v%" PRIu64 ", %u at v%" PRIu64
				 " (a lease's first write never came): the next write lease"
				 " takes them", c->version, l->n_prevh, (uint64_t)l->prev_version);
		else
			snprintf(text, sizeof(text), "no live copy at v%" PRIu64
				 " (the chunkds that hold it are down)", c->version);
		break;
	case WHY_PROMOTING:
		snprintf(text, sizeof(text), "no live copy at v%" PRIu64 ": moving %u copies"
			 " at v%" PRIu64 " up to it", c->version, l ? l->n_prevh : 0,
			 (uint64_t)c->prev_version);
		break;
	case WHY_NO_TARGET:
		snprintf(text, sizeof(text), "no live chunkd to copy to (all hold it,"
			 " are full or are down)");
		break;
	case WHY_QUEUED:
		snprintf(text, sizeof(text), "waiting its turn (fewest copies left first):"
			 " %zu copies on their way", S.n_pending);
		break;
	case WHY_NODE_LIMIT:
		snprintf(text, sizeof(text), "every chunkd it may go to has as many"
			 " copies coming as --repl-max-per-node allows");
		break;
	case WHY_ORDER:
	default:
		snprintf(text, sizeof(text), "the order could not be queued");
		break;
	}
	if (S.n_scan_why < WHY_MAX)
		snprintf(S.scan_why[S.n_scan_why++], WHY_LEN, "chunk %" PRIu64 " v%" PRIu64
			 ": %zu of %u copies: %s", c->chunk_id, c->version, n_live, goal, text);
	if (l && l->why != why) {
		if (why == WHY_NO_COPY || why == WHY_NO_TARGET || why == WHY_ORDER)
			gd_info("chunk %" PRIu64 " v%" PRIu64 ": %zu of %u copies, not copied: %s",
				c->chunk_id, c->version, n_live, goal, text);
		else
			gd_debug("chunk %" PRIu64 " v%" PRIu64 ": %zu of %u copies: %s",
				 c->chunk_id, c->version, n_live, goal, text);
		l->why = (uint8_t)why;
	}
}

/* A copy above goal, leaving the valid set (then deleted). */
struct trim_arg {
	uint64_t chunk_id;
	uint64_t version;
	char *victim;
};

static void trim_done(struct meta_server *ms, struct gd_request *req, int status,
		      struct meta_fsm_result *res, void *arg)
{
	struct trim_arg *t = arg;
	struct loc *l = meta_ns_map_get(&S.locs, t->chunk_id);
	struct meta_fsm_chunk c;

	if (l)
		l->trimming = false;
	/* delete only if the record still has that version without the victim */
	if (status == 0 && res && res->status == 0 &&
	    meta_fsm_chunk_by_id(ms->fsm, t->chunk_id, &c) == 0 && c.version == t->version &&
	    !fsm_valid(&c, t->victim)) {
		gd_info("chunk %llu v%llu: copy on %s above goal, deleted",
			(unsigned long long)t->chunk_id, (unsigned long long)t->version, t->victim);
		meta_rpc_loc_remove(t->chunk_id, node_find(t->victim));
		meta_registry_order(ms->reg, t->victim, META_ORDER_DELETE, t->chunk_id,
				    t->version, NULL);
	}
	gd_free(t->victim);
	gd_free(t);
	if (req)
		meta_server_reply_status(ms, req, status ? status : GD_EIO);
}

/* Drops one copy of c above its goal: the live holder with the least free
 * space leaves the valid set, and its copy is deleted once that is applied. */
static void trim_one(struct meta_server *ms, const struct meta_fsm_chunk *c,
		     const char *const *live, size_t n_live)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	Godfs__ChunkReport cr = GODFS__CHUNK_REPORT__INIT;
	struct loc *l = meta_ns_map_get(&S.locs, c->chunk_id);
	char *chain[META_RPC_CHAIN_MAX];
	struct meta_node *victim = NULL;
	struct trim_arg *t;
	uint8_t buf[32];
	size_t i, n = 0;

	if (!l)
		return;
	/* a move names the copy it replaces; otherwise meta_place_victim */
	for (i = 0; i < n_live && l->move_from != META_RPC_NODE_NONE; i++)
		if (node_find(live[i]) == l->move_from)
			victim = meta_registry_get(ms->reg, live[i]);
	if (!victim)
		victim = meta_registry_get(ms->reg,
					   live[meta_balance_victim(ms->reg, live, n_live)]);
	l->move_from = META_RPC_NODE_NONE;
	if (!victim)
		return;
	for (i = 0; i < n_live && n < META_RPC_CHAIN_MAX; i++)
		if (strcmp(live[i], victim->node_id) != 0)
			chain[n++] = (char *)live[i];
	if (n == 0)
		return;
	t = gd_calloc(1, sizeof(*t));
	if (!t)
		return;
	t->chunk_id = c->chunk_id;
	t->version = c->version;
	t->victim = gd_strdup(victim->node_id);
	if (!t->victim) {
		gd_free(t);
		return;
	}
	cr.has_chunk_id = cr.has_version = 1;
	cr.chunk_id = c->chunk_id;
	cr.version = c->version;
	e.has_method = e.has_request = 1;
	e.method = FSM(CHUNK_NODES);
	e.request.data = buf;
	e.request.len = godfs__chunk_report__pack(&cr, buf);
	e.n_chain = n;
	e.chain = chain;
	l->trimming = true;
	meta_server_propose(ms, &e, NULL, trim_done, t);
}

/* Whether c (under goal, entry l) may get a new copy
 * now, else why not; a copy not confirmed in time is given up here. */
static enum why copy_ready(const struct meta_fsm_chunk *c, struct loc *l, uint64_t now,
			   bool may_order)
{
	if (now < S.repl_after_ms || !may_order)
		return WHY_LEADER;
	if (l->lease_until_ms + LEASE_DRAIN_MS > now)
		return WHY_LEASE;
	if (l->pending != META_RPC_NODE_NONE) {
		if (now - l->pending_ms < REPL_TIMEOUT_MS)
			return WHY_COPYING;
		const char *t = meta_rpc_node_name(l->pending);
		snprintf(S.last_error, sizeof(S.last_error), "chunk %" PRIu64 " v%" PRIu64
			 ": the copy to %s was not confirmed within %d s", c->chunk_id,
			 c->version, t ? t : "?", REPL_TIMEOUT_MS / 1000);
		gd_warn("%s: ordering another one", S.last_error);
		S.repl_failed++;
		l->tries++;
		pending_clear(l);
	}
	return WHY_NONE;
}

/* Orders copies from the plan of the last scan pass, in its order (fewest
 * copies left first), within the bounds: per tick, in all, per chunkd. A
 * candidate whose chunkds are all busy stays for a later tick; one that no
 * longer needs a copy (or cannot get one) leaves the plan (the next pass
 * sees it again). */
static void plan_orders(struct meta_server *ms, uint64_t now)
{
	size_t i, looked = 0, ordered = 0, pos = 0;
	struct meta_node *node;
	bool room = false;

	/* all chunkds busy: nothing to look at */
	while (!room && (node = meta_registry_next(ms->reg, &pos)) != NULL) {
		uint32_t x = node_find(node->node_id);
		room = meta_registry_node_alive(ms->reg, node, now) &&
		       (x == META_RPC_NODE_NONE || S.nodes[x].n_pending < repl_max_per_node(ms));
	}
	for (i = S.plan.head; room && i < S.plan.n && looked < PLAN_LOOK_PER_TICK &&
	     ordered < REPL_PER_TICK && S.n_pending < REPL_MAX_PENDING; i++) {
		const char *live[META_RPC_CHAIN_MAX];
		struct meta_fsm_chunk c;
		struct loc *l;
		size_t n_live;
		enum why why;

		if (S.plan.v[i].chunk_id == 0)
			continue;
		looked++;
		l = meta_ns_map_get(&S.locs, S.plan.v[i].chunk_id);
		if (!l || meta_fsm_chunk_by_id(ms->fsm, S.plan.v[i].chunk_id, &c) != 0) {
			meta_repl_plan_take(&S.plan, i);
			continue;
		}
		n_live = meta_rpc_loc_live(ms, &c, false, live, META_RPC_CHAIN_MAX);
		if (n_live == 0 || n_live >= (c.goal ? c.goal : 1) || l->trimming ||
		    copy_ready(&c, l, now, true) != WHY_NONE) {
			meta_repl_plan_take(&S.plan, i);
			continue;
		}
		why = replicate_one(ms, &c, live, n_live, now);
		l->why = (uint8_t)why;
		if (why == WHY_NODE_LIMIT)
			continue;
		meta_repl_plan_take(&S.plan, i);
		ordered += why == WHY_COPYING;
	}
}

/* The end of a scan pass: its census and plan replace the last ones. */
static void scan_pass_end(uint64_t now)
{
	S.scanning = false;
	S.under_goal = S.scan_under;
	memcpy(S.why, S.scan_why, sizeof(S.why));
	S.n_why = S.n_scan_why;
	S.census = S.census_scan;
	meta_repl_plan_swap(&S.plan, &S.next_plan);
	meta_repl_plan_sort(&S.plan);
	meta_repl_plan_reset(&S.next_plan);
	S.pass_end_ms = now;
}

/* Looks at the next chunk records: counts them by live copies, and (with
 * may_order) puts those below goal that may get a copy into the plan of
 * this pass (plan_orders orders them); drops copies above goal. */
static void scan_chunks(struct meta_server *ms, uint64_t now, bool may_order)
{
	struct meta_fsm_chunk c;
	size_t looked = 0, ordered = 0;

	if (!S.scanning) {
		if (now - S.scan_started_ms < SCAN_PASS_MIN_MS)
			return;
		S.scanning = true;
		S.scan_pos = 0;
		S.scan_under = 0;
		S.n_scan_why = 0;
		S.scan_started_ms = now;
		memset(&S.census_scan, 0, sizeof(S.census_scan));
		meta_repl_plan_reset(&S.next_plan);
		meta_balance_pass_begin();
	}
	while (looked < SCAN_PER_TICK) {
		const char *live[META_RPC_CHAIN_MAX];
		struct loc *l;
		size_t n_live;
		uint32_t goal;

		if (!meta_fsm_chunk_next(ms->fsm, &S.scan_pos, &c)) {
			scan_pass_end(now);
			meta_balance_pass_end(ms->reg);
			return;
		}
		looked++;
		goal = c.goal ? c.goal : 1;
		n_live = meta_rpc_loc_live(ms, &c, false, live, META_RPC_CHAIN_MAX);
		meta_repl_census_add(&S.census_scan, (uint32_t)n_live, goal, chunk_bytes(ms, &c));
		meta_balance_note(ms->reg, &c, live, n_live);
		if (n_live > goal && ordered < REPL_PER_TICK && may_order) {
			l = meta_ns_map_get(&S.locs, c.chunk_id);
			if (l && !l->trimming && l->lease_until_ms + LEASE_DRAIN_MS <= now &&
			    now >= S.repl_after_ms &&
			    l->pending == META_RPC_NODE_NONE) {
				trim_one(ms, &c, live, n_live);
				ordered++;
			}
		}
		if (n_live >= goal) {
			if ((l = meta_ns_map_get(&S.locs, c.chunk_id)) != NULL) {
				l->why = WHY_NONE;
				l->under_since_ms = 0;
			}
			if (l && n_live == goal && may_order && ordered < REPL_PER_TICK &&
			    S.n_pending < REPL_MAX_PENDING && !l->trimming &&
			    l->pending == META_RPC_NODE_NONE && now >= S.repl_after_ms &&
			    l->lease_until_ms + LEASE_DRAIN_MS <= now &&
			    move_one(ms, &c, l, live, n_live, now))
				ordered++;
			continue;
		}
		S.scan_under++;
		l = meta_ns_map_get(&S.locs, c.chunk_id);
		if (!l)
			l = loc_at(c.chunk_id, c.version);   /* for its `why` */
		if (l && l->under_since_ms == 0)
			l->under_since_ms = now;
		if (n_live == 0 || !l) {
			why_note(&c, l, n_live, goal,
				 l ? promote_prev(ms, &c, l, now, may_order) : WHY_NO_COPY, now);
			continue;
		}
		enum why why = copy_ready(&c, l, now, may_order);
		if (why == WHY_NONE) {
			struct meta_repl_cand k = {
				.chunk_id = c.chunk_id, .live = (uint32_t)n_live, .goal = goal,
				.under_since_ms = l->under_since_ms, .bytes = chunk_bytes(ms, &c),
			};
			why = meta_repl_plan_add(&S.next_plan, &k) == 0 ? WHY_QUEUED : WHY_ORDER;
		}
		why_note(&c, l, n_live, goal, why, now);
	}
}

/* ---- the tick and leadership ------------------------------------------------------------ */

/* The registry learns which nodes drain (the FSM says), and meta_balance
 * what the nodes look like this tick. */
static void balance_tick(struct meta_server *ms, uint64_t now_ms)
{
	const struct meta_balance_opts o = {
		.threshold_pct = ms->opt.rebalance_pct,
		.rate = ms->opt.rebalance_rate,
	};
	const struct meta_ns_state *st = meta_fsm_state(ms->fsm);
	struct meta_node *n;
	size_t pos = 0;

	while ((n = meta_registry_next(ms->reg, &pos)) != NULL)
		n->draining = meta_drain_is_draining(st, n->node_id);
	meta_balance_tick(ms->reg, now_ms, &o);
}

void meta_rpc_tick(struct meta_server *ms, uint64_t now_ms)
{
	if (!ms->ready)
		return;
	S.max_per_node = repl_max_per_node(ms);
	meta_sessions_expire_leases(ms->sess, now_ms);
	if (now_ms - S.last_decay_ms >= DECAY_EVERY_MS) {
		meta_registry_decay(ms->reg);
		S.last_decay_ms = now_ms;
	}
	balance_tick(ms, now_ms);
	/* The scan counts chunks under goal (for status) even when it may not
	 * order copies yet. */
	if (meta_server_in_grace(ms)) {
		scan_chunks(ms, now_ms, false);
		return;
	}
	expire_sessions(ms, now_ms);
	purge_orphans(ms);
	scan_chunks(ms, now_ms, !meta_server_in_node_window(ms));
	if (!meta_server_in_node_window(ms))
		plan_orders(ms, now_ms);
}

void meta_rpc_became_leader(struct meta_server *ms)
{
	uint64_t now = meta_server_now_ms();
	uint64_t *ids = NULL;
	size_t cap = 256, n, i;

	meta_rpc_soft_clear();
	S.last_decay_ms = now;
	/* Leases granted by a former leader are not known here: no copies (which
	 * would miss the writes still coming under them) until they ended. */
	S.repl_after_ms = now + ms->opt.lease_ms + LEASE_DRAIN_MS;
	/* sessions, then orphans: fill a buffer that grows until it is not full */
	for (;;) {
		uint64_t *b = gd_realloc(ids, cap * sizeof(*ids));
		if (!b)
			goto out;
		ids = b;
		n = meta_fsm_sessions(ms->fsm, ids, cap);
		if (n < cap)
			break;
		cap *= 2;
	}
	for (i = 0; i < n; i++)
		if (meta_sessions_add(ms->sess, ids[i], now) != 0)
			gd_error("session %llu not restored: out of memory",
				 (unsigned long long)ids[i]);
	for (;;) {
		n = meta_fsm_orphans(ms->fsm, ids, cap);
		if (n < cap)
			break;
		cap *= 2;
		uint64_t *b = gd_realloc(ids, cap * sizeof(*ids));
		if (!b)
			goto out;
		ids = b;
	}
	for (i = 0; i < n; i++)
		meta_sessions_orphan_add(ms->sess, ids[i]);
	gd_info("leader: %zu sessions and %llu inodes known, %zu orphans waiting",
		meta_sessions_count(ms->sess),
		(unsigned long long)meta_fsm_inode_count(ms->fsm), n);
out:
	gd_free(ids);
}

void meta_rpc_lost_leader(struct meta_server *ms)
{
	meta_rpc_client_lost_leader(ms);
	meta_rpc_soft_clear();
}
