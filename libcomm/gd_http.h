/* A tiny read-only HTTP listener inside a daemon (libmicrohttpd), for
 * /metrics and other internal pages (the meta's /status). Not the gateway:
 * no request body, no TLS, no authentication. It carries no file data, but
 * says much about the cluster: keep it on a private address
 * (docs/security.md, "Metrics and status listeners").
 *
 * Requests are served by libmicrohttpd's own thread (internal polling,
 * thread per nothing: pages are made in memory and are small), with bounds:
 * GD_HTTP_MAX_CONNS connections in total, GD_HTTP_MAX_PER_IP per address,
 * GD_HTTP_TIMEOUT_S of idle per connection, GD_HTTP_CONN_MEMORY bytes of
 * headers per connection. GET and HEAD only (others: 405 with Allow), exact
 * paths (others: 404).
 *
 * Ownership and threads: gd_http_start returns a listener owned by the
 * caller until gd_http_stop, which waits for the request in progress to end;
 * routes may be added at any time from any thread, and a route's ctx must
 * outlive the listener. Handlers run on the listener's thread, one at a
 * time: they must not block for long and must only read state that is
 * theirs to read (take its lock, or read values published for them). */
#ifndef GD_HTTP_H
#define GD_HTTP_H

#include <stddef.h>

struct gd_http;

/* What a handler answers. status 0 is taken as 200, content_type NULL as
 * "text/plain; charset=utf-8"; body is malloc'd (gd_malloc) and freed by
 * gd_http, len bytes (may be NULL when len is 0). */
struct gd_http_reply {
	int status;
	const char *content_type;
	char *body;
	size_t len;
};

/* path: the URL path (decoded by libmicrohttpd); query: what follows '?'
 * in the request line, raw ("" when none). out starts zeroed. */
typedef void (*gd_http_fn)(void *ctx, const char *path, const char *query,
			   struct gd_http_reply *out);

#define GD_HTTP_MAX_CONNS 64
#define GD_HTTP_MAX_PER_IP 16
#define GD_HTTP_TIMEOUT_S 10
#define GD_HTTP_CONN_MEMORY (32u * 1024u)
#define GD_HTTP_MAX_ROUTES 16
#define GD_HTTP_PATH_MAX 128

/* Listens on "host:port" (port 0 picks one: gd_http_port). Returns 0 or
 * GD_EINVAL (not host:port), GD_ECONN (cannot bind: logged), GD_ENOMEM. */
int gd_http_start(const char *listen, struct gd_http **out);
/* Serves path (exact, at most GD_HTTP_PATH_MAX - 1 bytes) with fn. 0, or
 * GD_EEXIST (path taken), GD_ENOSPC (GD_HTTP_MAX_ROUTES), GD_EINVAL. */
int gd_http_route(struct gd_http *h, const char *path, gd_http_fn fn, void *ctx);
/* The port bound. */
int gd_http_port(const struct gd_http *h);
/* Stops listening, ends the connections, frees. NULL: nothing. */
void gd_http_stop(struct gd_http *h);

#endif
