#include "chunkd_rpc_client.h"

#include "gd_alloc.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <inttypes.h>
#include <string.h>

/* Unpacks the request's protobuf part; NULL (logged) when it does not parse. */
static ProtobufCMessage *unpack(struct gd_request *req, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, req->hdr.pb_len, req->pb);

	if (!m)
		gd_warn("%s: method %u: request does not unpack as %s", req->peer,
			req->hdr.method, d->name);
	return m;
}

static void handle_hello(struct gd_request *req)
{
	Godfs__Hello *h = (Godfs__Hello *)unpack(req, &godfs__hello__descriptor);
	Godfs__HelloResp r = GODFS__HELLO_RESP__INIT;

	r.has_status = 1;
	if (!h) {
		r.status = GD_EPROTO;
	} else if (h->has_protocol && h->protocol != GD_PROTOCOL_VERSION) {
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
	if (h)
		protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void handle_ping(struct gd_request *req)
{
	Godfs__Ping *p = (Godfs__Ping *)unpack(req, &godfs__ping__descriptor);
	Godfs__Ping r = GODFS__PING__INIT;

	r.has_status = 1;
	r.status = p ? 0 : GD_EPROTO;
	if (p && p->has_nonce) {
		r.has_nonce = 1;
		r.nonce = p->nonce;
	}
	gd_reply(req, &r.base, NULL, 0);
	if (p)
		protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* A write or chunk op in the pipeline: what its done callback needs. */
struct pending {
	struct gd_request *req;
	ProtobufCMessage *msg;   /* the unpacked request, freed at the end */
};

/* Answers a pipelined CS_WRITE (on whichever thread finished last). */
static void write_done(void *arg, int status, char *failed)
{
	struct pending *pd = arg;
	struct gd_request *req = pd->req;
	const Godfs__CsWrite *w = (const Godfs__CsWrite *)pd->msg;
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
	protobuf_c_message_free_unpacked(pd->msg, NULL);
	gd_free(pd);
	gd_request_free(req);
}

/* Answers a pipelined CS_FSYNC / CS_TRUNCATE. */
static void chunk_op_done(void *arg, int status, char *failed)
{
	struct pending *pd = arg;
	struct gd_request *req = pd->req;
	const Godfs__CsChunkOp *op = (const Godfs__CsChunkOp *)pd->msg;

	if (status)
		gd_debug("%s: method %u %016" PRIx64 " v%" PRIu64 ": %s%s%s", req->peer,
			 req->hdr.method, op->chunk_id, op->version, gd_strerror(status),
			 failed ? " at " : "", failed ? failed : "");
	Godfs__StatusResp r = GODFS__STATUS_RESP__INIT;
	r.has_status = 1;
	r.status = status;
	r.failed = failed;
	gd_reply(req, &r.base, NULL, 0);
	gd_free(failed);
	protobuf_c_message_free_unpacked(pd->msg, NULL);
	gd_free(pd);
	gd_request_free(req);
}

/* Hands a request to the pipeline; returns 0 when it owns req from now on. */
static int pipeline_start(struct chunkd_rpc *rpc, struct gd_request *req, ProtobufCMessage *m)
{
	struct pending *pd = gd_malloc(sizeof(*pd));

	if (!pd)
		return GD_ENOMEM;
	pd->req = req;
	pd->msg = m;
	if (req->hdr.method == GODFS__METHOD__M_CS_WRITE)
		chunkd_pipeline_write_async(rpc->pipe, (const Godfs__CsWrite *)m, req->data,
					    req->hdr.data_len, write_done, pd);
	else
		chunkd_pipeline_chunk_op_async(rpc->pipe, req->hdr.method,
					       (const Godfs__CsChunkOp *)m, chunk_op_done, pd);
	return 0;
}

/* M_CS_WRITE. Returns 1 when the pipeline took the request (it answers). */
static int handle_write(struct chunkd_rpc *rpc, struct gd_request *req)
{
	Godfs__CsWrite *w = (Godfs__CsWrite *)unpack(req, &godfs__cs_write__descriptor);
	Godfs__CsWriteResp r = GODFS__CS_WRITE_RESP__INIT;
	int rc;

	if (!w)
		rc = GD_EPROTO;
	else if (!w->has_chunk_id || !w->has_version || !w->has_offset ||
		 !chunkd_pipeline_chain_ok(w->chain, w->n_chain))
		rc = GD_EINVAL;
	else if ((rc = pipeline_start(rpc, req, &w->base)) == 0)
		return 1;
	if (w)
		gd_debug("%s: CS_WRITE %016" PRIx64 " v%" PRIu64 " @%u+%u: %s", req->peer,
			 w->chunk_id, w->version, w->offset, req->hdr.data_len, gd_strerror(rc));
	r.has_status = 1;
	r.status = rc;
	gd_reply(req, &r.base, NULL, 0);
	if (w)
		protobuf_c_message_free_unpacked(&w->base, NULL);
	return 0;
}

static void handle_read(struct chunkd_rpc *rpc, struct gd_request *req)
{
	Godfs__CsRead *q = (Godfs__CsRead *)unpack(req, &godfs__cs_read__descriptor);
	Godfs__CsReadResp r = GODFS__CS_READ_RESP__INIT;
	uint8_t *buf = NULL;
	size_t got = 0;
	int rc;

	if (!q) {
		rc = GD_EPROTO;
	} else if (!q->has_chunk_id || !q->has_version) {
		rc = GD_EINVAL;
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
	if (rc && q)
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
	if (q)
		protobuf_c_message_free_unpacked(&q->base, NULL);
}

/* M_CS_FSYNC, M_CS_TRUNCATE (along the chain, answered by the pipeline) and
 * M_CS_DELETE (this copy). Returns 1 when the pipeline took the request. */
static int handle_chunk_op(struct chunkd_rpc *rpc, struct gd_request *req)
{
	Godfs__CsChunkOp *op = (Godfs__CsChunkOp *)unpack(req, &godfs__cs_chunk_op__descriptor);
	uint16_t m = req->hdr.method;
	int rc;

	if (!op)
		rc = GD_EPROTO;
	else if (!op->has_chunk_id || !chunkd_pipeline_chain_ok(op->chain, op->n_chain))
		rc = GD_EINVAL;
	else if (m == GODFS__METHOD__M_CS_DELETE)
		rc = chunkd_store_delete(rpc->store, op->chunk_id, op->version);
	else if (m == GODFS__METHOD__M_CS_TRUNCATE && !op->has_length)
		rc = GD_EINVAL;
	else if ((rc = pipeline_start(rpc, req, &op->base)) == 0)
		return 1;
	if (rc && op)
		gd_debug("%s: method %u %016" PRIx64 " v%" PRIu64 ": %s", req->peer, m,
			 op->chunk_id, op->version, gd_strerror(rc));
	gd_reply_status(req, rc);
	if (op)
		protobuf_c_message_free_unpacked(&op->base, NULL);
	return 0;
}

static void handle_replicate(struct chunkd_rpc *rpc, struct gd_request *req)
{
	Godfs__CsReplicate *q = (Godfs__CsReplicate *)unpack(req, &godfs__cs_replicate__descriptor);
	int rc;

	if (!q)
		rc = GD_EPROTO;
	else if (!q->has_chunk_id || !q->has_version || !q->source)
		rc = GD_EINVAL;
	else
		rc = chunkd_pipeline_replicate(rpc->pipe, q->chunk_id, q->version, q->source);
	gd_reply_status(req, rc);
	if (q)
		protobuf_c_message_free_unpacked(&q->base, NULL);
}

void chunkd_rpc_client_handle(void *ctx, struct gd_request *req)
{
	struct chunkd_rpc *rpc = ctx;

	if (req->hdr.data_len && req->hdr.method != GODFS__METHOD__M_CS_WRITE) {
		/* Only a write carries bulk data. */
		gd_warn("%s: method %u with %u bytes of data: refused", req->peer,
			req->hdr.method, req->hdr.data_len);
		gd_reply_status(req, GD_EPROTO);
		gd_request_free(req);
		return;
	}
	switch (req->hdr.method) {
	case GODFS__METHOD__M_HELLO:
		handle_hello(req);
		break;
	case GODFS__METHOD__M_PING:
		handle_ping(req);
		break;
	case GODFS__METHOD__M_CS_WRITE:
		if (handle_write(rpc, req))
			return;   /* answered and freed by the pipeline */
		break;
	case GODFS__METHOD__M_CS_READ:
		handle_read(rpc, req);
		break;
	case GODFS__METHOD__M_CS_FSYNC:
	case GODFS__METHOD__M_CS_TRUNCATE:
	case GODFS__METHOD__M_CS_DELETE:
		if (handle_chunk_op(rpc, req))
			return;   /* answered and freed by the pipeline */
		break;
	case GODFS__METHOD__M_CS_REPLICATE:
		handle_replicate(rpc, req);
		break;
	default:
		gd_debug("%s: method %u is not served by chunkd", req->peer, req->hdr.method);
		gd_reply_status(req, GD_ENOTSUP);
		break;
	}
	gd_request_free(req);
}
