/* The header deadline and the failed-authentication budget (see gw_guard.h). */
#include "gw_guard.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gw_ratelimit.h"

struct gw_guard_conn {
	int fd;
	uint64_t since_ns;            /* waiting for headers since; 0 = not waiting */
	struct gw_guard_conn *prev, *next;   /* g->mu */
};

struct gw_guard {
	uint64_t timeout_ns;          /* 0 = no deadline */
	struct gw_ratelimit *fails;   /* failed authentications per address */

	pthread_mutex_t mu;           /* guards conns, stop and every since_ns */
	pthread_cond_t cv;
	struct gw_guard_conn *conns;
	bool stop;
	bool running;
	pthread_t thread;
	uint64_t cut;                 /* mu */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Every quarter of the deadline (at most every second), cuts the connections
 * that waited too long for their headers. */
static void *watchdog(void *arg)
{
	struct gw_guard *g = arg;
	uint64_t step = g->timeout_ns / 4;

	if (step > 1000000000u)
		step = 1000000000u;
	if (step < 50000000u)
		step = 50000000u;
	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		struct timespec ts;
		uint64_t now = mono_ns(), until;

		for (struct gw_guard_conn *c = g->conns; c; c = c->next) {
			if (!c->since_ns || now - c->since_ns < g->timeout_ns)
				continue;
			/* under mu: MHD has not closed fd (conn_closed takes the
			 * record off first); its thread sees the socket shut */
			shutdown(c->fd, SHUT_RDWR);
			c->since_ns = 0;
			g->cut++;
			gd_debug("http: a connection sent no complete request headers within "
				 "%llu s: closed", (unsigned long long)(g->timeout_ns / 1000000000u));
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		until = (uint64_t)ts.tv_nsec + step;
		ts.tv_sec += (time_t)(until / 1000000000u);
		ts.tv_nsec = (long)(until % 1000000000u);
		pthread_cond_timedwait(&g->cv, &g->mu, &ts);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int gw_guard_new(unsigned header_timeout_s, struct gw_guard **out)
{
	struct gw_guard *g = gd_calloc(1, sizeof(*g));
	int rc;

	if (!g)
		return GD_ENOMEM;
	rc = gw_ratelimit_new(GW_GUARD_FAIL_RPS, GW_GUARD_FAIL_BURST, &g->fails);
	if (rc) {
		gd_free(g);
		return rc;
	}
	g->timeout_ns = (uint64_t)header_timeout_s * 1000000000u;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	if (g->timeout_ns) {
		if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
			gw_guard_free(g);
			return GD_EIO;
		}
		g->running = true;
	}
	*out = g;
	return 0;
}

void gw_guard_free(struct gw_guard *g)
{
	if (!g)
		return;
	if (g->running) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_cond_signal(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->thread, NULL);
	}
	for (struct gw_guard_conn *c = g->conns, *next; c; c = next) {
		next = c->next;
		gd_free(c);
	}
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	gw_ratelimit_free(g->fails);
	gd_free(g);
}

void gw_guard_conn_started(struct gw_guard *g, int fd, void **ctx)
{
	struct gw_guard_conn *c = gd_calloc(1, sizeof(*c));

	*ctx = c;
	if (!c)
		return;   /* no memory: this connection has only MHD's idle timeout */
	c->fd = fd;
	pthread_mutex_lock(&g->mu);
	c->since_ns = mono_ns();
	c->next = g->conns;
	if (g->conns)
		g->conns->prev = c;
	g->conns = c;
	pthread_mutex_unlock(&g->mu);
}

void gw_guard_conn_closed(struct gw_guard *g, void **ctx)
{
	struct gw_guard_conn *c = *ctx;

	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&g->mu);
	gd_free(c);
	*ctx = NULL;
}

void gw_guard_headers_done(struct gw_guard *g, struct gw_guard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	c->since_ns = 0;
	pthread_mutex_unlock(&g->mu);
}

void gw_guard_request_done(struct gw_guard *g, struct gw_guard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	c->since_ns = mono_ns();
	pthread_mutex_unlock(&g->mu);
}

uint64_t gw_guard_cut_count(struct gw_guard *g)
{
	uint64_t n;

	pthread_mutex_lock(&g->mu);
	n = g->cut;
	pthread_mutex_unlock(&g->mu);
	return n;
}

bool gw_guard_auth_allowed(struct gw_guard *g, const char *ip, uint64_t now_ns,
			   unsigned *retry_after_s)
{
	char key[GW_RL_CLIENT_KEY_MAX];

	gw_ratelimit_client_key(ip, key);
	return gw_ratelimit_peek(g->fails, key, now_ns, retry_after_s);
}

void gw_guard_auth_failed(struct gw_guard *g, const char *ip, uint64_t now_ns)
{
	char key[GW_RL_CLIENT_KEY_MAX];
	unsigned retry;

	gw_ratelimit_client_key(ip, key);
	(void)gw_ratelimit_take(g->fails, key, now_ns, &retry);
}
