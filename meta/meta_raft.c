/* The meta's Raft node on libraft 0.15 (see meta_raft.h). */
#include "meta_raft.h"

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_raft_transport.h"

struct meta_raft {
	/* Everything below is owned by the libuv loop thread. */
	uv_loop_t *loop;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	struct raft_fsm rfsm;
	struct meta_raft_fsm fsm;
	void *last_result;        /* the last apply's result, until a proposer takes it */
	/* libraft 0.15 can call the io close callback twice: only the first goes on. */
	void (*io_close_orig)(struct raft_io *io, raft_io_close_cb cb);
	raft_io_close_cb io_close_cb;
	bool io_closed;
	uv_timer_t close_timer;
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
	bool io_inited;
	bool transport_inited;
	bool raft_inited;
};

/* libraft 0.15 writes log entries whose length is a multiple of 8 (it asserts
 * that only in debug builds: a shorter entry is written misaligned and the
 * whole segment is thrown away as corrupt on the next start). Every entry is
 * therefore framed: a header holding the payload length and a format tag,
 * the payload, then zero padding up to a multiple of 8. */
#define ENTRY_HDR_LEN 8u
#define ENTRY_FORMAT 0x31454447u /* "GDE1" little-endian */

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* One proposal in flight; raft holds it between raft_apply and its callback. */
struct raft_prop {
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
	} u;
	struct meta_raft *r;
	meta_raft_done_fn done;
	void *arg;
};

void *meta_raft_malloc(size_t n)
{
	return raft_malloc(n);
}

void meta_raft_free_buf(void *p)
{
	raft_free(p);
}

/* Maps a libraft error code to the status the proposer's client sees. */
static int status_from_raft(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return GD_ENOTLEADER;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return GD_ESHUTDOWN;
	case RAFT_NOMEM:
		return GD_ENOMEM;
	case RAFT_NOSPACE:
		return GD_ENOSPC;
	default:
		return GD_EIO;
	}
}

/* Releases an apply result nobody on this node proposed (followers, replay). */
static void drop_last_result(struct meta_raft *r)
{
	if (r->last_result != NULL) {
		r->fsm.result_free(r->fsm.ctx, r->last_result);
		r->last_result = NULL;
	}
}

/* raft_fsm.apply: hands the entry to the meta's FSM. libraft passes the
 * result to the proposer's callback right after this returns, or drops it when
 * there is no proposer here; the slot below keeps that from leaking. */
static int fsm_apply(struct raft_fsm *rfsm, const struct raft_buffer *buf, void **result)
{
	struct meta_raft *r = rfsm->data;
	const uint8_t *p = buf->base;
	void *res = NULL;
	uint32_t len;
	int rv;

	drop_last_result(r);
	if (buf->len < ENTRY_HDR_LEN || get_le32(p + 4) != ENTRY_FORMAT ||
	    (len = get_le32(p)) > buf->len - ENTRY_HDR_LEN) {
		/* Not ours: skip it (stopping raft would stop it on every start). */
		gd_error("raft: entry at index %llu of %zu bytes has no godfs frame: skipped",
			 (unsigned long long)raft_last_applied(&r->raft) + 1, buf->len);
		*result = NULL;
		return 0;
	}
	rv = r->fsm.apply(r->fsm.ctx, p + ENTRY_HDR_LEN, len, &res);
	if (rv != 0)
		return RAFT_IOERR;
	r->last_result = res;
	*result = res;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *rfsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct meta_raft *r = rfsm->data;
	struct raft_buffer *b;
	void *data = NULL;
	size_t len = 0;

	drop_last_result(r);
	b = raft_malloc(sizeof(*b));
	if (b == NULL)
		return RAFT_NOMEM;
	if (r->fsm.snapshot(r->fsm.ctx, &data, &len) != 0) {
		raft_free(b);
		return RAFT_NOMEM;
	}
	b->base = data;
	b->len = len;
	*bufs = b;
	*n_bufs = 1;
	gd_debug("raft: snapshot of %zu bytes at index %llu", len,
		 (unsigned long long)raft_last_applied(&r->raft));
	return 0;
}

/* raft_fsm.restore: on success the buffer is ours to free (0.15 contract). */
static int fsm_restore(struct raft_fsm *rfsm, struct raft_buffer *buf)
{
	struct meta_raft *r = rfsm->data;
	int rv;

	drop_last_result(r);
	rv = r->fsm.restore(r->fsm.ctx, buf->base, buf->len);
	if (rv != 0) {
		gd_error("raft: cannot restore a snapshot of %zu bytes: %s", buf->len,
			 gd_strerror(rv));
		return RAFT_CORRUPT;
	}
	raft_free(buf->base);
	return 0;
}

static void io_close_once_cb(struct raft_io *io)
{
	struct meta_raft *r = (struct meta_raft *)((char *)io - offsetof(struct meta_raft, io));

	if (r->io_closed) {
		gd_debug("raft: second io close callback ignored (libraft bug)");
		return;
	}
	r->io_closed = true;
	if (r->io_close_cb != NULL)
		r->io_close_cb(io);
}

/* Wraps io.close: libraft 0.15 may fire the close callback twice (a double
 * free in ioCloseCb); forward only the first one. */
static void io_close_wrap(struct raft_io *io, raft_io_close_cb cb)
{
	struct meta_raft *r = (struct meta_raft *)((char *)io - offsetof(struct meta_raft, io));

	r->io_close_cb = cb;
	r->io_close_orig(io, io_close_once_cb);
}

static int parse_peers_conf(const struct meta_raft_config *cfg, struct raft_configuration *conf)
{
	int rv;
	size_t i;

	raft_configuration_init(conf);
	if (cfg->n_peers == 0)
		return raft_configuration_add(conf, cfg->id, cfg->address, RAFT_VOTER);
	for (i = 0; i < cfg->n_peers; i++) {
		rv = raft_configuration_add(conf, cfg->peers[i].id, cfg->peers[i].raft_addr,
					    RAFT_VOTER);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int meta_raft_start(const struct meta_raft_config *cfg, const struct meta_raft_fsm *fsm,
		    struct meta_raft **out, bool *bootstrapped)
{
	struct meta_raft *r;
	struct raft_configuration conf;
	struct meta_raft_transport_opts topts = { 0 };
	int rv;

	*bootstrapped = false;
	r = gd_calloc(1, sizeof(*r));
	if (r == NULL)
		return GD_ENOMEM;
	r->loop = cfg->loop;
	r->fsm = *fsm;
	r->rfsm.version = 1;
	r->rfsm.data = r;
	r->rfsm.apply = fsm_apply;
	r->rfsm.snapshot = fsm_snapshot;
	r->rfsm.restore = fsm_restore;

	/* The Raft port lets in only peers with the cluster key
	 * (meta_raft_transport.h), never libraft's open TCP transport. */
	topts.policy = gd_cred_policy();
	topts.cred = gd_cred_self();
	rv = meta_raft_transport_init(&r->transport, cfg->loop, &topts);
	if (rv != 0) {
		gd_error("raft: transport: %s", raft_strerror(rv));
		goto err_after_alloc;
	}
	r->transport_inited = true;
	rv = raft_uv_init(&r->io, cfg->loop, cfg->dir, &r->transport);
	if (rv != 0) {
		gd_error("raft: storage in %s: %s (%s)", cfg->dir, raft_strerror(rv),
			 r->io.errmsg);
		goto err_after_transport;
	}
	r->io_inited = true;
	rv = raft_init(&r->raft, &r->io, &r->rfsm, cfg->id, cfg->address);
	if (rv != 0) {
		gd_error("raft: init: %s", raft_errmsg(&r->raft));
		goto err_after_io;
	}
	r->raft_inited = true;
	r->raft.data = r;
	r->io_close_orig = r->io.close;
	r->io.close = io_close_wrap;
	raft_set_snapshot_threshold(&r->raft, cfg->snapshot_threshold);
	raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing);

	rv = parse_peers_conf(cfg, &conf);
	if (rv != 0) {
		gd_error("raft: bad voter configuration: %s", raft_strerror(rv));
		raft_configuration_close(&conf);
		goto err_after_init;
	}
	rv = raft_bootstrap(&r->raft, &conf);
	raft_configuration_close(&conf);
	if (rv == 0) {
		*bootstrapped = true;
	} else if (rv != RAFT_CANTBOOTSTRAP) {
		gd_error("raft: bootstrap: %s", raft_errmsg(&r->raft));
		goto err_after_init;
	}
	rv = raft_start(&r->raft);
	if (rv != 0) {
		/* libraft's message is often empty here (a Raft port in use
		 * fails in the transport's listen): say where it was. */
		gd_error("raft: start on %s with %s: %s%s%s", cfg->address, cfg->dir,
			 raft_strerror(rv), raft_errmsg(&r->raft)[0] != '\0' ? ": " : "",
			 raft_errmsg(&r->raft));
		goto err_after_init;
	}
	*out = r;
	return 0;

err_after_init:
	/* raft_init left nothing to close until raft_start: closing it needs
	 * the loop, so run it until the close callback has fired. */
	r->closing = true;
	raft_close(&r->raft, NULL);
	while (!r->io_closed && uv_run(cfg->loop, UV_RUN_ONCE) != 0)
		;
err_after_io:
	raft_uv_close(&r->io);
err_after_transport:
	meta_raft_transport_release(&r->transport);
err_after_alloc:
	gd_free(r);
	return GD_EIO;
}

/* raft_apply callback: forwards the FSM's result to the proposer. */
static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct raft_prop *p = req->data;
	struct meta_raft *r = p->r;

	if (status == 0) {
		if (result == r->last_result)
			r->last_result = NULL;
	} else {
		result = NULL;
	}
	p->done(p->arg, status_from_raft(status), result);
	gd_free(p);
}

int meta_raft_propose(struct meta_raft *r, const void *buf, size_t len,
		      meta_raft_done_fn done, void *arg)
{
	struct raft_prop *p;
	struct raft_buffer b;
	int rv;

	if (r->closing)
		return GD_ESHUTDOWN;
	if (raft_state(&r->raft) != RAFT_LEADER)
		return GD_ENOTLEADER;
	if (len > UINT32_MAX - 16)
		return GD_EINVAL;
	p = gd_calloc(1, sizeof(*p));
	if (p == NULL)
		return GD_ENOMEM;
	b.len = (ENTRY_HDR_LEN + len + 7) & ~(size_t)7;
	b.base = raft_malloc(b.len);
	if (b.base == NULL) {
		gd_free(p);
		return GD_ENOMEM;
	}
	put_le32(b.base, (uint32_t)len);
	put_le32((uint8_t *)b.base + 4, ENTRY_FORMAT);
	if (len > 0)
		memcpy((uint8_t *)b.base + ENTRY_HDR_LEN, buf, len);
	memset((uint8_t *)b.base + ENTRY_HDR_LEN + len, 0, b.len - ENTRY_HDR_LEN - len);
	p->r = r;
	p->done = done;
	p->arg = arg;
	p->u.apply.data = p;
	rv = raft_apply(&r->raft, &p->u.apply, &b, 1, apply_cb);
	if (rv != 0) {
		raft_free(b.base);
		gd_free(p);
		return status_from_raft(rv);
	}
	return 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct raft_prop *p = req->data;

	p->done(p->arg, status_from_raft(status), NULL);
	gd_free(p);
}

int meta_raft_barrier(struct meta_raft *r, meta_raft_done_fn done, void *arg)
{
	struct raft_prop *p;
	int rv;

	if (r->closing)
		return GD_ESHUTDOWN;
	p = gd_calloc(1, sizeof(*p));
	if (p == NULL)
		return GD_ENOMEM;
	p->r = r;
	p->done = done;
	p->arg = arg;
	p->u.barrier.data = p;
	rv = raft_barrier(&r->raft, &p->u.barrier, barrier_cb);
	if (rv != 0) {
		gd_free(p);
		return status_from_raft(rv);
	}
	return 0;
}

bool meta_raft_is_leader(struct meta_raft *r)
{
	return !r->closing && raft_state(&r->raft) == RAFT_LEADER;
}

uint64_t meta_raft_leader_id(struct meta_raft *r)
{
	raft_id id = 0;
	const char *addr = NULL;

	raft_leader(&r->raft, &id, &addr);
	return id;
}

uint64_t meta_raft_last_index(struct meta_raft *r)
{
	return raft_last_index(&r->raft);
}

uint64_t meta_raft_last_applied(struct meta_raft *r)
{
	return raft_last_applied(&r->raft);
}

uint64_t meta_raft_term(struct meta_raft *r)
{
	return r->raft.current_term;
}

const char *meta_raft_state_name(struct meta_raft *r)
{
	switch (raft_state(&r->raft)) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

static void raft_closed_cb(struct raft *raft)
{
	struct meta_raft *r = raft->data;

	drop_last_result(r);
	gd_debug("raft: closed");
	if (r->closed != NULL)
		r->closed(r->closed_arg);
}

static void close_timer_closed_cb(uv_handle_t *h)
{
	(void)h;
}

/* Runs outside any raft callback (raft_close from inside an apply or barrier
 * callback aborts in libuv). */
static void close_timer_cb(uv_timer_t *t)
{
	struct meta_raft *r = t->data;

	uv_close((uv_handle_t *)&r->close_timer, close_timer_closed_cb);
	raft_close(&r->raft, raft_closed_cb);
}

void meta_raft_close(struct meta_raft *r, void (*closed)(void *arg), void *arg)
{
	if (r->closing)
		return;
	r->closing = true;
	r->closed = closed;
	r->closed_arg = arg;
	uv_timer_init(r->loop, &r->close_timer);
	r->close_timer.data = r;
	uv_timer_start(&r->close_timer, close_timer_cb, 0, 0);
}

void meta_raft_free(struct meta_raft *r)
{
	if (r == NULL)
		return;
	drop_last_result(r);
	raft_uv_close(&r->io);
	meta_raft_transport_release(&r->transport);
	gd_free(r);
}
