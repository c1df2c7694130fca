/* Where copies should be, as the leader's scan goes (see meta_balance.h). */
#include "meta_balance.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#define SHARED_LEN 80

/* One chunk of a placement report (its strings are copies). */
struct entry {
	uint64_t chunk_id;
	uint64_t version;
	uint32_t goal;
	size_t n;
	char **nodes;
	char **labels;
	char shared[SHARED_LEN];
	bool fixable;
};

struct report {
	struct entry *e;
	size_t n;
	uint64_t total;
};

struct meta_balance {
	struct report cur;      /* pass in progress */
	struct report last;     /* last complete pass */
	bool complete;
	/* the nodes that may take a copy this tick (alive, not draining),
	 * most free space first */
	struct meta_place_node *views;
	size_t n_views;
	size_t cap_views;
	bool unbalanced;
	double mean_pct;
	unsigned rate;
	double budget;          /* label and disk moves that may start now */
	uint64_t budget_ms;
};

/* log lines of drains that cannot go where they should (thread-safe, like
 * the refusal limits of the handlers) */
static struct gd_log_limit drain_log = GD_LOG_LIMIT_INIT;

static void report_free(struct report *r)
{
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		for (j = 0; j < r->e[i].n; j++) {
			gd_free(r->e[i].nodes[j]);
			gd_free(r->e[i].labels[j]);
		}
		gd_free(r->e[i].nodes);
		gd_free(r->e[i].labels);
	}
	gd_free(r->e);
	memset(r, 0, sizeof(*r));
}

int meta_balance_new(struct meta_balance **out)
{
	struct meta_balance *bal = gd_calloc(1, sizeof(*bal));

	if (!bal)
		return GD_ENOMEM;
	*out = bal;
	return 0;
}

void meta_balance_free(struct meta_balance *bal)
{
	if (!bal)
		return;
	meta_balance_clear(bal);
	gd_free(bal);
}

void meta_balance_clear(struct meta_balance *bal)
{
	report_free(&bal->cur);
	report_free(&bal->last);
	gd_free(bal->views);
	memset(bal, 0, sizeof(*bal));
}

static int cmp_free(const void *a, const void *b)
{
	const struct meta_place_node *x = a, *y = b;

	if (x->free_bytes != y->free_bytes)
		return x->free_bytes > y->free_bytes ? -1 : 1;
	return strcmp(x->id, y->id);
}

void meta_balance_tick(struct meta_balance *bal, struct meta_registry *reg, uint64_t now_ms,
		       const struct meta_balance_opts *o)
{
	const struct meta_place_node **ptrs;
	struct meta_node *n;
	size_t pos = 0, count = 0, i;

	while (meta_registry_next(reg, &pos))
		count++;
	if (count > bal->cap_views) {
		struct meta_place_node *v = gd_realloc(bal->views, count * sizeof(*v));
		if (!v) {
			bal->n_views = 0;
			return;
		}
		bal->views = v;
		bal->cap_views = count;
	}
	bal->n_views = 0;
	pos = 0;
	while ((n = meta_registry_next(reg, &pos)) != NULL && bal->n_views < count)
		if (meta_registry_node_alive(reg, n, now_ms) && !n->draining)
			meta_registry_place_node(n, &bal->views[bal->n_views++]);
	if (bal->n_views > 1)
		qsort(bal->views, bal->n_views, sizeof(*bal->views), cmp_free);
	ptrs = gd_calloc(bal->n_views + 1, sizeof(*ptrs));
	bal->unbalanced = false;
	if (ptrs) {
		for (i = 0; i < bal->n_views; i++)
			ptrs[i] = &bal->views[i];
		bal->unbalanced = meta_place_unbalanced(ptrs, bal->n_views, o->threshold_pct,
						     &bal->mean_pct);
		gd_free(ptrs);
	}
	if (o->rate != bal->rate || bal->budget_ms == 0) {
		bal->rate = o->rate;
		bal->budget = 0;
	} else if (now_ms > bal->budget_ms) {
		bal->budget += (double)(now_ms - bal->budget_ms) * o->rate / 1000.0;
		if (bal->budget > (double)o->rate)
			bal->budget = (double)o->rate;
	}
	bal->budget_ms = now_ms;
}

void meta_balance_pass_begin(struct meta_balance *bal)
{
	report_free(&bal->cur);
}

void meta_balance_pass_end(struct meta_balance *bal, struct meta_registry *reg)
{
	report_free(&bal->last);
	bal->last = bal->cur;
	memset(&bal->cur, 0, sizeof(bal->cur));
	bal->complete = true;
	meta_registry_pass_end(reg);
}

/* Views of the live copies (unregistered ones left out); returns how many. */
static size_t copy_views(struct meta_registry *reg, const char *const *live, size_t n_live,
			 struct meta_place_node *v, const struct meta_place_node **p)
{
	size_t n = 0, i;

	for (i = 0; i < n_live && n < META_NS_NODES_MAX; i++) {
		struct meta_node *x = meta_registry_get(reg, live[i]);
		if (!x)
			continue;
		meta_registry_place_node(x, &v[n]);
		p[n] = &v[n];
		n++;
	}
	return n;
}

/* The candidates for a new copy of a chunk on copies[0..n): views not
 * among them. Returns how many (into out, room for bal->n_views). */
static size_t cands_of(const struct meta_balance *bal,
		       const struct meta_place_node *const *copies, size_t n,
		       const struct meta_place_node **out)
{
	size_t k = 0, i, j;

	for (i = 0; i < bal->n_views; i++) {
		bool holds = false;
		for (j = 0; j < n && !holds; j++)
			holds = strcmp(copies[j]->id, bal->views[i].id) == 0;
		if (!holds)
			out[k++] = &bal->views[i];
	}
	return k;
}

static void add_entry(struct meta_balance *bal, const struct meta_fsm_chunk *c, const struct meta_place_node *const *cp,
		      size_t n, const char *what, const char *value, bool fixable)
{
	struct entry *e, *arr;
	size_t i;

	bal->cur.total++;
	if (bal->cur.n >= META_BALANCE_REPORT_MAX)
		return;
	arr = gd_realloc(bal->cur.e, (bal->cur.n + 1) * sizeof(*arr));
	if (!arr)
		return;
	bal->cur.e = arr;
	e = &arr[bal->cur.n];
	memset(e, 0, sizeof(*e));
	e->nodes = gd_calloc(n, sizeof(*e->nodes));
	e->labels = gd_calloc(n, sizeof(*e->labels));
	if (!e->nodes || !e->labels) {
		gd_free(e->nodes);
		gd_free(e->labels);
		return;
	}
	for (i = 0; i < n; i++) {
		char buf[2 * GD_LABEL_VALUE_MAX + 16];
		if (cp[i]->label->zone[0])
			snprintf(buf, sizeof(buf), "rack=%s,zone=%s", cp[i]->label->rack,
				 cp[i]->label->zone);
		else
			snprintf(buf, sizeof(buf), "rack=%s", cp[i]->label->rack);
		e->nodes[e->n] = gd_strdup(cp[i]->id);
		e->labels[e->n] = gd_strdup(buf);
		if (!e->nodes[e->n] || !e->labels[e->n]) {
			gd_free(e->nodes[e->n]);
			gd_free(e->labels[e->n]);
			continue;
		}
		e->n++;
	}
	e->chunk_id = c->chunk_id;
	e->version = c->version;
	e->goal = c->goal;
	snprintf(e->shared, sizeof(e->shared), "%s=%s", what, value);
	e->fixable = fixable;
	bal->cur.n++;
}

void meta_balance_note(struct meta_balance *bal, struct meta_registry *reg, const struct meta_fsm_chunk *c,
		       const char *const *live, size_t n_live)
{
	struct meta_place_node v[META_NS_NODES_MAX];
	const struct meta_place_node *cp[META_NS_NODES_MAX];
	const char *what = NULL, *value = NULL;
	size_t n, i;

	for (i = 0; i < c->n_nodes; i++)
		meta_registry_count_copy(reg, c->nodes[i]);
	n = copy_views(reg, live, n_live, v, cp);
	if (n >= 2 && meta_place_shared(cp, n, &what, &value)) {
		const struct meta_place_node **cands = gd_calloc(bal->n_views + 1, sizeof(*cands));
		struct meta_place_balance b = { .labels = true };
		struct meta_move mv;
		bool fixable = false;

		if (cands)
			fixable = meta_place_move(cp, n, cands, cands_of(bal, cp, n, cands), &b, &mv) ==
				  META_MOVE_LABEL;
		gd_free(cands);
		add_entry(bal, c, cp, n, what, value, fixable);
	}
}

enum meta_move_why meta_balance_move(struct meta_balance *bal, struct meta_registry *reg, const struct meta_fsm_chunk *c,
				     const char *const *live, size_t n_live,
				     const char **from, const char **to)
{
	struct meta_place_node v[META_NS_NODES_MAX];
	const struct meta_place_node *cp[META_NS_NODES_MAX];
	const struct meta_place_node **cands;
	struct meta_place_balance b;
	struct meta_move mv;
	enum meta_move_why why;
	size_t n = copy_views(reg, live, n_live, v, cp), n_cands;

	if (n == 0 || bal->n_views == 0)
		return META_MOVE_NONE;
	cands = gd_calloc(bal->n_views, sizeof(*cands));
	if (!cands)
		return META_MOVE_NONE;
	n_cands = cands_of(bal, cp, n, cands);
	b.labels = b.disks = bal->rate > 0 && bal->budget >= 1.0;
	b.unbalanced = bal->unbalanced;
	b.mean_pct = bal->mean_pct;
	why = meta_place_move(cp, n, cands, n_cands, &b, &mv);
	if (why == META_MOVE_DRAIN && mv.to == SIZE_MAX) {
		unsigned dropped;
		if (gd_log_limit_allow(&drain_log, &dropped))
			gd_warn("drain: chunk %" PRIu64 ": no live chunkd to take the copy on %s"
				" (all hold it, drain or are down)%s", c->chunk_id,
				cp[mv.from]->id, dropped ? " (and more not logged)" : "");
		why = META_MOVE_NONE;
	} else if (why == META_MOVE_DRAIN && !mv.spread) {
		unsigned dropped;
		if (gd_log_limit_allow(&drain_log, &dropped))
			gd_info("drain: chunk %" PRIu64 ": its copy on %s goes to %s, on a rack or"
				" zone another copy has (no other live one)%s", c->chunk_id,
				cp[mv.from]->id, cands[mv.to]->id,
				dropped ? " (and more not logged)" : "");
	}
	if (why != META_MOVE_NONE) {
		*from = cp[mv.from]->id;
		*to = cands[mv.to]->id;
	}
	gd_free(cands);
	return why;
}

void meta_balance_spent(struct meta_balance *bal, enum meta_move_why why)
{
	if (why == META_MOVE_LABEL || why == META_MOVE_BALANCE)
		bal->budget -= 1.0;
}

size_t meta_balance_victim(struct meta_registry *reg, const char *const *live, size_t n_live)
{
	struct meta_place_node v[META_NS_NODES_MAX];
	const struct meta_place_node *cp[META_NS_NODES_MAX];
	size_t n = copy_views(reg, live, n_live, v, cp), k, i;

	if (n != n_live) {
		/* an unregistered holder cannot be judged: the first registered
		 * one's view stands for the choice, by name */
		if (n == 0)
			return 0;
	}
	k = meta_place_victim(cp, n);
	for (i = 0; i < n_live; i++)
		if (strcmp(live[i], cp[k]->id) == 0)
			return i;
	return 0;
}

int meta_balance_report(const struct meta_balance *bal, Godfs__AdminPlacementResp *r,
			uint32_t limit)
{
	const struct report *rep = &bal->last;
	Godfs__PlacementInfo *infos, **ptrs;
	size_t n = rep->n, i;

	if (limit && limit < n)
		n = limit;
	r->has_total = r->has_complete = 1;
	r->total = rep->total;
	r->complete = bal->complete;
	if (n == 0)
		return 0;
	infos = gd_calloc(n, sizeof(*infos));
	ptrs = gd_calloc(n, sizeof(*ptrs));
	if (!infos || !ptrs) {
		gd_free(infos);
		gd_free(ptrs);
		return GD_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct entry *e = &rep->e[i];
		Godfs__PlacementInfo *x = &infos[i];
		godfs__placement_info__init(x);
		x->has_chunk_id = x->has_version = x->has_goal = x->has_fixable = 1;
		x->chunk_id = e->chunk_id;
		x->version = e->version;
		x->goal = e->goal;
		x->n_nodes = x->n_labels = e->n;
		x->nodes = e->nodes;
		x->labels = e->labels;
		x->shared = (char *)e->shared;
		x->fixable = e->fixable;
		ptrs[i] = x;
	}
	r->n_chunks = n;
	r->chunks = ptrs;
	return 0;
}

void meta_balance_report_release(Godfs__AdminPlacementResp *r)
{
	if (r->n_chunks)
		gd_free(r->chunks[0]);
	gd_free(r->chunks);
	r->chunks = NULL;
	r->n_chunks = 0;
}
