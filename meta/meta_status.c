/* The status page's snapshot: taken on the loop, rendered anywhere (see
 * meta_status.h). */
#include "meta_status.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_http.h"
#include "gd_net.h"
#include "gd_status.h"
#include "meta_drain.h"
#include "meta_ns.h"
#include "meta_raft.h"
#include "meta_registry.h"
#include "meta_repl.h"
#include "meta_repl_plan.h"
#include "meta_sessions.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

_Static_assert(META_STATUS_BY_LIVE == META_REPL_COPIES, "the census's last bucket is 4+");

/* A published snapshot and the renders still reading it. */
struct held {
	struct meta_status_snap *snap;
	unsigned refs;            /* st->lock */
};

struct meta_status {
	pthread_mutex_t lock;
	struct held *cur;         /* lock: the last published (NULL before the first) */
	uint64_t last_ms;         /* loop: when it was taken */
};

int meta_status_new(struct meta_status **out)
{
	struct meta_status *st = gd_calloc(1, sizeof(*st));

	if (!st)
		return GD_ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	*out = st;
	return 0;
}

/* Drops one reference (st->lock held); the last one frees. */
static void held_put_locked(struct held *h)
{
	if (h && --h->refs == 0) {
		meta_status_snap_free(h->snap);
		gd_free(h);
	}
}

void meta_status_free(struct meta_status *st)
{
	if (!st)
		return;
	held_put_locked(st->cur);
	pthread_mutex_destroy(&st->lock);
	gd_free(st);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void collect_raft(struct meta_server *ms, struct meta_status_snap *s)
{
	struct meta_raft_member mem[META_STATUS_MEMBERS_MAX];
	unsigned et = meta_raft_election_timeout_ms(ms->raft);
	size_t n = meta_raft_members(ms->raft, mem, META_STATUS_MEMBERS_MAX);

	copy_str(s->state, sizeof(s->state), meta_raft_state_name(ms->raft));
	s->term = meta_raft_term(ms->raft);
	s->last_index = meta_raft_last_index(ms->raft);
	s->applied_index = meta_raft_last_applied(ms->raft);
	s->leader_id = meta_raft_leader_id(ms->raft);
	for (size_t i = 0; i < n; i++) {
		struct meta_status_member *m = &s->members[i];

		m->id = mem[i].id;
		copy_str(m->raft_addr, sizeof(m->raft_addr), mem[i].raft_addr);
		copy_str(m->client_addr, sizeof(m->client_addr), mem[i].client_addr);
		/* a voter bootstrapped alone has no client address in the
		 * configuration: this node knows its own */
		if (m->client_addr[0] == '\0' && mem[i].id == ms->opt.node_id)
			copy_str(m->client_addr, sizeof(m->client_addr), ms->opt.listen);
		copy_str(m->role, sizeof(m->role), mem[i].role);
		m->leader = mem[i].leader;
		m->self = mem[i].id == ms->opt.node_id;
		m->match_index = mem[i].has_match ? mem[i].match_index : META_STATUS_UNKNOWN;
		/* Only the leader hears from every voter; it hears from each at
		 * least once an election timeout while all is well. */
		m->has_heard = mem[i].has_match;
		m->reachable = m->self || (mem[i].heard && mem[i].heard_ago_ms <= et);
		m->heard_ago_ms = mem[i].heard ? mem[i].heard_ago_ms : 0;
		if (m->leader && m->client_addr[0])
			copy_str(s->leader_client_addr, sizeof(s->leader_client_addr), m->client_addr);
	}
	s->n_members = n;
}

/* Fills node i from the replicated record and, on the leader, the registry. */
static int collect_node(struct meta_server *ms, struct meta_status_snap *s, size_t i,
			const char *id, const char *address, const char *label, uint64_t now)
{
	struct meta_status_node *n = &s->nodes[i];
	struct meta_node *r = s->leader ? meta_registry_get(ms->reg, id) : NULL;

	n->id = gd_strdup(id);
	n->address = gd_strdup(r ? r->address : address ? address : "");
	n->label = gd_strdup(r ? r->label : label ? label : "");
	if (!n->id || !n->address || !n->label)
		return GD_ENOMEM;
	n->draining = meta_drain_is_draining(meta_fsm_state(ms->fsm), id);
	if (r != NULL) {
		n->registered = true;
		n->alive = meta_registry_node_alive(ms->reg, r, now);
		n->total_bytes = r->total_bytes;
		n->free_bytes = r->free_bytes;
		n->chunks = r->chunk_count;
		n->last_seen_ago_ms = now >= r->last_seen_ms ? now - r->last_seen_ms : 0;
	}
	return 0;
}

/* Every chunkd the replicated registry knows, then any that registered with
 * this leader and is not in it yet (its record is on its way through Raft). */
static int collect_nodes(struct meta_server *ms, struct meta_status_snap *s, uint64_t now)
{
	const struct meta_ns_state *st = meta_fsm_state(ms->fsm);
	struct meta_node *r;
	size_t pos = 0, extra = 0, k = 0;
	int rc;

	if (s->leader)
		while ((r = meta_registry_next(ms->reg, &pos)) != NULL)
			extra += meta_ns_node_find(st, r->node_id) == NULL;
	if (st->n_nodes + extra == 0)
		return 0;
	s->nodes = gd_calloc(st->n_nodes + extra, sizeof(*s->nodes));
	if (!s->nodes)
		return GD_ENOMEM;
	for (size_t i = 0; i < st->n_nodes; i++, k++) {
		s->n_nodes = k + 1;
		rc = collect_node(ms, s, k, st->nodes[i].id, st->nodes[i].address, st->nodes[i].label,
				  now);
		if (rc)
			return rc;
	}
	pos = 0;
	while (s->leader && k < st->n_nodes + extra && (r = meta_registry_next(ms->reg, &pos)) != NULL) {
		if (meta_ns_node_find(st, r->node_id) != NULL)
			continue;
		s->n_nodes = k + 1;
		rc = collect_node(ms, s, k++, r->node_id, r->address, r->label, now);
		if (rc)
			return rc;
	}
	return 0;
}

/* The leader's census and re-replication figures (meta_repl.h). */
static void collect_chunks(struct meta_server *ms, struct meta_status_snap *s)
{
	Godfs__AdminStatusResp r = GODFS__ADMIN_STATUS_RESP__INIT;
	const struct meta_repl_census *census;
	const Godfs__ReplProgress *p;

	s->sessions = meta_sessions_count(ms->sess);
	meta_repl_status(ms, &r);
	p = r.repl;
	s->copies_pending = r.repl_pending;
	if (p == NULL)
		return;
	s->census_known = p->has_pass_age_ms;
	s->census_age_ms = p->pass_age_ms;
	for (size_t i = 0; i < p->n_under_by_live && i < META_STATUS_COPIES_MAX; i++)
		s->under_by_live[i] = p->under_by_live[i];
	/* the census's last entry counts that many copies or more */
	for (size_t i = META_STATUS_COPIES_MAX; i < p->n_under_by_live; i++)
		s->under_by_live[META_STATUS_COPIES_MAX - 1] += p->under_by_live[i];
	census = meta_repl_census(ms->repl);
	for (size_t i = 0; i < META_REPL_COPIES && i < META_STATUS_BY_LIVE; i++)
		s->by_live[i] = census->by_live[i];
	s->under_goal = meta_repl_under_goal(ms->repl);
	s->at_goal = p->at_goal;
	s->over_goal = p->over_goal;
	s->copies_todo = p->copies_todo;
	s->bytes_todo = p->bytes_todo;
	s->rate_bps = p->rate_bps;
	s->eta_s = p->has_eta_s ? p->eta_s : META_STATUS_UNKNOWN;
}

int meta_status_collect(struct meta_server *ms, struct meta_status_snap **out)
{
	struct meta_status_snap *s = gd_calloc(1, sizeof(*s));
	uint64_t now = gd_net_now_ms();
	struct timespec ts;
	int rc;

	if (!s)
		return GD_ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->taken_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	copy_str(s->version, sizeof(s->version), PACKAGE_VERSION);
	s->node_id = ms->opt.node_id;
	s->leader = ms->ready;
	s->sessions = META_STATUS_UNKNOWN;
	s->eta_s = META_STATUS_UNKNOWN;
	if (ms->raft != NULL)
		collect_raft(ms, s);
	else
		copy_str(s->state, sizeof(s->state), "unavailable");
	s->inodes = meta_fsm_inode_count(ms->fsm);
	s->chunks = meta_fsm_chunk_count(ms->fsm);
	if (s->leader)
		collect_chunks(ms, s);
	rc = collect_nodes(ms, s, now);
	if (rc) {
		meta_status_snap_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void meta_status_tick(struct meta_status *st, struct meta_server *ms, uint64_t now_ms)
{
	struct meta_status_snap *snap;
	struct held *h, *old;

	if (st->last_ms != 0 && now_ms - st->last_ms < META_STATUS_REFRESH_MS)
		return;
	st->last_ms = now_ms;
	if (meta_status_collect(ms, &snap) != 0)
		return;
	h = gd_calloc(1, sizeof(*h));
	if (!h) {
		meta_status_snap_free(snap);
		return;
	}
	h->snap = snap;
	h->refs = 1;
	pthread_mutex_lock(&st->lock);
	old = st->cur;
	st->cur = h;
	held_put_locked(old);
	pthread_mutex_unlock(&st->lock);
}

int meta_status_page(struct meta_status *st, bool json, char **body, size_t *len)
{
	struct held *h;
	int rc;

	pthread_mutex_lock(&st->lock);
	h = st->cur;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&st->lock);
	if (!h)
		return GD_EAGAIN;
	rc = json ? meta_status_render_json(h->snap, body, len)
		  : meta_status_render_html(h->snap, META_STATUS_PAGE_REFRESH_S, body, len);
	pthread_mutex_lock(&st->lock);
	held_put_locked(h);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* gd_http's handler of both pages (listener thread); ctx: the struct
 * meta_status. */
static void http_page(void *ctx, const char *path, const char *query, struct gd_http_reply *out)
{
	static const char not_yet[] = "no status yet: the meta takes its first snapshot within a second\n";
	bool json = strcmp(path, "/status.json") == 0;
	int rc;

	(void)query;
	rc = meta_status_page(ctx, json, &out->body, &out->len);
	if (rc == 0) {
		out->status = 200;
		out->content_type = json ? "application/json" : "text/html; charset=utf-8";
		return;
	}
	out->status = 503;
	out->content_type = "text/plain; charset=utf-8";
	out->body = gd_strdup(rc == GD_EAGAIN ? not_yet : "out of memory\n");
	out->len = out->body ? strlen(out->body) : 0;
}

int meta_status_serve(struct meta_server *ms, struct gd_http *h)
{
	int rc = meta_status_new(&ms->status);

	if (rc == 0)
		rc = gd_http_route(h, "/status", http_page, ms->status);
	if (rc == 0)
		rc = gd_http_route(h, "/status.json", http_page, ms->status);
	return rc;
}
