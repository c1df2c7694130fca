/* godfs-meta's answers to an operator about the chunk servers' copies:
 * NODE_DRAIN (decommissioning, through Raft: meta_drain.h) and
 * ADMIN_PLACEMENT (chunks whose copies share a rack or zone, from the
 * leader's last scan: meta_balance.h). Loop thread only, like every
 * handler; the method table lets only admins call them. */
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_balance.h"
#include "meta_rpc.h"
#include "meta_rpc_internal.h"

#define M(name) GODFS__METHOD__M_##name

static void drain_applied(struct meta_server *ms, struct gd_request *req, int status,
			  struct meta_fsm_result *res, void *arg)
{
	(void)arg;
	if (!req)
		return;
	if (status || !res) {
		meta_server_reply_status(ms, req, status ? status : GD_EIO);
		return;
	}
	if (res->status == 0) {
		const Godfs__NodeDrain *m = (const Godfs__NodeDrain *)req->msg;
		gd_info("%s: chunkd %s %s", req->peer, m->node_id,
			m->drain ? "draining: its copies move to other nodes, then leave it"
				 : "no longer draining");
	}
	if (res->resp)
		meta_server_reply_packed(ms, req, res->resp, res->resp_len);
	else
		meta_server_reply_status(ms, req, res->status ? res->status : GD_ENOMEM);
}

void meta_rpc_node_drain(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__NodeDrain *m = (const Godfs__NodeDrain *)req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;

	/* checked again by the apply; an early answer spares a log entry */
	if (!m->node_id || !m->node_id[0] || strnlen(m->node_id, META_NS_STR_MAX + 1) > META_NS_STR_MAX) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (!meta_fsm_node_address(ms->fsm, m->node_id)) {
		meta_server_reply_status(ms, req, GD_ENOENT);
		return;
	}
	e.has_method = 1;
	e.method = req->hdr.method;
	e.has_request = 1;
	e.request.data = req->pb;
	e.request.len = req->hdr.pb_len;
	meta_server_propose(ms, &e, req, drain_applied, NULL);
}

void meta_rpc_admin_placement(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__AdminPlacement *m = (const Godfs__AdminPlacement *)req->msg;
	Godfs__AdminPlacementResp r = GODFS__ADMIN_PLACEMENT_RESP__INIT;
	int rc;

	rc = meta_balance_report(&r, m->has_limit ? m->limit : 0);
	if (rc) {
		meta_server_reply_status(ms, req, rc);
		return;
	}
	r.has_status = 1;
	meta_server_reply(ms, req, &r.base);
	meta_balance_report_release(&r);
}
