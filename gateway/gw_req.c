/* Reading a request and queueing its one answer (see gw_req.h). */
#include "gw_req.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gw.h"
#include "gw_cors.h"
#include "gw_sessions.h"
#include "gw_error.h"

uint64_t gw_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *gw_req_header(const struct gw_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *gw_req_arg(const struct gw_req *r, const char *name)
{
	for (size_t i = 0; i < r->nargs; i++)
		if (strcmp(r->args[i].name, name) == 0)
			return r->args[i].value;
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	if (!*v || !strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
		*out = true;
	else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
		*out = false;
	else
		return GD_EINVAL;
	return 0;
}

int gw_req_arg_bool(const struct gw_req *r, const char *name, bool def, bool *out)
{
	const char *v = gw_req_arg(r, name);
	*out = def;
	return v ? parse_bool(v, out) : 0;
}

int gw_req_arg_u64(const struct gw_req *r, const char *name, uint64_t def, uint64_t min,
		   uint64_t max, uint64_t *out)
{
	const char *v = gw_req_arg(r, name);
	*out = def;
	if (!v)
		return 0;
	uint64_t n = 0;
	if (!*v || strlen(v) > 19)
		return GD_EINVAL;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return GD_EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (n < min || n > max)
		return GD_EINVAL;
	*out = n;
	return 0;
}

const char *gw_req_json_str(const struct gw_req *r, const char *name)
{
	json_t *v = r->json ? json_object_get(r->json, name) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int gw_req_json_bool(const struct gw_req *r, const char *name, bool def, bool *out)
{
	json_t *v = r->json ? json_object_get(r->json, name) : NULL;
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return GD_EINVAL;
	*out = json_is_true(v);
	return 0;
}

int gw_reply_header(struct gw_req *r, const char *name, const char *value)
{
	if (r->nhdrs == GW_MAX_RESP_HEADERS) {
		gd_error("bug: more than %d answer headers (%s)", GW_MAX_RESP_HEADERS, name);
		return GD_ENOMEM;
	}
	char *n = gd_strdup(name), *v = gd_strdup(value);
	if (!n || !v) {
		gd_free(n);
		gd_free(v);
		return GD_ENOMEM;
	}
	r->hdrs[r->nhdrs++] = (struct gw_hdr){ n, v };
	return 0;
}

/* Adds what every answer carries, queues it and drops our reference. */
static int queue(struct gw_req *r, int status, struct MHD_Response *resp)
{
	if (!resp)
		return GD_ENOMEM;
	if (r->responded) {
		gd_error("bug: a second answer (%d) to %s %s", status, r->method, r->url);
		MHD_destroy_response(resp);
		return GD_EBUSY;
	}
	for (size_t i = 0; i < r->nhdrs; i++)
		MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
	MHD_add_response_header(resp, "X-Request-ID", r->request_id);
	gw_cors_apply(r, resp);
	r->responded = true;
	r->status = status;
	if (r->in_body) {
		r->deferred = resp;   /* gw_server.c queues it at the end of the body */
		return 0;
	}
	enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES) {
		gd_warn("MHD refused the answer %d to %s %s", status,
			r->method, r->url);
		return GD_EIO;
	}
	return 0;
}

int gw_reply_buffer(struct gw_req *r, int status, const char *content_type, const void *buf,
		    size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_MUST_COPY);
	if (resp && content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (resp)
		r->sent_bytes += len;
	return queue(r, status, resp);
}

int gw_reply_json(struct gw_req *r, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text)
		return GD_ENOMEM;
	size_t len = strlen(text);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);   /* jansson's allocator is malloc */
		return GD_ENOMEM;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	r->sent_bytes += len;
	return queue(r, status, resp);
}

int gw_reply_error(struct gw_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->error_code = code;
	json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "error", msg, "code", code, "status",
			      status, "request_id", r->request_id);
	return gw_reply_json(r, status, o);
}

int gw_reply_status(struct gw_req *r, int status, const char *what)
{
	struct gw_error e = gw_error_from_status(status);
	if (status == GD_EAUTH && r->principal.key_id && r->gw->auth) {
		/* the meta refused the key's session: revoked or expired; the
		 * next request fetches the key again and opens a fresh session */
		gw_auth_forget(r->gw->auth, r->principal.key_id);
		gw_sessions_drop(r->gw->sessions, r->principal.key_id);
	}
	if (e.http >= 500 && e.http != 503 && e.http != 504 && e.http != 507) {
		/* the details help the operator, not the caller */
		gd_error("%s: %s", what, gd_strerror(status));
		return gw_reply_error(r, e.http, e.code, "internal error (request %s)",
				      r->request_id);
	}
	return gw_reply_error(r, e.http, e.code, "%s: %s", what, gd_strerror(status));
}

int gw_reply_empty(struct gw_req *r, int status)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	return queue(r, status, resp);
}

/* MHD calls the handler's reader through this, to count what it sends. */
struct stream_wrap {
	struct gw_req *r;        /* valid whenever MHD reads (the request lives) */
	MHD_ContentReaderCallback fn;
	void *cls;
	MHD_ContentReaderFreeCallback free_fn;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_wrap *w = cls;
	ssize_t n = w->fn(w->cls, pos, buf, max);
	if (n > 0)
		w->r->sent_bytes += (uint64_t)n;
	return n;
}

static void stream_free(void *cls)
{
	struct stream_wrap *w = cls;
	if (w->free_fn)
		w->free_fn(w->cls);
	gd_free(w);
}

int gw_reply_stream(struct gw_req *r, int status, uint64_t size, size_t block,
		    MHD_ContentReaderCallback fn, void *cls, MHD_ContentReaderFreeCallback free_fn)
{
	struct stream_wrap *w = gd_malloc(sizeof(*w));
	if (!w) {
		if (free_fn)
			free_fn(cls);
		return GD_ENOMEM;
	}
	*w = (struct stream_wrap){ r, fn, cls, free_fn };
	struct MHD_Response *resp =
		MHD_create_response_from_callback(size, block, stream_read, w, stream_free);
	if (!resp) {
		stream_free(w);
		return GD_ENOMEM;
	}
	return queue(r, status, resp);
}
