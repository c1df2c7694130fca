/* chunkd -> meta: registration, heartbeats, orders, corrupt reports.
 *
 * The meta thread owns the gd_meta_client and does every exchange in turn:
 * a registration (when needed), else a heartbeat, then the queued corrupt
 * reports; then it sleeps heartbeat_ms (a new corrupt report wakes it). The
 * order thread runs what heartbeats and registrations hand it (deletions,
 * replications), so that a slow replication never delays a heartbeat. */
#include "chunkd_meta.h"

#include "gd_time.h"
#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_conn.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_meta_client.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "proto/wire.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HEARTBEAT_MS 1000
#define DEFAULT_CALL_TIMEOUT_MS 3000
#define BAD_MAX 4096          /* corrupt reports waiting; more are dropped (logged) */
#define ORDERS_MAX 65536      /* orders waiting; more wait for the meta to repeat them */
#define DONE_MAX 4096         /* finished replications waiting for a heartbeat (wire.proto) */
#define ORDER_DELETE 1u
#define ORDER_REPLICATE 2u
#define ORDER_PROMOTE 3u

struct bad_report {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t block;
};

/* A replication order that finished, for the next heartbeat. */
struct repl_done {
	uint64_t chunk_id;
	uint64_t version;
	int32_t status;
	uint64_t bytes;
};

struct order {
	uint32_t kind;
	uint64_t chunk_id;
	uint64_t version;
	char *source;            /* kind 2 */
	uint8_t cap[GD_CAP_LEN]; /* kind 2: READ capability for source (cap_len 0: none) */
	size_t cap_len;
	uint64_t prev_version;   /* kind 3 */
	struct order *next;
};

struct chunkd_meta {
	char *meta_addrs;        /* const after create */
	char *advertise;
	char *label;
	char host[256];
	int heartbeat_ms;
	int call_timeout_ms;
	struct chunkd_store *store;  /* set by start */
	struct chunkd_pipeline *pipe;

	struct gd_meta_client *mc;   /* meta thread only */
	int need_register;           /* meta thread only */
	atomic_int registered;

	pthread_mutex_t mu;          /* guards everything below */
	pthread_cond_t meta_cv;      /* the meta thread sleeps here */
	pthread_cond_t order_cv;     /* the order thread sleeps here */
	int stopping;
	int wake;                    /* a corrupt report or a finished replication waits */
	struct bad_report *bad;      /* BAD_MAX slots */
	size_t nbad;
	size_t bad_dropped;
	struct order *oq_head, *oq_tail;
	size_t noq;
	struct order running;        /* the order being run (kind 0 = none) */
	struct repl_done *done;      /* DONE_MAX slots: replications to report */
	size_t ndone;

	pthread_t meta_th, order_th;
	int started;
};

/* ---- time ---- */

/* ---- create / queues ---- */

int chunkd_meta_create(const struct chunkd_meta_config *cfg, struct chunkd_meta **out)
{
	struct chunkd_meta *m;
	pthread_condattr_t ca;

	if (!cfg || !cfg->meta_addrs || !cfg->advertise || !out)
		return GD_EINVAL;
	m = gd_calloc(1, sizeof(*m));
	if (!m)
		return GD_ENOMEM;
	m->meta_addrs = gd_strdup(cfg->meta_addrs);
	m->advertise = gd_strdup(cfg->advertise);
	m->label = gd_strdup(cfg->label ? cfg->label : "");
	m->bad = gd_calloc(BAD_MAX, sizeof(*m->bad));
	m->done = gd_calloc(DONE_MAX, sizeof(*m->done));
	if (!m->meta_addrs || !m->advertise || !m->label || !m->bad || !m->done) {
		gd_free(m->meta_addrs);
		gd_free(m->advertise);
		gd_free(m->label);
		gd_free(m->bad);
		gd_free(m->done);
		gd_free(m);
		return GD_ENOMEM;
	}
	if (gethostname(m->host, sizeof(m->host)) < 0)
		snprintf(m->host, sizeof(m->host), "localhost");
	m->host[sizeof(m->host) - 1] = '\0';
	m->heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
	m->call_timeout_ms = cfg->call_timeout_ms > 0 ? cfg->call_timeout_ms
						      : DEFAULT_CALL_TIMEOUT_MS;
	m->need_register = 1;
	atomic_init(&m->registered, 0);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->meta_cv, &ca);
	pthread_cond_init(&m->order_cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = m;
	return 0;
}

void chunkd_meta_report_bad(void *ctx, uint64_t chunk_id, uint64_t version, uint64_t block)
{
	struct chunkd_meta *m = ctx;

	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	if (m->nbad < BAD_MAX) {
		m->bad[m->nbad].chunk_id = chunk_id;
		m->bad[m->nbad].version = version;
		m->bad[m->nbad].block = block;
		m->nbad++;
	} else {
		m->bad_dropped++;
	}
	m->wake = 1;
	pthread_cond_signal(&m->meta_cv);
	pthread_mutex_unlock(&m->mu);
}

int chunkd_meta_registered(struct chunkd_meta *m)
{
	return m ? atomic_load(&m->registered) : 0;
}

/* Queues an order for the order thread unless the same one is queued or
 * running already (the meta repeats orders that are not done yet; a queued
 * one takes the newer capability). cap: cap_len bytes or NULL. */
static void order_push(struct chunkd_meta *m, uint32_t kind, uint64_t chunk_id,
		       uint64_t version, uint64_t prev_version, const char *source,
		       const uint8_t *cap, size_t cap_len)
{
	struct order *o;

	if (cap_len != GD_CAP_LEN)
		cap_len = 0;   /* none, or not one: the source refuses the reads */
	pthread_mutex_lock(&m->mu);
	if (m->running.kind == kind && m->running.chunk_id == chunk_id &&
	    m->running.version == version)
		goto out_unlock;
	for (o = m->oq_head; o; o = o->next)
		if (o->kind == kind && o->chunk_id == chunk_id && o->version == version) {
			if (cap_len) {
				memcpy(o->cap, cap, cap_len);
				o->cap_len = cap_len;
			}
			goto out_unlock;
		}
	if (m->noq >= ORDERS_MAX)
		goto out_unlock;
	o = gd_calloc(1, sizeof(*o));
	if (!o)
		goto out_unlock;
	o->kind = kind;
	o->chunk_id = chunk_id;
	o->version = version;
	o->prev_version = prev_version;
	if (cap_len) {
		memcpy(o->cap, cap, cap_len);
		o->cap_len = cap_len;
	}
	if (source) {
		o->source = gd_strdup(source);
		if (!o->source) {
			gd_free(o);
			goto out_unlock;
		}
	}
	if (m->oq_tail)
		m->oq_tail->next = o;
	else
		m->oq_head = o;
	m->oq_tail = o;
	m->noq++;
	pthread_cond_signal(&m->order_cv);
out_unlock:
	pthread_mutex_unlock(&m->mu);
}

/* Queues the outcome of a replication order for the next heartbeat, and
 * wakes the meta thread to send it now: the meta confirms the copy (and
 * hands out the next orders) without waiting a heartbeat period. A full
 * queue drops it: the meta learns of the copy at the next registration. */
static void repl_done_push(struct chunkd_meta *m, const struct order *o, int rc,
			   uint64_t bytes)
{
	pthread_mutex_lock(&m->mu);
	if (m->ndone < DONE_MAX) {
		struct repl_done *d = &m->done[m->ndone++];
		d->chunk_id = o->chunk_id;
		d->version = o->version;
		d->status = rc;
		d->bytes = bytes;
	}
	m->wake = 1;
	pthread_cond_signal(&m->meta_cv);
	pthread_mutex_unlock(&m->mu);
}

/* Runs one order (no lock held), under a new trace id: what it logs here
 * and what the source chunkd does for a replication share it. */
static void order_run(struct chunkd_meta *m, const struct order *o)
{
	char id[GD_TRACE_GEN_LEN + 1];
	uint64_t copied = 0;
	int rc;

	gd_trace_generate(id);
	gd_trace_set(id);

	switch (o->kind) {
	case ORDER_DELETE:
		rc = chunkd_store_delete(m->store, o->chunk_id, o->version);
		if (rc == 0)
			gd_info("chunk %016" PRIx64 " v%" PRIu64 ": copy deleted (meta order)",
				o->chunk_id, o->version);
		else if (rc != GD_ENOCHUNK)
			gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": delete order: %s",
				o->chunk_id, o->version, gd_strerror(rc));
		break;
	case ORDER_REPLICATE:
		if (!o->source || !*o->source) {
			gd_warn("chunk %016" PRIx64 ": replicate order without a source",
				o->chunk_id);
			break;
		}
		/* chunkd_pipeline_replicate logs its own outcome. */
		rc = chunkd_pipeline_replicate(m->pipe, o->chunk_id, o->version, o->source,
					       o->cap_len ? o->cap : NULL, o->cap_len, &copied);
		repl_done_push(m, o, rc, copied);
		break;
	case ORDER_PROMOTE:
		/* The store's version rule: a copy at prev_version becomes version
		 * (a copy at version already is left alone, another is stale). */
		if (o->prev_version == 0 || o->version <= o->prev_version)
			break;
		/* a copy of the valid set older than prev_version is complete
		 * too (chunkd_pipeline.c: older_copy) */
		uint64_t have = 0;
		uint64_t from = chunkd_store_version(m->store, o->chunk_id, &have) == 0 &&
				have < o->version ? have : o->prev_version;
		rc = chunkd_store_fsync(m->store, o->chunk_id, o->version, from);
		if (rc == 0)
			gd_info("chunk %016" PRIx64 ": copy v%" PRIu64 " promoted to v%" PRIu64
				" (meta order)", o->chunk_id, o->prev_version, o->version);
		else
			gd_warn("chunk %016" PRIx64 ": promote order v%" PRIu64 " -> v%" PRIu64
				": %s", o->chunk_id, o->prev_version, o->version, gd_strerror(rc));
		break;
	default:
		gd_warn("chunk %016" PRIx64 ": unknown order kind %u ignored", o->chunk_id,
			o->kind);
		break;
	}
}

/* The order thread: one order at a time, in arrival order. */
static void *order_main(void *arg)
{
	struct chunkd_meta *m = arg;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		struct order *o;

		while (!m->stopping && !m->oq_head)
			pthread_cond_wait(&m->order_cv, &m->mu);
		if (m->stopping)
			break;
		o = m->oq_head;
		m->oq_head = o->next;
		if (!m->oq_head)
			m->oq_tail = NULL;
		m->noq--;
		m->running = *o;
		m->running.source = NULL;
		m->running.next = NULL;
		pthread_mutex_unlock(&m->mu);
		order_run(m, o);
		gd_trace_set(NULL);
		gd_free(o->source);
		gd_free(o);
		pthread_mutex_lock(&m->mu);
		memset(&m->running, 0, sizeof(m->running));
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ---- exchanges with the meta ---- */

/* Registration with the full chunk report; drops come back as deletions. */
static int do_register(struct chunkd_meta *m)
{
	Godfs__CsRegister req = GODFS__CS_REGISTER__INIT;
	struct chunkd_chunk_info *list = NULL;
	Godfs__ChunkReport *reps = NULL, **preps = NULL;
	ProtobufCMessage *resp = NULL;
	size_t n = 0;
	int rc;

	rc = chunkd_store_list(m->store, &list, &n);
	if (rc < 0)
		return rc;
	if (n > 0) {
		reps = gd_calloc(n, sizeof(*reps));
		preps = gd_calloc(n, sizeof(*preps));
		if (!reps || !preps) {
			rc = GD_ENOMEM;
			goto out_free;
		}
	}
	for (size_t i = 0; i < n; i++) {
		godfs__chunk_report__init(&reps[i]);
		reps[i].has_chunk_id = reps[i].has_version = 1;
		reps[i].chunk_id = list[i].chunk_id;
		reps[i].version = list[i].version;
		preps[i] = &reps[i];
	}
	req.node_id = (char *)chunkd_store_node_id(m->store);
	req.address = m->advertise;
	req.label = m->label;
	req.has_total_bytes = req.has_free_bytes = 1;
	chunkd_store_space(m->store, &req.total_bytes, &req.free_bytes);
	req.n_chunks = n;
	req.chunks = preps;
	if (protobuf_c_message_get_packed_size(&req.base) > GD_FRAME_MAX_PB) {
		gd_error("registration report of %zu chunks does not fit in one frame", n);
		rc = GD_E2BIG;
		goto out_free;
	}
	rc = gd_meta_call(m->mc, GODFS__METHOD__M_CS_REGISTER, &req.base,
			  &godfs__cs_register_resp__descriptor, &resp);
	if (rc == 0) {
		Godfs__CsRegisterResp *r = (Godfs__CsRegisterResp *)resp;
		gd_info("registered with the meta as %s at %s: %zu chunks, %" PRIu64
			" of %" PRIu64 " bytes free, %zu to drop", req.node_id, m->advertise, n,
			req.free_bytes, req.total_bytes, r->n_drop);
		for (size_t i = 0; i < r->n_drop; i++) {
			const Godfs__ChunkReport *d = r->drop[i];
			if (d && d->has_chunk_id)
				order_push(m, ORDER_DELETE, d->chunk_id,
					   d->has_version ? d->version : 0, 0, NULL, NULL, 0);
		}
	}
out_free:
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	gd_free(preps);
	gd_free(reps);
	gd_free(list);
	return rc;
}

/* One heartbeat; returns 1 when the meta wants a new registration. */
static int do_heartbeat(struct chunkd_meta *m)
{
	Godfs__CsHeartbeat req = GODFS__CS_HEARTBEAT__INIT;
	Godfs__CsReplicated *reps = NULL, **preps = NULL;
	struct repl_done *done = NULL;
	ProtobufCMessage *resp = NULL;
	Godfs__CsHeartbeatResp *r;
	size_t ndone = 0;
	int rc;

	/* The finished replications go with this heartbeat; lost with it when
	 * it fails (then the registration that follows reports the copies). */
	pthread_mutex_lock(&m->mu);
	if (m->ndone) {
		done = gd_malloc(m->ndone * sizeof(*done));
		reps = gd_calloc(m->ndone, sizeof(*reps));
		preps = gd_calloc(m->ndone, sizeof(*preps));
		if (done && reps && preps) {
			ndone = m->ndone;
			memcpy(done, m->done, ndone * sizeof(*done));
			m->ndone = 0;
		}
	}
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < ndone; i++) {
		godfs__cs_replicated__init(&reps[i]);
		reps[i].has_chunk_id = reps[i].has_version = 1;
		reps[i].has_status = reps[i].has_bytes = 1;
		reps[i].chunk_id = done[i].chunk_id;
		reps[i].version = done[i].version;
		reps[i].status = done[i].status;
		reps[i].bytes = done[i].bytes;
		preps[i] = &reps[i];
	}
	req.n_replicated = ndone;
	req.replicated = preps;
	req.node_id = (char *)chunkd_store_node_id(m->store);
	req.has_total_bytes = req.has_free_bytes = req.has_chunk_count = 1;
	chunkd_store_space(m->store, &req.total_bytes, &req.free_bytes);
	req.chunk_count = chunkd_store_count(m->store);
	rc = gd_meta_call(m->mc, GODFS__METHOD__M_CS_HEARTBEAT, &req.base,
			  &godfs__cs_heartbeat_resp__descriptor, &resp);
	if (rc < 0)
		goto out;
	r = (Godfs__CsHeartbeatResp *)resp;
	for (size_t i = 0; i < r->n_orders; i++) {
		const Godfs__CsOrder *o = r->orders[i];
		if (!o || !o->has_kind || !o->has_chunk_id)
			continue;
		if (o->source && strlen(o->source) > CHUNKD_ADDR_MAX) {
			gd_warn("chunk %016" PRIx64 ": order with an oversized source ignored",
				o->chunk_id);
			continue;
		}
		order_push(m, o->kind, o->chunk_id, o->has_version ? o->version : 0,
			   o->has_prev_version ? o->prev_version : 0, o->source,
			   o->has_cap ? o->cap.data : NULL, o->has_cap ? o->cap.len : 0);
	}
	if (r->has_reregister && r->reregister)
		rc = 1;
out:
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	gd_free(done);
	gd_free(reps);
	gd_free(preps);
	return rc;
}

/* Sends the queued corrupt reports; what fails stays queued. */
static void send_bad_reports(struct chunkd_meta *m)
{
	for (;;) {
		Godfs__CsReportBad req = GODFS__CS_REPORT_BAD__INIT;
		ProtobufCMessage *resp = NULL;
		struct bad_report b;
		size_t dropped;
		int rc;

		pthread_mutex_lock(&m->mu);
		if (m->nbad == 0 || m->stopping) {
			pthread_mutex_unlock(&m->mu);
			return;
		}
		b = m->bad[0];
		dropped = m->bad_dropped;
		m->bad_dropped = 0;
		pthread_mutex_unlock(&m->mu);
		if (dropped)
			gd_error("%zu corrupt-copy reports dropped (queue full); the meta "
				 "learns of them at the next registration", dropped);

		req.node_id = (char *)chunkd_store_node_id(m->store);
		req.has_chunk_id = req.has_version = 1;
		req.chunk_id = b.chunk_id;
		req.version = b.version;
		req.has_block = 1;
		req.block = b.block;
		rc = gd_meta_call(m->mc, GODFS__METHOD__M_CS_REPORT_BAD, &req.base,
				  &godfs__status_resp__descriptor, &resp);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		if (rc == GD_EAGAIN) {
			/* the meta knows no registration on this connection (it was
			 * replaced by a reconnect): register, then send it again */
			gd_info("chunk %016" PRIx64 " v%" PRIu64 ": corrupt report waits for a "
				"new registration", b.chunk_id, b.version);
			m->need_register = 1;
			atomic_store(&m->registered, 0);
			return;
		}
		if (rc < 0 && (rc == GD_ECONN || rc == GD_ETIMEDOUT || rc == GD_ENOTLEADER ||
			       rc == GD_ESHUTDOWN)) {
			gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": corrupt report not sent: %s",
				b.chunk_id, b.version, gd_strerror(rc));
			return;
		}
		if (rc < 0)
			gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": meta refused the corrupt "
				"report: %s", b.chunk_id, b.version, gd_strerror(rc));
		else
			gd_info("chunk %016" PRIx64 " v%" PRIu64 ": bad block %" PRIu64 " reported",
				b.chunk_id, b.version, b.block);
		pthread_mutex_lock(&m->mu);
		memmove(&m->bad[0], &m->bad[1], (m->nbad - 1) * sizeof(m->bad[0]));
		m->nbad--;
		pthread_mutex_unlock(&m->mu);
	}
}

/* One round: connect when needed, register or heartbeat, reports. */
static void meta_round(struct chunkd_meta *m, int *quiet)
{
	int rc;

	if (!m->mc) {
		struct gd_meta_client_config mc = {
			.addrs = m->meta_addrs,
			.role = GODFS__ROLE__ROLE_CHUNKD,
			.host = m->host,
			.timeout_ms = m->call_timeout_ms,
		};
		rc = gd_meta_client_open(&mc, &m->mc);
		if (rc < 0) {
			if (!*quiet)
				gd_warn("cannot reach the meta at %s: %s (retrying every %d ms)",
					m->meta_addrs, gd_strerror(rc), m->heartbeat_ms);
			*quiet = 1;
			m->mc = NULL;
			atomic_store(&m->registered, 0);
			return;
		}
		m->need_register = 1;
	}
	if (m->need_register) {
		rc = do_register(m);
		if (rc < 0) {
			if (!*quiet)
				gd_warn("registration with the meta failed: %s", gd_strerror(rc));
			*quiet = 1;
			atomic_store(&m->registered, 0);
			return;
		}
		m->need_register = 0;
		*quiet = 0;
		atomic_store(&m->registered, 1);
	} else {
		rc = do_heartbeat(m);
		if (rc != 0) {
			if (rc == 1)
				gd_info("meta asks for a new registration");
			else if (!*quiet)
				gd_warn("heartbeat failed: %s; registering again", gd_strerror(rc));
			if (rc < 0)
				*quiet = 1;
			m->need_register = 1;
			atomic_store(&m->registered, 0);
			if (rc == 1) {
				/* Right away: the meta has no locations from us. */
				meta_round(m, quiet);
				return;
			}
			return;
		}
	}
	send_bad_reports(m);
}

/* The meta thread: one round every heartbeat_ms until stopped. */
static void *meta_main(void *arg)
{
	struct chunkd_meta *m = arg;
	int quiet = 0;

	for (;;) {
		struct timespec until;

		pthread_mutex_lock(&m->mu);
		if (m->stopping) {
			pthread_mutex_unlock(&m->mu);
			break;
		}
		pthread_mutex_unlock(&m->mu);

		meta_round(m, &quiet);

		gd_time_deadline(&until, (uint64_t)m->heartbeat_ms);
		pthread_mutex_lock(&m->mu);
		while (!m->stopping && !m->wake) {
			if (pthread_cond_timedwait(&m->meta_cv, &m->mu, &until) == ETIMEDOUT)
				break;
		}
		m->wake = 0;
		pthread_mutex_unlock(&m->mu);
	}
	return NULL;
}

int chunkd_meta_start(struct chunkd_meta *m, struct chunkd_store *store,
		      struct chunkd_pipeline *pipe)
{
	if (!m || !store || !pipe || m->started)
		return GD_EINVAL;
	m->store = store;
	m->pipe = pipe;
	if (pthread_create(&m->order_th, NULL, order_main, m) != 0)
		return GD_ENOMEM;
	if (pthread_create(&m->meta_th, NULL, meta_main, m) != 0) {
		pthread_mutex_lock(&m->mu);
		m->stopping = 1;
		pthread_cond_broadcast(&m->order_cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->order_th, NULL);
		m->stopping = 0;
		return GD_ENOMEM;
	}
	m->started = 1;
	return 0;
}

void chunkd_meta_destroy(struct chunkd_meta *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = 1;
	pthread_cond_broadcast(&m->meta_cv);
	pthread_cond_broadcast(&m->order_cv);
	pthread_mutex_unlock(&m->mu);
	if (m->started) {
		pthread_join(m->meta_th, NULL);
		pthread_join(m->order_th, NULL);
	}
	gd_meta_client_close(m->mc);
	while (m->oq_head) {
		struct order *o = m->oq_head;
		m->oq_head = o->next;
		gd_free(o->source);
		gd_free(o);
	}
	pthread_cond_destroy(&m->meta_cv);
	pthread_cond_destroy(&m->order_cv);
	pthread_mutex_destroy(&m->mu);
	gd_free(m->bad);
	gd_free(m->done);
	gd_free(m->meta_addrs);
	gd_free(m->advertise);
	gd_free(m->label);
	gd_free(m);
}
