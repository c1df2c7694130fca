/* The internal HTTP listener (see gd_http.h), on libmicrohttpd. */
#include "gd_http.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct route {
	char path[GD_HTTP_PATH_MAX];
	gd_http_fn fn;
	void *ctx;
};

struct gd_http {
	struct MHD_Daemon *d;       /* const after start */
	int port;                   /* const after start */
	pthread_mutex_t mu;         /* guards routes and n */
	struct route routes[GD_HTTP_MAX_ROUTES];
	size_t n;
};

#define DEFAULT_TYPE "text/plain; charset=utf-8"

/* libmicrohttpd's own messages, into our log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	gd_warn("http: %s", line);
}

/* Called with the whole request URI before parsing: keeps the raw query for
 * the handler (libmicrohttpd hands the access handler the path only). What
 * it returns is the request's req_cls, freed by on_completed. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	const char *q = uri ? strchr(uri, '?') : NULL;

	(void)cls;
	(void)c;
	return gd_strdup(q ? q + 1 : "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	gd_free(*req_cls);
	*req_cls = NULL;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, int status, const char *type,
				  char *body, size_t len, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body)
		r = MHD_create_response_from_buffer_with_free_callback(len, body, gd_free);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		gd_free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type ? type : DEFAULT_TYPE);
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (allow)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *text,
				 const char *allow)
{
	char *body = gd_strdup(text);

	return body ? send_reply(c, status, NULL, body, strlen(body), allow) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct gd_http *h = cls;
	struct gd_http_reply out;
	gd_http_fn fn = NULL;
	void *ctx = NULL;
	size_t i;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				 "GET, HEAD");
	pthread_mutex_lock(&h->mu);
	for (i = 0; i < h->n; i++) {
		if (strcmp(h->routes[i].path, url) == 0) {
			fn = h->routes[i].fn;
			ctx = h->routes[i].ctx;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	if (!fn)
		return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	memset(&out, 0, sizeof(out));
	fn(ctx, url, *req_cls ? (const char *)*req_cls : "", &out);
	if (out.status == 0)
		out.status = MHD_HTTP_OK;
	if (out.status < 100 || out.status > 599) {
		gd_error("http: %s answered status %d", url, out.status);
		gd_free(out.body);
		return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
	}
	return send_reply(c, out.status, out.content_type, out.body, out.body ? out.len : 0,
			  NULL);
}

int gd_http_start(const char *listen, struct gd_http **out)
{
	struct gd_http *h;
	int fd, rc;

	if (!listen || !*listen)
		return GD_EINVAL;
	h = gd_calloc(1, sizeof(*h));
	if (!h)
		return GD_ENOMEM;
	pthread_mutex_init(&h->mu, NULL);
	rc = gd_net_listen(listen, 64, &fd, &h->port);
	if (rc < 0)
		goto err_after_alloc;
	h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)GD_HTTP_MAX_CONNS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)GD_HTTP_MAX_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)GD_HTTP_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GD_HTTP_CONN_MEMORY,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_END);
	if (!h->d) {
		gd_error("http: cannot serve on %s", listen);
		close(fd);
		rc = GD_ECONN;
		goto err_after_alloc;
	}
	*out = h;
	return 0;

err_after_alloc:
	pthread_mutex_destroy(&h->mu);
	gd_free(h);
	return rc;
}

int gd_http_route(struct gd_http *h, const char *path, gd_http_fn fn, void *ctx)
{
	size_t i;
	int rc = 0;

	if (!h || !path || path[0] != '/' || strlen(path) >= GD_HTTP_PATH_MAX || !fn)
		return GD_EINVAL;
	pthread_mutex_lock(&h->mu);
	for (i = 0; i < h->n; i++)
		if (strcmp(h->routes[i].path, path) == 0)
			rc = GD_EEXIST;
	if (rc == 0 && h->n == GD_HTTP_MAX_ROUTES)
		rc = GD_ENOSPC;
	if (rc == 0) {
		snprintf(h->routes[h->n].path, GD_HTTP_PATH_MAX, "%s", path);
		h->routes[h->n].fn = fn;
		h->routes[h->n].ctx = ctx;
		h->n++;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int gd_http_port(const struct gd_http *h)
{
	return h->port;
}

void gd_http_stop(struct gd_http *h)
{
	if (!h)
		return;
	/* closes the listening socket too */
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	gd_free(h);
}
