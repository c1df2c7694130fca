/* Handlers of an operator's requests about the copies (see meta_h_nodes.h). */
#include "meta_h_nodes.h"

#include <string.h>

#include "gd_log.h"
#include "gd_status.h"
#include "meta_balance.h"
#include "meta_h.h"

static void drain_applied(struct meta_server *ms, struct gd_request *req, int status,
			  struct meta_fsm_result *res, void *arg)
{
	(void)arg;
	if (!req)
		return;
	if (status || !res) {
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
		return;
	}
	if (res->status == 0) {
		const Godfs__NodeDrain *m = (const Godfs__NodeDrain *)req->msg;
		gd_info("%s: chunkd %s %s", req->peer, m->node_id,
			m->drain ? "draining: its copies move to other nodes, then leave it"
				 : "no longer draining");
	}
	if (res->resp)
		meta_h_reply_packed(ms, req, res->resp, res->resp_len);
	else
		meta_h_reply_status(ms, req, res->status ? res->status : GD_ENOMEM);
}

void meta_h_nodes_drain(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__NodeDrain *m = (const Godfs__NodeDrain *)req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;

	/* checked again by the apply; an early answer spares a log entry */
	if (!m->node_id || !m->node_id[0] || strnlen(m->node_id, META_NS_STR_MAX + 1) > META_NS_STR_MAX) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (!meta_fsm_node_address(ms->fsm, m->node_id)) {
		meta_h_reply_status(ms, req, GD_ENOENT);
		return;
	}
	e.has_method = 1;
	e.method = req->hdr.method;
	meta_h_entry_request(&e, req);
	meta_h_propose(ms, &e, req, drain_applied, NULL);
}

void meta_h_nodes_placement(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__AdminPlacement *m = (const Godfs__AdminPlacement *)req->msg;
	Godfs__AdminPlacementResp r = GODFS__ADMIN_PLACEMENT_RESP__INIT;
	int rc;

	rc = meta_balance_report(ms->balance, &r, m->has_limit ? m->limit : 0);
	if (rc) {
		meta_h_reply_status(ms, req, rc);
		return;
	}
	r.has_status = 1;
	meta_h_reply(ms, req, &r.base);
	meta_balance_report_release(&r);
}
