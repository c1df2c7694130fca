/* The access log (see gw_accesslog.h). */
#include "gw_accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gd_log.h"
#include "gd_status.h"
#include "gw_req.h"

int gw_accesslog_open(struct gw *gw, const char *path)
{
	pthread_mutex_init(&gw->log_mu, NULL);
	if (!path || !*path)
		return 0;
	if (strcmp(path, "-") == 0) {
		gw->access_log = stdout;
		return 0;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || !(gw->access_log = fdopen(fd, "a"))) {
		gd_error("--access-log %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return GD_EINVAL;
	}
	return 0;
}

void gw_accesslog_close(struct gw *gw)
{
	if (gw->access_log && gw->access_log != stdout)
		fclose(gw->access_log);
	gw->access_log = NULL;
	pthread_mutex_destroy(&gw->log_mu);
}

/* s quoted into out (size >= 8), bytes below 0x20, 0x7f, '"' and '\\' as \xNN. */
static void quote(const char *s, char *out, size_t size)
{
	size_t o = 0;
	out[o++] = '"';
	for (; s && *s && o + 6 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

void gw_accesslog_write(struct gw *gw, const struct gw_req *r, const char *outcome)
{
	if (!gw->access_log)
		return;
	char when[64], path[600], url[600], key[24];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", now.tv_nsec / 1000000);
	const char *p = gw_req_arg(r, "path");
	quote(p ? p : "", path, sizeof(path));
	/* the URL is decoded (%0A is a newline): quoted like the path, so
	 * that no request can write a line of its own */
	quote(r->url ? r->url : "-", url, sizeof(url));
	if (r->authenticated)
		snprintf(key, sizeof(key), "%" PRIu64, r->principal.key_id);
	else
		snprintf(key, sizeof(key), "-");
	double secs = (double)(gw_now_ns() - r->start_ns) / 1e9;
	pthread_mutex_lock(&gw->log_mu);
	fprintf(gw->access_log,
		"%s %s key=%s %s %s %s %d %" PRIu64 " %" PRIu64 " %.3f req=%s %s\n", when,
		r->client_ip[0] ? r->client_ip : "-", key, r->method[0] ? r->method : "-",
		url, path, r->responded ? r->status : 0, r->sent_bytes,
		r->received_bytes, secs, r->request_id[0] ? r->request_id : "-",
		outcome ? outcome : "ok");
	fflush(gw->access_log);
	pthread_mutex_unlock(&gw->log_mu);
}
