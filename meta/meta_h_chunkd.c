/* Handlers of chunkds (see meta_h_chunkd.h). */
#include "meta_h_chunkd.h"

#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_drain.h"
#include "meta_h.h"
#include "meta_locs.h"
#include "meta_repl.h"

#define REG_STR_MAX META_NODE_ID_MAX /* node id, address, label */

/* Refusals are provoked at will by a cluster-key holder: rate-limited. */
static struct gd_log_limit refusals = GD_LOG_LIMIT_INIT;

/* What the done callback of a node's proposal answers. */
struct reg_reply {
	Godfs__ChunkReport **drop; /* into the request's report (req->msg) */
	size_t n_drop;
};

static void reg_reply_free(struct reg_reply *r)
{
	if (!r)
		return;
	gd_free(r->drop);
	gd_free(r);
}

static void reg_send(struct meta_server *ms, struct gd_request *req, struct reg_reply *r)
{
	Godfs__CsRegisterResp resp = GODFS__CS_REGISTER_RESP__INIT;

	resp.has_status = 1;
	resp.n_drop = r->n_drop;
	resp.drop = r->drop;
	meta_h_reply(ms, req, &resp.base);
}

static void reg_done(struct meta_server *ms, struct gd_request *req, int status,
		     struct meta_fsm_result *res, void *arg)
{
	struct reg_reply *r = arg;

	if (req) {
		if (status)
			meta_h_reply_status(ms, req, status);
		else if (res && res->status)
			meta_h_reply_status(ms, req, res->status);
		else
			reg_send(ms, req, r);
	}
	reg_reply_free(r);
}

/* Whether s is a bounded, non-empty string. */
static bool str_ok(const char *s, bool may_be_empty)
{
	size_t n = s ? strnlen(s, REG_STR_MAX + 1) : 0;

	return s && n <= REG_STR_MAX && (may_be_empty || n > 0);
}

/* Whether the connection of req may speak for chunkd node_id: 1 it
 * registered as node_id, 0 it registered nothing yet (the chunkd must
 * register on it first: it reconnected, or the meta restarted), GD_EPERM it
 * registered as another node (refused, logged). */
static int speaks_for(struct gd_request *req, const char *node_id)
{
	const struct meta_conn *c = req->conn_ctx;
	unsigned dropped;

	if (!c || c->node_id[0] == '\0')
		return 0;
	if (strcmp(c->node_id, node_id) == 0)
		return 1;
	if (gd_log_limit_allow(&refusals, &dropped))
		gd_warn("%s: refused %s for chunkd %.*s: this connection registered as %s%s",
			req->peer, req->method->name, REG_STR_MAX, node_id, c->node_id,
			dropped ? " (and earlier refusals not logged)" : "");
	return GD_EPERM;
}

/* CS_REGISTER: records the node, reconciles its report with the FSM (stale
 * and unknown copies go back in drop), and puts the requests parked for
 * chunkds back on the run queue. */
void meta_h_chunkd_register(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__CsRegister *m = (const Godfs__CsRegister *)req->msg;
	struct meta_conn *conn = req->conn_ctx;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	Godfs__FsmNode fn = GODFS__FSM_NODE__INIT;
	Godfs__CsRegister slim = GODFS__CS_REGISTER__INIT;
	struct meta_node *node;
	struct reg_reply *r;
	const char *known;
	uint8_t *pb = NULL;
	int rc;

	if (!str_ok(m->node_id, false) || !str_ok(m->address, false) ||
	    (m->label && !str_ok(m->label, true))) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	/* One connection speaks for one node (heartbeats, reports name it). */
	if (speaks_for(req, m->node_id) < 0) {
		meta_h_reply_status(ms, req, GD_EPERM);
		return;
	}
	/* A live node keeps its address: a second process claiming its id (an
	 * insider's forgery, or a copy of its data directory started elsewhere)
	 * would take its copies and receive its writes. It may move once the
	 * registration has lapsed (no heartbeat for dead_after). */
	node = meta_registry_get(ms->reg, m->node_id);
	if (node && meta_registry_node_alive(ms->reg, node, meta_h_now_ms()) &&
	    strcmp(node->address, m->address) != 0) {
		gd_warn("%s: refused: registers chunkd id %s with address %s, but that chunkd "
			"is alive at %s", req->peer, m->node_id, m->address, node->address);
		meta_h_reply_status(ms, req, GD_EBUSY);
		return;
	}
	r = gd_calloc(1, sizeof(*r));
	if (r)
		r->drop = gd_calloc(m->n_chunks ? m->n_chunks : 1, sizeof(*r->drop));
	if (!r || !r->drop) {
		gd_free(r);
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	rc = meta_registry_register(ms->reg, m->node_id, m->address, m->label,
				    m->has_total_bytes ? m->total_bytes : 0,
				    m->has_free_bytes ? m->free_bytes : 0, m->n_chunks,
				    meta_h_now_ms(), &node);
	if (rc) {
		reg_reply_free(r);
		meta_h_reply_status(ms, req, rc);
		return;
	}
	if (conn)   /* from now on this connection speaks for the node */
		memcpy(conn->node_id, m->node_id, strlen(m->node_id) + 1);
	/* A draining node (the FSM's record) takes no new chain from its first
	 * moment in the registry, not from the next tick's refresh. */
	node->draining = meta_drain_is_draining(meta_fsm_state(ms->fsm), m->node_id);
	r->n_drop = meta_locs_register(ms->locs, ms->fsm, ms->reg, m->node_id, m->chunks,
				       m->n_chunks, r->drop, meta_h_now_ms(), meta_repl_confirmed, ms);
	gd_info("chunkd %s at %s registered: %zu chunks, %zu to drop", m->node_id, m->address,
		m->n_chunks, r->n_drop);
	known = meta_fsm_node_address(ms->fsm, m->node_id);
	if (known && strcmp(known, m->address) == 0) {
		reg_send(ms, req, r);
		reg_reply_free(r);
		meta_h_wake(ms, META_WAIT_NODES, 0, 0);
		return;
	}
	/* New to the FSM (or moved): record it, without the report. */
	fn.node_id = m->node_id;
	fn.address = m->address;
	fn.label = m->label ? m->label : "";
	slim.node_id = m->node_id;
	slim.address = m->address;
	slim.label = fn.label;
	pb = gd_malloc(godfs__cs_register__get_packed_size(&slim) + 1);
	if (!pb) {
		reg_reply_free(r);
		meta_h_reply_status(ms, req, GD_ENOMEM);
		meta_h_wake(ms, META_WAIT_NODES, 0, 0);
		return;
	}
	e.has_method = e.has_request = 1;
	e.method = GODFS__METHOD__M_CS_REGISTER;
	e.request.data = pb;
	e.request.len = godfs__cs_register__pack(&slim, pb);
	e.node = &fn;
	meta_h_propose(ms, &e, req, reg_done, r);
	gd_free(pb);
	meta_h_wake(ms, META_WAIT_NODES, 0, 0);
}

/* CS_HEARTBEAT: refreshes the node; unknown to this leader, or not
 * registered on this connection -> re-register; another node's id ->
 * GD_EPERM; else hands over its queued orders. */
void meta_h_chunkd_heartbeat(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__CsHeartbeat *m = (const Godfs__CsHeartbeat *)req->msg;
	Godfs__CsHeartbeatResp resp = GODFS__CS_HEARTBEAT_RESP__INIT;
	Godfs__CsOrder *orders = NULL, **ptrs = NULL;
	uint8_t (*caps)[GD_CAP_LEN] = NULL;
	struct meta_order *taken = NULL;
	struct meta_node *node;
	uint64_t now = meta_h_now_ms();
	size_t n_taken = 0, n_held = 0, i;
	bool was_dead;
	int rc;

	if (!str_ok(m->node_id, false)) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	resp.has_status = 1;
	rc = speaks_for(req, m->node_id);
	if (rc < 0) {
		meta_h_reply_status(ms, req, rc);
		return;
	}
	if (rc == 0) {
		/* nothing registered on this connection: neither keep the node
		 * alive nor hand over its orders; a chunkd that reconnected
		 * registers again and then heartbeats */
		resp.has_reregister = 1;
		resp.reregister = 1;
		goto out;
	}
	node = meta_registry_get(ms->reg, m->node_id);
	was_dead = node && !meta_registry_node_alive(ms->reg, node, now);
	rc = meta_registry_heartbeat(ms->reg, m->node_id,
				     m->has_total_bytes ? m->total_bytes : 0,
				     m->has_free_bytes ? m->free_bytes : 0,
				     m->has_chunk_count ? m->chunk_count : 0, now, &node);
	if (rc == GD_ENOENT) {
		resp.has_reregister = 1;
		resp.reregister = 1;
		goto out;
	}
	for (i = 0; i < m->n_replicated && i < 4096; i++)   /* wire.proto's bound */
		meta_repl_replicated(ms, m->node_id, m->replicated[i]);
	/* Back from the dead on the same connection (a pause, a partition
	 * shorter than the TCP timeout), or orders lost to a full queue: while
	 * it was away its chunks may have been freed, trimmed or re-versioned.
	 * Its report reconciles that (stale and orphan copies are dropped). */
	if (was_dead || node->resync) {
		gd_info("chunkd %s: %s: asked for its chunk report", m->node_id,
			was_dead ? "back after being dead" : "orders were dropped");
		node->resync = false;
		resp.has_reregister = 1;
		resp.reregister = 1;
	}
	meta_registry_take_orders(node, &taken, &n_taken);
	n_held = n_taken;
	if (n_taken) {
		orders = gd_calloc(n_taken, sizeof(*orders));
		ptrs = gd_calloc(n_taken, sizeof(*ptrs));
		caps = gd_calloc(n_taken, sizeof(*caps));
		if (!orders || !ptrs || !caps) {
			/* they are lost: the next report reconciles the node */
			gd_warn("chunkd %s: %zu orders dropped: out of memory", m->node_id, n_taken);
			n_taken = 0;
		}
	}
	for (i = 0; i < n_taken; i++) {
		Godfs__CsOrder *o = &orders[i];
		godfs__cs_order__init(o);
		o->has_kind = o->has_chunk_id = o->has_version = 1;
		o->kind = taken[i].kind;
		o->chunk_id = taken[i].chunk_id;
		o->version = taken[i].version;
		o->source = taken[i].source;
		o->has_prev_version = taken[i].prev_version != 0;
		o->prev_version = taken[i].prev_version;
		/* The copy is read from the source: it checks a READ capability. */
		if (o->kind == META_ORDER_REPLICATE &&
		    meta_h_cap_sign(o->chunk_id, o->version, GD_CAP_READ,
				      ms->opt.cap_lifetime_ms, caps[i])) {
			o->has_cap = 1;
			o->cap.data = caps[i];
			o->cap.len = GD_CAP_LEN;
		}
		ptrs[i] = o;
	}
	resp.n_orders = n_taken;
	resp.orders = ptrs;
	if (meta_locs_want_report(ms->locs, m->node_id, now)) {
		/* confirms the copies it was told to replicate */
		resp.has_reregister = 1;
		resp.reregister = 1;
	}
out:
	meta_h_reply(ms, req, &resp.base);
	gd_free(orders);
	gd_free(ptrs);
	gd_free(caps);
	meta_registry_orders_free(taken, n_held);
}

/* CS_REPORT_BAD: a block of the copy failed its checksum; the copy stays on
 * its chunkd. Reads and leases skip a copy marked bad, and the background
 * scan makes a new copy from a good one (which replaces the bad copy, or
 * leaves it out of the valid set, then deleted). The last live copy is never
 * marked bad: it still holds the only good data of its other blocks, and the
 * client reads a bad range from another copy when there is one. */
/* Whether node_id holds the only live copy of the chunk not marked bad. */
static bool last_good_copy(struct meta_server *ms, uint64_t chunk_id, const char *node_id)
{
	const char *live[META_H_CHAIN_MAX];
	struct meta_fsm_chunk c;
	size_t n, i;

	if (meta_fsm_chunk_by_id(ms->fsm, chunk_id, &c) != 0)
		return false;
	n = meta_locs_live(ms->locs, ms->reg, &c, false, meta_h_now_ms(), live,
			   META_H_CHAIN_MAX);
	for (i = 0; i < n; i++)
		if (strcmp(live[i], node_id) != 0)
			return false;
	return n > 0;
}

void meta_h_chunkd_report_bad(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__CsReportBad *m = (const Godfs__CsReportBad *)req->msg;
	int rc;

	if (!str_ok(m->node_id, false) || !m->has_chunk_id || m->chunk_id == 0) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	rc = speaks_for(req, m->node_id);
	if (rc <= 0) {
		/* GD_EAGAIN: a chunkd keeps the report and registers first */
		meta_h_reply_status(ms, req, rc < 0 ? rc : GD_EAGAIN);
		return;
	}
	if (last_good_copy(ms, m->chunk_id, m->node_id)) {
		gd_warn("chunkd %s: copy of chunk %llu v%llu has a bad block (%lld), but no other "
			"live copy is good: kept in use", m->node_id,
			(unsigned long long)m->chunk_id,
			(unsigned long long)(m->has_version ? m->version : 0),
			m->has_block ? (long long)m->block : -1LL);
		rc = 0;
	} else {
		gd_warn("chunkd %s: copy of chunk %llu v%llu has a bad block (%lld): replaced "
			"from a good copy", m->node_id, (unsigned long long)m->chunk_id,
			(unsigned long long)(m->has_version ? m->version : 0),
			m->has_block ? (long long)m->block : -1LL);
		/* it stays a holder: the last resort of reads, and the target
		 * of the new copy that replaces it */
		rc = meta_registry_mark_bad(ms->reg, m->chunk_id, m->node_id);
	}
	meta_h_reply_status(ms, req, rc);
}
