/* The janitor of abandoned PUT temp files (see gw_janitor.h). */
#include "gw_janitor.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_client.h"
#include "gd_log.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "gd_time.h"
#include "gd_trace.h"
#include "gw_put.h"
#include "proto/wire.pb-c.h"

struct gw_janitor {
	struct gw *gw;
	uint64_t interval_s, stale_s;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* CLOCK_MONOTONIC */
	volatile int stop;          /* guarded by mu; read unlocked by a pass */
};

static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Whether e is a PUT's temp file: the gateway's session marked it with
 * its own name (a user's file of that name, or a finished PUT's file
 * renamed back to it, is not). */
static bool marked(struct gd_meta_client *m, const struct gd_ns_dirent *e)
{
	void *val = NULL;
	size_t len = 0;
	bool yes = gd_ns_getxattr(m, e->ino, GW_PUT_XATTR, &val, &len) == 0 &&
		   len == strlen(e->name) && memcmp(val, e->name, len) == 0;
	gd_free(val);
	return yes;
}

long gw_janitor_pass(struct gw *gw, uint64_t stale_s, const volatile int *stop)
{
	struct gd_meta_client *m = gd_client_meta(gw->client);
	uint64_t session = gd_client_session(gw->client);
	char own[48];
	snprintf(own, sizeof(own), GW_PUT_PREFIX "%016" PRIx64 ".", gw->instance);
	size_t cap = 1024, n = 0;
	uint64_t *dirs = gd_malloc(cap * sizeof(*dirs));
	long removed = 0;
	int rc = 0;
	if (!dirs)
		return GD_ENOMEM;
	dirs[n++] = 1;   /* the root of the file system */
	time_t now = time(NULL);
	while (n && !*stop) {
		uint64_t dir = dirs[--n], cookie = 0;
		bool eof = false;
		while (!eof && !*stop) {
			struct gd_ns_dirpage pg;
			rc = gd_ns_readdir(m, dir, cookie, 256, 1, &pg);
			if (rc)
				break;   /* removed meanwhile, or the meta is away: next */
			for (size_t i = 0; i < pg.n; i++) {
				const struct gd_ns_dirent *e = &pg.ents[i];
				cookie = e->cookie;
				if (S_ISDIR(e->type)) {
					if (n == cap && cap < GW_JANITOR_MAX_DIRS) {
						uint64_t *nd = gd_realloc(dirs, cap * 2 * sizeof(*dirs));
						if (nd) {
							dirs = nd;
							cap *= 2;
						}
					}
					if (n < cap)
						dirs[n++] = e->ino;
					continue;
				}
				if (strncmp(e->name, GW_PUT_PREFIX, strlen(GW_PUT_PREFIX)) != 0 ||
				    strncmp(e->name, own, strlen(own)) == 0 || !e->has_attr ||
				    !S_ISREG(e->attr.mode) ||
				    e->attr.mtime.tv_sec + (time_t)stale_s > now ||
				    !marked(m, e))
					continue;
				int urc = gd_ns_remove(m, GODFS__METHOD__M_UNLINK, dir, e->name,
						       session);
				if (urc == 0) {
					removed++;
					gd_info("janitor: removed %s (inode %" PRIu64 "), the temporary "
						"file of a PUT abandoned %ld s ago", e->name, e->ino,
						(long)(now - e->attr.mtime.tv_sec));
				}
			}
			eof = pg.eof;
			gd_ns_readdir_release(&pg);
			nap_ms(GW_JANITOR_PAGE_MS);
		}
	}
	gd_free(dirs);
	return removed;
}

static void *janitor_main(void *arg)
{
	struct gw_janitor *j = arg;
	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		struct timespec ts;
		gd_time_deadline(&ts, j->interval_s * 1000);
		while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mu, &ts) == 0)
			;
		if (j->stop)
			break;
		pthread_mutex_unlock(&j->mu);
		gd_trace_new();   /* each pass has an id of its own */
		long n = gw_janitor_pass(j->gw, j->stale_s, &j->stop);
		if (n < 0)
			gd_warn("janitor: pass failed: %s", gd_strerror((int)n));
		pthread_mutex_lock(&j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int gw_janitor_start(struct gw *gw, uint64_t interval_s, uint64_t stale_s,
		     struct gw_janitor **out)
{
	struct gw_janitor *j = gd_calloc(1, sizeof(*j));
	pthread_condattr_t ca;
	if (!j)
		return GD_ENOMEM;
	j->gw = gw;
	j->interval_s = interval_s;
	j->stale_s = stale_s;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&j->thread, NULL, janitor_main, j) != 0) {
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		gd_free(j);
		return GD_ENOMEM;
	}
	*out = j;
	return 0;
}

void gw_janitor_stop(struct gw_janitor *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	gd_free(j);
}
