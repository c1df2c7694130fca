/* A client connection to one godfs daemon: requests multiplexed by request id,
 * responses matched as they come (in any order), every call with a deadline.
 *
 * Thread-safe: any number of threads may call on one connection at once. One
 * reader thread per connection receives responses; bulk data of a response is
 * read straight into the buffer the caller gave (no extra copy). */
#ifndef GD_CONN_H
#define GD_CONN_H

#include "gd_auth.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct gd_conn;
struct gd_call;

/* A PUSH frame received (a daemon speaking first): push is a wire.proto
 * Push, pb its protobuf part (valid during the call only). Runs on the
 * connection's reader thread: it must not call on this connection and
 * should return soon. */
typedef void (*gd_conn_push_fn)(void *ctx, uint16_t push, const uint8_t *pb, size_t len);

/* One request. Only method, req and resp_desc are required. */
struct gd_call_args {
	uint16_t method;                          /* wire.proto Method */
	const ProtobufCMessage *req;              /* packed before return */
	const void *data;                         /* bulk data to send, may be NULL */
	size_t data_len;
	const ProtobufCMessageDescriptor *resp_desc; /* expected response type */
	void *rbuf;                               /* where response bulk data goes */
	size_t rbuf_len;                          /* a longer response is GD_EPROTO */
	int timeout_ms;                           /* 0 = the connection's default */
};

/* A finished call. resp is unpacked with resp_desc; free with gd_call_result_release. */
struct gd_call_result {
	ProtobufCMessage *resp;  /* NULL when no response arrived */
	size_t data_len;         /* bulk bytes written into rbuf */
};

/* Connects to "host:port" and proves who we are (gd_auth_client with this
 * process's credential, gd_cred_self(), and role), all within timeout_ms.
 * Does not send HELLO (the caller does, with the same role). Returns 0, or
 * GD_ECONN / GD_ETIMEDOUT / GD_EINVAL, GD_EAUTH when the daemon refused our
 * credential (not worth retrying soon: the caller logs it once, see
 * gd_cred_log_refused), GD_EPROTO when the other end is not a godfs daemon
 * of this version. */
int gd_conn_open(const char *hostport, int timeout_ms, enum gd_role role,
		 struct gd_conn **out);
/* The same with an explicit credential (NULL = gd_cred_self()): a program
 * that holds connections for several principals (the gateway, one session
 * per API key). cred and what it points to must outlive the connection. */
int gd_conn_open_cred(const char *hostport, int timeout_ms, const struct gd_cred *cred,
		      enum gd_role role, struct gd_conn **out);

/* Closes the socket, fails every pending call with GD_ECONN, waits for the
 * reader thread, frees. Safe to call once the caller has no calls running. */
void gd_conn_close(struct gd_conn *c);

/* Gives the connection up after a call on it got no answer in time (the
 * peer is cut off or hung): resets it at once (a RST; what is still in the
 * socket's queues is thrown away, never delivered once the network is
 * back, where a retry on a new connection would otherwise be the second
 * copy), every call in flight fails now with GD_ECONN and new calls fail
 * at once. The descriptor stays open until gd_conn_close, which the
 * caller still calls once no call runs. Thread-safe; once per connection
 * counts (later calls do nothing). */
void gd_conn_abort(struct gd_conn *c);
/* Whether the connection has failed (peer closed, protocol error); a failed
 * connection fails every new call at once with GD_ECONN. */
int gd_conn_failed(const struct gd_conn *c);
const char *gd_conn_peer(const struct gd_conn *c);
void gd_conn_set_default_timeout(struct gd_conn *c, int timeout_ms);
/* Who gets the PUSH frames of c (NULL: they are read and dropped). */
void gd_conn_set_push(struct gd_conn *c, gd_conn_push_fn fn, void *ctx);

/* Sends a request and returns without waiting (several may be in flight).
 * Returns 0 and *out, or GD_ECONN / GD_ENOMEM / GD_EINVAL. The caller must
 * gd_call_wait() every started call exactly once. */
int gd_call_start(struct gd_conn *c, const struct gd_call_args *a, struct gd_call **out);

/* Waits for a started call until its deadline and frees the call.
 * Returns a transport error (GD_ECONN, GD_ETIMEDOUT, GD_EPROTO) with
 * res->resp == NULL, or the response's own `status` field (0 or negative)
 * with res->resp set. */
int gd_call_wait(struct gd_call *call, struct gd_call_result *res);

/* gd_call_start + gd_call_wait. */
int gd_call(struct gd_conn *c, const struct gd_call_args *a, struct gd_call_result *res);

void gd_call_result_release(struct gd_call_result *res);

/* Reads the `status` field (int32, field named "status") of any response message. */
int gd_msg_status(const ProtobufCMessage *m);
/* Reads the `leader` string field of a response, or NULL. */
const char *gd_msg_leader(const ProtobufCMessage *m);

#endif
