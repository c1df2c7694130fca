#include "chunkd_pipeline.h"

#include "gd_alloc.h"
#include "gd_conn.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#define PEERS_MAX 1024
#define REPL_PIECE (1u << 20)

/* One connection to a peer, shared by the calls that use it. */
struct pconn {
	struct gd_conn *c;
	int refs;                      /* pipeline->mu: the pool's + each user's */
};

/* A peer address; peers are only freed with the pipeline. */
struct peer {
	char *addr;                    /* const */
	pthread_mutex_t connect_mu;    /* one connect at a time per peer */
	struct pconn *cur;             /* pipeline->mu */
	struct peer *next;             /* pipeline->mu */
};

struct chunkd_pipeline {
	struct chunkd_store *store;    /* const */
	char *self;                    /* const */
	int peer_timeout_ms;           /* const */
	int connect_timeout_ms;        /* const */
	pthread_mutex_t mu;
	struct peer *peers;            /* mu */
	int npeers;                    /* mu */
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
	p->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 3000;
	pthread_mutex_init(&p->mu, NULL);
	*out = p;
	return 0;
}

void chunkd_pipeline_destroy(struct chunkd_pipeline *p)
{
	if (!p)
		return;
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

int chunkd_pipeline_chain_ok(char *const *chain, size_t n)
{
	if (n > CHUNKD_CHAIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!chain[i] || !*chain[i] || strlen(chain[i]) > CHUNKD_ADDR_MAX)
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

	rc = gd_conn_open(addr, p->connect_timeout_ms, &c);
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

/* A usable connection to addr (referenced; pconn_put when done). With fresh,
 * the pooled one is replaced even when it looks healthy. */
static int peer_get(struct chunkd_pipeline *p, const char *addr, int fresh,
		    struct pconn **out)
{
	struct peer *e;
	struct pconn *pc, *old = NULL;
	struct gd_conn *c;
	int rc;

	pthread_mutex_lock(&p->mu);
	for (e = p->peers; e; e = e->next)
		if (strcmp(e->addr, addr) == 0)
			break;
	if (!e) {
		if (p->npeers >= PEERS_MAX) {
			pthread_mutex_unlock(&p->mu);
			gd_warn("peer %s: too many distinct peers (%d), refused", addr, PEERS_MAX);
			return GD_ECONN;
		}
		e = gd_calloc(1, sizeof(*e));
		if (e)
			e->addr = gd_strdup(addr);
		if (!e || !e->addr) {
			if (e)
				gd_free(e);
			pthread_mutex_unlock(&p->mu);
			return GD_ENOMEM;
		}
		pthread_mutex_init(&e->connect_mu, NULL);
		e->next = p->peers;
		p->peers = e;
		p->npeers++;
	}
	if (!fresh && e->cur && !gd_conn_failed(e->cur->c)) {
		e->cur->refs++;
		*out = e->cur;
		pthread_mutex_unlock(&p->mu);
		return 0;
	}
	pthread_mutex_unlock(&p->mu);

	pthread_mutex_lock(&e->connect_mu);
	pthread_mutex_lock(&p->mu);
	if (!fresh && e->cur && !gd_conn_failed(e->cur->c)) {
		e->cur->refs++;
		*out = e->cur;
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
	*failed = gd_strdup(named && *named ? named : next);
	if (transport_error(rc))
		return GD_ECONN;
	return rc;
}

int chunkd_pipeline_write(struct chunkd_pipeline *p, const Godfs__CsWrite *w,
			  const void *data, size_t len, char **failed)
{
	uint64_t cs = w->chunk_size;
	struct pconn *pc = NULL;
	struct gd_call *call = NULL;
	int local, down = 0, started = 0;

	*failed = NULL;
	if (cs == 0 || cs > CHUNKD_MAX_CHUNK)
		cs = CHUNKD_MAX_CHUNK;
	/* A request every member would refuse is refused here, before anybody
	 * gets blamed for it. */
	if (w->offset > cs || len > cs - w->offset || w->version == 0)
		return GD_EINVAL;

	if (w->n_chain > 0) {
		Godfs__CsWrite fwd = *w;
		struct gd_call_args a = { 0 };

		fwd.n_chain = w->n_chain - 1;
		fwd.chain = w->chain + 1;
		a.method = GODFS__METHOD__M_CS_WRITE;
		a.req = &fwd.base;
		a.data = data;
		a.data_len = len;
		a.resp_desc = &godfs__cs_write_resp__descriptor;
		a.timeout_ms = p->peer_timeout_ms;
		down = forward_start(p, w->chain[0], &a, &pc, &call);
		started = down == 0;
	}

	local = chunkd_store_write(p->store, w->chunk_id, w->version, w->prev_version,
				   w->chunk_size, w->offset, data, len);

	if (started) {
		struct gd_call_result res = { 0 };
		const Godfs__CsWriteResp *r;

		down = gd_call_wait(call, &res);
		r = (const Godfs__CsWriteResp *)res.resp;
		down = downstream_status(down, r ? r->failed : NULL, w->chain[0], failed);
		gd_call_result_release(&res);
		pconn_put(p, pc);
	} else if (w->n_chain > 0) {
		down = downstream_status(down, NULL, w->chain[0], failed);
	}
	if (down) {
		gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": write downstream failed at %s: %s",
			w->chunk_id, w->version, *failed ? *failed : "?", gd_strerror(down));
		return down;
	}
	if (local) {
		*failed = gd_strdup(p->self);
		return local;
	}
	return 0;
}

int chunkd_pipeline_chunk_op(struct chunkd_pipeline *p, uint16_t method,
			     const Godfs__CsChunkOp *op, char **failed)
{
	struct pconn *pc = NULL;
	struct gd_call *call = NULL;
	int local, down = 0, started = 0;

	*failed = NULL;
	if (op->version == 0 || (method == GODFS__METHOD__M_CS_TRUNCATE &&
				 op->length > CHUNKD_MAX_CHUNK))
		return GD_EINVAL;
	if (op->n_chain > 0) {
		Godfs__CsChunkOp fwd = *op;
		struct gd_call_args a = { 0 };

		fwd.n_chain = op->n_chain - 1;
		fwd.chain = op->chain + 1;
		a.method = method;
		a.req = &fwd.base;
		a.resp_desc = &godfs__status_resp__descriptor;
		a.timeout_ms = p->peer_timeout_ms;
		down = forward_start(p, op->chain[0], &a, &pc, &call);
		started = down == 0;
	}

	if (method == GODFS__METHOD__M_CS_FSYNC)
		local = chunkd_store_fsync(p->store, op->chunk_id, op->version, op->prev_version);
	else
		local = chunkd_store_truncate(p->store, op->chunk_id, op->version,
					      op->prev_version, op->length);

	if (started) {
		struct gd_call_result res = { 0 };

		down = gd_call_wait(call, &res);
		/* StatusResp has no `failed`: the next hop is the one we can name. */
		down = downstream_status(down, NULL, op->chain[0], failed);
		gd_call_result_release(&res);
		pconn_put(p, pc);
	} else if (op->n_chain > 0) {
		down = downstream_status(down, NULL, op->chain[0], failed);
	}
	if (down) {
		gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": %s downstream failed at %s: %s",
			op->chunk_id, op->version,
			method == GODFS__METHOD__M_CS_FSYNC ? "fsync" : "truncate",
			*failed ? *failed : "?", gd_strerror(down));
		return down;
	}
	if (local) {
		*failed = gd_strdup(p->self);
		return local;
	}
	return 0;
}

int chunkd_pipeline_replicate(struct chunkd_pipeline *p, uint64_t chunk_id,
			      uint64_t version, const char *source)
{
	struct chunkd_import *imp = NULL;
	struct pconn *pc = NULL;
	uint8_t *buf;
	uint64_t off = 0;
	uint64_t have;
	int rc;

	if (!source || !*source || strlen(source) > CHUNKD_ADDR_MAX || version == 0)
		return GD_EINVAL;
	if (chunkd_store_version(p->store, chunk_id, &have) == 0 && have >= version) {
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
	for (;;) {
		Godfs__CsRead r = GODFS__CS_READ__INIT;
		struct gd_call_args a = { 0 };
		struct gd_call_result res = { 0 };
		const Godfs__CsReadResp *resp;
		size_t n;

		r.has_chunk_id = r.has_version = r.has_offset = r.has_length = 1;
		r.chunk_id = chunk_id;
		r.version = version;
		r.offset = (uint32_t)off;
		r.length = REPL_PIECE;
		a.method = GODFS__METHOD__M_CS_READ;
		a.req = &r.base;
		a.resp_desc = &godfs__cs_read_resp__descriptor;
		a.rbuf = buf;
		a.rbuf_len = REPL_PIECE;
		a.timeout_ms = p->peer_timeout_ms;
		rc = gd_call(pc->c, &a, &res);
		resp = (const Godfs__CsReadResp *)res.resp;
		n = res.data_len;
		if (rc == 0 && (!resp || resp->length != n || n > REPL_PIECE))
			rc = GD_EPROTO;
		gd_call_result_release(&res);
		if (rc)
			goto out_abort;
		if (n > 0) {
			rc = chunkd_store_import_write(imp, off, buf, n);
			if (rc)
				goto out_abort;
		}
		off += n;
		if (n < REPL_PIECE || off >= CHUNKD_MAX_CHUNK)
			break;
	}
	if (off == 0) {
		rc = GD_EPROTO;   /* a copy always has a chunk size */
		goto out_abort;
	}
	rc = chunkd_store_import_commit(imp, off);
	imp = NULL;
	if (rc == 0)
		gd_info("chunk %016" PRIx64 " v%" PRIu64 ": replicated from %s (%" PRIu64 " bytes)",
			chunk_id, version, source, off);
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
