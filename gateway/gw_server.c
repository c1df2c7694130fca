/* The HTTP server and the request pipeline (see gw_server.h).
 *
 * MHD calls, for each request: uri_log (the request line: we allocate the
 * gw_req there, because it is the only place that sees the raw target and
 * thus the query before MHD decodes it), then on_access once with the
 * headers, once per piece of body, and once at the end, then completed. */
#include "gw_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gd_alloc.h"
#include "gd_config.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "gw_accesslog.h"
#include "gw_auth.h"
#include "gw_cors.h"
#include "gw_error.h"
#include "gw_guard.h"
#include "gw_metrics.h"
#include "gw_query.h"
#include "gw_ratelimit.h"
#include "gw_req.h"
#include "gw_route.h"
#include "gw_sessions.h"

#define GW_TLS_FILE_MAX (1u << 20)

struct gw_server {
	struct gw *gw;
	struct MHD_Daemon *mhd;
	struct gw_guard *guard;      /* header deadline, failed-authentication budget */
	char *tls_cert_pem;
	char *tls_key_pem;
};

/* ------------------------------------------------------------ request ids */

/* The client's X-Request-ID when it is one we can carry (gd_trace_valid),
 * else a new one, made the connection thread's current id (gd_trace.h): the
 * gateway's log lines, and every request this thread sends to the meta and
 * the chunkds, carry it until the request is completed (MHD runs all of a
 * connection's callbacks on its one thread). Threads the request hands work
 * to take a copy (gw_content.c, gw_put.c, gw_mp_complete.c). */
static void request_id_set(struct gw_req *r)
{
	const char *id = gw_req_header(r, "X-Request-ID");
	char gen[GD_TRACE_GEN_LEN + 1];
	if (!id || !*id) {
		gd_trace_generate(gen);
		id = gen;
	}
	snprintf(r->request_id, sizeof(r->request_id), "%s", gd_trace_set(id));
}

/* ---------------------------------------------------------- authentication */

/* Who the request acts for (docs/security.md "API keys"): the Bearer key or
 * presigned URL resolved by gw_auth, and that key's own client session, so
 * that the meta checks every call as for a token mount. With --insecure
 * (no cluster key, no API keys) every request acts through the gateway's
 * own session. Returns 0, or a GD_E* code after answering (401, 403, 503). */
static int gw_req_authenticate(struct gw_server *s, struct gw_req *r)
{
	struct gw *gw = r->gw;
	char why[200] = "";
	unsigned retry = 1;
	int rc, err = 0;
	if (!gw->auth) {
		r->principal = (struct gw_principal){ .subtree = 1 };
		r->client = gw->client;
		r->authenticated = true;
		return 0;
	}
	if (!gw_guard_auth_allowed(s->guard, r->client_ip, gw_now_ns(), &retry)) {
		/* this address failed too often: its credential is not even
		 * looked at (no meta call for a flood of made-up key ids) */
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", retry);
		gw_reply_header(r, "Retry-After", ra);
		gw_metrics_rate_limited();
		gw_reply_error(r, 429, GW_RATE_LIMITED,
			       "too many failed authentications from this address");
		return GD_EAUTH;
	}
	const char *path = gw_req_arg(r, "path");
	rc = gw_auth_resolve(gw->auth, gw_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION), r->method,
			     path ? path : "", gw_req_arg(r, "godfs_key"),
			     gw_req_arg(r, "godfs_exp"), gw_req_arg(r, "godfs_sig"), &r->principal,
			     why, sizeof(why));
	if (rc == GD_EAUTH) {
		gw_guard_auth_failed(s->guard, r->client_ip, gw_now_ns());
		gw_reply_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"godfs\"");
		gw_reply_error(r, 401, GW_UNAUTHORIZED, "%s", why[0] ? why : "no valid credential");
		return rc;
	}
	if (rc == GD_EPERM) {
		gw_reply_error(r, 403, GW_FORBIDDEN, "%s", why[0] ? why : "not allowed");
		return rc;
	}
	if (rc) {
		gw_reply_status(r, rc, "checking the API key at the meta");
		return rc;
	}
	if (r->principal.presigned && strcmp(r->route->path, "/v1/fs/content") != 0) {
		/* a URL signs a method and a path, not an endpoint: a GET URL
		 * of a directory must not list it (stat, list...) */
		gw_reply_error(r, 403, GW_FORBIDDEN,
			       "a presigned URL is only for GET, HEAD and PUT of /v1/fs/content");
		return GD_EPERM;
	}
	r->authenticated = true;
	r->client = gw_session_get_ex(gw->sessions, &r->principal, &err);
	if (!r->client) {
		if (err == GD_EAUTH) {
			/* revoked or expired since the fields were cached */
			gw_auth_forget(gw->auth, r->principal.key_id);
			gw_reply_error(r, 401, GW_UNAUTHORIZED, "the meta refused API key %" PRIu64,
				       r->principal.key_id);
		} else if (err == GD_EBUSY) {
			gw_reply_error(r, 503, GW_UNAVAILABLE,
				       "every API-key session is in use (--max-sessions)");
		} else {
			gw_reply_status(r, err ? err : GD_EIO, "opening the API key's session");
		}
		return err ? err : GD_EIO;
	}
	r->session_held = true;
	return 0;
}

/* ---------------------------------------------------------------- lifecycle */

/* The guard's record of conn (MHD's socket context), or NULL. */
static struct gw_guard_conn *conn_guard(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct gw_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			gw_guard_conn_started(s->guard, ci->connect_fd, socket_context);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		gw_guard_conn_closed(s->guard, socket_context);
	}
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct gw_server *s = cls;
	struct gw_req *r = gd_calloc(1, sizeof(*r));
	if (!r)
		return NULL;   /* on_access answers 500 for a request without context */
	r->gw = s->gw;
	r->conn = conn;
	r->start_ns = gw_now_ns();
	r->raw_uri = gd_strdup(uri ? uri : "");
	r->status = 0;
	atomic_fetch_add(&s->gw->in_flight, 1);
	gw_metrics_request_begin();
	return r;
}

static void req_free(struct gw_req *r, bool completed)
{
	if (r->state_free)
		r->state_free(r, completed);
	if (r->session_held)
		gw_session_put(r->gw->sessions, r->client);
	gw_query_free(r->args, r->nargs);
	for (size_t i = 0; i < r->nhdrs; i++) {
		gd_free(r->hdrs[i].name);
		gd_free(r->hdrs[i].value);
	}
	if (r->deferred)
		MHD_destroy_response(r->deferred);
	json_decref(r->json);
	gd_free(r->body);
	gd_free(r->raw_uri);
	gd_free(r->url);
	gd_free(r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct gw_server *s = cls;
	struct gw_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	if (r->request_id[0])
		gd_trace_set(r->request_id);   /* even when MHD ends it from elsewhere */
	bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
	if (ok)   /* a kept-alive connection: the next request's headers are due */
		gw_guard_request_done(s->guard, conn_guard(conn));
	gw_accesslog_write(s->gw, r, ok ? NULL :
			   toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" :
			   toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" :
			   "client-gone");
	atomic_fetch_sub(&s->gw->in_flight, 1);
	gw_metrics_request_end(r);
	req_free(r, ok);
	gd_trace_set(NULL);   /* the next request on this connection brings its own */
}

/* ------------------------------------------------------------------ pipeline */

/* The rate limit (--rate-limit): an API key's bucket (presigned URLs
 * included: whoever holds one spends its key's budget), else the client
 * address's (IPv6: its /64). Returns false after answering 429. */
static bool rate_ok(struct gw_req *r)
{
	char key[GW_RL_CLIENT_KEY_MAX];
	unsigned retry = 1;
	if (!r->gw->rl)
		return true;
	if (r->authenticated && r->principal.key_id)
		snprintf(key, sizeof(key), "key:%" PRIu64, r->principal.key_id);
	else
		gw_ratelimit_client_key(r->client_ip, key);
	if (gw_ratelimit_take(r->gw->rl, key, gw_now_ns(), &retry))
		return true;
	char ra[16];
	snprintf(ra, sizeof(ra), "%u", retry);
	gw_reply_header(r, "Retry-After", ra);
	gw_metrics_rate_limited();
	gw_reply_error(r, 429, GW_RATE_LIMITED, "rate limit exceeded");
	return false;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	size_t *total = cls;
	*total += strlen(key) + (value ? strlen(value) : 0) + 4;   /* ": " and CRLF */
	return MHD_YES;
}

/* The first call: everything that needs only the headers. Answers (and
 * returns) as soon as the request cannot go on. */
static void on_headers(struct gw_server *s, struct gw_req *r, const char *url,
		       const char *method)
{
	char why[160], allow[64];
	r->url = gd_strdup(url);
	snprintf(r->method, sizeof(r->method), "%s", method);
	request_id_set(r);
	gd_debug("HTTP %s %s", r->method, r->url ? r->url : "?");   /* the access log has the end */
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		const void *a = sa->sa_family == AF_INET6 ?
			(const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
			(const void *)&((const struct sockaddr_in *)sa)->sin_addr;
		inet_ntop(sa->sa_family, a, r->client_ip, sizeof(r->client_ip));
	}
	if (!r->raw_uri || !r->url) {
		gw_reply_error(r, 500, GW_INTERNAL, "out of memory");
		return;
	}
	/* MHD's pool is twice the limit (room for the body's read buffer): the
	 * limit itself is checked here */
	size_t hbytes = strlen(r->raw_uri);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_header, &hbytes);
	if (hbytes > r->gw->opt.header_mem / 2) {
		gw_reply_error(r, 431, GW_BAD_REQUEST,
			       "the request line and headers exceed %u bytes",
			       r->gw->opt.header_mem / 2);
		return;
	}
	if (gw_query_parse(r->raw_uri, r->args, &r->nargs, why, sizeof(why)) != 0) {
		gw_reply_error(r, 400, GW_BAD_REQUEST, "%s", why);
		return;
	}
	bool known;
	r->route = gw_route_find(method, r->url, &known, allow, sizeof(allow));
	if (!r->route && known && gw_cors_is_preflight(r)) {
		gw_cors_preflight(r);
		return;
	}
	if (!r->route) {
		if (known) {
			gw_reply_header(r, "Allow", allow);
			gw_reply_error(r, 405, GW_METHOD_NOT_ALLOWED, "%s is not allowed on %s",
				       method, r->url);
		} else {
			gw_reply_error(r, 404, GW_NOT_FOUND, "no such endpoint: %s", r->url);
		}
		return;
	}
	if (r->route->flags & GW_ROUTE_PUBLIC)
		return;   /* never limited (probes); /v1/ready asks the meta at most once a second */
	if (gw_req_authenticate(s, r) != 0)
		return;
	if (!rate_ok(r))
		return;
	if ((r->route->flags & GW_ROUTE_WRITES) && r->principal.read_only) {
		gw_reply_error(r, 403, GW_FORBIDDEN, "this key is read-only");
		return;
	}
	if (r->route->flags & GW_ROUTE_BODY_JSON) {
		const char *cl = gw_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > GW_JSON_BODY_MAX) {
			gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE,
				       "a JSON body is limited to %u bytes", GW_JSON_BODY_MAX);
			return;
		}
	}
	if (r->route->begin) {
		int rc = r->route->begin(r);
		if (rc < 0 && !r->responded)
			gw_reply_status(r, rc, r->route->name);
	}
}

/* A piece of body. Returns false when the connection must be dropped. */
static bool on_body(struct gw_req *r, const char *data, size_t len)
{
	r->received_bytes += len;
	r->in_body = true;
	if (r->deferred) {
		r->drained += len;
		if (r->drained > GW_DRAIN_MAX) {
			gd_info("%s %s: more than %u body bytes after the answer %d: "
				"closing the connection", r->method, r->url,
				GW_DRAIN_MAX, r->status);
			return false;
		}
		return true;
	}
	if (r->responded || !r->route)
		return true;   /* answered before the body: MHD drops the rest */
	if (r->route->flags & GW_ROUTE_BODY_JSON) {
		if (r->body_len + len > GW_JSON_BODY_MAX) {
			gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE,
				       "a JSON body is limited to %u bytes", GW_JSON_BODY_MAX);
			return true;
		}
		if (r->body_len + len + 1 > r->body_cap) {
			size_t cap = r->body_cap ? r->body_cap : 4096;
			while (cap < r->body_len + len + 1)
				cap *= 2;
			char *nb = gd_realloc(r->body, cap);
			if (!nb) {
				gw_reply_error(r, 500, GW_INTERNAL, "out of memory");
				return true;
			}
			r->body = nb;
			r->body_cap = cap;
		}
		memcpy(r->body + r->body_len, data, len);
		r->body_len += len;
		return true;
	}
	if ((r->route->flags & GW_ROUTE_BODY_STREAM) && r->route->body) {
		int rc = r->route->body(r, data, len);
		if (rc < 0 && !r->responded)
			gw_reply_status(r, rc, r->route->name);
		return true;
	}
	gw_reply_error(r, 400, GW_BAD_REQUEST, "%s takes no body", r->route->path);
	return true;
}

/* The end of the request: parse the JSON body and run finish. */
static void on_end(struct gw_req *r)
{
	r->in_body = false;
	if (r->deferred) {
		struct MHD_Response *resp = r->deferred;
		r->deferred = NULL;
		if (MHD_queue_response(r->conn, (unsigned)r->status, resp) != MHD_YES)
			gd_warn("MHD refused the answer %d at the end of the body",
				r->status);
		MHD_destroy_response(resp);
		return;
	}
	if (r->responded)
		return;
	if (r->route->flags & GW_ROUTE_BODY_JSON) {
		json_error_t err;
		r->json = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES,
						   &err) : NULL;
		if (!r->json || !json_is_object(r->json)) {
			gw_reply_error(r, 400, GW_BAD_REQUEST, "the body must be a JSON object%s%s",
				       r->json || !r->body_len ? "" : ": ",
				       r->json || !r->body_len ? "" : err.text);
			return;
		}
	}
	int rc = r->route->finish(r);
	if (rc < 0 && !r->responded)
		gw_reply_status(r, rc, r->route->name);
	if (!r->responded) {
		gd_error("bug: %s answered nothing", r->route->name);
		gw_reply_error(r, 500, GW_INTERNAL, "internal error (request %s)", r->request_id);
	}
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct gw_server *s = cls;
	struct gw_req *r = *con_cls;
	if (!r)
		return MHD_NO;   /* no memory for the context: drop the connection */
	if (!r->headers_done) {
		r->headers_done = true;
		gw_guard_headers_done(s->guard, conn_guard(conn));
		on_headers(s, r, url, method);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t len = *upload_data_size;
		*upload_data_size = 0;
		return on_body(r, upload_data, len) ? MHD_YES : MHD_NO;
	}
	on_end(r);
	return MHD_YES;
}

/* ------------------------------------------------------------------- daemon */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	gd_info("http: %s", msg);
}

static int read_pem(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		gd_error("cannot open %s: %s", path, strerror(errno));
		return GD_EINVAL;
	}
	char *buf = gd_malloc(GW_TLS_FILE_MAX + 1);
	size_t len = 0;
	ssize_t n = 0;
	while (buf && len < GW_TLS_FILE_MAX &&
	       (n = read(fd, buf + len, GW_TLS_FILE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (!buf || n < 0 || len == 0 || len >= GW_TLS_FILE_MAX) {
		gd_error("cannot read %s (empty, unreadable or over 1 MiB)", path);
		gd_free(buf);
		return GD_EINVAL;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int gw_server_start(struct gw *gw, struct gw_server **out)
{
	char host[256];
	int port, rc;
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char portstr[8];
	if (gd_parse_hostport(gw->opt.listen, -1, host, sizeof(host), &port) < 0) {
		gd_error("--listen %s: use HOST:PORT", gw->opt.listen);
		return GD_EINVAL;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
	if (rc != 0) {
		gd_error("--listen %s: %s", gw->opt.listen, gai_strerror(rc));
		return GD_EINVAL;
	}
	struct gw_server *s = gd_calloc(1, sizeof(*s));
	if (!s) {
		freeaddrinfo(ai);
		return GD_ENOMEM;
	}
	s->gw = gw;
	rc = gw_guard_new(gw->opt.header_timeout_s, &s->guard);
	if (rc) {
		gd_error("cannot start the header deadline's watchdog: %s", gd_strerror(rc));
		goto err_after_alloc;
	}
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (gw->opt.tls_cert) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			gd_error("--tls-cert: this libmicrohttpd has no TLS support");
			rc = GD_EINVAL;
			goto err_after_alloc;
		}
		if (read_pem(gw->opt.tls_cert, &s->tls_cert_pem) < 0 ||
		    read_pem(gw->opt.tls_key, &s->tls_key_pem) < 0) {
			rc = GD_EINVAL;
			goto err_after_alloc;
		}
		flags |= MHD_USE_TLS;
	}
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->mhd = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, on_access, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_URI_LOG_CALLBACK, uri_log, s,
		MHD_OPTION_NOTIFY_COMPLETED, completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)gw->opt.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)gw->opt.max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)gw->opt.conn_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)gw->opt.header_mem,
		MHD_OPTION_ARRAY, gw->opt.tls_cert ? tls_opts : &tls_opts[2],
		MHD_OPTION_END);
	if (!s->mhd) {
		gd_error("cannot serve HTTP%s on %s (address in use? bad certificate?)",
			 gw->opt.tls_cert ? "S" : "", gw->opt.listen);
		rc = GD_EIO;
		goto err_after_alloc;
	}
	freeaddrinfo(ai);
	*out = s;
	return 0;

err_after_alloc:
	freeaddrinfo(ai);
	gw_guard_free(s->guard);
	gd_free(s->tls_cert_pem);
	gd_free(s->tls_key_pem);
	gd_free(s);
	return rc;
}

void gw_server_stop(struct gw_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);
	gw_guard_free(s->guard);
	gd_free(s->tls_cert_pem);
	gd_free(s->tls_key_pem);
	gd_free(s);
}
