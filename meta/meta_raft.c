/* The meta's Raft node on libraft 0.15 (see meta_raft.h). */
#include "meta_raft.h"

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/statvfs.h>

#include "gd_alloc.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_server_metrics.h"
#include "gd_status.h"
#include "meta_metrics.h"
#include "meta_raft_addr.h"
#include "meta_raft_lease.h"
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
	/* This node's disk failed a write (storage_failed): it stops
	 * (cfg->fail_stop, from a 0 ms timer outside libraft's callbacks) and
	 * appends nothing more meanwhile. libraft 0.15 carries on after a
	 * failed write in ways that can make this voter's log differ from the
	 * others': a leader (appendLeaderCb) fails only the first request of
	 * the batch, truncates its log there and hands out the same indexes
	 * again (a request of the failed batch then gets the result of another
	 * entry: an O_EXCL create answered with a new directory's inode); a
	 * follower keeps the entries it could not write in memory. Seen in
	 * e2e_meta_diskfull.sh: a voter that went on after its disk filled
	 * later led with 399 of 1192 entries differing from what was
	 * acknowledged. */
	uv_timer_t fail_stop_timer;
	bool fail_stop_inited;
	bool fail_stop_called;
	bool write_failed;
	char *dir;                /* the raft dir, for the free space in that message */
	uint64_t min_free;        /* two log segments (check_free_space) */
	void (*fail_stop)(void *arg);
	void *fail_stop_arg;
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
	bool io_inited;
	char io_err_seen[RAFT_ERRMSG_BUF_SIZE]; /* the last storage error logged */
	bool transport_inited;
	bool raft_inited;
	/* The leader lease (meta_raft_lease.h): fed by the wrapped io->send
	 * (AppendEntries and InstallSnapshot leaving) and io->start's receive
	 * callback (their results coming back). */
	struct meta_raft_lease lease;
	int (*io_send_orig)(struct raft_io *io, struct raft_io_send *req,
			    const struct raft_message *msg, raft_io_send_cb cb);
	int (*io_start_orig)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			     raft_io_recv_cb recv);
	raft_io_recv_cb recv_orig;
	uint64_t io_started_ms;         /* loop: when raft started receiving (vote quarantine) */
	bool quarantine_logged;         /* loop: the quarantine was logged once */
	int (*io_append_orig)(struct raft_io *io, struct raft_io_append *req,
			      const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
	int (*io_snapshot_put_orig)(struct raft_io *io, unsigned trailing,
				    struct raft_io_snapshot_put *req,
				    const struct raft_snapshot *snapshot,
				    raft_io_snapshot_put_cb cb);
	/* The one membership change or transfer in flight (libraft allows one). */
	struct member_op *op;
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
	uint64_t t0_ns;         /* proposed (godfs_raft_commit_duration_seconds) */
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

/* ---- the leader lease's evidence ----------------------------------------------------- */

static struct meta_raft *of_io(struct raft_io *io)
{
	return (struct meta_raft *)((char *)io - offsetof(struct meta_raft, io));
}

/* One AppendEntries or InstallSnapshot on its way: the send is wrapped so
 * that a failed one is taken off the lease's count. */
struct send_wrap {
	struct raft_io_send req;     /* what the real transport sees */
	struct raft_io_send *orig;   /* libraft's request */
	raft_io_send_cb orig_cb;
	struct meta_raft *r;
	uint64_t peer;
	uint64_t seq;
};

static void send_wrap_cb(struct raft_io_send *req, int status)
{
	struct send_wrap *w = (struct send_wrap *)req;

	if (status != 0)
		meta_raft_lease_send_failed(&w->r->lease, w->peer, w->seq);
	w->orig_cb(w->orig, status);
	gd_free(w);
}

static int io_send_wrap(struct raft_io *io, struct raft_io_send *req,
			const struct raft_message *msg, raft_io_send_cb cb)
{
	struct meta_raft *r = of_io(io);
	struct send_wrap *w;
	uint64_t term;
	int rv;

	if (msg->type == RAFT_IO_APPEND_ENTRIES)
		term = msg->append_entries.term;
	else if (msg->type == RAFT_IO_INSTALL_SNAPSHOT)
		term = msg->install_snapshot.term;
	else
		return r->io_send_orig(io, req, msg, cb);
	w = gd_calloc(1, sizeof(*w));
	if (w == NULL)
		return r->io_send_orig(io, req, msg, cb);  /* unrecorded: no evidence from its result */
	w->orig = req;
	w->orig_cb = cb;
	w->r = r;
	w->peer = msg->server_id;
	/* Taken before the send starts: never later than the message leaves. */
	w->seq = meta_raft_lease_sent(&r->lease, term, msg->server_id, gd_net_now_ms());
	req->cb = cb;
	rv = r->io_send_orig(io, &w->req, msg, send_wrap_cb);
	if (rv != 0) {
		meta_raft_lease_send_failed(&r->lease, w->peer, w->seq);
		gd_free(w);
	}
	return rv;
}

/* The read lease (meta_raft_lease.h) rests on this: a voter that heard from
 * the leader at time T votes for nobody before T + election timeout. libraft
 * keeps "I have a leader" in memory only, so a voter that restarts would
 * grant (pre-)votes at once, and a leader cut off from the rest could still
 * hold a lease proven by that voter before its restart. A voter therefore
 * ignores every vote request, pre-vote or not, for one election timeout after
 * it starts (meta_raft_lease_vote_quarantined); a leadership transfer is an
 * operator's order and passes. A RequestVote owns no buffers, so dropping one
 * frees nothing; the candidate's own timer retries. */
static bool vote_quarantined(struct meta_raft *r, const struct raft_message *msg)
{
	if (msg->type != RAFT_IO_REQUEST_VOTE ||
	    !meta_raft_lease_vote_quarantined(r->io_started_ms, gd_net_now_ms(),
					      r->raft.election_timeout,
					      msg->request_vote.disrupt_leader))
		return false;
	if (!r->quarantine_logged) {
		r->quarantine_logged = true;
		gd_info("raft: ignoring vote requests for %u ms after the start (the leader "
			"lease of a voter heard before the restart may rest on this one)",
			r->raft.election_timeout);
	}
	return true;
}

static void io_recv_wrap(struct raft_io *io, struct raft_message *msg)
{
	struct meta_raft *r = of_io(io);

	if (vote_quarantined(r, msg))
		return;
	if (msg->type == RAFT_IO_APPEND_ENTRIES_RESULT)
		meta_raft_lease_result(&r->lease, msg->append_entries_result.term, msg->server_id,
				       msg->append_entries_result.rejected != 0);
	r->recv_orig(io, msg);
}

static void storage_failed(struct meta_raft *r, const char *what, int status);

/* One log append in flight: the request libraft gave and its callback. The
 * uv backend only calls req->cb(req, status) on the request it was given,
 * so it gets this wrapper's. */
struct append_wrap {
	struct raft_io_append req;      /* first: the backend's view */
	struct raft_io_append *orig;
	raft_io_append_cb orig_cb;
	struct meta_raft *r;
	uint64_t t0_ns;                 /* handed to the log (godfs_raft_log_write_duration_seconds) */
};

/* An append failed: write_failed must be set before libraft sees it (it
 * then truncates a leader's log and would give the same indexes to the
 * next entries). Not every failed batch reaches a proposer's callback
 * (libraft calls back only a command at the batch's first index), and a
 * follower's is never seen above this layer. */
static void io_append_cb_wrap(struct raft_io_append *req, int status)
{
	struct append_wrap *w = (struct append_wrap *)req;
	struct meta_raft *r = w->r;
	struct raft_io_append *orig = w->orig;
	raft_io_append_cb cb = w->orig_cb;

	if (status == 0)
		meta_metrics_log_written(gd_server_metrics_now_ns() - w->t0_ns);
	gd_free(w);
	if (status != 0 && status != RAFT_CANCELED)
		storage_failed(r, "a log append", status);
	cb(orig, status);
}

static int io_append_wrap(struct raft_io *io, struct raft_io_append *req,
			  const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct meta_raft *r = of_io(io);
	struct append_wrap *w = gd_malloc(sizeof(*w));
	int rv;

	if (w == NULL)
		return RAFT_NOMEM;
	w->req.data = NULL;
	w->orig = req;
	w->orig_cb = cb;
	w->r = r;
	w->t0_ns = gd_server_metrics_now_ns();
	req->cb = cb;
	rv = r->io_append_orig(io, &w->req, entries, n, io_append_cb_wrap);
	if (rv != 0)
		gd_free(w);
	return rv;
}

/* A snapshot being stored, wrapped like an append (struct append_wrap). */
struct snapshot_put_wrap {
	struct raft_io_snapshot_put req;        /* first: the backend's view */
	struct raft_io_snapshot_put *orig;
	raft_io_snapshot_put_cb orig_cb;
	struct meta_raft *r;
};

static void io_snapshot_put_cb_wrap(struct raft_io_snapshot_put *req, int status)
{
	struct snapshot_put_wrap *w = (struct snapshot_put_wrap *)req;
	struct meta_raft *r = w->r;
	struct raft_io_snapshot_put *orig = w->orig;
	raft_io_snapshot_put_cb cb = w->orig_cb;

	gd_free(w);
	if (status != 0 && status != RAFT_CANCELED)
		storage_failed(r, "storing a snapshot", status);
	cb(orig, status);
}

static int io_snapshot_put_wrap(struct raft_io *io, unsigned trailing,
				struct raft_io_snapshot_put *req,
				const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct meta_raft *r = of_io(io);
	struct snapshot_put_wrap *w = gd_malloc(sizeof(*w));
	int rv;

	if (w == NULL)
		return RAFT_NOMEM;
	w->req.data = NULL;
	w->orig = req;
	w->orig_cb = cb;
	w->r = r;
	req->cb = cb;
	rv = r->io_snapshot_put_orig(io, trailing, &w->req, snapshot, io_snapshot_put_cb_wrap);
	if (rv != 0)
		gd_free(w);
	return rv;
}

static int io_start_wrap(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			 raft_io_recv_cb recv)
{
	struct meta_raft *r = of_io(io);

	r->recv_orig = recv;
	r->io_started_ms = gd_net_now_ms();
	return r->io_start_orig(io, msecs, tick, io_recv_wrap);
}

static int parse_peers_conf(const struct meta_raft_config *cfg, struct raft_configuration *conf)
{
	int rv;
	size_t i;

	raft_configuration_init(conf);
	if (cfg->n_peers == 0)
		return raft_configuration_add(conf, cfg->id, cfg->address, RAFT_VOTER);
	for (i = 0; i < cfg->n_peers; i++) {
		char addr[META_RAFT_CONF_ADDR_MAX + 1];

		/* The client address rides in the configuration (meta_raft_addr.h). */
		if (meta_raft_addr_join(cfg->peers[i].raft_addr, cfg->peers[i].client_addr, addr,
					sizeof(addr)) < 0)
			return RAFT_INVALID;
		rv = raft_configuration_add(conf, cfg->peers[i].id, addr, RAFT_VOTER);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* libraft's open segment size when --raft-segment-size is not given. */
#define DEFAULT_SEGMENT_SIZE (8u << 20)

/* A voter that cannot write its log must not run (docs/durability.md "A full
 * disk"): libraft would start, fail its first open segment and, as a leader,
 * fail every proposal. Two segments are what libraft preallocates (the open
 * one and the next); less free space than that refuses the start with a
 * clear error. */
/* Bytes free for this process in dir; UINT64_MAX when unknown. */
static uint64_t free_bytes(const char *dir)
{
	struct statvfs st;

	if (statvfs(dir, &st) != 0)
		return UINT64_MAX;
	return (uint64_t)st.f_bavail * st.f_frsize;
}

static int check_free_space(const struct meta_raft_config *cfg)
{
	uint64_t need = 2u * (uint64_t)(cfg->segment_size != 0 ? cfg->segment_size
							     : DEFAULT_SEGMENT_SIZE);
	uint64_t avail = free_bytes(cfg->dir);

	/* (unknown: raft_uv_init says what is wrong with the dir) */
	if (avail == UINT64_MAX || avail >= need)
		return 0;
	gd_error("raft: %s has %llu bytes free, a voter needs at least %llu (two log "
		 "segments) to write its log: free space first", cfg->dir,
		 (unsigned long long)avail, (unsigned long long)need);
	return GD_ENOSPC;
}

int meta_raft_start(const struct meta_raft_config *cfg, const struct meta_raft_fsm *fsm,
		    struct meta_raft **out, bool *bootstrapped)
{
	struct meta_raft *r;
	struct raft_configuration conf;
	struct meta_raft_transport_opts topts = { 0 };
	int rv;

	*bootstrapped = false;
	rv = check_free_space(cfg);
	if (rv != 0)
		return rv;
	r = gd_calloc(1, sizeof(*r));
	if (r == NULL)
		return GD_ENOMEM;
	r->loop = cfg->loop;
	r->min_free = 2u * (uint64_t)(cfg->segment_size != 0 ? cfg->segment_size
							    : DEFAULT_SEGMENT_SIZE);
	r->dir = gd_strdup(cfg->dir);
	if (r->dir == NULL) {
		gd_free(r->dir);
	gd_free(r);
		return GD_ENOMEM;
	}
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
	if (cfg->segment_size != 0)
		raft_uv_set_segment_size(&r->io, cfg->segment_size);
	rv = raft_init(&r->raft, &r->io, &r->rfsm, cfg->id, cfg->address);
	if (rv != 0) {
		gd_error("raft: init: %s", raft_errmsg(&r->raft));
		goto err_after_io;
	}
	r->raft_inited = true;
	r->raft.data = r;
	r->io_close_orig = r->io.close;
	r->io.close = io_close_wrap;
	r->io_send_orig = r->io.send;
	r->io.send = io_send_wrap;
	r->io_start_orig = r->io.start;
	r->io.start = io_start_wrap;
	r->io_append_orig = r->io.append;
	r->io.append = io_append_wrap;
	r->io_snapshot_put_orig = r->io.snapshot_put;
	r->io.snapshot_put = io_snapshot_put_wrap;
	meta_raft_lease_init(&r->lease);
	/* Pre-vote (Raft thesis 9.6): a follower whose election timer ran out
	 * first asks whether it would win, without bumping the term. Without
	 * it, the first follower to time out after a leader died bumps the
	 * term and is refused by the other, which still has a leader (libraft
	 * 0.15 refuses votes until its own timer runs out), and then both
	 * stand in the same term: a split vote, a second election, 2.6-3 s of
	 * failover instead of one election (docs/meta.md "Failover"). It also
	 * keeps a voter back from a partition from deposing a working leader.
	 * The lease argument (meta_raft_lease.h) is unchanged: a follower with
	 * a leader refuses pre-votes and votes alike. */
	raft_set_pre_vote(&r->raft, true);
	r->fail_stop = cfg->fail_stop;
	r->fail_stop_arg = cfg->fail_stop_arg;
	raft_set_snapshot_threshold(&r->raft, cfg->snapshot_threshold);
	raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing);

	if (cfg->join) {
		/* A voter to be added on a live cluster (godfs-admin masters
		 * add): no configuration of its own, it learns the cluster's
		 * from the leader. */
		rv = RAFT_CANTBOOTSTRAP;
		goto started;
	}
	rv = parse_peers_conf(cfg, &conf);
	if (rv != 0) {
		gd_error("raft: bad voter configuration: %s", raft_strerror(rv));
		raft_configuration_close(&conf);
		goto err_after_init;
	}
	rv = raft_bootstrap(&r->raft, &conf);
	raft_configuration_close(&conf);
started:
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
	/* What libraft left in its message while loading (e.g. "metadata
	 * contains term 4") is no error: only later ones are logged. */
	snprintf(r->io_err_seen, sizeof(r->io_err_seen), "%s", r->io.errmsg);
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
	gd_free(r->dir);
	gd_free(r);
	return GD_EIO;
}

static void fail_stop_cb(uv_timer_t *t)
{
	struct meta_raft *r = t->data;

	if (r->closing || r->fail_stop_called)
		return;
	r->fail_stop_called = true;
	if (r->fail_stop != NULL)
		r->fail_stop(r->fail_stop_arg);
}

/* A voter that cannot write its log or snapshots must not go on, leader or
 * follower (write_failed says why): it logs the reason once and stops
 * (docs/durability.md "A full disk on a metadata voter"). A leader refuses
 * every new entry from now on; the followers elect another leader once it
 * is gone; the proposals of the failed batch are answered GD_ENOTLEADER or
 * GD_ESHUTDOWN, and the client resends them to the next leader, which
 * answers them once (exactly-once) whether the followers committed them or
 * not. */
static void storage_failed(struct meta_raft *r, const char *what, int status)
{
	uint64_t avail;
	bool fresh;

	if (r->write_failed || r->closing)
		return;
	r->write_failed = true;
	/* libraft's message may be empty or older (a snapshot; what it left
	 * while loading): the free space says whether the disk is full. */
	fresh = r->io.errmsg[0] != '\0' && strcmp(r->io.errmsg, r->io_err_seen) != 0;
	avail = free_bytes(r->dir);
	gd_error("raft: %s failed on this %s (%s%s%s; %s%llu bytes free in %s): stopping "
		 "(fail-stop): a voter that cannot write its log must not go on; free space "
		 "in its data directory before starting it again", what,
		 meta_raft_state_name(r), raft_strerror(status), fresh ? ": " : "",
		 fresh ? r->io.errmsg : "",
		 avail < r->min_free ? "not enough space: " : "",
		 avail == UINT64_MAX ? 0ull : (unsigned long long)avail, r->dir);
	if (!r->fail_stop_inited) {
		uv_timer_init(r->loop, &r->fail_stop_timer);
		r->fail_stop_timer.data = r;
		r->fail_stop_inited = true;
	}
	uv_timer_start(&r->fail_stop_timer, fail_stop_cb, 0, 0);
}

/* raft_apply callback: forwards the FSM's result to the proposer. */
static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct raft_prop *p = req->data;
	struct meta_raft *r = p->r;
	int st;

	if (status == 0) {
		if (result == r->last_result)
			r->last_result = NULL;
		meta_metrics_committed(gd_server_metrics_now_ns() - p->t0_ns);
	} else {
		result = NULL;
	}
	st = status_from_raft(status);
	if (st != 0 && r->write_failed) {
		/* stopping after a failed write (write_failed): the client asks
		 * the next leader, with the same sequence number */
		st = GD_ENOTLEADER;
	} else if (status == RAFT_NOSPACE || status == RAFT_IOERR) {
		/* This node's disk failed the entry; the followers may still
		 * commit it. GD_ENOTLEADER makes the client resend it to the
		 * next leader with the same seq, which answers it once
		 * (exactly-once), whether it was committed or not; an ENOSPC
		 * or EIO would reach the application for a change that may be
		 * there. */
		storage_failed(r, "a log append", status);
		st = GD_ENOTLEADER;
	}
	p->done(p->arg, st, result);
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
	if (r->write_failed)
		return GD_ENOTLEADER;   /* stopping: see write_failed */
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
	p->t0_ns = gd_server_metrics_now_ns();
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
	int st = status_from_raft(status);

	if (status == RAFT_NOSPACE || status == RAFT_IOERR) {
		/* the barrier is an entry this leader failed to write */
		storage_failed(p->r, "a log append", status);
		st = GD_ENOTLEADER;
	} else if (st != 0 && p->r->write_failed) {
		st = GD_ENOTLEADER;
	}
	p->done(p->arg, st, NULL);
	gd_free(p);
}

int meta_raft_barrier(struct meta_raft *r, meta_raft_done_fn done, void *arg)
{
	struct raft_prop *p;
	int rv;

	if (r->closing)
		return GD_ESHUTDOWN;
	if (r->write_failed)
		return GD_ENOTLEADER;   /* a barrier is an entry too (write_failed) */
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

void meta_raft_log_io_error(struct meta_raft *r)
{
	const char *msg = r->io.errmsg;

	if (!r->io_inited || msg[0] == '\0' || strcmp(msg, r->io_err_seen) == 0)
		return;
	snprintf(r->io_err_seen, sizeof(r->io_err_seen), "%s", msg);
	gd_error("raft: storage error (log, snapshot or metadata file): %s", msg);
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

uint64_t meta_raft_commit_index(struct meta_raft *r)
{
	return r->raft.commit_index;
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

static void fail_stop_timer_closed_cb(uv_handle_t *h)
{
	(void)h;
}

/* Runs outside any raft callback (raft_close from inside an apply or barrier
 * callback aborts in libuv). */
static void close_timer_cb(uv_timer_t *t)
{
	struct meta_raft *r = t->data;

	uv_close((uv_handle_t *)&r->close_timer, close_timer_closed_cb);
	if (r->fail_stop_inited)
		uv_close((uv_handle_t *)&r->fail_stop_timer, fail_stop_timer_closed_cb);
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
	gd_free(r->dir);
	gd_free(r);
}

/* ---- membership ------------------------------------------------------------------------ */

enum op_kind { OP_ADD, OP_PROMOTE, OP_REMOVE, OP_TRANSFER };

/* A membership change or a transfer in flight; at most one (libraft's rule). */
struct member_op {
	union {
		struct raft_change change;
		struct raft_transfer transfer;
	} u;
	struct meta_raft *r;
	enum op_kind kind;
	uint64_t id;
	meta_raft_change_fn done;
	void *arg;
};

static const char *role_name(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return "voter";
	case RAFT_STANDBY:
		return "standby";
	default:
		return "spare";
	}
}

/* Maps a libraft error of a membership call to a GD_E* code. */
static int change_status(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_CANTCHANGE:
		return GD_EBUSY;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return GD_ENOENT;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return GD_EEXIST;
	case RAFT_BADROLE:
		return GD_EINVAL;
	case RAFT_NOCONNECTION:
		return GD_ETIMEDOUT;
	default:
		return status_from_raft(rv);
	}
}

static const struct raft_server *conf_get(const struct meta_raft *r, uint64_t id)
{
	for (unsigned i = 0; i < r->raft.configuration.n; i++) {
		if (r->raft.configuration.servers[i].id == id)
			return &r->raft.configuration.servers[i];
	}
	return NULL;
}

/* The voter ids of the current configuration (capacity max); returns how many. */
static size_t voter_ids(const struct meta_raft *r, uint64_t *ids, size_t max)
{
	size_t n = 0;

	for (unsigned i = 0; i < r->raft.configuration.n && n < max; i++) {
		if (r->raft.configuration.servers[i].role == RAFT_VOTER)
			ids[n++] = r->raft.configuration.servers[i].id;
	}
	return n;
}

size_t meta_raft_members(struct meta_raft *r, struct meta_raft_member *out, size_t max)
{
	uint64_t leader = meta_raft_leader_id(r);
	bool is_leader = meta_raft_is_leader(r);
	uint64_t now = gd_net_now_ms();
	size_t n = 0;

	for (unsigned i = 0; i < r->raft.configuration.n && n < max; i++) {
		const struct raft_server *s = &r->raft.configuration.servers[i];
		struct meta_raft_member *m = &out[n];

		memset(m, 0, sizeof(*m));
		m->id = s->id;
		if (meta_raft_addr_split(s->address, m->raft_addr, sizeof(m->raft_addr),
					 m->client_addr, sizeof(m->client_addr)) < 0) {
			snprintf(m->raft_addr, sizeof(m->raft_addr), "%.*s",
				 (int)sizeof(m->raft_addr) - 1, s->address);
			m->client_addr[0] = '\0';
		}
		m->role = role_name(s->role);
		m->leader = s->id == leader;
		if (is_leader && r->raft.leader_state.progress != NULL) {
			m->has_match = true;
			m->match_index = s->id == r->raft.id ? raft_last_index(&r->raft)
							      : r->raft.leader_state.progress[i].match_index;
			/* When the lease last had word from it (0: not this term). */
			for (size_t j = 0; j < META_RAFT_LEASE_PEERS_MAX; j++) {
				const struct meta_raft_lease_peer *p = &r->lease.peers[j];

				if (p->id == s->id && p->heard_ms != 0 && p->heard_ms <= now) {
					m->heard_ago_ms = now - p->heard_ms;
					m->heard = true;
				}
			}
		}
		n++;
	}
	return n;
}

int meta_raft_client_addr(struct meta_raft *r, uint64_t id, char *buf, size_t cap)
{
	const struct raft_server *s = conf_get(r, id);
	char raft[META_RAFT_CONF_ADDR_MAX + 1];

	if (s == NULL || cap == 0)
		return GD_ENOENT;
	if (meta_raft_addr_split(s->address, raft, sizeof(raft), buf, cap) < 0 || buf[0] == '\0')
		return GD_ENOENT;
	return 0;
}

static void op_finish(struct member_op *op, int status)
{
	struct meta_raft *r = op->r;

	if (r->op == op)
		r->op = NULL;
	op->done(op->arg, status);
	gd_free(op);
}

static void change_cb(struct raft_change *req, int status)
{
	struct member_op *op = req->data;
	struct meta_raft *r = op->r;
	int rv;

	if (status == 0 && op->kind == OP_ADD) {
		/* Added as a spare: now promote it; libraft first lets it catch
		 * up with the log in rounds, then commits the voter role. */
		gd_info("raft: node %llu added as a spare, promoting it to voter once it caught up",
			(unsigned long long)op->id);
		op->kind = OP_PROMOTE;
		op->u.change.data = op;
		rv = raft_assign(&r->raft, &op->u.change, op->id, RAFT_VOTER, change_cb);
		if (rv == 0)
			return;
		status = rv;
	}
	if (status != 0)
		gd_warn("raft: %s of node %llu failed: %s", op->kind == OP_REMOVE ? "removal"
			: "promotion", (unsigned long long)op->id, raft_strerror(status));
	else
		gd_info("raft: node %llu %s", (unsigned long long)op->id,
			op->kind == OP_REMOVE ? "removed" : "is a voter");
	op_finish(op, change_status(status));
}

/* Whether the leader can change the configuration now: 0 or a GD_E* code. */
static int can_change(struct meta_raft *r)
{
	if (r->closing)
		return GD_ESHUTDOWN;
	if (raft_state(&r->raft) != RAFT_LEADER)
		return GD_ENOTLEADER;
	if (r->op != NULL || r->raft.transfer != NULL ||
	    r->raft.configuration_uncommitted_index != 0 || r->raft.leader_state.promotee_id != 0)
		return GD_EBUSY;
	return 0;
}

static struct member_op *op_new(struct meta_raft *r, enum op_kind kind, uint64_t id,
				meta_raft_change_fn done, void *arg)
{
	struct member_op *op = gd_calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->r = r;
	op->kind = kind;
	op->id = id;
	op->done = done;
	op->arg = arg;
	return op;
}

int meta_raft_member_add(struct meta_raft *r, uint64_t id, const char *raft_addr,
			 const char *client_addr, meta_raft_change_fn done, void *arg)
{
	char addr[META_RAFT_CONF_ADDR_MAX + 1];
	const struct raft_server *s;
	struct member_op *op;
	int rc, rv;

	if (id == 0 || meta_raft_addr_join(raft_addr, client_addr, addr, sizeof(addr)) < 0)
		return GD_EINVAL;
	rc = can_change(r);
	if (rc == 0 && r->write_failed)
		rc = GD_ENOTLEADER;   /* a configuration is an entry too (write_failed) */
	if (rc != 0)
		return rc;
	s = conf_get(r, id);
	/* The lease and the quorum checks track at most this many members
	 * (meta_raft_lease.h); a larger cluster would be counted short. */
	if (s == NULL && r->raft.configuration.n >= META_RAFT_LEASE_PEERS_MAX)
		return GD_E2BIG;
	if (s != NULL && strcmp(s->address, addr) != 0)
		return GD_EEXIST;           /* that id is another node */
	if (s != NULL && s->role == RAFT_VOTER)
		return META_RAFT_NOTHING_TO_DO;
	for (unsigned i = 0; i < r->raft.configuration.n; i++) {
		if (r->raft.configuration.servers[i].id != id &&
		    strcmp(r->raft.configuration.servers[i].address, addr) == 0)
			return GD_EEXIST;   /* that address is another id */
	}
	op = op_new(r, s != NULL ? OP_PROMOTE : OP_ADD, id, done, arg);
	if (op == NULL)
		return GD_ENOMEM;
	op->u.change.data = op;
	/* A node left a spare by an earlier add that did not finish is promoted. */
	if (s != NULL)
		rv = raft_assign(&r->raft, &op->u.change, id, RAFT_VOTER, change_cb);
	else
		rv = raft_add(&r->raft, &op->u.change, id, addr, change_cb);
	if (rv != 0) {
		gd_free(op);
		return change_status(rv);
	}
	r->op = op;
	gd_info("raft: adding node %llu at %s", (unsigned long long)id, addr);
	return 0;
}

int meta_raft_member_remove(struct meta_raft *r, uint64_t id, meta_raft_change_fn done,
			    void *arg)
{
	uint64_t voters[META_RAFT_LEASE_PEERS_MAX];
	const struct raft_server *s;
	struct member_op *op;
	size_t n, alive = 0, i;
	uint64_t now = gd_net_now_ms();
	int rc, rv;

	rc = can_change(r);
	if (rc == 0 && r->write_failed)
		rc = GD_ENOTLEADER;   /* a configuration is an entry too (write_failed) */
	if (rc != 0)
		return rc;
	s = conf_get(r, id);
	if (s == NULL)
		return GD_ENOENT;
	if (id == r->raft.id)
		return GD_EBUSY;            /* transfer leadership first */
	if (s->role == RAFT_VOTER) {
		/* The voters that remain must still make a majority of
		 * themselves with the ones this leader hears from. */
		n = voter_ids(r, voters, META_RAFT_LEASE_PEERS_MAX);
		size_t remain = n - 1;

		for (i = 0; i < n; i++) {
			if (voters[i] == id)
				continue;
			if (voters[i] == r->raft.id) {
				alive++;
				continue;
			}
			for (size_t j = 0; j < META_RAFT_LEASE_PEERS_MAX; j++) {
				const struct meta_raft_lease_peer *p = &r->lease.peers[j];

				if (p->id == voters[i] && p->heard_ms != 0 &&
				    now - p->heard_ms < 2u * r->raft.election_timeout)
					alive++;
			}
		}
		if (alive <= remain / 2)
			return GD_EAGAIN;   /* would lose quorum */
	}
	op = op_new(r, OP_REMOVE, id, done, arg);
	if (op == NULL)
		return GD_ENOMEM;
	op->u.change.data = op;
	rv = raft_remove(&r->raft, &op->u.change, id, change_cb);
	if (rv != 0) {
		gd_free(op);
		return change_status(rv);
	}
	r->op = op;
	gd_info("raft: removing node %llu", (unsigned long long)id);
	return 0;
}

static void transfer_cb(struct raft_transfer *req)
{
	struct member_op *op = req->data;
	struct meta_raft *r = op->r;
	uint64_t leader = meta_raft_leader_id(r);
	int status = 0;

	if (leader == 0 || leader == r->raft.id || (op->id != 0 && leader != op->id))
		status = GD_ETIMEDOUT;
	if (status == 0)
		gd_info("raft: leadership transferred to node %llu", (unsigned long long)leader);
	else
		gd_warn("raft: leadership transfer to node %llu did not happen (leader now %llu)",
			(unsigned long long)op->id, (unsigned long long)leader);
	op_finish(op, status);
}

int meta_raft_transfer(struct meta_raft *r, uint64_t id, meta_raft_change_fn done, void *arg)
{
	const struct raft_server *s;
	struct member_op *op;
	int rc, rv;

	rc = can_change(r);
	if (rc != 0)
		return rc;
	if (id == r->raft.id)
		return META_RAFT_NOTHING_TO_DO;
	if (id != 0) {
		s = conf_get(r, id);
		if (s == NULL)
			return GD_ENOENT;
		if (s->role != RAFT_VOTER)
			return GD_EINVAL;
	}
	op = op_new(r, OP_TRANSFER, id, done, arg);
	if (op == NULL)
		return GD_ENOMEM;
	op->u.transfer.data = op;
	/* The target will be elected without waiting for anyone's election
	 * timer (disrupt_leader): the lease ends here. */
	meta_raft_lease_revoke(&r->lease, r->raft.current_term);
	rv = raft_transfer(&r->raft, &op->u.transfer, id, transfer_cb);
	if (rv != 0) {
		gd_free(op);
		return change_status(rv);
	}
	r->op = op;
	gd_info("raft: transferring leadership to %s%llu", id == 0 ? "any voter, chosen: " : "node ",
		(unsigned long long)r->raft.transfer->id);
	return 0;
}

bool meta_raft_read_lease(struct meta_raft *r, uint64_t *until_ms)
{
	uint64_t voters[META_RAFT_LEASE_PEERS_MAX];
	size_t n;

	if (until_ms != NULL)
		*until_ms = 0;
	if (!meta_raft_is_leader(r) || r->raft.transfer != NULL)
		return false;
	n = voter_ids(r, voters, META_RAFT_LEASE_PEERS_MAX);
	if (r->raft.configuration.n > META_RAFT_LEASE_PEERS_MAX)
		return false;   /* not every voter tracked: no majority can be proven */
	return meta_raft_lease_valid(&r->lease, r->raft.current_term, r->raft.id, voters, n,
				     gd_net_now_ms(), meta_raft_lease_ms(r), until_ms);
}

unsigned meta_raft_lease_ms(struct meta_raft *r)
{
	/* A quarter of the election timeout is the margin for clock rates and
	 * for libuv's cached loop time on the follower's side. */
	return r->raft.election_timeout - r->raft.election_timeout / 4;
}

unsigned meta_raft_election_timeout_ms(struct meta_raft *r)
{
	return r->raft.election_timeout;
}
