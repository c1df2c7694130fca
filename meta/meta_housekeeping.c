/* The leader's housekeeping (see meta_housekeeping.h). */
#include "meta_housekeeping.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_balance.h"
#include "meta_drain.h"
#include "meta_h.h"
#include "meta_locs.h"
#include "meta_repl.h"

#define FSM(name) GODFS__FSM_METHOD__M_FSM_##name

#define EXPIRE_PER_TICK 64
#define PURGE_PER_TICK 64
#define DECAY_EVERY_MS 1000

/* ---- session expiry and orphan purge ------------------------------------------------- */

static void expire_done(struct meta_server *ms, struct gd_request *req, int status,
			struct meta_fsm_result *res, void *arg)
{
	struct meta_h_id_arg *a = arg;

	if (status == 0 && res && (res->status == 0 || res->status == GD_ENOSESSION)) {
		gd_info("session %llu expired", (unsigned long long)a->id);
		meta_sessions_remove(ms->sess, a->id);
	} else {
		meta_sessions_unmark(ms->sess, a->id);
	}
	if (res)
		meta_locs_freed(ms->locs, ms->reg, res);
	gd_free(a);
	if (req)
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
}

static void purge_done(struct meta_server *ms, struct gd_request *req, int status,
		       struct meta_fsm_result *res, void *arg)
{
	struct meta_h_id_arg *a = arg;

	if (status == 0 && res && (res->status == 0 || res->status == GD_ENOENT)) {
		gd_debug("orphan inode %llu purged", (unsigned long long)a->id);
		meta_sessions_orphan_del(ms->sess, a->id);
		meta_locs_freed(ms->locs, ms->reg, res);
	} else {
		meta_sessions_orphan_unmark(ms->sess, a->id);
	}
	meta_h_wake(ms, META_WAIT_REMOVAL, a->id, 0); /* opens that waited for it */
	gd_free(a);
	if (req)
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
}

static void expire_sessions(struct meta_server *ms, uint64_t now)
{
	uint64_t ids[EXPIRE_PER_TICK];
	size_t n = meta_sessions_take_expired(ms->sess, now, ms->opt.session_timeout_ms,
					      ids, EXPIRE_PER_TICK), i;

	for (i = 0; i < n; i++) {
		Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
		struct meta_h_id_arg *a = meta_h_id_arg_new(ids[i]);
		if (!a) {
			meta_sessions_unmark(ms->sess, ids[i]);
			continue;
		}
		e.has_method = e.has_expire_session = 1;
		e.method = FSM(SESSION_EXPIRE);
		e.expire_session = ids[i];
		meta_h_propose(ms, &e, NULL, expire_done, a);
	}
}

static void purge_orphans(struct meta_server *ms)
{
	uint64_t inos[PURGE_PER_TICK];
	size_t n = meta_sessions_take_purgeable(ms->sess, inos, PURGE_PER_TICK), i;

	for (i = 0; i < n; i++) {
		Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
		struct meta_h_id_arg *a = meta_h_id_arg_new(inos[i]);
		if (!a) {
			meta_sessions_orphan_unmark(ms->sess, inos[i]);
			continue;
		}
		e.has_method = e.has_purge_ino = 1;
		e.method = FSM(PURGE);
		e.purge_ino = inos[i];
		meta_h_propose(ms, &e, NULL, purge_done, a);
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
	meta_balance_tick(ms->balance, ms->reg, now_ms, &o);
}

void meta_housekeeping_tick(struct meta_server *ms, uint64_t now_ms)
{
	if (!ms->ready)
		return;
	meta_sessions_expire_leases(ms->sess, now_ms);
	if (now_ms - ms->last_decay_ms >= DECAY_EVERY_MS) {
		meta_registry_decay(ms->reg);
		ms->last_decay_ms = now_ms;
	}
	balance_tick(ms, now_ms);
	/* The scan counts chunks under goal (for status) even when it may not
	 * order copies yet. */
	if (meta_h_in_grace(ms)) {
		meta_repl_scan(ms, now_ms, false);
		return;
	}
	expire_sessions(ms, now_ms);
	purge_orphans(ms);
	meta_repl_scan(ms, now_ms, !meta_h_in_node_window(ms));
	if (!meta_h_in_node_window(ms))
		meta_repl_order_planned(ms, now_ms);
}

void meta_housekeeping_became_leader(struct meta_server *ms)
{
	uint64_t now = meta_h_now_ms();
	uint64_t *ids = NULL;
	size_t cap = 256, n, i;

	meta_locs_clear(ms->locs);
	meta_repl_clear(ms->repl);
	meta_balance_clear(ms->balance);
	ms->last_decay_ms = now;
	meta_repl_leader_start(ms, now);
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

void meta_housekeeping_lost_leader(struct meta_server *ms)
{
	meta_locs_clear(ms->locs);
	meta_repl_clear(ms->repl);
	meta_balance_clear(ms->balance);
}
