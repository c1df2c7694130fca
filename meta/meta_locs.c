/* The leader's soft state of chunk locations (see meta_locs.h): node names
 * interned into small numbers, per chunk the holders at a version, the copies
 * still at the previous version, the pending replication and the copy a
 * failure dropped; and the choices made from it (read chains, lease chains,
 * whether a chunk was never written). Loop thread only. */
#include "meta_locs.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#define REPORT_AFTER_MS 2000        /* ask for a report this long after a replication order */
#define REPORT_EVERY_MS 5000        /* and not more often than this per node */
#define FIRST_WRITE_MS 5000         /* a lease's first write reaches its chain by then */
#define NODES_MAX 65536

struct meta_locs {
	struct meta_locs_node *nodes;
	size_t n_nodes;
	size_t cap_nodes;
	struct meta_ns_map locs;    /* chunk id -> struct meta_loc */
	size_t n_pending;
	uint64_t pending_bytes;     /* estimated bytes of the copies pending */
};

int meta_locs_new(struct meta_locs **out)
{
	struct meta_locs *locs = gd_calloc(1, sizeof(*locs));

	if (!locs)
		return GD_ENOMEM;
	meta_ns_map_init(&locs->locs);
	*out = locs;
	return 0;
}

void meta_locs_free(struct meta_locs *locs)
{
	if (!locs)
		return;
	meta_locs_clear(locs);
	meta_ns_map_release(&locs->locs);
	gd_free(locs);
}

/* ---- node names ------------------------------------------------------------------ */

uint32_t meta_locs_intern(struct meta_locs *locs, const char *node_id)
{
	size_t i;

	if (!node_id)
		return META_LOCS_NODE_NONE;
	for (i = 0; i < locs->n_nodes; i++)
		if (strcmp(locs->nodes[i].id, node_id) == 0)
			return (uint32_t)i;
	if (locs->n_nodes >= NODES_MAX)
		return META_LOCS_NODE_NONE;
	if (locs->n_nodes == locs->cap_nodes) {
		size_t cap = locs->cap_nodes ? locs->cap_nodes * 2 : 16;
		struct meta_locs_node *n = gd_realloc(locs->nodes, cap * sizeof(*n));
		if (!n)
			return META_LOCS_NODE_NONE;
		locs->nodes = n;
		locs->cap_nodes = cap;
	}
	memset(&locs->nodes[locs->n_nodes], 0, sizeof(locs->nodes[0]));
	locs->nodes[locs->n_nodes].id = gd_strdup(node_id);
	if (!locs->nodes[locs->n_nodes].id)
		return META_LOCS_NODE_NONE;
	return (uint32_t)locs->n_nodes++;
}

const char *meta_locs_name(const struct meta_locs *locs, uint32_t idx)
{
	return idx < locs->n_nodes ? locs->nodes[idx].id : NULL;
}

struct meta_locs_node *meta_locs_node(struct meta_locs *locs, uint32_t idx)
{
	return idx < locs->n_nodes ? &locs->nodes[idx] : NULL;
}

uint32_t meta_locs_find(const struct meta_locs *locs, const char *node_id)
{
	size_t i;

	for (i = 0; node_id && i < locs->n_nodes; i++)
		if (strcmp(locs->nodes[i].id, node_id) == 0)
			return (uint32_t)i;
	return META_LOCS_NODE_NONE;
}

/* ---- entries --------------------------------------------------------------------- */

void meta_locs_pending_clear(struct meta_locs *locs, struct meta_loc *l)
{
	if (l->pending == META_LOCS_NODE_NONE)
		return;
	if (l->pending < locs->n_nodes && locs->nodes[l->pending].n_pending)
		locs->nodes[l->pending].n_pending--;
	if (locs->n_pending)
		locs->n_pending--;
	locs->pending_bytes -= l->pending_bytes <= locs->pending_bytes ? l->pending_bytes
								       : locs->pending_bytes;
	l->pending_bytes = 0;
	l->pending = META_LOCS_NODE_NONE;
}

void meta_locs_pending_set(struct meta_locs *locs, struct meta_loc *l, uint32_t node,
			   uint64_t now_ms, uint64_t bytes)
{
	meta_locs_pending_clear(locs, l);
	if (node >= locs->n_nodes)
		return;
	l->pending = node;
	l->pending_ms = now_ms;
	l->pending_bytes = bytes;
	locs->pending_bytes += bytes;
	locs->nodes[node].n_pending++;
	locs->nodes[node].last_order_ms = now_ms;
	locs->n_pending++;
}

size_t meta_locs_n_pending(const struct meta_locs *locs)
{
	return locs->n_pending;
}

uint64_t meta_locs_pending_bytes(const struct meta_locs *locs)
{
	return locs->pending_bytes;
}

static void loc_free(struct meta_locs *locs, struct meta_loc *l)
{
	meta_locs_pending_clear(locs, l);
	gd_free(l->holders);
	gd_free(l->prevh);
	gd_free(l);
}

void meta_locs_clear(struct meta_locs *locs)
{
	size_t pos = 0, i;
	struct meta_loc *l;

	while ((l = meta_ns_map_next(&locs->locs, &pos, NULL)) != NULL)
		loc_free(locs, l);
	meta_ns_map_release(&locs->locs);
	meta_ns_map_init(&locs->locs);
	for (i = 0; i < locs->n_nodes; i++)
		gd_free(locs->nodes[i].id);
	gd_free(locs->nodes);
	locs->nodes = NULL;
	locs->n_nodes = locs->cap_nodes = 0;
	locs->n_pending = 0;
	locs->pending_bytes = 0;
}

struct meta_loc *meta_locs_get(const struct meta_locs *locs, uint64_t chunk_id)
{
	return meta_ns_map_get(&locs->locs, chunk_id);
}

struct meta_loc *meta_locs_next(const struct meta_locs *locs, size_t *pos, uint64_t *chunk_id)
{
	return meta_ns_map_next(&locs->locs, pos, chunk_id);
}

struct meta_loc *meta_locs_at(struct meta_locs *locs, uint64_t chunk_id, uint64_t version)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);

	if (l) {
		if (l->version != version) {
			meta_locs_pending_clear(locs, l);
			l->n_holders = 0;
			l->n_prevh = 0;
			l->lease_until_ms = 0;
			l->promote_ms = 0;
			l->tries = 0;
			l->move_from = META_LOCS_NODE_NONE;
			l->version = version;
		}
		return l;
	}
	l = gd_calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->version = version;
	l->pending = META_LOCS_NODE_NONE;
	l->dropped = META_LOCS_NODE_NONE;
	l->move_from = META_LOCS_NODE_NONE;
	if (meta_ns_map_put(&locs->locs, chunk_id, l) != 0) {
		gd_free(l);
		return NULL;
	}
	return l;
}

static bool in_list(const uint32_t *a, uint32_t n, uint32_t node)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (a[i] == node)
			return true;
	return false;
}

static bool loc_holds(const struct meta_loc *l, uint32_t node)
{
	return in_list(l->holders, l->n_holders, node);
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

static int loc_push(struct meta_loc *l, uint32_t node)
{
	return list_push(&l->holders, &l->n_holders, &l->cap_holders, node);
}

static void loc_pop(struct meta_loc *l, uint32_t node)
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

int meta_locs_set(struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
		  const char *const *node_ids, size_t n, uint64_t lease_until_ms, uint64_t now_ms)
{
	struct meta_loc *l = meta_locs_at(locs, chunk_id, version);
	size_t i;
	int rc = 0;

	if (!l)
		return GD_ENOMEM;
	meta_locs_pending_clear(locs, l);
	l->n_holders = 0;
	l->n_prevh = 0;
	l->lease_until_ms = lease_until_ms;
	l->lease_ms = lease_until_ms ? now_ms : 0;
	for (i = 0; i < n && rc == 0; i++) {
		uint32_t x = meta_locs_intern(locs, node_ids[i]);
		rc = x == META_LOCS_NODE_NONE ? GD_ENOMEM : loc_push(l, x);
	}
	return rc;
}

int meta_locs_add(struct meta_locs *locs, uint64_t chunk_id, uint64_t version, uint32_t node)
{
	struct meta_loc *l;

	if (node == META_LOCS_NODE_NONE)
		return GD_EINVAL;
	l = meta_locs_at(locs, chunk_id, version);
	if (!l)
		return GD_ENOMEM;
	if (l->pending == node)
		meta_locs_pending_clear(locs, l);
	return loc_push(l, node);
}

/* Records that node still has chunk_id at prev_version (record at version). */
static int loc_add_prev(struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
			uint64_t prev_version, uint32_t node)
{
	struct meta_loc *l;

	if (node == META_LOCS_NODE_NONE)
		return GD_EINVAL;
	l = meta_locs_at(locs, chunk_id, version);
	if (!l)
		return GD_ENOMEM;
	if (l->prev_version != prev_version) {
		l->n_prevh = 0;
		l->prev_version = prev_version;
	}
	return list_push(&l->prevh, &l->n_prevh, &l->cap_prevh, node);
}

void meta_locs_remove(struct meta_locs *locs, uint64_t chunk_id, uint32_t node)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);
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
		meta_locs_pending_clear(locs, l);
}

void meta_locs_drop(struct meta_locs *locs, uint64_t chunk_id)
{
	struct meta_loc *l = meta_ns_map_del(&locs->locs, chunk_id);

	if (l)
		loc_free(locs, l);
}

bool meta_locs_has(const struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
		   uint32_t node)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);

	return l && l->version == version && loc_holds(l, node);
}

bool meta_locs_pending(const struct meta_locs *locs, uint64_t chunk_id, uint64_t version,
		       uint32_t node)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);

	return l && l->version == version && node != META_LOCS_NODE_NONE && l->pending == node;
}

/* ---- the choices made from it ------------------------------------------------------ */

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

size_t meta_locs_live(const struct meta_locs *locs, struct meta_registry *reg,
		      const struct meta_fsm_chunk *c, bool for_read, uint64_t now_ms,
		      const char **ids, size_t max)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, c->chunk_id);
	struct cand cands[META_LOCS_CHAIN_MAX];
	const char *bad[META_LOCS_CHAIN_MAX];
	size_t n = 0, n_bad = 0, i;
	uint32_t k;

	if (!l || l->version != c->version || max == 0)
		return 0;
	if (max > META_LOCS_CHAIN_MAX)
		max = META_LOCS_CHAIN_MAX;
	/* FSM chain order first, then holders the FSM does not list (yet). */
	for (i = 0; i < c->n_nodes + l->n_holders && n < max; i++) {
		const char *id;
		struct meta_node *node;
		if (i < c->n_nodes) {
			id = c->nodes[i];
			if (!loc_holds(l, meta_locs_find(locs, id)))
				continue;
		} else {
			id = meta_locs_name(locs, l->holders[i - c->n_nodes]);
			if (!id || fsm_valid(c, id))
				continue;
		}
		node = meta_registry_get(reg, id);
		if (!meta_registry_node_alive(reg, node, now_ms))
			continue;
		if (meta_registry_is_bad(reg, c->chunk_id, id)) {
			if (for_read && n_bad < META_LOCS_CHAIN_MAX)
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

size_t meta_locs_live_prev(const struct meta_locs *locs, struct meta_registry *reg,
			   const struct meta_fsm_chunk *c, uint64_t now_ms,
			   const char **ids, size_t max)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, c->chunk_id);
	size_t n = 0;
	uint32_t i;

	if (!l || l->version != c->version || l->prev_version != c->prev_version ||
	    c->prev_version == 0)
		return 0;
	for (i = 0; i < l->n_prevh && n < max; i++) {
		const char *id = meta_locs_name(locs, l->prevh[i]);
		struct meta_node *node = meta_registry_get(reg, id);
		if (!id || !fsm_valid(c, id) || !meta_registry_node_alive(reg, node, now_ms) ||
		    meta_registry_is_bad(reg, c->chunk_id, id))
			continue;
		ids[n++] = node->node_id;
	}
	return n;
}

bool meta_locs_never_written(const struct meta_locs *locs, struct meta_registry *reg,
			     const struct meta_fsm_chunk *c, uint64_t now_ms)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, c->chunk_id);
	bool witness = false;
	size_t i;

	if (c->prev_version != 0 || c->chunk_id == 0)
		return false;
	for (i = 0; i < c->n_nodes; i++) {
		const char *id = c->nodes[i];
		uint32_t x = meta_locs_find(locs, id);
		struct meta_node *node = meta_registry_get(reg, id);
		if (meta_registry_is_bad(reg, c->chunk_id, id))
			return false;   /* a copy with data existed */
		if (l && l->version == c->version && x != META_LOCS_NODE_NONE &&
		    (in_list(l->holders, l->n_holders, x) || in_list(l->prevh, l->n_prevh, x)))
			return false;
		/* A member that is down may hold the only copy (another may
		 * have lost its own): only when every member is up and none
		 * has it was nothing ever written. */
		if (!meta_registry_node_alive(reg, node, now_ms))
			return false;
		witness = true;
	}
	return witness;
}

/* ---- dropped copies ------------------------------------------------------------------ */

/* Orders the delete of the copy a failure dropped from the chain of chunk_id. */
static void dropped_delete(struct meta_locs *locs, struct meta_registry *reg, uint64_t chunk_id,
			   struct meta_loc *l, const char *why)
{
	const char *id = meta_locs_name(locs, l->dropped);

	if (id) {
		gd_info("chunk %" PRIu64 ": deleting the copy v%" PRIu64 " on %s (left the chain"
			" at a failure; %s)", chunk_id, l->dropped_version, id, why);
		meta_registry_order(reg, id, META_ORDER_DELETE, chunk_id,
				    l->dropped_version, NULL);
	}
	l->dropped = META_LOCS_NODE_NONE;
}

/* A holder reported chunk_id at version: the chain at it has written. */
static void loc_written(struct meta_locs *locs, struct meta_registry *reg, uint64_t chunk_id,
			uint64_t version)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);

	if (l && l->version == version && l->dropped != META_LOCS_NODE_NONE)
		dropped_delete(locs, reg, chunk_id, l, "the new chain has written");
}

/* Whether node x's copy of chunk_id at version v is the one a failure
 * dropped from the chain and that is kept until the new chain has written
 * (a registration of x meanwhile must not delete it before that). */
static bool loc_kept_dropped(const struct meta_locs *locs, uint64_t chunk_id, uint32_t x,
			     uint64_t v)
{
	const struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);

	return l && x != META_LOCS_NODE_NONE && l->dropped == x && l->dropped_version == v;
}

void meta_locs_dropped(struct meta_locs *locs, struct meta_registry *reg, uint64_t chunk_id,
		       uint64_t version, const char *node_id, uint64_t prev_version,
		       uint64_t now_ms)
{
	struct meta_loc *l = meta_ns_map_get(&locs->locs, chunk_id);
	uint32_t x = meta_locs_intern(locs, node_id);
	uint64_t at = now_ms + META_LOCS_DROP_CONFIRM_MS;
	uint32_t i;

	if (!l || l->version != version || x == META_LOCS_NODE_NONE)
		return;
	if (l->dropped != META_LOCS_NODE_NONE && l->dropped != x)
		dropped_delete(locs, reg, chunk_id, l, "an older version");
	l->dropped = x;
	l->dropped_version = prev_version;
	/* the new chain's reports confirm the first write */
	for (i = 0; i < l->n_holders; i++)
		if (locs->nodes[l->holders[i]].recheck_ms < at)
			locs->nodes[l->holders[i]].recheck_ms = at;
}

/* ---- what chunkds tell ------------------------------------------------------------------ */

void meta_locs_confirm(struct meta_locs *locs, struct meta_registry *reg,
		       const struct meta_fsm_chunk *c, uint32_t node, const char *node_id)
{
	meta_locs_add(locs, c->chunk_id, c->version, node);
	loc_written(locs, reg, c->chunk_id, c->version);
	meta_registry_clear_bad(reg, c->chunk_id, node_id);
}

size_t meta_locs_register(struct meta_locs *locs, struct meta_fsm *fsm,
			  struct meta_registry *reg, const char *node_id,
			  Godfs__ChunkReport *const *report, size_t n, Godfs__ChunkReport **drop,
			  uint64_t now_ms, meta_locs_confirmed_fn confirmed, void *arg)
{
	struct meta_ns_map seen;
	uint32_t me = meta_locs_intern(locs, node_id);
	uint64_t key;
	size_t i, n_drop = 0, pos = 0;
	struct meta_loc *l;

	meta_ns_map_init(&seen);
	for (i = 0; i < n; i++) {
		Godfs__ChunkReport *r = report[i];
		struct meta_fsm_chunk c;
		uint64_t v = r->has_version ? r->version : 0;

		if (!r->has_chunk_id || r->chunk_id == 0)
			continue;
		if (meta_fsm_chunk_by_id(fsm, r->chunk_id, &c) != 0) {
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
				loc_add_prev(locs, c.chunk_id, c.version, c.prev_version, me);
				continue;
			}
			if (!loc_kept_dropped(locs, c.chunk_id, me, v))
				drop[n_drop++] = r;
			continue;
		}
		if (!fsm_valid(&c, node_id) && !meta_locs_pending(locs, c.chunk_id, v, me) &&
		    !meta_locs_has(locs, c.chunk_id, v, me)) {
			drop[n_drop++] = r;
			continue;
		}
		if (me == META_LOCS_NODE_NONE)
			continue;
		meta_ns_map_put(&seen, r->chunk_id, (void *)(uintptr_t)1);
		if (meta_locs_pending(locs, c.chunk_id, v, me) && confirmed)
			confirmed(arg, &c, node_id);
		meta_locs_confirm(locs, reg, &c, me, node_id);
	}
	/* Holders the report does not confirm lose the node, except right after
	 * a lease (its first write may not have reached the node yet): those are
	 * checked again with a later report. */
	while (me != META_LOCS_NODE_NONE &&
	       (l = meta_ns_map_next(&locs->locs, &pos, &key)) != NULL) {
		if (!loc_holds(l, me) || meta_ns_map_get(&seen, key))
			continue;
		if (l->lease_ms && now_ms - l->lease_ms < FIRST_WRITE_MS) {
			uint64_t at = l->lease_ms + FIRST_WRITE_MS;
			if (locs->nodes[me].recheck_ms < at)
				locs->nodes[me].recheck_ms = at;
			continue;
		}
		loc_pop(l, me);
	}
	meta_ns_map_release(&seen);
	return n_drop;
}

bool meta_locs_want_report(struct meta_locs *locs, const char *node_id, uint64_t now_ms)
{
	uint32_t x = meta_locs_find(locs, node_id);
	struct meta_locs_node *r;

	if (x == META_LOCS_NODE_NONE)
		return false;
	r = &locs->nodes[x];
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

void meta_locs_freed(struct meta_locs *locs, struct meta_registry *reg,
		     const struct meta_fsm_result *res)
{
	size_t i, j;

	for (i = 0; res && i < res->n_freed; i++) {
		const struct meta_fsm_freed *f = &res->freed[i];
		struct meta_loc *l = meta_ns_map_get(&locs->locs, f->chunk_id);

		for (j = 0; j < f->n_nodes; j++)
			meta_registry_order(reg, f->nodes[j], META_ORDER_DELETE,
					    f->chunk_id, f->version, NULL);
		/* copies the FSM does not list (replicas not yet recorded) */
		for (j = 0; l && j < l->n_holders + 1; j++) {
			uint32_t x = j < l->n_holders ? l->holders[j] : l->pending;
			const char *id = meta_locs_name(locs, x);
			size_t k;
			bool listed = false;
			for (k = 0; id && k < f->n_nodes; k++)
				listed = listed || strcmp(f->nodes[k], id) == 0;
			if (id && !listed)
				meta_registry_order(reg, id, META_ORDER_DELETE,
						    f->chunk_id, f->version, NULL);
		}
		meta_locs_drop(locs, f->chunk_id);
	}
}
