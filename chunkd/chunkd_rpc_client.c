#include "chunkd_rpc_client.h"

#include "chunkd_metrics.h"

#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

/* gd_server decoded each request as its method's message (req->msg) and let
 * through only the methods chunkd serves, from roles allowed to call them;
 * the handlers check the fields. */

/* Refusals are logged at most once per this many ms (a stranger probing ids
 * must not flood the log); the next line says how many were not logged. */
#define CAP_LOG_EVERY_MS 1000

static atomic_uint_fast64_t cap_log_last_ms;
static atomic_uint_fast64_t cap_log_skipped;

/* Whether the request carries a capability for chunk_id at version with the
 * rights need: 0, or GD_ECAP after one (rate-limited) log line naming the
 * peer, the method, the chunk and the reason. Always 0 without keys. */
static int cap_check(const struct chunkd_rpc *rpc, const struct gd_request *req,
		     uint64_t chunk_id, uint64_t version, protobuf_c_boolean has,
		     ProtobufCBinaryData cap, uint32_t need)
{
	const char *why;
	uint64_t now, last;

	if (!rpc->cap_keys)
		return 0;
	if (gd_cap_check(rpc->cap_keys, has ? cap.data : NULL, has ? cap.len : 0, chunk_id,
			 version, need, gd_cap_now_ms(),
			 rpc->cap_skew_ms ? rpc->cap_skew_ms : GD_CAP_SKEW_MS, &why) == 0)
		return 0;
	now = gd_net_now_ms();
	last = atomic_load(&cap_log_last_ms);
	if (now - last >= CAP_LOG_EVERY_MS &&
	    atomic_compare_exchange_strong(&cap_log_last_ms, &last, now)) {
		uint64_t skipped = atomic_exchange(&cap_log_skipped, 0);
		if (skipped)
			gd_warn("%s: %s %016" PRIx64 " v%" PRIu64 " refused: %s (and %" PRIu64
				" refusals not logged since the last line)", req->peer,
				req->method->name, chunk_id, version, why, skipped);
		else
			gd_warn("%s: %s %016" PRIx64 " v%" PRIu64 " refused: %s", req->peer,
				req->method->name, chunk_id, version, why);
	} else {
		atomic_fetch_add(&cap_log_skipped, 1);
	}
	return GD_ECAP;
}

static int handle_hello(struct chunkd_rpc *rpc, struct gd_request *req)
{
	const Godfs__Hello *h = (const Godfs__Hello *)req->msg;
	Godfs__HelloResp r = GODFS__HELLO_RESP__INIT;

	(void)rpc;
	r.has_status = 1;
	if (h->has_protocol && h->protocol != GD_PROTOCOL_VERSION) {
		gd_warn("%s: HELLO with protocol %u, this chunkd speaks %u", req->peer,
			h->protocol, GD_PROTOCOL_VERSION);
		r.status = GD_EPROTO;
	} else if (req->auth && (h->has_role ? (int)h->role : GODFS__ROLE__ROLE_CLIENT) !=
				(int)req->auth->role) {
		/* The role is the one the handshake proved, not what HELLO claims. */
		gd_warn("%s: HELLO as role %d on a connection authenticated as %s: refused",
			req->peer, h->has_role ? (int)h->role : GODFS__ROLE__ROLE_CLIENT,
			gd_role_name(req->auth->role));
		r.status = GD_EPERM;
	} else {
		gd_debug("%s: HELLO role %d", req->peer, h->has_role ? (int)h->role : -1);
	}
	gd_reply(req, &r.base, NULL, 0);
	return 0;
}

static int handle_ping(struct chunkd_rpc *rpc, struct gd_request *req)
{
	const Godfs__Ping *p = (const Godfs__Ping *)req->msg;
	Godfs__Ping r = GODFS__PING__INIT;

	(void)rpc;
	r.has_status = 1;
	if (p->has_nonce) {
		r.has_nonce = 1;
		r.nonce = p->nonce;
	}
	gd_reply(req, &r.base, NULL, 0);
	return 0;
}

/* Answers a pipelined CS_WRITE (on whichever thread finished last). */
static void write_done(void *arg, int status, char *failed)
{
	struct gd_request *req = arg;
	const Godfs__CsWrite *w = (const Godfs__CsWrite *)req->msg;
	Godfs__CsWriteResp r = GODFS__CS_WRITE_RESP__INIT;

	if (status)
		gd_debug("%s: CS_WRITE %016" PRIx64 " v%" PRIu64 " @%u+%u: %s", req->peer,
			 w->chunk_id, w->version, w->offset, req->hdr.data_len,
			 gd_strerror(status));
	r.has_status = 1;
	r.status = status;
	r.failed = failed;
	gd_reply(req, &r.base, NULL, 0);
	gd_free(failed);
	gd_request_free(req);
}

/* Answers a pipelined CS_FSYNC / CS_TRUNCATE. */
static void chunk_op_done(void *arg, int status, char *failed)
{
	struct gd_request *req = arg;
	const Godfs__CsChunkOp *op = (const Godfs__CsChunkOp *)req->msg;
	Godfs__StatusResp r = GODFS__STATUS_RESP__INIT;

	if (status)
		gd_debug("%s: %s %016" PRIx64 " v%" PRIu64 ": %s%s%s", req->peer,
			 req->method->name, op->chunk_id, op->version, gd_strerror(status),
			 failed ? " at " : "", failed ? failed : "");
	r.has_status = 1;
	r.status = status;
	r.failed = failed;
	gd_reply(req, &r.base, NULL, 0);
	gd_free(failed);
	gd_request_free(req);
}

/* M_CS_WRITE. Returns 1 when the pipeline took the request (it answers). */
static int handle_write(struct chunkd_rpc *rpc, struct gd_request *req)
{
	const Godfs__CsWrite *w = (const Godfs__CsWrite *)req->msg;
	Godfs__CsWriteResp r = GODFS__CS_WRITE_RESP__INIT;
	int rc = 0;

	if (!w->has_chunk_id || !w->has_version || !w->has_offset ||
	    !chunkd_pipeline_chain_ok(rpc->pipe, w->chain, w->n_chain))
		rc = GD_EINVAL;
	else
		rc = cap_check(rpc, req, w->chunk_id, w->version, w->has_cap, w->cap, GD_CAP_WRITE);
	if (rc == 0) {
		chunkd_pipeline_write_async(rpc->pipe, w, req->data, req->hdr.data_len,
					    write_done, req);
		return 1;
	}
	gd_debug("%s: CS_WRITE %016" PRIx64 " v%" PRIu64 " @%u+%u: %s", req->peer,
		 w->chunk_id, w->version, w->offset, req->hdr.data_len, gd_strerror(rc));
	r.has_status = 1;
	r.status = rc;
	gd_reply(req, &r.base, NULL, 0);
	return 0;
}

static int handle_read(struct chunkd_rpc *rpc, struct gd_request *req)
{
	const Godfs__CsRead *q = (const Godfs__CsRead *)req->msg;
	Godfs__CsReadResp r = GODFS__CS_READ_RESP__INIT;
	uint8_t *buf = NULL;
	size_t got = 0;
	int rc;

	if (!q->has_chunk_id || !q->has_version) {
		rc = GD_EINVAL;
	} else if ((rc = cap_check(rpc, req, q->chunk_id, q->version, q->has_cap, q->cap,
				   GD_CAP_READ)) != 0) {
		/* refused */
	} else {
		/* Bounded before the allocation: at most one frame of data. */
		size_t len = q->length < GD_FRAME_MAX_DATA ? q->length : GD_FRAME_MAX_DATA;

		buf = len ? gd_malloc(len) : NULL;
		if (len && !buf)
			rc = GD_ENOMEM;
		else
			rc = chunkd_store_read(rpc->store, q->chunk_id, q->version, q->offset,
					       len, buf, &got);
	}
	if (rc == 0)
		chunkd_metrics_read(got);
	if (rc)
		gd_debug("%s: CS_READ %016" PRIx64 " v%" PRIu64 " @%u+%u: %s", req->peer,
			 q->chunk_id, q->version, q->offset, q->length, gd_strerror(rc));
	r.has_status = 1;
	r.status = rc;
	r.has_length = 1;
	r.length = rc ? 0 : (uint32_t)got;
	/* What a peer pulling the copy needs to stop at its end. */
	if (rc == 0 && chunkd_store_extent(rpc->store, q->chunk_id, q->version, &r.data_len,
					   &r.chunk_size) == 0)
		r.has_data_len = r.has_chunk_size = 1;
	gd_reply(req, &r.base, rc ? NULL : buf, rc ? 0 : got);
	gd_free(buf);
	return 0;
}

/* M_CS_FSYNC, M_CS_TRUNCATE (along the chain, answered by the pipeline) and
 * M_CS_DELETE (this copy). Returns 1 when the pipeline took the request. */
static int handle_chunk_op(struct chunkd_rpc *rpc, struct gd_request *req)
{
	const Godfs__CsChunkOp *op = (const Godfs__CsChunkOp *)req->msg;
	uint16_t m = req->hdr.method;
	int rc;

	if (!op->has_chunk_id || !chunkd_pipeline_chain_ok(rpc->pipe, op->chain, op->n_chain)) {
		rc = GD_EINVAL;
	} else if (m == GODFS__METHOD__M_CS_TRUNCATE && !op->has_length) {
		rc = GD_EINVAL;
	} else if ((rc = cap_check(rpc, req, op->chunk_id, op->version, op->has_cap, op->cap,
				   m == GODFS__METHOD__M_CS_DELETE ? GD_CAP_DELETE
								   : GD_CAP_WRITE)) != 0) {
		/* refused */
	} else if (m == GODFS__METHOD__M_CS_DELETE) {
		rc = chunkd_store_delete(rpc->store, op->chunk_id, op->version);
	} else {
		chunkd_pipeline_chunk_op_async(rpc->pipe, m, op, chunk_op_done, req);
		return 1;
	}
	if (rc)
		gd_debug("%s: %s %016" PRIx64 " v%" PRIu64 ": %s", req->peer, req->method->name,
			 op->chunk_id, op->version, gd_strerror(rc));
	gd_reply_status(req, rc);
	return 0;
}

static int handle_replicate(struct chunkd_rpc *rpc, struct gd_request *req)
{
	const Godfs__CsReplicate *q = (const Godfs__CsReplicate *)req->msg;
	int rc;

	if (!q->has_chunk_id || !q->has_version || !q->source)
		rc = GD_EINVAL;
	else if ((rc = cap_check(rpc, req, q->chunk_id, q->version, q->has_cap, q->cap,
				 GD_CAP_REPLICATE)) == 0)
		rc = chunkd_pipeline_replicate(rpc->pipe, q->chunk_id, q->version, q->source,
					       q->has_cap ? q->cap.data : NULL,
					       q->has_cap ? q->cap.len : 0, NULL);
	gd_reply_status(req, rc);
	return 0;
}

/* Handlers of the methods the table says chunkd serves (GD_SERVE_CHUNKD);
 * each answers req and returns 0, or returns 1 when the pipeline took it. */
typedef int (*handler_fn)(struct chunkd_rpc *rpc, struct gd_request *req);
static const handler_fn handlers[GD_METHOD_ID_MAX + 1] = {
	[GODFS__METHOD__M_HELLO] = handle_hello,
	[GODFS__METHOD__M_PING] = handle_ping,
	[GODFS__METHOD__M_CS_WRITE] = handle_write,
	[GODFS__METHOD__M_CS_READ] = handle_read,
	[GODFS__METHOD__M_CS_FSYNC] = handle_chunk_op,
	[GODFS__METHOD__M_CS_TRUNCATE] = handle_chunk_op,
	[GODFS__METHOD__M_CS_DELETE] = handle_chunk_op,
	[GODFS__METHOD__M_CS_REPLICATE] = handle_replicate,
};

bool chunkd_rpc_client_serves(uint16_t method)
{
	return method <= GD_METHOD_ID_MAX && handlers[method] != NULL;
}

void chunkd_rpc_client_handle(void *ctx, struct gd_request *req)
{
	struct chunkd_rpc *rpc = ctx;
	handler_fn h = chunkd_rpc_client_serves(req->hdr.method) ? handlers[req->hdr.method] : NULL;

	if (!h) {
		/* gd_server lets through only GD_SERVE_CHUNKD methods: a row of
		 * the table that says chunkd without a handler here. */
		gd_error("%s: %s is served by chunkd by the method table but has no handler",
			 req->peer, req->method->name);
		gd_reply_status(req, GD_ENOTSUP);
	} else if (h(rpc, req)) {
		return;   /* answered and freed by the pipeline */
	}
	gd_request_free(req);
}
