/* The meta's metrics (see meta_metrics.h). */
#include "meta_metrics.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_metrics.h"
#include "gd_metrics_serve.h"
#include "gd_status.h"
#include "meta_ns.h"
#include "meta_raft.h"
#include "meta_repl.h"
#include "meta_repl_plan.h"
#include "meta_server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PUBLISH_EVERY_MS 500
#define NODE_ID_LEN 64
#define NODE_ADDR_LEN 300

/* One chunkd as the last publication saw it. */
struct node_snap {
	char id[NODE_ID_LEN];
	char addr[NODE_ADDR_LEN];
	bool up;
	bool draining;
	uint64_t total;
	uint64_t used;
};

static const char *const copies_label[META_REPL_COPIES] = { "0", "1", "2", "3", "4+" };

static struct {
	/* set by meta_metrics_start (main thread, before the loop runs) */
	struct gd_http *http;
	bool registered;
	struct gd_mseries *term, *last_index, *commit_index, *applied_index, *is_leader,
		*voters;
	struct gd_mseries *commit;          /* histogram */
	struct gd_mseries *log_write;       /* histogram */
	uint64_t last_publish_ms;           /* loop */

	pthread_mutex_t mu;                 /* guards everything below */
	bool leader;                        /* a ready leader: the rest is valid */
	uint64_t by_copies[META_REPL_COPIES];
	uint64_t under_goal, missing, backlog_chunks, backlog_bytes, inodes, sessions;
	struct node_snap *nodes;            /* gd_malloc'd, n_nodes */
	size_t n_nodes;
} M = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- collectors (the listener's thread, under M.mu) ---- */

/* Emits one leader-only value selected by ctx. */
enum scalar { S_UNDER, S_MISSING, S_BACKLOG_CHUNKS, S_BACKLOG_BYTES, S_INODES, S_SESSIONS };

static void collect_scalar(void *ctx, struct gd_metrics_emit *e)
{
	enum scalar which = (enum scalar)(intptr_t)ctx;
	uint64_t v = 0;

	pthread_mutex_lock(&M.mu);
	switch (which) {
	case S_UNDER: v = M.under_goal; break;
	case S_MISSING: v = M.missing; break;
	case S_BACKLOG_CHUNKS: v = M.backlog_chunks; break;
	case S_BACKLOG_BYTES: v = M.backlog_bytes; break;
	case S_INODES: v = M.inodes; break;
	case S_SESSIONS: v = M.sessions; break;
	}
	if (M.leader)
		gd_metrics_emit(e, (double)v);
	pthread_mutex_unlock(&M.mu);
}

static void collect_chunks(void *ctx, struct gd_metrics_emit *e)
{
	size_t i;

	(void)ctx;
	pthread_mutex_lock(&M.mu);
	for (i = 0; M.leader && i < META_REPL_COPIES; i++)
		gd_metrics_emit(e, (double)M.by_copies[i], copies_label[i]);
	pthread_mutex_unlock(&M.mu);
}

enum nodeval { N_UP, N_DRAINING, N_TOTAL, N_USED };

static void collect_nodes(void *ctx, struct gd_metrics_emit *e)
{
	enum nodeval which = (enum nodeval)(intptr_t)ctx;
	size_t i;

	pthread_mutex_lock(&M.mu);
	for (i = 0; M.leader && i < M.n_nodes; i++) {
		const struct node_snap *n = &M.nodes[i];

		switch (which) {
		case N_UP: gd_metrics_emit(e, n->up, n->id, n->addr); break;
		case N_DRAINING: gd_metrics_emit(e, n->draining, n->id); break;
		case N_TOTAL: gd_metrics_emit(e, (double)n->total, n->id); break;
		case N_USED: gd_metrics_emit(e, (double)n->used, n->id); break;
		}
	}
	pthread_mutex_unlock(&M.mu);
}

/* ---- registration ---- */

static struct gd_mseries *gauge(struct gd_metrics *reg, const char *name, const char *help)
{
	return gd_metric_at(gd_metrics_gauge(reg, name, help, NULL));
}

static void leader_gauge(struct gd_metrics *reg, const char *name, const char *help,
			 const char *labels, gd_metrics_collect_fn fn, intptr_t which)
{
	gd_metrics_collector(reg, name, help, GD_METRIC_GAUGE, labels, fn, (void *)which);
}

static void register_all(void)
{
	struct gd_metrics *reg = gd_metrics_global();

	if (M.registered || !reg)
		return;
	M.registered = true;
	M.term = gauge(reg, "godfs_raft_term", "The Raft term this voter is in.");
	M.last_index = gauge(reg, "godfs_raft_last_index", "Index of the last entry of the Raft log.");
	M.commit_index = gauge(reg, "godfs_raft_commit_index",
			       "Highest Raft log index known to be committed.");
	M.applied_index = gauge(reg, "godfs_raft_applied_index",
				"Highest Raft log index applied to the state machine.");
	M.is_leader = gauge(reg, "godfs_raft_is_leader",
			    "1 when this voter is the ready leader (answers clients), else 0.");
	M.voters = gauge(reg, "godfs_raft_voters", "Voters in the Raft configuration.");
	M.commit = gd_metric_at(gd_metrics_histogram(
		reg, "godfs_raft_commit_duration_seconds",
		"Time from a proposal of the leader to its entry applied.", NULL, NULL, 0));
	M.log_write = gd_metric_at(gd_metrics_histogram(
		reg, "godfs_raft_log_write_duration_seconds",
		"Time from entries handed to this voter's Raft log to their write done (durable).",
		NULL, NULL, 0));
	leader_gauge(reg, "godfs_meta_chunks",
		     "Chunks by valid live copies (last re-replication scan pass; leader only).",
		     "copies", collect_chunks, 0);
	leader_gauge(reg, "godfs_meta_chunks_under_goal",
		     "Chunks with fewer live copies than their goal (leader only).", NULL,
		     collect_scalar, S_UNDER);
	leader_gauge(reg, "godfs_meta_chunks_missing",
		     "Chunks with no live valid copy: their data cannot be read (leader only).",
		     NULL, collect_scalar, S_MISSING);
	leader_gauge(reg, "godfs_meta_replication_backlog_chunks",
		     "Chunk copies missing to bring every chunk to its goal (leader only).", NULL,
		     collect_scalar, S_BACKLOG_CHUNKS);
	leader_gauge(reg, "godfs_meta_replication_backlog_bytes",
		     "Bytes of those copies, estimated from file sizes (leader only).", NULL,
		     collect_scalar, S_BACKLOG_BYTES);
	leader_gauge(reg, "godfs_meta_inodes", "Inodes in the file system (leader only).", NULL,
		     collect_scalar, S_INODES);
	leader_gauge(reg, "godfs_meta_sessions", "Open client sessions (leader only).", NULL,
		     collect_scalar, S_SESSIONS);
	leader_gauge(reg, "godfs_meta_chunkd_up",
		     "1 when the chunkd heartbeats, 0 when it is dead or has not registered "
		     "with this leader (every chunkd ever registered; leader only).",
		     "node,addr", collect_nodes, N_UP);
	leader_gauge(reg, "godfs_meta_chunkd_draining", "1 when the chunkd is being drained.",
		     "node", collect_nodes, N_DRAINING);
	leader_gauge(reg, "godfs_meta_chunkd_space_total_bytes",
		     "Size of the chunkd's data file systems, as it last reported.", "node",
		     collect_nodes, N_TOTAL);
	leader_gauge(reg, "godfs_meta_chunkd_space_used_bytes",
		     "Bytes used on the chunkd's data file systems (total - free).", "node",
		     collect_nodes, N_USED);
}

int meta_metrics_start(struct meta_server *ms, const char *listen)
{
	(void)ms;
	register_all();
	if (!listen || !*listen)
		return 0;
	return gd_metrics_serve(listen, &M.http);
}

void meta_metrics_stop(struct meta_server *ms)
{
	(void)ms;
	gd_http_stop(M.http);
	M.http = NULL;
	pthread_mutex_lock(&M.mu);
	gd_free(M.nodes);
	M.nodes = NULL;
	M.n_nodes = 0;
	M.leader = false;
	pthread_mutex_unlock(&M.mu);
}

struct gd_http *meta_metrics_http(struct meta_server *ms)
{
	(void)ms;
	return M.http;
}

void meta_metrics_committed(uint64_t ns)
{
	gd_mseries_observe(M.commit, (double)ns / 1e9);
}

void meta_metrics_log_written(uint64_t ns)
{
	gd_mseries_observe(M.log_write, (double)ns / 1e9);
}

/* ---- publication (loop) ---- */

/* The chunkds the FSM knows, with what this leader's registry says of them. */
static struct node_snap *nodes_snapshot(struct meta_server *ms, uint64_t now, size_t *n_out)
{
	const struct meta_ns_state *st = meta_fsm_state(ms->fsm);
	struct node_snap *v;
	size_t i;

	*n_out = 0;
	if (st->n_nodes == 0)
		return NULL;
	v = gd_calloc(st->n_nodes, sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < st->n_nodes; i++) {
		const struct meta_ns_node *fn = &st->nodes[i];
		struct meta_node *rn = meta_registry_get(ms->reg, fn->id);

		snprintf(v[i].id, sizeof(v[i].id), "%s", fn->id);
		snprintf(v[i].addr, sizeof(v[i].addr), "%s",
			 rn ? rn->address : fn->address ? fn->address : "");
		v[i].draining = fn->draining;
		if (rn) {
			v[i].up = meta_registry_node_alive(ms->reg, rn, now);
			v[i].total = rn->total_bytes;
			v[i].used = rn->total_bytes > rn->free_bytes ? rn->total_bytes - rn->free_bytes
								     : 0;
		}
	}
	*n_out = st->n_nodes;
	return v;
}

void meta_metrics_publish(struct meta_server *ms, uint64_t now_ms)
{
	struct meta_raft_member members[16];   /* masters add allows 16 */
	struct node_snap *nodes = NULL, *old;
	size_t n_nodes = 0, voters = 0, i, n;
	bool leader;

	if (!M.registered || !ms->raft ||
	    (now_ms - M.last_publish_ms < PUBLISH_EVERY_MS && M.last_publish_ms != 0))
		return;
	M.last_publish_ms = now_ms;
	leader = ms->ready;
	gd_mseries_set(M.term, (double)meta_raft_term(ms->raft));
	gd_mseries_set(M.last_index, (double)meta_raft_last_index(ms->raft));
	gd_mseries_set(M.commit_index, (double)meta_raft_commit_index(ms->raft));
	gd_mseries_set(M.applied_index, (double)meta_raft_last_applied(ms->raft));
	gd_mseries_set(M.is_leader, leader ? 1 : 0);
	n = meta_raft_members(ms->raft, members, sizeof(members) / sizeof(members[0]));
	for (i = 0; i < n; i++)
		if (strcmp(members[i].role, "voter") == 0)
			voters++;
	gd_mseries_set(M.voters, (double)voters);
	if (leader)
		nodes = nodes_snapshot(ms, now_ms, &n_nodes);

	pthread_mutex_lock(&M.mu);
	M.leader = leader;
	if (leader) {
		const struct meta_repl_census *c = meta_repl_census(ms->repl);

		memcpy(M.by_copies, c->by_live, sizeof(M.by_copies));
		M.under_goal = c->under_goal;
		M.missing = c->by_live[0];
		M.backlog_chunks = c->copies_todo;
		M.backlog_bytes = c->bytes_todo;
		M.inodes = meta_fsm_inode_count(ms->fsm);
		M.sessions = meta_sessions_count(ms->sess);
	}
	old = M.nodes;
	M.nodes = nodes;
	M.n_nodes = n_nodes;
	pthread_mutex_unlock(&M.mu);
	gd_free(old);
}
