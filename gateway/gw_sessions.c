/* One client session per API key (see gw_sessions.h). */
#include "gw_sessions.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "proto/wire.pb-c.h"

/* One key's session. Allocated alone: cred points at token, and the client
 * keeps a copy of cred, so the entry must not move. */
struct sess {
	struct sess *next;
	uint64_t key_id;
	struct gd_token token;     /* fields + secret the session presents */
	struct gd_cred cred;       /* GD_AUTH_TOKEN, token = &this->token */
	struct gd_client *client;
	unsigned refs;             /* s->mu */
	uint64_t used_ms;          /* s->mu: last get or put */
	bool doomed;               /* s->mu: out of the table, close at refs 0 */
};

struct gw_sessions {
	char *meta_addrs;
	char *host;
	size_t max;
	uint64_t idle_ms;
	int meta_timeout_ms, chunk_timeout_ms;

	pthread_mutex_t mu;        /* guards list, n, doomed and the entries' refs */
	struct sess *list;         /* the table: one entry per key */
	size_t n;
	struct sess *doomed;       /* out of the table, still held */

	pthread_mutex_t stop_mu;   /* with stop_cv, guards stopping */
	pthread_cond_t stop_cv;
	bool stopping;
	pthread_t reaper;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sess_close(struct sess *e)
{
	if (!e)
		return;
	gd_debug("gateway: closing the session of API key %llu", (unsigned long long)e->key_id);
	gd_client_close(e->client);
	memset(&e->token, 0, sizeof(e->token));
	gd_free(e);
}

static void *reaper_main(void *arg)
{
	struct gw_sessions *s = arg;

	pthread_mutex_lock(&s->stop_mu);
	while (!s->stopping) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->stop_mu);
		gd_trace_new();   /* each round has an id of its own (closing sessions) */
		(void)gw_sessions_reap(s, mono_ms());
		pthread_mutex_lock(&s->stop_mu);
	}
	pthread_mutex_unlock(&s->stop_mu);
	return NULL;
}

int gw_sessions_new(const struct gw_sessions_config *cfg, struct gw_sessions **out)
{
	struct gw_sessions *s;
	pthread_condattr_t ca;

	if (!cfg || !cfg->meta_addrs || !out)
		return GD_EINVAL;
	s = gd_calloc(1, sizeof(*s));
	if (!s)
		return GD_ENOMEM;
	s->meta_addrs = gd_strdup(cfg->meta_addrs);
	s->host = gd_strdup(cfg->host ? cfg->host : "gateway");
	if (!s->meta_addrs || !s->host)
		goto err_after_alloc;
	s->max = cfg->max_sessions ? cfg->max_sessions : GW_SESSIONS_DEFAULT_MAX;
	s->idle_ms = cfg->idle_ms > 0 ? (uint64_t)cfg->idle_ms : GW_SESSIONS_DEFAULT_IDLE_MS;
	s->meta_timeout_ms = cfg->meta_timeout_ms;
	s->chunk_timeout_ms = cfg->chunk_timeout_ms;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->stop_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0)
		goto err_after_sync;
	*out = s;
	return 0;

err_after_sync:
	pthread_cond_destroy(&s->stop_cv);
	pthread_mutex_destroy(&s->stop_mu);
	pthread_mutex_destroy(&s->mu);
err_after_alloc:
	gd_free(s->host);
	gd_free(s->meta_addrs);
	gd_free(s);
	return GD_ENOMEM;
}

void gw_sessions_free(struct gw_sessions *s)
{
	struct sess *e, *next;

	if (!s)
		return;
	pthread_mutex_lock(&s->stop_mu);
	s->stopping = true;
	pthread_cond_signal(&s->stop_cv);
	pthread_mutex_unlock(&s->stop_mu);
	pthread_join(s->reaper, NULL);
	for (e = s->list; e; e = next) {
		next = e->next;
		sess_close(e);
	}
	for (e = s->doomed; e; e = next) {
		next = e->next;
		sess_close(e);
	}
	pthread_cond_destroy(&s->stop_cv);
	pthread_mutex_destroy(&s->stop_mu);
	pthread_mutex_destroy(&s->mu);
	gd_free(s->host);
	gd_free(s->meta_addrs);
	gd_free(s);
}

/* Under mu: the entry of key id in the table. */
static struct sess *find(struct gw_sessions *s, uint64_t id)
{
	for (struct sess *e = s->list; e; e = e->next)
		if (e->key_id == id)
			return e;
	return NULL;
}

/* Under mu: takes e out of the table (the caller closes or dooms it). */
static void unlink_sess(struct gw_sessions *s, struct sess *e)
{
	for (struct sess **pp = &s->list; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			e->next = NULL;
			s->n--;
			return;
		}
	}
}

/* Under mu: the least recently used idle entry, or NULL when all are held. */
static struct sess *lru_idle(struct gw_sessions *s)
{
	struct sess *best = NULL;

	for (struct sess *e = s->list; e; e = e->next)
		if (e->refs == 0 && (!best || e->used_ms < best->used_ms))
			best = e;
	return best;
}

/* Opens a session for p (no lock held): the meta checks the token now. */
static int sess_open(struct gw_sessions *s, const struct gw_principal *p, struct sess **out)
{
	char mnt[64];
	struct sess *e = gd_calloc(1, sizeof(*e));
	int rc;

	if (!e)
		return GD_ENOMEM;
	e->key_id = p->key_id;
	e->token = p->token;
	e->cred.kind = GD_AUTH_TOKEN;
	e->cred.token = &e->token;
	snprintf(mnt, sizeof(mnt), "gateway: API key %llu", (unsigned long long)p->key_id);
	struct gd_client_config cc = {
		.meta_addrs = s->meta_addrs,
		.host = s->host,
		.mountpoint = mnt,
		.meta_timeout_ms = s->meta_timeout_ms,
		.chunk_timeout_ms = s->chunk_timeout_ms,
		.role = GODFS__ROLE__ROLE_CLIENT,   /* a token is always a client */
		.cred = &e->cred,
	};
	rc = gd_client_open(&cc, &e->client);
	if (rc) {
		memset(&e->token, 0, sizeof(e->token));
		gd_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* One more request uses e's session (s->mu held): its client. */
static struct gd_client *hold(struct sess *e)
{
	e->refs++;
	e->used_ms = mono_ms();
	return e->client;
}

struct gd_client *gw_session_get_ex(struct gw_sessions *s, const struct gw_principal *p,
				    int *err)
{
	struct sess *e, *fresh = NULL, *evict = NULL;
	struct gd_client *c = NULL;
	int rc = 0;

	if (!s || !p || p->key_id == 0) {
		rc = GD_EINVAL;
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	e = find(s, p->key_id);
	if (e)
		c = hold(e);
	pthread_mutex_unlock(&s->mu);
	if (c)
		goto out;

	rc = sess_open(s, p, &fresh);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->mu);
	e = find(s, p->key_id);
	if (e) {
		/* another request opened it meanwhile: use theirs */
		c = hold(e);
		evict = fresh;
	} else if (s->n >= s->max && !(evict = lru_idle(s))) {
		evict = fresh;
		rc = GD_EBUSY;
	} else {
		if (evict)
			unlink_sess(s, evict);
		fresh->refs = 1;
		fresh->used_ms = mono_ms();
		fresh->next = s->list;
		s->list = fresh;
		s->n++;
		c = fresh->client;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == GD_EBUSY)
		gd_warn("gateway: %zu API-key sessions open and all in use: request of key %llu "
			"refused (--max-sessions)", s->max, (unsigned long long)p->key_id);
	sess_close(evict);
out:
	if (err)
		*err = c ? 0 : rc;
	return c;
}

struct gd_client *gw_session_get(struct gw_sessions *s, const struct gw_principal *p)
{
	return gw_session_get_ex(s, p, NULL);
}

void gw_session_put(struct gw_sessions *s, struct gd_client *c)
{
	struct sess *e, **pp, *dead = NULL;

	if (!s || !c)
		return;
	pthread_mutex_lock(&s->mu);
	for (e = s->list; e; e = e->next) {
		if (e->client == c) {
			if (e->refs)
				e->refs--;
			e->used_ms = mono_ms();
			goto unlock;
		}
	}
	for (pp = &s->doomed; *pp; pp = &(*pp)->next) {
		e = *pp;
		if (e->client == c) {
			if (e->refs)
				e->refs--;
			if (e->refs == 0) {
				*pp = e->next;
				dead = e;
			}
			break;
		}
	}
unlock:
	pthread_mutex_unlock(&s->mu);
	sess_close(dead);
}

void gw_sessions_drop(struct gw_sessions *s, uint64_t key_id)
{
	struct sess *e, *dead = NULL;

	pthread_mutex_lock(&s->mu);
	e = find(s, key_id);
	if (e) {
		unlink_sess(s, e);
		if (e->refs == 0) {
			dead = e;
		} else {
			e->doomed = true;
			e->next = s->doomed;
			s->doomed = e;
		}
	}
	pthread_mutex_unlock(&s->mu);
	sess_close(dead);
}

size_t gw_sessions_count(struct gw_sessions *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t gw_sessions_reap(struct gw_sessions *s, uint64_t now_ms)
{
	struct sess *dead = NULL, **pp, *e;
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	pp = &s->list;
	while ((e = *pp)) {
		if (e->refs == 0 && now_ms >= e->used_ms && now_ms - e->used_ms >= s->idle_ms) {
			*pp = e->next;
			s->n--;
			e->next = dead;
			dead = e;
			n++;
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&s->mu);
	while (dead) {
		e = dead->next;
		sess_close(dead);
		dead = e;
	}
	return n;
}
