/* Handlers of cluster-wide locks (see meta_h_locks.h). */
#include "meta_h_locks.h"

#include "gd_log.h"
#include "gd_status.h"
#include "meta_h.h"

#define PRUNE_MAX 64   /* dead connections let go per lock request */

/* Lets go of connections that died (a mount that crashed, whose session
 * expired or will): nothing can be pushed to them any more. */
static void prune(struct meta_server *ms)
{
	uint64_t dead[PRUNE_MAX], session;
	struct gd_sconn *c;
	size_t pos = 0, n = 0;

	while (n < PRUNE_MAX && (c = meta_ns_map_next(&ms->lock_conns, &pos, &session)) != NULL)
		if (!gd_sconn_alive(c))
			dead[n++] = session;
	/* after the walk: the map must not change during it */
	for (size_t i = 0; i < n; i++)
		gd_sconn_release(meta_ns_map_del(&ms->lock_conns, dead[i]));
}

/* Makes req's connection the one pushes for session go to. */
static void remember_conn(struct meta_server *ms, uint64_t session, struct gd_request *req)
{
	struct gd_sconn *old;

	if (session == 0 || req->conn == NULL)
		return;
	prune(ms);
	old = meta_ns_map_get(&ms->lock_conns, session);
	if (old == req->conn)
		return;
	gd_sconn_hold(req->conn);
	if (meta_ns_map_put(&ms->lock_conns, session, req->conn) != 0) {
		/* no push to this session: its waits are granted on resend */
		gd_sconn_release(req->conn);
		return;
	}
	gd_sconn_release(old);
}

void meta_h_locks_lock(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Lock *m = (const Godfs__Lock *)req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	uint64_t session = meta_h_session_of(req, m->has_session_id, m->session_id);

	if (session == 0) {
		meta_h_reply_status(ms, req, GD_ENOSESSION);
		return;
	}
	remember_conn(ms, session, req);
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, session, NULL, NULL);
}

void meta_h_locks_get(struct meta_server *ms, struct gd_request *req)
{
	Godfs__Lock m = *(const Godfs__Lock *)req->msg;
	struct meta_fsm_result res;

	/* the asking session decides whose pid is shown */
	m.session_id = meta_h_session_of(req, m.has_session_id, m.session_id);
	m.has_session_id = 1;
	meta_fsm_query_msg(ms->fsm, req->hdr.method, &m.base, &res);
	meta_h_reply_result(ms, req, &res);
	meta_fsm_result_release(&res);
}

void meta_h_locks_applied(struct meta_server *ms, const struct meta_fsm_result *res)
{
	static struct gd_log_limit lost = GD_LOG_LIMIT_INIT;

	for (size_t i = 0; i < res->grants.n; i++) {
		const struct meta_locks_grant *g = &res->grants.v[i];
		struct gd_sconn *c = meta_ns_map_get(&ms->lock_conns, g->session);
		Godfs__LockGranted p = GODFS__LOCK_GRANTED__INIT;
		unsigned dropped;
		int rc = GD_ECONN;

		p.has_session_id = p.has_wait_id = p.has_status = 1;
		p.session_id = g->session;
		p.wait_id = g->wait_id;
		if (c)
			rc = gd_push(c, GODFS__PUSH__P_LOCK_GRANTED, &p.base);
		if (rc == 0)
			continue;
		if (c && rc == GD_ECONN) {
			meta_ns_map_del(&ms->lock_conns, g->session);
			gd_sconn_release(c);
		}
		if (gd_log_limit_allow(&lost, &dropped))
			gd_info("session %llu: lock wait %llu granted, not pushed (%s): the "
				"client asks again when it reconnects%s",
				(unsigned long long)g->session, (unsigned long long)g->wait_id,
				gd_strerror(rc), dropped ? " (and others)" : "");
	}
}

void meta_h_locks_lost_leader(struct meta_server *ms)
{
	struct gd_sconn *c;
	size_t pos = 0;

	while ((c = meta_ns_map_next(&ms->lock_conns, &pos, NULL)) != NULL)
		gd_sconn_release(c);
	meta_ns_map_release(&ms->lock_conns);
	meta_ns_map_init(&ms->lock_conns);
}
