#include "chunkd_pipeline.h"

#include "chunkd_metrics.h"

#include "gd_alloc.h"
#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "gd_trace.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

/* Peer addresses come from chains in requests: the table is bounded, and a
 * new address past the bound evicts the peer unused for the longest. */
#define PEERS_MAX 256
#define REPL_PIECE (1u << 20)
/* Forwards in flight at once through their own threads; beyond, a worker
 * runs its forward itself. */
#define FORWARDERS_MAX 1024
/* What a member keeps for itself out of its caller's deadline: it answers
 * (naming the member below that failed) this long before its caller gives
 * up. A tenth of the deadline, within these bounds. */
#define HOP_MARGIN_MIN_MS 100
#define HOP_MARGIN_MAX_MS 1000

/* One connection to a peer, shared by the calls that use it. */
struct pconn {
	struct gd_conn *c;
	int refs;                      /* pipeline->mu: the pool's + each user's */
};

/* A peer address; freed with the pipeline, or evicted when the table is
 * full and nobody uses it (users == 0, no call on its connection). */
struct peer {
	char *addr;                    /* const */
	pthread_mutex_t connect_mu;    /* one connect at a time per peer */
	struct pconn *cur;             /* pipeline->mu */
	struct peer *next;             /* pipeline->mu */
	int users;                     /* pipeline->mu: threads inside peer_get */
	uint64_t last_used_ms;         /* pipeline->mu */
};

struct chunkd_pipeline {
	struct chunkd_store *store;    /* const */
	char *self;                    /* const */
	int peer_timeout_ms;           /* const */
	int connect_timeout_ms;        /* const */
	struct chunkd_rate *repl_rate; /* const pointer; thread-safe itself */
	pthread_mutex_t mu;
	struct peer *peers;            /* mu */
	int npeers;                    /* mu */

	pthread_mutex_t fmu;           /* guards the forwarders down to fstop */
	pthread_cond_t fcv;            /* a forward was queued, or stop */
	pthread_t *forwarders;
	size_t nforwarders, cap_forwarders;
	size_t fidle;                  /* forwarders waiting for work */
	struct pop *fq_head, *fq_tail; /* forwards not taken yet */
	size_t fqueued;
	int fstop;
};

int chunkd_pipeline_create(const struct chunkd_pipeline_config *cfg,
			   struct chunkd_pipeline **out)
{
	struct chunkd_pipeline *p = gd_calloc(1, sizeof(*p));

	if (!p)
		return GD_ENOMEM;
	p->self = gd_strdup(cfg->self ? cfg->self : "");
	if (!p->self) {
		gd_free(p);
		return GD_ENOMEM;
	}
	p->store = cfg->store;
	p->peer_timeout_ms = cfg->peer_timeout_ms > 0 ? cfg->peer_timeout_ms : 20000;
	p->repl_rate = cfg->repl_rate;
	p->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 3000;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->fmu, NULL);
	pthread_cond_init(&p->fcv, NULL);
	*out = p;
	return 0;
}

void chunkd_pipeline_destroy(struct chunkd_pipeline *p)
{
	if (!p)
		return;
	/* Forwarders finish what is queued (each call ends by its deadline). */
	pthread_mutex_lock(&p->fmu);
	p->fstop = 1;
	pthread_cond_broadcast(&p->fcv);
	pthread_mutex_unlock(&p->fmu);
	for (size_t i = 0; i < p->nforwarders; i++)
		pthread_join(p->forwarders[i], NULL);
	gd_free(p->forwarders);
	pthread_cond_destroy(&p->fcv);
	pthread_mutex_destroy(&p->fmu);
	while (p->peers) {
		struct peer *e = p->peers;
		p->peers = e->next;
		if (e->cur && --e->cur->refs == 0) {
			gd_conn_close(e->cur->c);
			gd_free(e->cur);
		}
		pthread_mutex_destroy(&e->connect_mu);
		gd_free(e->addr);
		gd_free(e);
	}
	pthread_mutex_destroy(&p->mu);
	gd_free(p->self);
	gd_free(p);
}

int chunkd_pipeline_chain_ok(const struct chunkd_pipeline *p, char *const *chain, size_t n)
{
	if (n > CHUNKD_CHAIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!chain[i] || !*chain[i] || strlen(chain[i]) > CHUNKD_ADDR_MAX)
			return 0;
		if (p && p->self[0] && strcmp(chain[i], p->self) == 0)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(chain[i], chain[j]) == 0)
				return 0;
	}
	return 1;
}

static void pconn_put(struct chunkd_pipeline *p, struct pconn *pc)
{
	int last;

	pthread_mutex_lock(&p->mu);
	last = --pc->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last) {
		gd_conn_close(pc->c);
		gd_free(pc);
	}
}

/* Opens a connection to addr and says HELLO as a peer. */
static int peer_connect(struct chunkd_pipeline *p, const char *addr, struct gd_conn **out)
{
	Godfs__Hello hello = GODFS__HELLO__INIT;
	struct gd_call_args a = { 0 };
	struct gd_call_result res = { 0 };
	struct gd_conn *c;
	int rc;

	rc = gd_conn_open(addr, p->connect_timeout_ms, GD_ROLE_PEER, &c);
	if (rc == GD_EAUTH) {
		gd_cred_log_refused("peer", addr);   /* rate-limited there */
		return rc;
	}
	if (rc) {
		gd_warn("peer %s: cannot connect: %s", addr, gd_strerror(rc));
		return rc;
	}
	gd_conn_set_default_timeout(c, p->peer_timeout_ms);
	hello.has_protocol = 1;
	hello.protocol = GD_PROTOCOL_VERSION;
	hello.has_role = 1;
	hello.role = GODFS__ROLE__ROLE_PEER;
	hello.host = p->self;
	a.method = GODFS__METHOD__M_HELLO;
	a.req = &hello.base;
	a.resp_desc = &godfs__hello_resp__descriptor;
	a.timeout_ms = p->connect_timeout_ms;
	rc = gd_call(c, &a, &res);
	gd_call_result_release(&res);
	if (rc) {
		gd_warn("peer %s: HELLO failed: %s", addr, gd_strerror(rc));
		gd_conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Takes the least recently used idle peer out of the full table; returns it
 * (the caller frees it with peer_free, without p->mu) or NULL when every peer
 * is in use. Caller holds p->mu. */
static struct peer *peer_evict(struct chunkd_pipeline *p)
{
	struct peer **pp, **victim = NULL, *e;

	for (pp = &p->peers; *pp; pp = &(*pp)->next) {
		e = *pp;
		if (e->users > 0 || (e->cur && e->cur->refs > 1))
			continue;
		if (!victim || e->last_used_ms < (*victim)->last_used_ms)
			victim = pp;
	}
	if (!victim)
		return NULL;
	e = *victim;
	*victim = e->next;
	p->npeers--;
	return e;
}

/* Frees an evicted peer and its pooled connection (no user left). */
static void peer_free(struct peer *e)
{
	if (e->cur) {
		gd_conn_close(e->cur->c);
		gd_free(e->cur);
	}
	pthread_mutex_destroy(&e->connect_mu);
	gd_free(e->addr);
	gd_free(e);
}

/* A usable connection to addr (referenced; pconn_put when done). With fresh,
 * the pooled one is replaced even when it looks healthy. */
static int peer_get(struct chunkd_pipeline *p, const char *addr, int fresh,
		    struct pconn **out)
{
	struct peer *e, *evicted = NULL;
	struct pconn *pc, *old = NULL;
	struct gd_conn *c;
	int rc;

	pthread_mutex_lock(&p->mu);
	for (e = p->peers; e; e = e->next)
		if (strcmp(e->addr, addr) == 0)
			break;
	if (!e) {
		if (p->npeers >= PEERS_MAX && !(evicted = peer_evict(p))) {
			pthread_mutex_unlock(&p->mu);
			gd_warn("peer %s: %d distinct peers, all in use: refused", addr, PEERS_MAX);
			return GD_ECONN;
		}
		e = gd_calloc(1, sizeof(*e));
		if (e)
			e->addr = gd_strdup(addr);
		if (!e || !e->addr) {
			if (e)
				gd_free(e);
			pthread_mutex_unlock(&p->mu);
			if (evicted)
				peer_free(evicted);
			return GD_ENOMEM;
		}
		pthread_mutex_init(&e->connect_mu, NULL);
		e->next = p->peers;
		p->peers = e;
		p->npeers++;
	}
	e->last_used_ms = gd_net_now_ms();
	if (!fresh && e->cur && !gd_conn_failed(e->cur->c)) {
		e->cur->refs++;
		*out = e->cur;
		pthread_mutex_unlock(&p->mu);
		if (evicted)
			peer_free(evicted);
		return 0;
	}
	e->users++;
	pthread_mutex_unlock(&p->mu);
	if (evicted) {
		gd_debug("peer %s: evicted from the full peer table", evicted->addr);
		peer_free(evicted);
	}

	pthread_mutex_lock(&e->connect_mu);
	pthread_mutex_lock(&p->mu);
	if (!fresh && e->cur && !gd_conn_failed(e->cur->c)) {
		e->cur->refs++;
		*out = e->cur;
		e->users--;
		pthread_mutex_unlock(&p->mu);
		pthread_mutex_unlock(&e->connect_mu);
		return 0;
	}
	pthread_mutex_unlock(&p->mu);
	rc = peer_connect(p, addr, &c);
	if (rc)
		goto out_unlock;
	pc = gd_calloc(1, sizeof(*pc));
	if (!pc) {
		gd_conn_close(c);
		rc = GD_ENOMEM;
		goto out_unlock;
	}
	pc->c = c;
	pc->refs = 2;
	pthread_mutex_lock(&p->mu);
	old = e->cur;
	e->cur = pc;
	if (old && --old->refs > 0)
		old = NULL;   /* its last user closes it */
	pthread_mutex_unlock(&p->mu);
	*out = pc;
out_unlock:
	pthread_mutex_unlock(&e->connect_mu);
	/* Last touch of e: from here it may be evicted. */
	pthread_mutex_lock(&p->mu);
	e->users--;
	pthread_mutex_unlock(&p->mu);
	if (old) {
		gd_conn_close(old->c);
		gd_free(old);
	}
	return rc;
}

/* Starts a call to addr; a pooled connection that turns out dead is replaced
 * once (a peer that restarted since our last call). */
static int forward_start(struct chunkd_pipeline *p, const char *addr,
			 const struct gd_call_args *a, struct pconn **pc, struct gd_call **call)
{
	int rc = peer_get(p, addr, 0, pc);

	if (rc)
		return rc;
	rc = gd_call_start((*pc)->c, a, call);
	if (rc == GD_ECONN) {
		pconn_put(p, *pc);
		rc = peer_get(p, addr, 1, pc);
		if (rc)
			return rc;
		rc = gd_call_start((*pc)->c, a, call);
	}
	if (rc) {
		pconn_put(p, *pc);
		*pc = NULL;
	}
	return rc;
}

static int transport_error(int rc)
{
	return rc == GD_ECONN || rc == GD_ETIMEDOUT || rc == GD_EPROTO;
}

/* Turns the downstream outcome into (status, failed): the deepest member
 * that failed is the one the downstream named, else the next hop itself. */
static int downstream_status(int rc, const char *named, const char *next, char **failed)
{
	if (rc == 0)
		return 0;
	/* `named` comes from a peer: an address is short */
	*failed = gd_strndup(named && *named ? named : next, CHUNKD_ADDR_MAX);
	if (transport_error(rc))
		return GD_ECONN;
	return rc;
}

/* ---- forwarder threads ---- */

/* One request on its way through this chunkd: the local step and (with a
 * chain) the forward to the next member; the last of the two to finish
 * answers. */
struct pop {
	struct chunkd_pipeline *p;
	atomic_int pending;            /* steps not finished yet */
	uint16_t method;
	uint64_t chunk_id, version;    /* for the log */
	const char *next;              /* chain[0], owned by the request */
	int timeout_ms;                /* for the forward to next */
	union {                        /* what goes downstream */
		Godfs__CsWrite w;
		Godfs__CsChunkOp op;
	} fwd;
	const void *data;
	size_t len;
	int local;                     /* local step's status */
	int down;                      /* downstream status (transport errors as GD_ECONN) */
	char *down_failed;             /* who failed downstream (gd_malloc'd) */
	chunkd_pipeline_done_fn done;
	void *arg;
	struct pop *qnext;             /* in p->fq; guarded by p->fmu */
	/* The request's trace id, "" when none: the forward may run on a
	 * forwarder thread, and the next member must get it too. */
	char trace[GD_TRACE_MAX + 1];
};

/* A pipelined operation with one step (local) or two (local and the rest of
 * a chain of n_chain members); NULL after answering done with GD_ENOMEM. */
static struct pop *pop_new(struct chunkd_pipeline *p, uint16_t method, uint64_t chunk_id,
			   uint64_t version, size_t n_chain, chunkd_pipeline_done_fn done,
			   void *arg)
{
	struct pop *o = gd_calloc(1, sizeof(*o));

	if (!o) {
		done(arg, GD_ENOMEM, NULL);
		return NULL;
	}
	o->p = p;
	o->method = method;
	o->chunk_id = chunk_id;
	o->version = version;
	o->done = done;
	o->arg = arg;
	gd_trace_save(o->trace);
	atomic_init(&o->pending, n_chain > 0 ? 2 : 1);
	return o;
}

/* Combines both steps into (status, failed) and calls done. */
static void pop_finish(struct pop *o)
{
	struct chunkd_pipeline *p = o->p;
	char *failed = NULL;
	int rc = 0;

	if (o->down) {
		const char *what = o->method == GODFS__METHOD__M_CS_WRITE ? "write" :
				   o->method == GODFS__METHOD__M_CS_FSYNC ? "fsync" : "truncate";
		failed = o->down_failed;
		o->down_failed = NULL;
		rc = o->down;
		gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": %s downstream failed at %s: %s",
			o->chunk_id, o->version, what, failed ? failed : "?", gd_strerror(rc));
	} else if (o->local) {
		failed = gd_strdup(p->self);
		rc = o->local;
	}
	gd_free(o->down_failed);
	o->done(o->arg, rc, failed);
	gd_free(o);
}

static void pop_step_done(struct pop *o)
{
	if (atomic_fetch_sub(&o->pending, 1) == 1)
		pop_finish(o);
}

/* The forward of one request: call chain[0] and wait for its answer. */
static void pop_forward(struct pop *o)
{
	struct chunkd_pipeline *p = o->p;
	struct gd_call_args a = { 0 };
	struct gd_call_result res = { 0 };
	struct pconn *pc = NULL;
	struct gd_call *call = NULL;
	const char *named = NULL;
	char outer[GD_TRACE_MAX + 1];
	int rc;

	/* here or on a forwarder thread: the request's id either way */
	gd_trace_save(outer);
	gd_trace_set(o->trace);
	a.method = o->method;
	a.req = o->method == GODFS__METHOD__M_CS_WRITE ? &o->fwd.w.base : &o->fwd.op.base;
	a.data = o->data;
	a.data_len = o->method == GODFS__METHOD__M_CS_WRITE ? o->len : 0;
	a.resp_desc = o->method == GODFS__METHOD__M_CS_WRITE ? &godfs__cs_write_resp__descriptor
							     : &godfs__status_resp__descriptor;
	a.timeout_ms = o->timeout_ms;
	rc = forward_start(p, o->next, &a, &pc, &call);
	if (rc == 0) {
		rc = gd_call_wait(call, &res);
		if (rc == GD_ETIMEDOUT && !res.resp)
			gd_conn_abort(pc->c);   /* the next forward opens a new one */
		/* The answer names the deepest member that failed. */
		if (o->method == GODFS__METHOD__M_CS_WRITE && res.resp)
			named = ((const Godfs__CsWriteResp *)res.resp)->failed;
		else if (res.resp)
			named = ((const Godfs__StatusResp *)res.resp)->failed;
		o->down = downstream_status(rc, named, o->next, &o->down_failed);
		gd_call_result_release(&res);
		pconn_put(p, pc);
	} else {
		o->down = downstream_status(rc, NULL, o->next, &o->down_failed);
	}
	pop_step_done(o);
	gd_trace_set(outer);
}

/* A forwarder thread: takes one forward at a time until the pipeline stops. */
static void *forwarder_main(void *arg)
{
	struct chunkd_pipeline *p = arg;

	pthread_mutex_lock(&p->fmu);
	for (;;) {
		struct pop *o;

		while (!p->fq_head && !p->fstop)
			pthread_cond_wait(&p->fcv, &p->fmu);
		if (!p->fq_head)
			break;   /* stopping and nothing left */
		o = p->fq_head;
		p->fq_head = o->qnext;
		if (!p->fq_head)
			p->fq_tail = NULL;
		p->fqueued--;
		p->fidle--;
		pthread_mutex_unlock(&p->fmu);
		pop_forward(o);
		pthread_mutex_lock(&p->fmu);
		p->fidle++;
	}
	p->fidle--;
	pthread_mutex_unlock(&p->fmu);
	return NULL;
}

/* Hands a forward to an idle forwarder, starting a new one when every
 * forwarder is busy (up to FORWARDERS_MAX). Returns 0, or <0 when the
 * caller must run it itself. */
static int forward_submit(struct chunkd_pipeline *p, struct pop *o)
{
	int rc = 0;

	pthread_mutex_lock(&p->fmu);
	if (p->fstop) {
		rc = GD_ESHUTDOWN;
		goto out;
	}
	if (p->fidle <= p->fqueued) {
		pthread_t *nt;

		if (p->nforwarders >= FORWARDERS_MAX) {
			rc = GD_EAGAIN;
			goto out;
		}
		if (p->nforwarders == p->cap_forwarders) {
			size_t ncap = p->cap_forwarders ? p->cap_forwarders * 2 : 16;
			nt = gd_realloc(p->forwarders, ncap * sizeof(*nt));
			if (!nt) {
				rc = GD_ENOMEM;
				goto out;
			}
			p->forwarders = nt;
			p->cap_forwarders = ncap;
		}
		if (pthread_create(&p->forwarders[p->nforwarders], NULL, forwarder_main, p) != 0) {
			rc = GD_ENOMEM;
			goto out;
		}
		p->nforwarders++;
		p->fidle++;
		if (p->nforwarders % 64 == 0)
			gd_info("pipeline: %zu forwarder threads", p->nforwarders);
	}
	o->qnext = NULL;
	if (p->fq_tail)
		p->fq_tail->qnext = o;
	else
		p->fq_head = o;
	p->fq_tail = o;
	p->fqueued++;
	pthread_cond_signal(&p->fcv);
out:
	pthread_mutex_unlock(&p->fmu);
	return rc;
}

/* Starts the forward of o: on a forwarder thread, or here when none can be
 * had (then the local step waits for it: slower, but it still completes). */
static void forward_begin(struct pop *o)
{
	if (forward_submit(o->p, o) < 0)
		pop_forward(o);
}

/* A write (or chunk op) at version found another local version (GD_ESTALE):
 * whether the local copy may be moved up to version anyway, and from which
 * version (*from; 0 = create). The chain comes from the meta's valid set,
 * and a member of it never misses an acknowledged write (every member acks
 * each one; a member that failed leaves the set), so a copy older than
 * prev_version is complete: the chain changed more than once before a
 * write reached it (a dead head, then a dead next member). A newer copy is
 * stale for the caller, never overwritten. Without any copy, `create` (the
 * client created the chunk and no write of it was acknowledged) allows a
 * new one. */
static bool older_copy(struct chunkd_pipeline *p, uint64_t chunk_id, uint64_t version,
		       uint64_t prev_version, bool create, uint64_t *from)
{
	uint64_t have;
	int rc = chunkd_store_version(p->store, chunk_id, &have);

	if (rc == GD_ENOCHUNK && create && prev_version != 0) {
		*from = 0;
		return true;
	}
	if (rc != 0 || have >= version || have == prev_version)
		return false;
	gd_info("chunk %016" PRIx64 ": local copy v%" PRIu64 " moves up to v%" PRIu64
		" (the chain changed since it was written; expected v%" PRIu64 ")",
		chunk_id, have, version, prev_version);
	*from = have;
	return true;
}

/* How long the forward may take: the peer timeout, or less when the caller
 * said how long it waits (deadline_ms), so that this member answers first
 * and names the member below it that did not. *down_deadline_ms is what
 * the forward tells the next member. */
static int forward_timeout(const struct chunkd_pipeline *p, bool has_deadline,
			   uint32_t deadline_ms, uint32_t *down_deadline_ms)
{
	int t = p->peer_timeout_ms;

	if (has_deadline && deadline_ms > 0) {
		uint32_t margin = deadline_ms / 10;
		if (margin < HOP_MARGIN_MIN_MS)
			margin = HOP_MARGIN_MIN_MS;
		if (margin > HOP_MARGIN_MAX_MS)
			margin = HOP_MARGIN_MAX_MS;
		uint32_t left = deadline_ms > 2 * margin ? deadline_ms - margin : deadline_ms / 2;
		if (left < 1)
			left = 1;
		if (left < (uint32_t)t)
			t = (int)left;
	}
	*down_deadline_ms = (uint32_t)t;
	return t;
}

void chunkd_pipeline_write_async(struct chunkd_pipeline *p, const Godfs__CsWrite *w,
				 const void *data, size_t len,
				 chunkd_pipeline_done_fn done, void *arg)
{
	uint64_t cs = w->chunk_size;
	struct pop *o;

	if (cs == 0 || cs > CHUNKD_MAX_CHUNK)
		cs = CHUNKD_MAX_CHUNK;
	/* A request every member would refuse is refused here, before anybody
	 * gets blamed for it. */
	if (w->offset > cs || len > cs - w->offset || w->version == 0) {
		done(arg, GD_EINVAL, NULL);
		return;
	}
	o = pop_new(p, GODFS__METHOD__M_CS_WRITE, w->chunk_id, w->version, w->n_chain,
		    done, arg);
	if (!o)
		return;
	o->data = data;
	o->len = len;
	if (w->n_chain > 0) {
		o->fwd.w = *w;
		o->fwd.w.n_chain = w->n_chain - 1;
		o->fwd.w.chain = w->chain + 1;
		o->fwd.w.has_deadline_ms = 1;
		o->timeout_ms = forward_timeout(p, w->has_deadline_ms, w->deadline_ms,
						&o->fwd.w.deadline_ms);
		o->next = w->chain[0];
		forward_begin(o);
	}
	o->local = chunkd_store_write(p->store, w->chunk_id, w->version, w->prev_version,
				      w->chunk_size, w->offset, data, len);
	if (o->local == GD_ESTALE) {
		uint64_t from;
		if (older_copy(p, w->chunk_id, w->version, w->prev_version,
			       w->has_create && w->create, &from))
			o->local = chunkd_store_write(p->store, w->chunk_id, w->version, from,
						      w->chunk_size, w->offset, data, len);
	}
	if (o->local == 0)
		chunkd_metrics_written(len);
	pop_step_done(o);
}

void chunkd_pipeline_chunk_op_async(struct chunkd_pipeline *p, uint16_t method,
				    const Godfs__CsChunkOp *op,
				    chunkd_pipeline_done_fn done, void *arg)
{
	struct pop *o;

	if (op->version == 0 || (method == GODFS__METHOD__M_CS_TRUNCATE &&
				 op->length > CHUNKD_MAX_CHUNK) ||
	    (method != GODFS__METHOD__M_CS_FSYNC && method != GODFS__METHOD__M_CS_TRUNCATE)) {
		done(arg, GD_EINVAL, NULL);
		return;
	}
	o = pop_new(p, method, op->chunk_id, op->version, op->n_chain, done, arg);
	if (!o)
		return;
	if (op->n_chain > 0) {
		o->fwd.op = *op;
		o->fwd.op.n_chain = op->n_chain - 1;
		o->fwd.op.chain = op->chain + 1;
		o->fwd.op.has_deadline_ms = 1;
		o->timeout_ms = forward_timeout(p, op->has_deadline_ms, op->deadline_ms,
						&o->fwd.op.deadline_ms);
		o->next = op->chain[0];
		forward_begin(o);
	}
	uint64_t prev = op->prev_version;
	for (int again = 0; again < 2; again++) {
		if (method == GODFS__METHOD__M_CS_FSYNC)
			o->local = chunkd_store_fsync(p->store, op->chunk_id, op->version, prev);
		else
			o->local = chunkd_store_truncate(p->store, op->chunk_id, op->version,
							 prev, op->length);
		if (o->local != GD_ESTALE ||
		    !older_copy(p, op->chunk_id, op->version, op->prev_version, false, &prev) ||
		    prev == 0)
			break;
	}
	pop_step_done(o);
}

/* ---- the blocking forms, on top of the asynchronous ones ---- */

struct sync_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int status;
	char *failed;
};

static void sync_done(void *arg, int status, char *failed)
{
	struct sync_wait *sw = arg;

	pthread_mutex_lock(&sw->mu);
	sw->status = status;
	sw->failed = failed;
	sw->done = 1;
	pthread_cond_signal(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
}

static int sync_wait_end(struct sync_wait *sw, char **failed)
{
	pthread_mutex_lock(&sw->mu);
	while (!sw->done)
		pthread_cond_wait(&sw->cv, &sw->mu);
	pthread_mutex_unlock(&sw->mu);
	pthread_mutex_destroy(&sw->mu);
	pthread_cond_destroy(&sw->cv);
	*failed = sw->failed;
	return sw->status;
}

int chunkd_pipeline_write(struct chunkd_pipeline *p, const Godfs__CsWrite *w,
			  const void *data, size_t len, char **failed)
{
	struct sync_wait sw = { .done = 0 };

	pthread_mutex_init(&sw.mu, NULL);
	pthread_cond_init(&sw.cv, NULL);
	chunkd_pipeline_write_async(p, w, data, len, sync_done, &sw);
	return sync_wait_end(&sw, failed);
}

int chunkd_pipeline_chunk_op(struct chunkd_pipeline *p, uint16_t method,
			     const Godfs__CsChunkOp *op, char **failed)
{
	struct sync_wait sw = { .done = 0 };

	pthread_mutex_init(&sw.mu, NULL);
	pthread_cond_init(&sw.cv, NULL);
	chunkd_pipeline_chunk_op_async(p, method, op, sync_done, &sw);
	return sync_wait_end(&sw, failed);
}

/* A piece in which the source has a bad block, from this chunkd's own copy at
 * the same version when the piece is good here (the copy this order
 * replaces): two copies with bad blocks in different places make one good
 * copy. Learns data length and chunk size from the local copy when the
 * source has not said them yet. GD_ECORRUPT when that cannot be done. */
static int local_piece(struct chunkd_pipeline *p, uint64_t chunk_id, uint64_t version,
		       uint64_t off, size_t want, uint8_t *buf, size_t *n, uint64_t *cs,
		       uint64_t *limit)
{
	uint64_t data_len, chunk_size;
	int rc;

	if (chunkd_store_extent(p->store, chunk_id, version, &data_len, &chunk_size) != 0)
		return GD_ECORRUPT;
	rc = chunkd_store_read(p->store, chunk_id, version, off, want, buf, n);
	if (rc)
		return rc;
	if (*cs == 0) {
		*cs = chunk_size;
		if (data_len < *limit)
			*limit = data_len;
	}
	gd_info("chunk %016" PRIx64 " v%" PRIu64 ": bytes %" PRIu64 "..%" PRIu64 " are bad at "
		"the source, taken from the local copy", chunk_id, version, off, off + *n);
	return 0;
}

int chunkd_pipeline_replicate(struct chunkd_pipeline *p, uint64_t chunk_id,
			      uint64_t version, const char *source, const uint8_t *cap,
			      size_t cap_len, uint64_t *copied)
{
	struct chunkd_import *imp = NULL;
	struct pconn *pc = NULL;
	uint8_t *buf;
	uint64_t off = 0, limit = CHUNKD_MAX_CHUNK, cs = 0;
	uint64_t have;
	int rc;

	if (copied)
		*copied = 0;
	if (!source || !*source || strlen(source) > CHUNKD_ADDR_MAX || version == 0)
		return GD_EINVAL;
	/* a copy at the version with bad blocks is what this order replaces */
	if (chunkd_store_version(p->store, chunk_id, &have) == 0 &&
	    (have > version || (have == version && chunkd_store_bad_blocks(p->store, chunk_id) == 0))) {
		gd_info("chunk %016" PRIx64 ": replicate v%" PRIu64 " from %s: already have v%"
			PRIu64, chunk_id, version, source, have);
		return 0;
	}
	buf = gd_malloc(REPL_PIECE);
	if (!buf)
		return GD_ENOMEM;
	rc = peer_get(p, source, 0, &pc);
	if (rc)
		goto out_free;
	rc = chunkd_store_import_begin(p->store, chunk_id, version, &imp);
	if (rc)
		goto out_put;
	/* The source says (from its first answer) where its data ends and what
	 * its chunk size is: nothing past the end is fetched. A source that does
	 * not say is read to the end of the chunk. */
	for (;;) {
		Godfs__CsRead r = GODFS__CS_READ__INIT;
		struct gd_call_args a = { 0 };
		struct gd_call_result res = { 0 };
		const Godfs__CsReadResp *resp;
		size_t want = limit - off < REPL_PIECE ? (size_t)(limit - off) : REPL_PIECE;
		size_t n;

		r.has_chunk_id = r.has_version = r.has_offset = r.has_length = 1;
		r.chunk_id = chunk_id;
		r.version = version;
		r.offset = (uint32_t)off;
		r.length = (uint32_t)want;
		if (cap && cap_len) {
			r.has_cap = 1;
			r.cap.data = (uint8_t *)cap;
			r.cap.len = cap_len;
		}
		a.method = GODFS__METHOD__M_CS_READ;
		a.req = &r.base;
		a.resp_desc = &godfs__cs_read_resp__descriptor;
		a.rbuf = buf;
		a.rbuf_len = REPL_PIECE;
		a.timeout_ms = p->peer_timeout_ms;
		rc = gd_call(pc->c, &a, &res);
		if (rc == GD_ETIMEDOUT && !res.resp)
			gd_conn_abort(pc->c);
		resp = (const Godfs__CsReadResp *)res.resp;
		n = res.data_len;
		if (rc == 0 && (!resp || resp->length != n || n > want))
			rc = GD_EPROTO;
		if (rc == 0 && resp->has_data_len && resp->has_chunk_size) {
			if (resp->chunk_size == 0 || resp->chunk_size > CHUNKD_MAX_CHUNK ||
			    resp->data_len > resp->chunk_size) {
				rc = GD_EPROTO;
			} else {
				cs = resp->chunk_size;
				if (resp->data_len < limit)
					limit = resp->data_len;
			}
		}
		gd_call_result_release(&res);
		if (rc == GD_ECORRUPT)
			rc = local_piece(p, chunk_id, version, off, want, buf, &n, &cs, &limit);
		if (rc)
			goto out_abort;
		if (off + n > limit)
			n = off < limit ? (size_t)(limit - off) : 0;
		/* the bytes of the copy: a source answers a first piece past its
		 * data end with zeros, which are not kept */
		chunkd_rate_take(p->repl_rate, n);
		if (n > 0) {
			rc = chunkd_store_import_write(imp, off, buf, n);
			if (rc)
				goto out_abort;
			chunkd_metrics_replicated(n);
		}
		off += n;
		if (off >= limit || n < want)
			break;
	}
	if (cs == 0 && off == 0) {
		rc = GD_EPROTO;   /* a copy always has a chunk size */
		goto out_abort;
	}
	rc = chunkd_store_import_commit(imp, cs ? cs : off);
	imp = NULL;
	if (rc == 0) {
		gd_info("chunk %016" PRIx64 " v%" PRIu64 ": replicated from %s (%" PRIu64 " bytes)",
			chunk_id, version, source, off);
		if (copied)
			*copied = off;
	}
	goto out_put;

out_abort:
	chunkd_store_import_abort(imp);
out_put:
	pconn_put(p, pc);
out_free:
	gd_free(buf);
	if (rc)
		gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": replicate from %s failed: %s",
			chunk_id, version, source, gd_strerror(rc));
	return rc;
}
