/* A TCP server for godfs daemons: an accept thread, a reader thread per
 * connection that decodes frames (bounded, validated by gd_frame) and hands
 * each request to the handler, either on a pool of worker threads (chunkd:
 * slow disk work must not stop other requests) or directly on the reader
 * thread (meta: its handler only queues the request for the libuv loop).
 *
 * A bad frame (magic, version, method, length, or a protobuf part that does not
 * unpack) is logged with the peer's address and closes that connection only.
 *
 * Hostile peers (docs/security.md, "Limits"): a reply never blocks its caller
 * (non-blocking send; what does not fit waits, copied, in the connection's
 * output queue, drained by one flusher thread per server); queued output is
 * bounded in bytes and must go out within send_timeout_ms of being queued;
 * requests handed to the handler and not yet freed are bounded per connection
 * and per server (count and bytes), and the reader stops reading a connection
 * at a bound (back-pressure, nothing is dropped); a connection with no frame
 * for idle_timeout_ms, or whose started frame is not whole within
 * frame_timeout_ms, is cut; connections are limited in total and per peer
 * address, checked before a reader thread starts.
 *
 * Every connection starts with the handshake of gd_auth.h, on its reader
 * thread, before any frame: a peer that fails it or does not finish it within
 * auth_timeout_ms is cut with one log line (address and reason; when many
 * come at once, a count once per second instead). Who passed is kept with the
 * connection and shown to the handler as req->auth.
 *
 * Every request is decoded here, once, as its method's message
 * (gd_methods.h), and the handler sees only requests this daemon serves, for
 * which the caller's role is allowed and whose bulk data (if any) the method
 * carries; any other is answered with an error status (GD_ENOTSUP, GD_EPERM,
 * GD_EPROTO) and a log line (rate-limited), and the connection stays.
 *
 * Request ids (gd_trace.h): a request that came with one is handed to the
 * handler with it in req->trace and as the thread's id, so the handler's log
 * lines and the requests it sends on carry it; at debug level each such
 * request is logged once on arrival (peer, method), so that its id can be
 * found in the log of every daemon it reached. A malformed id is a bad frame. */
#ifndef GD_SERVER_H
#define GD_SERVER_H

#include "gd_auth.h"
#include "gd_frame.h"
#include "gd_methods.h"
#include "gd_trace.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct gd_server;
struct gd_sconn;

/* One received request. The handler owns it and must finish it with
 * gd_reply() (or gd_reply_status()) and then gd_request_free(), from any
 * thread, at any later time; the connection stays valid until then. */
struct gd_request {
	struct gd_sconn *conn;
	struct gd_frame_hdr hdr;
	uint8_t *pb;        /* hdr.pb_len bytes */
	uint8_t *data;      /* hdr.data_len bytes, NULL when 0 */
	const char *peer;   /* "ip:port" of the other end */
	void *conn_ctx;     /* per-connection slot for the handler (e.g. its role) */
	const struct gd_peer_auth *auth; /* who the handshake proved the peer is
					  * (its role, token); valid until gd_request_free */
	const struct gd_method *method; /* the row of hdr.method, never NULL */
	/* The request decoded as method->req; owned by the request (freed by
	 * gd_request_free): handlers read it, never free it. */
	ProtobufCMessage *msg;
	/* The trace id the request came with (gd_trace.h), "" when none. hdr
	 * and pb above are the request's without it (kind without
	 * GD_FRAME_F_TRACE, pb_len and pb those of the protobuf alone). The
	 * server sets it as the thread's id while the handler runs; a handler
	 * that finishes the request elsewhere sets it there (gd_trace_set). */
	char trace[GD_TRACE_MAX + 1];
};

typedef void (*gd_server_handler_fn)(void *ctx, struct gd_request *req);
/* Called once when a connection closes, with its conn_ctx; may be NULL.
 * It runs after the connection's last request was freed, on the thread that
 * dropped the last reference (the connection's reader thread, or the thread
 * calling gd_request_free), so no request with that conn_ctx is left. */
typedef void (*gd_server_closed_fn)(void *ctx, void *conn_ctx);

/* Limits of a server; 0 in any field means its default (GD_SERVER_DEFAULT_*). */
struct gd_server_limits {
	int send_timeout_ms;      /* a queued reply not sent within this is a cut */
	int idle_timeout_ms;      /* no frame started for this long: cut */
	int frame_timeout_ms;     /* a started frame must be whole within this */
	int max_conns;            /* open connections in total */
	int max_conns_per_addr;   /* open connections from one peer IP address */
	int max_conn_requests;    /* requests not yet freed, per connection */
	int max_requests;         /* the same for the whole server */
	uint64_t max_request_bytes; /* bytes of those requests, whole server */
	uint64_t max_conn_output; /* reply bytes queued on one connection */
	uint64_t max_total_output; /* reply bytes queued on all connections */
};

#define GD_SERVER_DEFAULT_SEND_TIMEOUT_MS 10000
#define GD_SERVER_DEFAULT_IDLE_TIMEOUT_MS 300000
#define GD_SERVER_DEFAULT_FRAME_TIMEOUT_MS 30000
#define GD_SERVER_DEFAULT_MAX_CONNS 4096
#define GD_SERVER_DEFAULT_MAX_CONNS_PER_ADDR 256
#define GD_SERVER_DEFAULT_MAX_CONN_REQUESTS 256
#define GD_SERVER_DEFAULT_MAX_REQUESTS 16384
#define GD_SERVER_DEFAULT_MAX_TOTAL_OUTPUT (1ull << 30)
#define GD_SERVER_DEFAULT_MAX_REQUEST_BYTES (1ull << 30)
#define GD_SERVER_DEFAULT_MAX_CONN_OUTPUT (64ull << 20)

struct gd_server_config {
	const char *listen;            /* "host:port"; port 0 picks one */
	gd_server_handler_fn handler;
	gd_server_closed_fn closed;
	void *ctx;
	unsigned serves;               /* GD_SERVE_META / _CHUNKD; 0 = every method */
	int workers;                   /* 0 = run the handler on the reader thread */
	struct gd_server_limits limits;
	const struct gd_auth_policy *auth; /* who may connect; NULL = gd_cred_policy().
					    * Must outlive the server. */
	int auth_timeout_ms;           /* the handshake's deadline;
					* 0 = GD_CRED_DEFAULT_AUTH_TIMEOUT_MS */
};

/* Binds, listens and starts the accept thread. Returns 0 or GD_ECONN (the
 * bind/listen error is logged). */
int gd_server_start(const struct gd_server_config *cfg, struct gd_server **out);
/* The port actually bound (for listen ports of 0). */
int gd_server_port(const struct gd_server *s);
/* Stops accepting, closes every connection, waits for threads, frees. */
void gd_server_stop(struct gd_server *s);

/* Sends the response to req: resp packed as protobuf, then data (may be NULL).
 * Thread-safe and never blocks on the peer: the frame is written with a
 * non-blocking send when nothing is queued before it; what does not fit is
 * copied into the connection's output queue (frames never interleave). Returns
 * 0 (sent or queued), or GD_ECONN when the connection is gone or is cut
 * because its queue went over max_conn_output (the response is dropped). */
int gd_reply(struct gd_request *req, const ProtobufCMessage *resp,
	     const void *data, size_t data_len);
/* The same with a response that is already packed (pb_len <= GD_FRAME_MAX_PB). */
int gd_reply_packed(struct gd_request *req, const uint8_t *pb, size_t pb_len,
		    const void *data, size_t data_len);
/* Replies with a bare StatusResp{status}. Field 1 is `status` in every *Resp,
 * so the caller unpacks it as the method's own response type; M_PING, whose
 * reply has status in field 2, gets a Ping{status}. */
int gd_reply_status(struct gd_request *req, int status);
/* Frees the request and drops its reference on the connection. */
void gd_request_free(struct gd_request *req);

/* Pushes: a daemon speaking first on a connection (a PUSH frame, method =
 * a wire.proto Push, request id 0), e.g. the meta granting a waiting lock.
 * gd_sconn_hold keeps c (its socket and conn_ctx) alive past its requests,
 * until the matching gd_sconn_release (which may run the closed callback,
 * on the caller's thread). A server stops only once every hold is
 * released. gd_push sends like gd_reply (never blocks; thread-safe):
 * 0 sent or queued, GD_ECONN when the connection is gone, GD_EINVAL for a
 * message too long. gd_sconn_alive: whether pushes may still get through. */
void gd_sconn_hold(struct gd_sconn *c);
void gd_sconn_release(struct gd_sconn *c);
int gd_sconn_alive(struct gd_sconn *c);
int gd_push(struct gd_sconn *c, uint16_t push, const ProtobufCMessage *msg);

/* Sets/gets the per-connection slot seen as req->conn_ctx. */
void gd_sconn_set_ctx(struct gd_sconn *c, void *conn_ctx);
void *gd_sconn_get_ctx(struct gd_sconn *c);

#endif
