/* The request context every gateway handler gets, and the helpers that
 * answer it.
 *
 * One struct gw_req lives from the moment libmicrohttpd (MHD) has read a
 * request line (gw_server.c's URI callback) until MHD says the request is
 * over (completed, client gone, timeout); it is used by one thread at a time
 * (MHD runs a thread per connection and calls every callback of a request
 * on it), so it needs no lock. Handlers run on that thread and may block on
 * cluster calls.
 *
 * A route (gw_route.h) has up to three steps, all optional but finish:
 *   begin(r)           headers read, before any body byte (e.g. check
 *                      preconditions, open a temp file); may answer at once
 *   body(r, data, len) each piece of a streamed body (GW_ROUTE_BODY_STREAM)
 *   finish(r)          the whole body arrived (JSON bodies parsed into
 *                      r->json first); must answer unless begin/body did
 * Each step returns 0, or a negative GD_E* code after which the server
 * answers with gw_reply_status() unless the step already answered.
 * r->state (with r->state_free) carries a handler's own state; state_free
 * runs exactly once when the request ends, with completed = true only when
 * the whole answer was sent: a PUT's temp file is removed there when the
 * client went away.
 *
 * Exactly one answer per request: the gw_reply_* helpers queue it (the
 * second returns GD_EBUSY and is logged as a bug). MHD takes an answer
 * only before the body or after all of it: one made while the body comes
 * (a PUT that fails) waits until the body ends, the rest of the body being
 * read and dropped, up to GW_DRAIN_MAX bytes; past that the connection is
 * closed without an answer. */
#ifndef GW_REQ_H
#define GW_REQ_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gd_trace.h"
#include "gw_auth.h"

struct gw;
struct gw_route;
struct gd_client;

#define GW_JSON_BODY_MAX (1u << 20) /* a JSON body larger than this is 413 */
#define GW_MAX_ARGS 32            /* query arguments per request */
#define GW_MAX_RESP_HEADERS 16    /* headers a handler adds to its answer */
#define GW_DRAIN_MAX (16u << 20)  /* body bytes read and dropped after a mid-body answer */

struct gw_arg {
	char *name;              /* decoded, NUL-terminated */
	char *value;             /* decoded; "" for "?flag" */
	size_t value_len;        /* bytes (a decoded %00 is refused, so == strlen) */
};

struct gw_hdr {
	char *name;
	char *value;
};

struct gw_req {
	struct gw *gw;
	struct MHD_Connection *conn;
	const struct gw_route *route;      /* NULL until routed */
	char method[16];
	char *url;                         /* the decoded path part of the target (owned) */
	char *raw_uri;                     /* the request target as sent (owned) */
	struct gw_arg args[GW_MAX_ARGS];   /* query, decoded once and strictly */
	size_t nargs;
	char request_id[GD_TRACE_MAX + 1]; /* X-Request-ID or generated (gd_trace.h) */
	char client_ip[INET6_ADDRSTRLEN];
	uint64_t start_ns;                 /* CLOCK_MONOTONIC at the request line */

	/* who asks (gw_req_authenticate), and the cluster session that acts for them */
	struct gw_principal principal;
	bool authenticated;
	struct gd_client *client;
	bool session_held;                 /* client is from gw_session_get: put back at the end */

	/* JSON bodies (GW_ROUTE_BODY_JSON) */
	char *body;
	size_t body_len, body_cap;
	json_t *json;                      /* parsed at the end of the body */

	/* a handler's own state, freed once at the end */
	void *state;
	void (*state_free)(struct gw_req *r, bool completed);

	/* the answer */
	struct gw_hdr hdrs[GW_MAX_RESP_HEADERS]; /* added by the handler, sent with it */
	size_t nhdrs;
	bool responded;                    /* an answer is queued (or deferred) */
	bool in_body;                      /* between the first body piece and the end */
	struct MHD_Response *deferred;     /* an answer made mid-body: MHD takes it
					    * only at the end of the body */
	uint64_t drained;                  /* body bytes dropped after it */
	bool headers_done;                 /* the first access call happened */
	int status;                        /* HTTP status of the answer */
	const char *error_code;            /* its JSON error code, for the log */
	uint64_t sent_bytes;               /* body bytes handed to MHD */
	uint64_t received_bytes;           /* body bytes received */
};

/* ---- the request ---- */

/* A request header (case-insensitive name), or NULL. */
const char *gw_req_header(const struct gw_req *r, const char *name);
/* A query argument, or NULL when absent. */
const char *gw_req_arg(const struct gw_req *r, const char *name);
/* A boolean query argument: absent = def; 1/true/yes or an empty value =
 * true; 0/false/no = false; anything else is GD_EINVAL. */
int gw_req_arg_bool(const struct gw_req *r, const char *name, bool def, bool *out);
/* An unsigned decimal query argument in [min, max] (absent = def), else GD_EINVAL. */
int gw_req_arg_u64(const struct gw_req *r, const char *name, uint64_t def, uint64_t min,
		   uint64_t max, uint64_t *out);
/* The string member `name` of the JSON body, or NULL. */
const char *gw_req_json_str(const struct gw_req *r, const char *name);
/* A boolean member of the JSON body (absent = def); a non-boolean is GD_EINVAL. */
int gw_req_json_bool(const struct gw_req *r, const char *name, bool def, bool *out);

/* ---- the answer (each returns 0, or GD_ENOMEM / GD_EBUSY) ---- */

/* Adds a header to the answer to be queued (both strings copied). */
int gw_reply_header(struct gw_req *r, const char *name, const char *value);
/* A JSON object; takes ownership of obj (even on failure). */
int gw_reply_json(struct gw_req *r, int status, json_t *obj);
/* {"error": msg, "code": code, "status": status, "request_id": id}. */
int gw_reply_error(struct gw_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The error of a failed cluster call (gw_error.h); `what` says what failed
 * ("stat /a/b"); a 5xx hides the detail from the client and logs it. */
int gw_reply_status(struct gw_req *r, int status, const char *what);
/* No body (204, 304, a HEAD answer with Content-Length 0...). */
int gw_reply_empty(struct gw_req *r, int status);
/* A body copied from buf, with its Content-Type. */
int gw_reply_buffer(struct gw_req *r, int status, const char *content_type,
		    const void *buf, size_t len);

/* A streamed body of `size` bytes (MHD_SIZE_UNKNOWN: chunked). fn is MHD's
 * content reader (called on the connection's thread with the offset in the
 * body; it may block; returns bytes, MHD_CONTENT_READER_END_OF_STREAM or
 * _END_WITH_ERROR); free_fn (may be NULL) runs once when MHD is done with
 * it. On failure free_fn(cls) has run. For HEAD, fn is never called but the
 * size is the Content-Length. */
int gw_reply_stream(struct gw_req *r, int status, uint64_t size, size_t block,
		    MHD_ContentReaderCallback fn, void *cls, MHD_ContentReaderFreeCallback free_fn);

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t gw_now_ns(void);

#endif
