/* The dispatcher (see meta_dispatch.h): the gates, then method -> handler. */
#include "meta_dispatch.h"

#include "gd_log.h"
#include "gd_methods.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_h_admin.h"
#include "meta_h_chunkd.h"
#include "meta_h_create.h"
#include "meta_h_data.h"
#include "meta_h_locks.h"
#include "meta_h_masters.h"
#include "meta_h_nodes.h"
#include "meta_h_ns.h"
#include "meta_h_session.h"
#include "meta_h_token.h"
#include "meta_loop.h"
#include "meta_read_gate.h"

static const meta_h_fn handlers[GD_METHOD_ID_MAX + 1] = {
	[M(HELLO)] = meta_h_session_hello,
	[M(PING)] = meta_h_session_ping,
	[M(SESSION_RENEW)] = meta_h_session_renew,
	[M(LOOKUP)] = meta_h_ns_query,
	[M(GETATTR)] = meta_h_ns_query,
	[M(READLINK)] = meta_h_ns_query,
	[M(READDIR)] = meta_h_ns_query,
	[M(GETXATTR)] = meta_h_ns_query,
	[M(LISTXATTR)] = meta_h_ns_query,
	[M(STATFS)] = meta_h_ns_statfs,
	[M(OPEN)] = meta_h_ns_open,
	[M(RELEASE)] = meta_h_ns_release,
	[M(MKNOD)] = meta_h_ns_mknod,
	[M(CREATE)] = meta_h_create,
	[M(LEASE_RETURN)] = meta_h_create_lease_return,
	[M(MKDIR)] = meta_h_ns_mknod,
	[M(SYMLINK)] = meta_h_ns_mknod,
	[M(SETATTR)] = meta_h_ns_change,
	[M(LINK)] = meta_h_ns_change,
	[M(SETXATTR)] = meta_h_ns_change,
	[M(REMOVEXATTR)] = meta_h_ns_change,
	[M(WRITE_COMMIT)] = meta_h_ns_change,
	[M(UNLINK)] = meta_h_ns_remove,
	[M(RMDIR)] = meta_h_ns_remove,
	[M(RENAME)] = meta_h_ns_remove,
	[M(CHUNK_LOCATE)] = meta_h_data_locate,
	[M(WRITE_LEASE)] = meta_h_data_chunk_write,
	[M(CHUNK_FAILED)] = meta_h_data_chunk_write,
	[M(CS_REGISTER)] = meta_h_chunkd_register,
	[M(CS_HEARTBEAT)] = meta_h_chunkd_heartbeat,
	[M(CS_REPORT_BAD)] = meta_h_chunkd_report_bad,
	[M(ADMIN_STATUS)] = meta_h_admin_status,
	[M(TOKEN_CREATE)] = meta_h_token_admin,
	[M(TOKEN_LIST)] = meta_h_token_admin,
	[M(TOKEN_REVOKE)] = meta_h_token_admin,
	[M(TOKEN_GET)] = meta_h_token_admin,
	[M(MASTERS_LIST)] = meta_h_masters_list,
	[M(MASTERS_ADD)] = meta_h_masters_add,
	[M(MASTERS_REMOVE)] = meta_h_masters_remove,
	[M(MASTERS_TRANSFER)] = meta_h_masters_transfer,
	[M(NODE_DRAIN)] = meta_h_nodes_drain,
	[M(ADMIN_PLACEMENT)] = meta_h_nodes_placement,
	[M(LOCK)] = meta_h_locks_lock,
	[M(LOCK_CANCEL)] = meta_h_locks_lock,
	[M(LOCK_GET)] = meta_h_locks_get,
};

static bool serves(uint32_t method)
{
	return method <= GD_METHOD_ID_MAX && handlers[method] != NULL;
}

int meta_dispatch_check_table(void)
{
	int rc = 0;

	for (uint32_t id = 0; id <= GD_METHOD_ID_MAX; id++) {
		const struct gd_method *m = gd_method_get(id);
		bool table = m && (m->served_by & GD_SERVE_META);

		if (table != serves(id)) {
			gd_error("method %u (%s): the method table says the meta %s it, the "
				 "meta has %s handler", id, gd_method_name(id),
				 table ? "serves" : "does not serve", serves(id) ? "a" : "no");
			rc = GD_EINVAL;
		}
	}
	return rc;
}

static struct gd_log_limit refusals = GD_LOG_LIMIT_INIT;

/* A request naming another client's session is refused (acting for it: its
 * opens, leases, exactly-once records): see meta_sessions_check. */
static bool session_bound(struct meta_server *ms, struct gd_request *req)
{
	uint64_t sid = gd_method_session(req->method, req->msg);
	struct meta_conn *c = meta_h_conn(req);
	uint64_t own = c ? c->session_id : 0;
	unsigned dropped;

	if (meta_sessions_check(ms->sess, own, sid) == 0)
		return true;
	if (gd_log_limit_allow(&refusals, &dropped))
		gd_warn("%s: refused %s for session %llu: this connection's session is %llu%s",
			req->peer, req->method->name, (unsigned long long)sid,
			(unsigned long long)own,
			dropped ? " (and earlier refusals not logged)" : "");
	return false;
}

/* Whether another node leads (a request here is redirected to it). */
static bool other_leader(struct meta_server *ms)
{
	return ms->proposer.other_leader && ms->proposer.other_leader(ms->proposer.ctx);
}

void meta_dispatch(struct meta_server *ms, struct gd_request *req)
{
	meta_h_fn h = serves(req->hdr.method) ? handlers[req->hdr.method] : NULL;

	if (ms->stopping) {
		meta_h_reply_status(ms, req, meta_h_stop_status(ms));
	} else if (!ms->ready) {
		if (other_leader(ms) || !meta_loop_may_hold(ms))
			meta_h_reply_status(ms, req, GD_ENOTLEADER);
		else
			meta_loop_hold(ms, req);
	} else if (ms->gate != NULL && !ms->cur_read_passed && !meta_read_gate_admit(ms, req)) {
		return;    /* a read waiting for the lease or a barrier */
	} else if (!meta_h_token_admit(ms, req)) {
		return;    /* answered: outside the token's scope */
	} else if (!h) {
		/* gd_server lets through only GD_SERVE_META methods */
		gd_error("%s: %s is served by the meta by the method table but has no handler",
			 req->peer, req->method->name);
		meta_h_reply_status(ms, req, GD_ENOTSUP);
	} else if (!session_bound(ms, req)) {
		meta_h_reply_status(ms, req, GD_EPERM);
	} else {
		h(ms, req);
	}
}
