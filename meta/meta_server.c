/* The godfs-meta daemon (see meta_server.h): the libuv loop that owns the
 * FSM, Raft and the soft state; Raft behind the request layer's proposer;
 * leadership (barrier, ready); the tick; a clean stop on a signal; the data
 * directory. The request queues are meta_loop.c's. */
#include "meta_server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gd_alloc.h"
#include "gd_cred.h"
#include "gd_auth.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "meta_dispatch.h"
#include "meta_h_locks.h"
#include "meta_housekeeping.h"
#include "meta_loop.h"
#include "meta_metrics.h"
#include "meta_ns.h"
#include "meta_read_gate.h"
#include "meta_status.h"
#include "meta_token_gate.h"

#define TICK_MS 100u
#define SLOW_TICK_MS 1000u
#define FORMAT_FILE "format"
#define FORMAT_VERSION 1u
#define RAFT_SUBDIR "raft"
#define LOCK_FILE "lock"
/* On a stop, proposals in flight get this long to finish before raft closes. */
#define STOP_DRAIN_MS 3000u
#define FAIL_STOP_DRAIN_MS 300u
#define DEFAULT_CHUNK_SIZE (64u << 20)
#define DEFAULT_GOAL 3u

static void maybe_close_raft(struct meta_server *ms);

/* ---- small helpers ------------------------------------------------------------- */

uint64_t meta_server_now_ms(void)
{
	return gd_net_now_ms();
}

/* The client address of the Raft leader when it is another node: from the
 * Raft configuration (meta_raft_addr.h), else from --peers; NULL when
 * unknown. */
static const char *leader_client_addr(struct meta_server *ms)
{
	uint64_t id;
	size_t i;

	if (ms->raft == NULL)
		return NULL;
	id = meta_raft_leader_id(ms->raft);
	if (id == 0 || id == ms->opt.node_id)
		return NULL;
	if (meta_raft_client_addr(ms->raft, id, ms->leader_addr_buf,
				  sizeof(ms->leader_addr_buf)) == 0)
		return ms->leader_addr_buf;
	for (i = 0; i < ms->opt.n_peers; i++) {
		if (ms->opt.peers[i].id == id)
			return ms->opt.peers[i].client_addr;
	}
	return NULL;
}

/* Whether another node is the leader (so a request here is redirected). */
static bool other_leader(struct meta_server *ms)
{
	uint64_t id;

	if (ms->raft == NULL)
		return false;
	id = meta_raft_leader_id(ms->raft);
	return id != 0 && id != ms->opt.node_id;
}

/* ---- Raft behind the request layer's proposer ------------------------------------ */

static int proposer_propose(void *ctx, const void *buf, size_t len,
			    void (*done)(void *arg, int status, void *result), void *arg)
{
	struct meta_server *ms = ctx;

	return meta_raft_propose(ms->raft, buf, len, done, arg);
}

static const char *proposer_leader_address(void *ctx)
{
	return leader_client_addr(ctx);
}

static bool proposer_other_leader(void *ctx)
{
	return other_leader(ctx);
}

static void proposer_settled(void *ctx)
{
	maybe_close_raft(ctx);
}

/* ---- the FSM, as Raft sees it --------------------------------------------------- */

/* An allocation failed inside an apply: this voter's state (or the answer it
 * recorded for a resend) may now differ from the other voters', which did
 * not fail there, and a voter that differs must never serve or vote again.
 * Stop the process on the spot, the one place besides main that ends it: the
 * restart loads the last snapshot and replays the log, with memory this
 * time (docs/meta.md, "Out of memory in an apply"). */
static void apply_out_of_memory(size_t len)
{
	gd_error("out of memory while applying a raft entry of %zu bytes: stopping now so "
		 "that this voter cannot differ from the others (a restart replays the log)",
		 len);
	abort();
}

static int fsm_apply_cb(void *ctx, const void *buf, size_t len, void **result)
{
	struct meta_server *ms = ctx;
	struct meta_fsm_result *res = gd_calloc(1, sizeof(*res));
	struct meta_fsm_result tmp;
	int rc;

	/* Out of memory for the answer's holder: apply anyway (the state is
	 * the same on every voter, the answer is recorded for a resend) and
	 * let the proposer answer GD_ENOMEM. */
	if (res == NULL) {
		memset(&tmp, 0, sizeof(tmp));
		rc = meta_fsm_apply(ms->fsm, buf, len, &tmp);
		meta_token_gate_sync(ms->fsm);
		meta_fsm_result_release(&tmp);
		*result = NULL;
		if (rc == GD_ENOMEM)
			apply_out_of_memory(len);
		if (rc != 0)
			gd_error("raft entry of %zu bytes does not decode: %s (skipped)", len,
				 gd_strerror(rc));
		return 0;
	}
	rc = meta_fsm_apply(ms->fsm, buf, len, res);
	meta_token_gate_sync(ms->fsm);
	if (rc == GD_ENOMEM)
		apply_out_of_memory(len);
	if (rc != 0) {
		/* The state is unchanged; stopping raft would stop the node for
		 * good on every restart, so skip the entry and say so. */
		gd_error("raft entry of %zu bytes does not decode: %s (skipped)", len,
			 gd_strerror(rc));
		meta_fsm_result_release(res);
		memset(res, 0, sizeof(*res));
		res->status = rc;
	}
	*result = res;
	return 0;
}

static void fsm_result_free_cb(void *ctx, void *result)
{
	(void)ctx;
	if (result != NULL) {
		meta_fsm_result_release(result);
		gd_free(result);
	}
}

static int fsm_snapshot_cb(void *ctx, void **buf, size_t *len)
{
	struct meta_server *ms = ctx;

	return meta_fsm_snapshot(ms->fsm, buf, len);
}

static int fsm_restore_cb(void *ctx, const void *buf, size_t len)
{
	struct meta_server *ms = ctx;
	int rc = meta_fsm_restore(ms->fsm, buf, len);

	meta_token_gate_sync(ms->fsm);
	if (rc == 0)
		gd_info("snapshot restored: %" PRIu64 " inodes, %" PRIu64 " chunks, chunk size %" PRIu64,
			meta_fsm_inode_count(ms->fsm), meta_fsm_chunk_count(ms->fsm),
			meta_fsm_chunk_size(ms->fsm));
	return rc;
}

/* ---- leadership ------------------------------------------------------------------ */

/* This node stopped being a ready leader: soft state goes, waiting requests
 * are redirected. */
static void lose_leadership(struct meta_server *ms)
{
	if (!ms->ready)
		return;
	gd_info("no longer the leader (term %" PRIu64 ", now %s)", ms->leader_term,
		meta_raft_state_name(ms->raft));
	ms->ready = false;
	ms->deposed = !other_leader(ms);        /* (meta_loop_may_hold) */
	meta_read_gate_lost_leader(ms);
	meta_loop_lost_leader(ms);
	meta_housekeeping_lost_leader(ms);
	meta_registry_clear(ms->reg);
	meta_sessions_clear(ms->sess);
	meta_h_locks_lost_leader(ms);
}

/* Everything committed before this node's leadership is applied: it may answer. */
static void barrier_done(void *arg, int status, void *result)
{
	struct meta_server *ms = arg;

	(void)result;
	ms->barrier_pending = false;
	maybe_close_raft(ms);
	if (status != 0) {
		gd_warn("leader barrier failed: %s", gd_strerror(status));
		return;
	}
	if (ms->stopping || !meta_raft_is_leader(ms->raft) ||
	    meta_raft_term(ms->raft) != ms->leader_term)
		return; /* the next tick tries again */
	ms->ready = true;
	ms->deposed = false;
	ms->leader_since_ms = meta_server_now_ms();
	meta_registry_clear(ms->reg);
	meta_sessions_clear(ms->sess);
	gd_info("leader of term %" PRIu64 ", ready at index %" PRIu64 " (%" PRIu64
		" inodes, %zu chunkds known)",
		ms->leader_term, meta_raft_last_applied(ms->raft), meta_fsm_inode_count(ms->fsm),
		meta_fsm_node_count(ms->fsm));
	meta_housekeeping_became_leader(ms);
	meta_loop_release_held(ms);
}

/* Follows Raft's view of leadership: a new leader issues a barrier first; a
 * lost leadership (or a new term) drops the soft state. */
static void check_leadership(struct meta_server *ms)
{
	bool leader = meta_raft_is_leader(ms->raft);
	int rc;

	if (ms->ready && (!leader || meta_raft_term(ms->raft) != ms->leader_term))
		lose_leadership(ms);
	if (!leader || ms->ready || ms->barrier_pending || ms->stopping)
		return;
	ms->leader_term = meta_raft_term(ms->raft);
	rc = meta_raft_barrier(ms->raft, barrier_done, ms);
	if (rc != 0) {
		gd_warn("cannot start the leader barrier: %s", gd_strerror(rc));
		return;
	}
	ms->barrier_pending = true;
}

/* uv_async callback: takes everything the reader threads queued and runs
 * the run queue (also kicked by requests put back on it). */
static void on_wake(uv_async_t *a)
{
	struct meta_server *ms = a->data;

	/* A new leader need not wait for the tick to start its barrier. */
	if (!ms->ready && !ms->stopping)
		check_leadership(ms);
	meta_loop_take_inbound(ms);
	meta_loop_run(ms);
	/* reads the gate let through go back on the run queue */
	meta_read_gate_kick(ms);
	meta_loop_run(ms);
}

static void on_tick(uv_timer_t *t)
{
	struct meta_server *ms = t->data;
	uint64_t now = meta_server_now_ms();

	if (ms->stopping) {
		maybe_close_raft(ms);
		return;
	}
	meta_raft_log_io_error(ms->raft);
	check_leadership(ms);
	meta_loop_check_held(ms, now);
	meta_read_gate_kick(ms);
	if (ms->ready)
		meta_housekeeping_tick(ms, now);
	meta_metrics_publish(ms, now);
	if (ms->status != NULL)
		meta_status_tick(ms->status, ms, now);
	if (now - ms->last_slow_tick_ms >= SLOW_TICK_MS) {
		ms->last_slow_tick_ms = now;
		if (ms->parked.head != NULL && now - ms->last_park_ms >= SLOW_TICK_MS)
			meta_loop_wake(ms, META_WAIT_NODES, 0, 0);
	}
	meta_loop_run(ms);
}

/* ---- stopping -------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

/* Raft let go of everything: close our handles so that uv_run returns. */
static void raft_closed(void *arg)
{
	struct meta_server *ms = arg;

	ms->raft_closed = true;
	ms->wake_ready = false;
	uv_close((uv_handle_t *)&ms->wake, handle_closed);
	uv_close((uv_handle_t *)&ms->tick, handle_closed);
	uv_close((uv_handle_t *)&ms->sig_term, handle_closed);
	uv_close((uv_handle_t *)&ms->sig_int, handle_closed);
}

/* Closes raft once nothing of ours is being appended: libraft 0.15 crashes
 * when raft_close cancels appends still in flight (appendLeaderCb truncates
 * its log once per cancelled batch, fixed upstream in 0.18), so a stop first
 * lets the proposals in flight commit, for at most STOP_DRAIN_MS. */
static void maybe_close_raft(struct meta_server *ms)
{
	if (!ms->stopping || ms->raft_closing)
		return;
	if ((ms->in_flight > 0 || ms->barrier_pending || meta_read_gate_pending(ms)) &&
	    meta_server_now_ms() < ms->stop_deadline_ms)
		return;
	if (ms->in_flight > 0 || ms->barrier_pending)
		gd_warn("closing raft with %" PRIu64 " proposals still in flight", ms->in_flight);
	ms->raft_closing = true;
	meta_raft_close(ms->raft, raft_closed, ms);
}

/* Starts a clean stop: no new requests, every waiting one answered
 * GD_ESHUTDOWN, proposals in flight let finish, then raft closed. */
static void begin_stop(struct meta_server *ms)
{
	if (ms->stopping)
		return;
	ms->stopping = true;
	meta_loop_close(ms);
	lose_leadership(ms);
	ms->stop_deadline_ms = meta_server_now_ms() + STOP_DRAIN_MS;
	maybe_close_raft(ms);
}

/* meta_raft's fail-stop: this voter's disk failed a write (meta_raft.h); the
 * process stops and exits with an error. */
static void on_fail_stop(void *arg)
{
	struct meta_server *ms = arg;

	ms->exit_status = GD_EIO;
	ms->fail_stopped = true;
	begin_stop(ms);
	/* Its proposals cannot commit here (and libraft may never answer the
	 * ones of a failed batch): while it runs it keeps the followers from
	 * electing another leader, so drain briefly, not STOP_DRAIN_MS. */
	if (ms->stop_deadline_ms > meta_server_now_ms() + FAIL_STOP_DRAIN_MS)
		ms->stop_deadline_ms = meta_server_now_ms() + FAIL_STOP_DRAIN_MS;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct meta_server *ms = s->data;

	if (ms->stopping) {
		gd_info("signal %d: already stopping", signum);
		return;
	}
	gd_info("signal %d: stopping (%" PRIu64 " proposals in flight)", signum, ms->in_flight);
	begin_stop(ms);
}

/* ---- the data directory ---------------------------------------------------------- */

/* Writes path atomically and durably: a temporary file, fsync, rename, and an
 * fsync of the directory. */
static int write_file_durably(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, dfd, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= sizeof(tmp))
		return GD_ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto err;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		goto err_after_open;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto err_after_open;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			rc = gd_status_from_errno(errno);
		close(dfd);
	}
	if (rc != 0)
		gd_error("%s: fsync of the directory: %s", dir, gd_strerror(rc));
	return rc;

err_after_open:
	rc = gd_status_from_errno(errno);
	unlink(tmp);
	gd_error("%s: cannot write: %s", path, strerror(errno));
	return rc;
err:
	rc = gd_status_from_errno(errno);
	gd_error("%s: cannot create: %s", tmp, strerror(errno));
	return rc;
}

/* Reads DIR/format: GD_ENOENT when there is none, GD_EPROTO when it does not
 * parse (logged). */
static int read_format(const char *dir, uint64_t *chunk_size, uint32_t *goal)
{
	char path[PATH_MAX], line[256];
	bool have_cs = false, have_goal = false;
	FILE *f;
	int lineno = 0, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, FORMAT_FILE) >= sizeof(path))
		return GD_ENAMETOOLONG;
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return GD_ENOENT;
		gd_error("%s: %s", path, strerror(errno));
		return gd_status_from_errno(errno);
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char key[64];
		unsigned long long v;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, " %63[a-z-] = %llu", key, &v) != 2) {
			rc = GD_EPROTO;
		} else if (strcmp(key, "version") == 0) {
			if (v != FORMAT_VERSION)
				rc = GD_EPROTO;
		} else if (strcmp(key, "chunk-size") == 0) {
			*chunk_size = v;
			have_cs = true;
		} else if (strcmp(key, "default-goal") == 0) {
			if (v < 1 || v > META_NS_GOAL_MAX)
				rc = GD_EPROTO;
			*goal = (uint32_t)v;
			have_goal = true;
		}
		if (rc != 0)
			gd_error("%s:%d: bad line", path, lineno);
	}
	fclose(f);
	if (rc == 0 && (!have_cs || !have_goal)) {
		gd_error("%s: chunk-size or default-goal missing", path);
		rc = GD_EPROTO;
	}
	return rc;
}

/* Whether the Raft directory already holds a cluster (any file at all). */
static bool raft_dir_used(const char *raft_dir)
{
	char probe[PATH_MAX];
	struct stat st;

	/* libraft writes "metadata1" or "metadata2" when it bootstraps. */
	if ((size_t)snprintf(probe, sizeof(probe), "%s/metadata1", raft_dir) >= sizeof(probe))
		return false;
	if (stat(probe, &st) == 0)
		return true;
	if ((size_t)snprintf(probe, sizeof(probe), "%s/metadata2", raft_dir) >= sizeof(probe))
		return false;
	return stat(probe, &st) == 0;
}

/* The chunk size and root goal are fixed when the data directory is
 * formatted: they are written to DATA/format before Raft bootstraps, and a
 * restart uses them (the log replays into an FSM of that chunk size). */
static int load_format(const struct meta_options *opt, const char *raft_dir,
		       uint64_t *chunk_size, uint32_t *goal)
{
	uint64_t want_cs = opt->chunk_size != 0 ? opt->chunk_size : DEFAULT_CHUNK_SIZE;
	uint32_t want_goal = opt->default_goal != 0 ? opt->default_goal : DEFAULT_GOAL;
	char text[256];
	int rc;

	rc = read_format(opt->data_dir, chunk_size, goal);
	if (rc == 0) {
		if (opt->chunk_size != 0 && *chunk_size != opt->chunk_size)
			gd_warn("--chunk-size %" PRIu64 " ignored: %s was formatted with %" PRIu64,
				opt->chunk_size, opt->data_dir, *chunk_size);
		if (opt->default_goal != 0 && *goal != opt->default_goal)
			gd_warn("--default-goal %u ignored: %s was formatted with %u",
				opt->default_goal, opt->data_dir, *goal);
		return 0;
	}
	if (rc != GD_ENOENT)
		return rc;
	if (raft_dir_used(raft_dir))
		gd_warn("%s has a Raft log but no %s file: assuming chunk size %" PRIu64
			" and goal %u", opt->data_dir, FORMAT_FILE, want_cs, want_goal);
	*chunk_size = want_cs;
	*goal = want_goal;
	snprintf(text, sizeof(text),
		 "# godfs-meta: fixed when this data directory was formatted\n"
		 "version = %u\nchunk-size = %" PRIu64 "\ndefault-goal = %u\n",
		 FORMAT_VERSION, *chunk_size, *goal);
	return write_file_durably(opt->data_dir, FORMAT_FILE, text);
}

/* Locks the data directory for this process (libraft does not): two
 * godfs-meta on one Raft log would corrupt it. Returns the lock's fd. */
static int lock_data_dir(const char *dir, int *fd_out)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE) >= sizeof(path))
		return GD_ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		gd_error("%s: %s", path, strerror(errno));
		return gd_status_from_errno(errno);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			gd_error("%s is in use by another godfs-meta", dir);
		else
			gd_error("%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return GD_EBUSY;
	}
	*fd_out = fd;
	return 0;
}

/* ---- run ------------------------------------------------------------------------ */

/* Frees what meta_server_run set up, in reverse order; safe on a partly
 * set-up server. */
static void release(struct meta_server *ms)
{
	meta_metrics_stop(ms);
	meta_status_free(ms->status);   /* its listener is stopped */
	ms->status = NULL;
	meta_loop_release(ms);
	if (ms->fsm != NULL)
		meta_fsm_free(ms->fsm);
	meta_read_gate_free(ms->gate);
	meta_token_gate_clear();
}

/* Runs the loop until nothing is left on it, then closes it. */
static void drain_loop(struct meta_server *ms)
{
	int i;

	uv_run(&ms->loop, UV_RUN_DEFAULT);
	if (ms->raft != NULL) {
		meta_raft_free(ms->raft);
		ms->raft = NULL;
	}
	for (i = 0; i < 100 && uv_loop_close(&ms->loop) == UV_EBUSY; i++)
		uv_run(&ms->loop, UV_RUN_NOWAIT);
	if (i == 100)
		gd_warn("the event loop still has handles at exit");
}

int meta_server_run(const struct meta_options *opt)
{
	struct meta_server *ms;
	struct meta_raft_config rc_cfg;
	struct meta_raft_fsm rfsm;
	struct gd_server_config scfg;
	char raft_dir[PATH_MAX];
	uint64_t chunk_size = 0;
	uint32_t goal = 0;
	bool bootstrapped = false;
	int lock_fd = -1;
	int rc;

	rc = meta_dispatch_check_table();
	if (rc != 0)
		return rc;
	ms = gd_calloc(1, sizeof(*ms));
	if (ms == NULL)
		return GD_ENOMEM;
	ms->opt = *opt;
	rc = meta_loop_init(ms);
	if (rc != 0) {
		meta_loop_release(ms);
		gd_free(ms);
		return rc;
	}
	ms->proposer.propose = proposer_propose;
	ms->proposer.leader_address = proposer_leader_address;
	ms->proposer.other_leader = proposer_other_leader;
	ms->proposer.settled = proposer_settled;
	ms->proposer.ctx = ms;
	rc = lock_data_dir(opt->data_dir, &lock_fd);
	if (rc != 0) {
		meta_loop_release(ms);
		gd_free(ms);
		return rc;
	}
	if ((size_t)snprintf(raft_dir, sizeof(raft_dir), "%s/%s", opt->data_dir, RAFT_SUBDIR) >=
	    sizeof(raft_dir)) {
		rc = GD_ENAMETOOLONG;
		goto err_after_alloc;
	}
	if (mkdir(raft_dir, 0755) != 0 && errno != EEXIST) {
		gd_error("%s: %s", raft_dir, strerror(errno));
		rc = GD_EIO;
		goto err_after_alloc;
	}
	rc = load_format(opt, raft_dir, &chunk_size, &goal);
	if (rc != 0)
		goto err_after_alloc;
	rc = meta_fsm_new(chunk_size, &ms->fsm);
	if (rc != 0) {
		gd_error("cannot create the state machine (chunk size %" PRIu64 "): %s",
			 chunk_size, gd_strerror(rc));
		goto err_after_alloc;
	}
	rc = meta_fsm_set_default_goal(ms->fsm, goal);
	if (rc == 0)
		rc = meta_read_gate_new(&ms->gate);
	if (rc != 0)
		goto err_after_alloc;

	rc = uv_loop_init(&ms->loop);
	if (rc != 0) {
		gd_error("uv_loop_init: %s", uv_strerror(rc));
		rc = GD_EIO;
		goto err_after_alloc;
	}
	uv_async_init(&ms->loop, &ms->wake, on_wake);
	ms->wake.data = ms;
	ms->wake_ready = true;
	uv_timer_init(&ms->loop, &ms->tick);
	ms->tick.data = ms;
	uv_signal_init(&ms->loop, &ms->sig_term);
	ms->sig_term.data = ms;
	uv_signal_init(&ms->loop, &ms->sig_int);
	ms->sig_int.data = ms;

	memset(&rfsm, 0, sizeof(rfsm));
	rfsm.ctx = ms;
	rfsm.apply = fsm_apply_cb;
	rfsm.result_free = fsm_result_free_cb;
	rfsm.snapshot = fsm_snapshot_cb;
	rfsm.restore = fsm_restore_cb;
	memset(&rc_cfg, 0, sizeof(rc_cfg));
	rc_cfg.loop = &ms->loop;
	rc_cfg.dir = raft_dir;
	rc_cfg.id = opt->node_id;
	rc_cfg.address = opt->raft_listen;
	rc_cfg.peers = opt->peers;
	rc_cfg.n_peers = opt->n_peers;
	rc_cfg.snapshot_threshold = opt->snapshot_threshold;
	rc_cfg.snapshot_trailing = opt->snapshot_trailing;
	rc_cfg.join = opt->join;
	rc_cfg.segment_size = opt->raft_segment_size;
	rc_cfg.fail_stop = on_fail_stop;
	rc_cfg.fail_stop_arg = ms;
	rc = meta_raft_start(&rc_cfg, &rfsm, &ms->raft, &bootstrapped);
	if (rc != 0) {
		ms->raft = NULL;
		goto err_after_loop;
	}
	gd_info("%s %s: node %" PRIu64 ", Raft %s, %zu voter(s), chunk size %" PRIu64
		", applied up to index %" PRIu64 " (%" PRIu64 " inodes)",
		bootstrapped ? "formatted" : "opened", opt->data_dir, opt->node_id,
		opt->raft_listen, opt->n_peers > 0 ? opt->n_peers : (size_t)1,
		meta_fsm_chunk_size(ms->fsm), meta_raft_last_applied(ms->raft),
		meta_fsm_inode_count(ms->fsm));

	memset(&scfg, 0, sizeof(scfg));
	scfg.listen = opt->listen;
	scfg.handler = meta_loop_on_request;
	scfg.closed = meta_loop_on_conn_closed;
	scfg.ctx = ms;
	scfg.workers = 0;
	/* Every request queued for the loop (q, held, parked, waiting for a
	 * chunk) is a request not yet freed: these bounds bound them all. */
	scfg.limits = opt->limits;
	/* The process's policy (gd_cred_setup in main), and client tokens:
	 * checked against the loop's copy of the token table (meta_token_gate). */
	ms->auth = *gd_cred_policy();
	ms->auth.tokens = true;
	ms->auth.token_check = meta_token_gate_check;
	ms->auth.ctx = NULL;
	scfg.auth = &ms->auth;
	scfg.auth_timeout_ms = gd_cred_auth_timeout_ms();
	scfg.serves = GD_SERVE_META;
	rc = meta_metrics_start(ms, opt->metrics_listen);
	if (rc != 0) {
		gd_error("cannot serve metrics on %s", opt->metrics_listen);
		goto err_after_raft;
	}
	if (meta_metrics_http(ms) != NULL) {
		rc = meta_status_serve(ms, meta_metrics_http(ms));
		if (rc != 0) {
			gd_error("cannot serve the status page: %s", gd_strerror(rc));
			goto err_after_raft;
		}
	}
	rc = gd_server_start(&scfg, &ms->srv);
	if (rc != 0) {
		gd_error("cannot listen on %s", opt->listen);
		goto err_after_raft;
	}

	uv_signal_start(&ms->sig_term, on_signal, SIGTERM);
	uv_signal_start(&ms->sig_int, on_signal, SIGINT);
	uv_timer_start(&ms->tick, on_tick, 1, TICK_MS);
	ms->last_slow_tick_ms = meta_server_now_ms();
	drain_loop(ms);
	gd_server_stop(ms->srv);
	rc = ms->exit_status;
	gd_info("stopped");
	release(ms);
	gd_free(ms);
	close(lock_fd);
	return rc;

err_after_raft:
	ms->stopping = true;
	pthread_mutex_lock(&ms->qlock);
	ms->q_closed = true;
	pthread_mutex_unlock(&ms->qlock);
	maybe_close_raft(ms);
	drain_loop(ms);
	release(ms);
	gd_free(ms);
	close(lock_fd);
	return rc;
err_after_loop:
	ms->wake_ready = false;
	uv_close((uv_handle_t *)&ms->wake, handle_closed);
	uv_close((uv_handle_t *)&ms->tick, handle_closed);
	uv_close((uv_handle_t *)&ms->sig_term, handle_closed);
	uv_close((uv_handle_t *)&ms->sig_int, handle_closed);
	drain_loop(ms);
err_after_alloc:
	release(ms);
	gd_free(ms);
	close(lock_fd);
	return rc;
}
