/* The leader's re-replication scan (see meta_repl.h). */
#include "meta_repl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_balance.h"
#include "meta_h.h"
#include "meta_locs.h"
#include "meta_repl_plan.h"

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

/* The re-replication scan and its counters. */
struct meta_repl {
	size_t scan_pos;
	bool scanning;
	uint64_t scan_started_ms;
	uint64_t scan_under;        /* under-goal count of the pass in progress */
	uint64_t under_goal;        /* of the last complete pass */
	uint64_t repl_after_ms;     /* no copies before (leases of a former leader) */
	uint64_t repl_done;         /* copies confirmed */
	uint64_t repl_failed;       /* copies not confirmed in time, or failed */
	/* the priority of copies (meta_repl_plan.h): a scan pass fills
	 * next_plan and census_scan; at its end they become plan and census */
	struct meta_repl_plan plan;
	struct meta_repl_plan next_plan;
	struct meta_repl_census census;
	struct meta_repl_census census_scan;
	struct meta_repl_rate rate;
	uint64_t pass_end_ms;
	uint32_t max_per_node;      /* --repl-max-per-node, as of the last scan */
	Godfs__ReplProgress progress;          /* what meta_repl_status hands out */
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

int meta_repl_new(struct meta_repl **out)
{
	*out = gd_calloc(1, sizeof(**out));
	return *out ? 0 : GD_ENOMEM;
}

void meta_repl_free(struct meta_repl *r)
{
	if (!r)
		return;
	meta_repl_clear(r);
	gd_free(r);
}

void meta_repl_clear(struct meta_repl *r)
{
	meta_repl_plan_release(&r->plan);
	meta_repl_plan_release(&r->next_plan);
	memset(r, 0, sizeof(*r));
}

void meta_repl_leader_start(struct meta_server *ms, uint64_t now_ms)
{
	/* Leases granted by a former leader are not known here: no copies (which
	 * would miss the writes still coming under them) until they ended. */
	ms->repl->repl_after_ms = now_ms + ms->opt.lease_ms + LEASE_DRAIN_MS;
}

const struct meta_repl_census *meta_repl_census(const struct meta_repl *r)
{
	return &r->census;
}

uint64_t meta_repl_under_goal(const struct meta_repl *r)
{
	return r->under_goal;
}

static void repl_progress(struct meta_server *ms, Godfs__ReplProgress *p);

void meta_repl_status(struct meta_server *ms, Godfs__AdminStatusResp *r)
{
	struct meta_repl *S = ms->repl;
	size_t i;

	r->has_repl_pending = r->has_repl_done = r->has_repl_failed = 1;
	r->repl_pending = meta_locs_n_pending(ms->locs);
	r->repl_done = S->repl_done;
	r->repl_failed = S->repl_failed;
	r->repl_last_error = S->last_error[0] ? S->last_error : NULL;
	for (i = 0; i < S->n_why; i++)
		S->why_ptrs[i] = S->why[i];
	r->n_under_goal_why = S->n_why;
	r->under_goal_why = S->why_ptrs;
	repl_progress(ms, &S->progress);
	r->repl = &S->progress;
}

/* The census of the last pass and the live figures, for `godfs-admin chunks`. */
static void repl_progress(struct meta_server *ms, Godfs__ReplProgress *p)
{
	struct meta_repl *S = ms->repl;
	const struct meta_repl_census *c = &S->census;
	uint64_t now = meta_h_now_ms(), bps, mcps, eta;
	size_t n = META_REPL_HIST;

	godfs__repl_progress__init(p);
	/* the histogram up to its last non-zero entry */
	while (n > 0 && c->under_by_live[n - 1] == 0)
		n--;
	memcpy(S->progress_hist, c->under_by_live, sizeof(S->progress_hist));
	p->n_under_by_live = n;
	p->under_by_live = S->progress_hist;
	p->has_at_goal = p->has_over_goal = p->has_copies_todo = p->has_bytes_todo = 1;
	p->at_goal = c->at_goal;
	p->over_goal = c->over_goal;
	p->copies_todo = c->copies_todo;
	p->bytes_todo = c->bytes_todo;
	p->has_pending = p->has_pending_bytes = p->has_copies_done = p->has_bytes_done = 1;
	p->pending = meta_locs_n_pending(ms->locs);
	p->pending_bytes = meta_locs_pending_bytes(ms->locs);
	p->copies_done = S->rate.total_copies;
	p->bytes_done = S->rate.total_bytes;
	meta_repl_rate_get(&S->rate, now, &bps, &mcps);
	p->has_rate_bps = p->has_rate_mcps = 1;
	p->rate_bps = bps;
	p->rate_mcps = mcps;
	eta = meta_repl_eta_s(c->copies_todo, c->bytes_todo, bps, mcps);
	p->has_eta_s = eta != META_REPL_ETA_UNKNOWN;
	p->eta_s = p->has_eta_s ? eta : 0;
	p->has_max_per_node = 1;
	p->max_per_node = S->max_per_node ? S->max_per_node : REPL_PER_NODE_DEFAULT;
	p->has_pass_age_ms = S->pass_end_ms != 0;
	p->pass_age_ms = S->pass_end_ms && now >= S->pass_end_ms ? now - S->pass_end_ms : 0;
	p->has_failed = 1;
	p->failed = S->repl_failed;
}

/* The data bytes of one copy of c (an estimate: a sparse chunk moves less). */
static uint64_t chunk_bytes(struct meta_server *ms, const struct meta_fsm_chunk *c)
{
	return meta_repl_chunk_bytes(c->file_size, c->index, meta_fsm_chunk_size(ms->fsm));
}

/* Proposes the FSM's valid set of c plus node (a confirmed replica), minus
 * the copies marked bad. */
static void propose_valid_set(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char *node_id);


void meta_repl_confirmed(void *arg, const struct meta_fsm_chunk *c, const char *node_id)
{
	struct meta_server *ms = arg;

	propose_valid_set(ms, c, node_id);
	ms->repl->repl_done++;
	meta_repl_rate_add(&ms->repl->rate, meta_h_now_ms(), chunk_bytes(ms, c));
}

void meta_repl_replicated(struct meta_server *ms, const char *node_id,
			  const Godfs__CsReplicated *r)
{
	struct meta_repl *S = ms->repl;
	uint32_t me = meta_locs_find(ms->locs, node_id);
	struct meta_fsm_chunk c;
	struct meta_loc *l;

	if (!r || !r->has_chunk_id || !r->has_version || me == META_LOCS_NODE_NONE ||
	    !meta_locs_pending(ms->locs, r->chunk_id, r->version, me) ||
	    meta_fsm_chunk_by_id(ms->fsm, r->chunk_id, &c) != 0 || c.version != r->version)
		return;     /* not ordered here, or moved on: the next report says */
	l = meta_locs_get(ms->locs, r->chunk_id);
	if (r->has_status && r->status != 0) {
		snprintf(S->last_error, sizeof(S->last_error), "chunk %" PRIu64 " v%" PRIu64
			 ": the copy to %s failed: %s", r->chunk_id, r->version, node_id,
			 gd_strerror(r->status));
		gd_warn("%s: ordering another one", S->last_error);
		S->repl_failed++;
		if (l) {
			l->tries++;     /* another source next time */
			meta_locs_pending_clear(ms->locs, l);
		}
		return;
	}
	propose_valid_set(ms, &c, node_id);
	S->repl_done++;
	meta_repl_rate_add(&S->rate, meta_h_now_ms(),
			   r->has_bytes ? r->bytes : chunk_bytes(ms, &c));
	meta_locs_confirm(ms->locs, ms->reg, &c, me, node_id);
}

/* ---- proposals of the scan ------------------------------------------------------------ */

static void chunk_nodes_done(struct meta_server *ms, struct gd_request *req, int status,
			     struct meta_fsm_result *res, void *arg)
{
	struct meta_h_id_arg *a = arg;

	if (status == 0 && res && res->status != 0)
		gd_debug("chunk %llu: new valid set not recorded: %s",
			 (unsigned long long)(a ? a->id : 0), gd_strerror(res->status));
	gd_free(a);
	if (req)
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
}

static void propose_valid_set(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char *node_id)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	Godfs__ChunkReport cr = GODFS__CHUNK_REPORT__INIT;
	char *chain[META_LOCS_CHAIN_MAX + 1];
	uint8_t buf[32];
	size_t i, n = 0;
	struct meta_h_id_arg *a;

	for (i = 0; i < c->n_nodes && n < META_LOCS_CHAIN_MAX; i++)
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
	a = meta_h_id_arg_new(c->chunk_id);
	if (!a)
		return;
	gd_info("chunk %llu v%llu: copy on %s confirmed", (unsigned long long)c->chunk_id,
		(unsigned long long)c->version, node_id);
	meta_h_propose(ms, &e, NULL, chunk_nodes_done, a);
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
			   struct meta_loc *l, const char *target, const char *const *live,
			   size_t n_live, uint64_t now, const char **src_out)
{
	const char *src = meta_h_node_address(ms, live[l->tries % n_live]);
	uint32_t t;

	if (!src || (t = meta_locs_intern(ms->locs, target)) == META_LOCS_NODE_NONE ||
	    meta_registry_order(ms->reg, target, META_ORDER_REPLICATE, c->chunk_id,
				c->version, src) != 0)
		return WHY_ORDER;
	meta_locs_pending_set(ms->locs, l, t, now, chunk_bytes(ms, c));
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
	struct meta_loc *l = meta_locs_get(ms->locs, c->chunk_id);
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
		const char *id = meta_locs_name(ms->locs, l->holders[i]);
		if (id && !meta_registry_is_bad(ms->reg, c->chunk_id, id))
			skip[n_skip++] = id;
	}
	while ((target = meta_registry_place_one(ms->reg, now, c->chunk_id, live, n_live,
						 skip, n_skip)) != NULL) {
		struct meta_locs_node *x = meta_locs_node(ms->locs,
							  meta_locs_find(ms->locs, target));
		if (!x || x->n_pending < repl_max_per_node(ms))
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
static bool move_one(struct meta_server *ms, const struct meta_fsm_chunk *c,
		     struct meta_loc *l, const char *const *live, size_t n_live, uint64_t now)
{
	const char *from = NULL, *to = NULL, *src = NULL;
	enum meta_move_why why = meta_balance_move(ms->balance, ms->reg, c, live, n_live,
						   &from, &to);
	uint32_t f;

	if (why == META_MOVE_NONE ||
	    (f = meta_locs_intern(ms->locs, from)) == META_LOCS_NODE_NONE ||
	    order_copy(ms, c, l, to, live, n_live, now, &src) != WHY_COPYING)
		return false;
	l->move_from = f;
	meta_balance_spent(ms->balance, why);
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
			     struct meta_loc *l, uint64_t now, bool may_order)
{
	struct meta_repl *S = ms->repl;
	const char *ids[META_LOCS_CHAIN_MAX];
	size_t n = meta_locs_live_prev(ms->locs, ms->reg, c, now, ids, META_LOCS_CHAIN_MAX), i;

	if (n == 0)
		return WHY_NO_COPY;
	if (!may_order || now < S->repl_after_ms)
		return WHY_LEADER;
	if (l->lease_until_ms + LEASE_DRAIN_MS > now)
		return WHY_LEASE;
	if (l->promote_ms && now - l->promote_ms < REPL_TIMEOUT_MS)
		return WHY_PROMOTING;
	for (i = 0; i < n; i++) {
		uint32_t x = meta_locs_find(ms->locs, ids[i]);
		if (meta_registry_order_promote(ms->reg, ids[i], c->chunk_id, c->version,
						c->prev_version) != 0)
			return WHY_ORDER;
		struct meta_locs_node *rn = meta_locs_node(ms->locs, x);
		if (rn && rn->recheck_ms < now + META_LOCS_DROP_CONFIRM_MS)
			rn->recheck_ms = now + META_LOCS_DROP_CONFIRM_MS;
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
static void why_note(struct meta_server *ms, const struct meta_fsm_chunk *c, struct meta_loc *l, size_t n_live,
		     uint32_t goal, enum why why, uint64_t now)
{
	struct meta_repl *S = ms->repl;
	char text[WHY_LEN - 64];
	const char *target;

	switch (why) {
	case WHY_COPYING:
		target = l ? meta_locs_name(ms->locs, l->pending) : NULL;
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
			 S->repl_after_ms > now ? (S->repl_after_ms - now + 999) / 1000 : 0);
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
			 " %zu copies on their way", meta_locs_n_pending(ms->locs));
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
	if (S->n_scan_why < WHY_MAX)
		snprintf(S->scan_why[S->n_scan_why++], WHY_LEN, "chunk %" PRIu64 " v%" PRIu64
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

/* Whether node_id is in the FSM's valid set of c. */
static bool fsm_valid(const struct meta_fsm_chunk *c, const char *node_id)
{
	size_t i;

	for (i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i], node_id) == 0)
			return true;
	return false;
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
	struct meta_loc *l = meta_locs_get(ms->locs, t->chunk_id);
	struct meta_fsm_chunk c;

	if (l)
		l->trimming = false;
	/* delete only if the record still has that version without the victim */
	if (status == 0 && res && res->status == 0 &&
	    meta_fsm_chunk_by_id(ms->fsm, t->chunk_id, &c) == 0 && c.version == t->version &&
	    !fsm_valid(&c, t->victim)) {
		gd_info("chunk %llu v%llu: copy on %s above goal, deleted",
			(unsigned long long)t->chunk_id, (unsigned long long)t->version, t->victim);
		meta_locs_remove(ms->locs, t->chunk_id, meta_locs_find(ms->locs, t->victim));
		meta_registry_order(ms->reg, t->victim, META_ORDER_DELETE, t->chunk_id,
				    t->version, NULL);
	}
	gd_free(t->victim);
	gd_free(t);
	if (req)
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
}

/* Drops one copy of c above its goal: the live holder with the least free
 * space leaves the valid set, and its copy is deleted once that is applied. */
static void trim_one(struct meta_server *ms, const struct meta_fsm_chunk *c,
		     const char *const *live, size_t n_live)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	Godfs__ChunkReport cr = GODFS__CHUNK_REPORT__INIT;
	struct meta_loc *l = meta_locs_get(ms->locs, c->chunk_id);
	char *chain[META_LOCS_CHAIN_MAX];
	struct meta_node *victim = NULL;
	struct trim_arg *t;
	uint8_t buf[32];
	size_t i, n = 0;

	if (!l)
		return;
	/* a move names the copy it replaces; otherwise meta_place_victim */
	for (i = 0; i < n_live && l->move_from != META_LOCS_NODE_NONE; i++)
		if (meta_locs_find(ms->locs, live[i]) == l->move_from)
			victim = meta_registry_get(ms->reg, live[i]);
	if (!victim)
		victim = meta_registry_get(ms->reg,
					   live[meta_balance_victim(ms->reg, live, n_live)]);
	l->move_from = META_LOCS_NODE_NONE;
	if (!victim)
		return;
	for (i = 0; i < n_live && n < META_LOCS_CHAIN_MAX; i++)
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
	meta_h_propose(ms, &e, NULL, trim_done, t);
}

/* Whether c (under goal, entry l) may get a new copy
 * now, else why not; a copy not confirmed in time is given up here. */
static enum why copy_ready(struct meta_server *ms, const struct meta_fsm_chunk *c,
			   struct meta_loc *l, uint64_t now, bool may_order)
{
	struct meta_repl *S = ms->repl;

	if (now < S->repl_after_ms || !may_order)
		return WHY_LEADER;
	if (l->lease_until_ms + LEASE_DRAIN_MS > now)
		return WHY_LEASE;
	if (l->pending != META_LOCS_NODE_NONE) {
		if (now - l->pending_ms < REPL_TIMEOUT_MS)
			return WHY_COPYING;
		const char *t = meta_locs_name(ms->locs, l->pending);
		snprintf(S->last_error, sizeof(S->last_error), "chunk %" PRIu64 " v%" PRIu64
			 ": the copy to %s was not confirmed within %d s", c->chunk_id,
			 c->version, t ? t : "?", REPL_TIMEOUT_MS / 1000);
		gd_warn("%s: ordering another one", S->last_error);
		S->repl_failed++;
		l->tries++;
		meta_locs_pending_clear(ms->locs, l);
	}
	return WHY_NONE;
}

void meta_repl_order_planned(struct meta_server *ms, uint64_t now)
{
	struct meta_repl *S = ms->repl;
	size_t i, looked = 0, ordered = 0, pos = 0;
	struct meta_node *node;
	bool room = false;

	/* all chunkds busy: nothing to look at */
	while (!room && (node = meta_registry_next(ms->reg, &pos)) != NULL) {
		struct meta_locs_node *x = meta_locs_node(ms->locs,
							  meta_locs_find(ms->locs, node->node_id));
		room = meta_registry_node_alive(ms->reg, node, now) &&
		       (!x || x->n_pending < repl_max_per_node(ms));
	}
	for (i = S->plan.head; room && i < S->plan.n && looked < PLAN_LOOK_PER_TICK &&
	     ordered < REPL_PER_TICK && meta_locs_n_pending(ms->locs) < REPL_MAX_PENDING; i++) {
		const char *live[META_LOCS_CHAIN_MAX];
		struct meta_fsm_chunk c;
		struct meta_loc *l;
		size_t n_live;
		enum why why;

		if (S->plan.v[i].chunk_id == 0)
			continue;
		looked++;
		l = meta_locs_get(ms->locs, S->plan.v[i].chunk_id);
		if (!l || meta_fsm_chunk_by_id(ms->fsm, S->plan.v[i].chunk_id, &c) != 0) {
			meta_repl_plan_take(&S->plan, i);
			continue;
		}
		n_live = meta_locs_live(ms->locs, ms->reg, &c, false, now, live,
					META_LOCS_CHAIN_MAX);
		if (n_live == 0 || n_live >= (c.goal ? c.goal : 1) || l->trimming ||
		    copy_ready(ms, &c, l, now, true) != WHY_NONE) {
			meta_repl_plan_take(&S->plan, i);
			continue;
		}
		why = replicate_one(ms, &c, live, n_live, now);
		l->why = (uint8_t)why;
		if (why == WHY_NODE_LIMIT)
			continue;
		meta_repl_plan_take(&S->plan, i);
		ordered += why == WHY_COPYING;
	}
}

/* The end of a scan pass: its census and plan replace the last ones. */
static void scan_pass_end(struct meta_repl *S, uint64_t now)
{
	S->scanning = false;
	S->under_goal = S->scan_under;
	memcpy(S->why, S->scan_why, sizeof(S->why));
	S->n_why = S->n_scan_why;
	S->census = S->census_scan;
	meta_repl_plan_swap(&S->plan, &S->next_plan);
	meta_repl_plan_sort(&S->plan);
	meta_repl_plan_reset(&S->next_plan);
	S->pass_end_ms = now;
}

/* Looks at the next chunk records: counts them by live copies, and (with
 * may_order) puts those below goal that may get a copy into the plan of
 * this pass (meta_repl_order_planned orders them); drops copies above goal. */
void meta_repl_scan(struct meta_server *ms, uint64_t now, bool may_order)
{
	struct meta_repl *S = ms->repl;
	struct meta_fsm_chunk c;
	size_t looked = 0, ordered = 0;

	S->max_per_node = repl_max_per_node(ms);
	if (!S->scanning) {
		if (now - S->scan_started_ms < SCAN_PASS_MIN_MS)
			return;
		S->scanning = true;
		S->scan_pos = 0;
		S->scan_under = 0;
		S->n_scan_why = 0;
		S->scan_started_ms = now;
		memset(&S->census_scan, 0, sizeof(S->census_scan));
		meta_repl_plan_reset(&S->next_plan);
		meta_balance_pass_begin(ms->balance);
	}
	while (looked < SCAN_PER_TICK) {
		const char *live[META_LOCS_CHAIN_MAX];
		struct meta_loc *l;
		size_t n_live;
		uint32_t goal;

		if (!meta_fsm_chunk_next(ms->fsm, &S->scan_pos, &c)) {
			scan_pass_end(S, now);
			meta_balance_pass_end(ms->balance, ms->reg);
			return;
		}
		looked++;
		goal = c.goal ? c.goal : 1;
		n_live = meta_locs_live(ms->locs, ms->reg, &c, false, now, live, META_LOCS_CHAIN_MAX);
		meta_repl_census_add(&S->census_scan, (uint32_t)n_live, goal, chunk_bytes(ms, &c));
		meta_balance_note(ms->balance, ms->reg, &c, live, n_live);
		if (n_live > goal && ordered < REPL_PER_TICK && may_order) {
			l = meta_locs_get(ms->locs, c.chunk_id);
			if (l && !l->trimming && l->lease_until_ms + LEASE_DRAIN_MS <= now &&
			    now >= S->repl_after_ms &&
			    l->pending == META_LOCS_NODE_NONE) {
				trim_one(ms, &c, live, n_live);
				ordered++;
			}
		}
		if (n_live >= goal) {
			if ((l = meta_locs_get(ms->locs, c.chunk_id)) != NULL) {
				l->why = WHY_NONE;
				l->under_since_ms = 0;
				/* A move's copy (the chunk is at its goal) that never
				 * comes, its order lost with a target cut off: given up
				 * after the same timeout as a repair, so that a drain ends
				 * and the target is no longer asked for reports. */
				if (l->pending != META_LOCS_NODE_NONE &&
				    copy_ready(ms, &c, l, now, true) == WHY_NONE)
					l->move_from = META_LOCS_NODE_NONE;
			}
			if (l && n_live == goal && may_order && ordered < REPL_PER_TICK &&
			    meta_locs_n_pending(ms->locs) < REPL_MAX_PENDING && !l->trimming &&
			    l->pending == META_LOCS_NODE_NONE && now >= S->repl_after_ms &&
			    l->lease_until_ms + LEASE_DRAIN_MS <= now &&
			    move_one(ms, &c, l, live, n_live, now))
				ordered++;
			continue;
		}
		S->scan_under++;
		l = meta_locs_get(ms->locs, c.chunk_id);
		if (!l)
			l = meta_locs_at(ms->locs, c.chunk_id, c.version);   /* for its `why` */
		if (l && l->under_since_ms == 0)
			l->under_since_ms = now;
		if (n_live == 0 || !l) {
			why_note(ms, &c, l, n_live, goal,
				 l ? promote_prev(ms, &c, l, now, may_order) : WHY_NO_COPY, now);
			continue;
		}
		enum why why = copy_ready(ms, &c, l, now, may_order);
		if (why == WHY_NONE) {
			struct meta_repl_cand k = {
				.chunk_id = c.chunk_id, .live = (uint32_t)n_live, .goal = goal,
				.under_since_ms = l->under_since_ms, .bytes = chunk_bytes(ms, &c),
			};
			why = meta_repl_plan_add(&S->next_plan, &k) == 0 ? WHY_QUEUED : WHY_ORDER;
		}
		why_note(ms, &c, l, n_live, goal, why, now);
	}
}
