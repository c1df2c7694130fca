/* The handler API (see meta_h.h): answers through the server's replier,
 * proposals through its proposer, parking through the loop's queues, and
 * the few helpers several handler areas share. Loop thread only. */
#include "meta_h.h"
#include "meta_h_locks.h"
#include "meta_h_token.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_auth.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "meta_loop.h"

/* One proposal in flight: who asked, and who answers. */
struct meta_prop {
	struct meta_server *ms;
	struct gd_request *req;
	meta_applied_fn done;
	void *arg;
	char trace[GD_TRACE_MAX + 1]; /* the id it was proposed under, "" when none */
};

/* ---- answers ------------------------------------------------------------------------------ */

static void free_req(struct meta_server *ms, struct gd_request *req)
{
	if (ms->io.free)
		ms->io.free(ms->io.ctx, req);
	else
		gd_request_free(req);
}

void meta_h_reply(struct meta_server *ms, struct gd_request *req, const ProtobufCMessage *resp)
{
	if (ms->io.reply)
		(void)ms->io.reply(ms->io.ctx, req, resp);
	else
		(void)gd_reply(req, resp, NULL, 0);
	free_req(ms, req);
}

void meta_h_reply_packed(struct meta_server *ms, struct gd_request *req, const uint8_t *pb,
			 size_t len)
{
	if (ms->io.reply_packed)
		(void)ms->io.reply_packed(ms->io.ctx, req, pb, len);
	else
		(void)gd_reply_packed(req, pb, len, NULL, 0);
	free_req(ms, req);
}

void meta_h_reply_status(struct meta_server *ms, struct gd_request *req, int status)
{
	if (req->hdr.method == GODFS__METHOD__M_PING) {
		Godfs__Ping p = GODFS__PING__INIT;

		p.has_status = 1;
		p.status = status;
		meta_h_reply(ms, req, &p.base);
	} else {
		/* Field 1 is status and field 2 leader in every meta response. */
		Godfs__StatusResp r = GODFS__STATUS_RESP__INIT;
		const char *leader = NULL;

		if (status == GD_ENOTLEADER && ms->proposer.leader_address)
			leader = ms->proposer.leader_address(ms->proposer.ctx);
		r.has_status = 1;
		r.status = status;
		r.leader = (char *)leader;
		meta_h_reply(ms, req, &r.base);
	}
}

void meta_h_reply_result(struct meta_server *ms, struct gd_request *req,
			 const struct meta_fsm_result *res)
{
	if (res->resp)
		meta_h_reply_packed(ms, req, res->resp, res->resp_len);
	else
		meta_h_reply_status(ms, req, res->status ? res->status : GD_ENOMEM);
}

void meta_h_finish(struct meta_server *ms, struct gd_request *req)
{
	free_req(ms, req);
}

/* ---- proposals ------------------------------------------------------------------------------- */

/* The proposer's done callback: hands the FSM's answer to whoever proposed. */
static void prop_done(void *arg, int status, void *result)
{
	struct meta_prop *p = arg;
	struct meta_server *ms = p->ms;
	struct meta_fsm_result *res = result;
	char outer[GD_TRACE_MAX + 1];

	/* The answer logs under the id of the request that proposed it. */
	gd_trace_save(outer);
	gd_trace_set(p->trace);
	ms->in_flight--;
	if (status == 0 && res == NULL)
		status = GD_ENOMEM; /* applied, but the answer could not be kept */
	if (status == 0 && res->grants.n)
		meta_h_locks_applied(ms, res);  /* lock waiters granted by this entry */
	if (p->done != NULL) {
		p->done(ms, p->req, status, status == 0 ? res : NULL, p->arg);
	} else if (p->req != NULL) {
		if (status != 0)
			meta_h_reply_status(ms, p->req, status);
		else
			meta_h_reply_result(ms, p->req, res);
	}
	if (res != NULL) {
		meta_fsm_result_release(res);
		gd_free(res);
	}
	gd_free(p);
	if (ms->proposer.settled)
		ms->proposer.settled(ms->proposer.ctx);
	gd_trace_set(outer);
}

void meta_h_propose(struct meta_server *ms, Godfs__MetaEntry *e, struct gd_request *req,
		    meta_applied_fn done, void *arg)
{
	struct meta_prop *p;
	struct timespec ts;
	uint8_t *buf;
	size_t len;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	e->has_now_sec = 1;
	e->now_sec = ts.tv_sec;
	e->has_now_nsec = 1;
	e->now_nsec = (uint32_t)ts.tv_nsec;
	p = gd_calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = GD_ENOMEM;
		goto err;
	}
	p->ms = ms;
	p->req = req;
	p->done = done;
	p->arg = arg;
	gd_trace_save(p->trace);
	if (ms->stopping) {
		rc = meta_h_stop_status(ms);
		goto err_after_alloc;
	}
	len = protobuf_c_message_get_packed_size(&e->base);
	buf = gd_malloc(len > 0 ? len : 1);
	if (buf == NULL) {
		rc = GD_ENOMEM;
		goto err_after_alloc;
	}
	protobuf_c_message_pack(&e->base, buf);
	/* counted first: a proposer may call done before it returns */
	ms->in_flight++;
	rc = ms->proposer.propose(ms->proposer.ctx, buf, len, prop_done, p);
	gd_free(buf);
	if (rc != 0) {
		ms->in_flight--;
		goto err_after_alloc;
	}
	return;

err_after_alloc:
	gd_free(p);
err:
	if (done != NULL)
		done(ms, req, rc, NULL, arg);
	else if (req != NULL)
		meta_h_reply_status(ms, req, rc);
}

void meta_h_propose_req(struct meta_server *ms, struct gd_request *req, Godfs__MetaEntry *e,
			uint64_t session_id, meta_applied_fn done, void *arg)
{
	struct meta_conn *conn = meta_h_conn(req);

	e->has_method = 1;
	e->method = req->hdr.method;
	if (session_id) {
		e->has_session_id = 1;
		e->session_id = session_id;
	}
	if (conn && (conn->role == GODFS__ROLE__ROLE_CLIENT ||
		     conn->role == GODFS__ROLE__ROLE_GATEWAY) && conn->session_id) {
		e->has_req_session = 1;
		e->req_session = conn->session_id;
	}
	meta_h_token_mark(ms, req, e);
	meta_h_propose(ms, e, req, done, arg);
}

void meta_h_entry_request(Godfs__MetaEntry *e, struct gd_request *req)
{
	e->has_request = 1;
	e->request.data = req->pb;
	e->request.len = req->hdr.pb_len;
}

/* ---- waiting ---------------------------------------------------------------------------------- */

void meta_h_park(struct meta_server *ms, struct gd_request *req, enum meta_wait why,
		 uint64_t k1, uint64_t k2)
{
	meta_loop_park(ms, req, why, k1, k2);
}

void meta_h_wake(struct meta_server *ms, enum meta_wait why, uint64_t k1, uint64_t k2)
{
	meta_loop_wake(ms, why, k1, k2);
}

static uint64_t removing_count(struct meta_server *ms, uint64_t ino)
{
	return (uint64_t)(uintptr_t)meta_ns_map_get(&ms->removing, ino);
}

int meta_h_removal_begin(struct meta_server *ms, uint64_t ino)
{
	return meta_ns_map_put(&ms->removing, ino,
			       (void *)(uintptr_t)(removing_count(ms, ino) + 1));
}

void meta_h_removal_end(struct meta_server *ms, uint64_t ino)
{
	uint64_t n = removing_count(ms, ino);

	if (n <= 1)
		meta_ns_map_del(&ms->removing, ino);
	else
		meta_ns_map_put(&ms->removing, ino, (void *)(uintptr_t)(n - 1));
	meta_loop_wake(ms, META_WAIT_REMOVAL, ino, 0);
}

bool meta_h_removal_pending(struct meta_server *ms, uint64_t ino)
{
	return removing_count(ms, ino) > 0 || meta_sessions_orphan_proposed(ms->sess, ino);
}

/* ---- what handlers share ------------------------------------------------------------------- */

uint64_t meta_h_now_ms(void)
{
	return gd_net_now_ms();
}

int meta_h_stop_status(const struct meta_server *ms)
{
	return ms->fail_stopped ? GD_ENOTLEADER : GD_ESHUTDOWN;
}

bool meta_h_in_grace(struct meta_server *ms)
{
	return ms->ready && meta_h_now_ms() - ms->leader_since_ms < ms->opt.grace_ms;
}

bool meta_h_in_node_window(struct meta_server *ms)
{
	size_t pos = 0, registered = 0;

	/* A new leader waits for the chunkds the FSM knows to register, at
	 * most until a silent one would be declared dead (--node-dead-ms):
	 * before that, finding no chunkd for a placement says nothing about
	 * space (e2e_meta_partition.sh: chunkds found the new leader 5.5 s
	 * after a cut, a fixed 3 s window had turned that into ENOSPC). */
	if (!ms->ready || meta_h_now_ms() - ms->leader_since_ms >= ms->opt.node_dead_ms)
		return false;
	while (meta_registry_next(ms->reg, &pos) != NULL)
		registered++;
	return registered < meta_fsm_node_count(ms->fsm);
}

/* Session ids are random (63 bits, never 0): a client learns only its own and
 * cannot guess another's to act for it (docs/security.md, "Sessions"). An id
 * this leader knows is drawn again; one that an earlier leader gave to an
 * uncommitted HELLO comes again with odds of 2^-63 per draw. */
uint64_t meta_h_new_session_id(struct meta_server *ms)
{
	uint64_t id = 0;

	while (id == 0 || meta_sessions_known(ms->sess, id)) {
		if (gd_random(&id, sizeof(id)) < 0)
			abort();   /* no random source: no safe id to give */
		id &= INT64_MAX;
	}
	return id;
}

struct meta_conn *meta_h_conn(struct gd_request *req)
{
	return req->conn_ctx;
}

uint64_t meta_h_session_of(struct gd_request *req, protobuf_c_boolean has, uint64_t id)
{
	struct meta_conn *c = meta_h_conn(req);

	if (has && id)
		return id;
	return c ? c->session_id : 0;
}

const char *meta_h_node_address(struct meta_server *ms, const char *node_id)
{
	struct meta_node *n = meta_registry_get(ms->reg, node_id);

	if (n)
		return n->address;
	return meta_fsm_node_address(ms->fsm, node_id);
}

bool meta_h_cap_sign(uint64_t chunk_id, uint64_t version, uint32_t rights,
		     uint32_t lifetime_ms, uint8_t out[GD_CAP_LEN])
{
	const struct gd_keyring *kr = gd_cred_keys();
	struct gd_cap cap = {
		.chunk_id = chunk_id, .version = version, .rights = rights,
		.expires_ms = gd_cap_now_ms() + lifetime_ms,
	};

	return kr && kr->n > 0 && gd_cap_sign(kr, &cap, out) == 0;
}

void meta_h_fault_after_apply(void)
{
#ifdef GODFS_FAULT_INJECTION
	static long left = -1;

	if (left < 0) {
		const char *v = getenv("GODFS_FAULT");
		const char *p = v ? strstr(v, "after_apply:") : NULL;
		left = p ? strtol(p + strlen("after_apply:"), NULL, 10) : 0;
		if (left < 0)
			left = 0;
		if (left)
			gd_warn("fault point: SIGKILL after applied change number %ld", left);
	}
	if (left > 0 && --left == 0) {
		gd_warn("fault point: SIGKILL now, after an apply, before its reply");
		raise(SIGKILL);
	}
#endif
}

uint32_t meta_h_lease_cap_ms(const struct meta_server *ms)
{
	uint32_t margin = ms->opt.cap_lifetime_ms < META_H_LEASE_CAP_MARGIN_MS ?
			  ms->opt.cap_lifetime_ms : META_H_LEASE_CAP_MARGIN_MS;

	return ms->opt.lease_ms + margin;
}

void meta_h_msg_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, &gd_pb_allocator);
}

struct meta_h_id_arg *meta_h_id_arg_new(uint64_t id)
{
	struct meta_h_id_arg *a = gd_malloc(sizeof(*a));

	if (a)
		a->id = id;
	return a;
}
