/* The re-replication plan: priority, census, rate (see meta_repl_plan.h). */
#include "meta_repl_plan.h"

#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_status.h"

int meta_repl_cand_cmp(const void *a, const void *b)
{
	const struct meta_repl_cand *x = a, *y = b;

	if (x->live != y->live)
		return x->live < y->live ? -1 : 1;
	if (x->under_since_ms != y->under_since_ms)
		return x->under_since_ms < y->under_since_ms ? -1 : 1;
	return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

void meta_repl_plan_init(struct meta_repl_plan *p)
{
	memset(p, 0, sizeof(*p));
}

void meta_repl_plan_release(struct meta_repl_plan *p)
{
	gd_free(p->v);
	meta_repl_plan_init(p);
}

void meta_repl_plan_reset(struct meta_repl_plan *p)
{
	p->n = 0;
	p->head = 0;
}

int meta_repl_plan_add(struct meta_repl_plan *p, const struct meta_repl_cand *c)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct meta_repl_cand *v = gd_realloc(p->v, cap * sizeof(*v));
		if (!v)
			return GD_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = *c;
	return 0;
}

void meta_repl_plan_sort(struct meta_repl_plan *p)
{
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(p->v[0]), meta_repl_cand_cmp);
	p->head = 0;
}

void meta_repl_plan_swap(struct meta_repl_plan *a, struct meta_repl_plan *b)
{
	struct meta_repl_plan t = *a;

	*a = *b;
	*b = t;
}

void meta_repl_plan_take(struct meta_repl_plan *p, size_t i)
{
	if (i >= p->n)
		return;
	p->v[i].chunk_id = 0;
	while (p->head < p->n && p->v[p->head].chunk_id == 0)
		p->head++;
}

size_t meta_repl_plan_left(const struct meta_repl_plan *p)
{
	size_t i, n = 0;

	for (i = p->head; i < p->n; i++)
		n += p->v[i].chunk_id != 0;
	return n;
}

void meta_repl_census_add(struct meta_repl_census *c, uint32_t live, uint32_t goal,
			  uint64_t bytes)
{
	c->by_live[live < META_REPL_COPIES ? live : META_REPL_COPIES - 1]++;
	if (live > goal) {
		c->over_goal++;
		return;
	}
	if (live == goal) {
		c->at_goal++;
		return;
	}
	c->under_goal++;
	c->under_by_live[live < META_REPL_HIST ? live : META_REPL_HIST - 1]++;
	c->copies_todo += goal - live;
	c->bytes_todo += (uint64_t)(goal - live) * bytes;
}

uint64_t meta_repl_chunk_bytes(uint64_t file_size, uint64_t index, uint64_t chunk_size)
{
	uint64_t start;

	if (chunk_size == 0 || index > file_size / chunk_size)
		return 0;
	start = index * chunk_size;
	if (file_size <= start)
		return 0;
	return file_size - start < chunk_size ? file_size - start : chunk_size;
}

void meta_repl_rate_init(struct meta_repl_rate *r)
{
	memset(r, 0, sizeof(*r));
}

void meta_repl_rate_add(struct meta_repl_rate *r, uint64_t now_ms, uint64_t bytes)
{
	uint64_t s = now_ms / 1000;
	size_t i = (size_t)(s % META_REPL_RATE_SECS);

	if (r->sec[i] != s) {
		r->sec[i] = s;
		r->bytes[i] = 0;
		r->copies[i] = 0;
	}
	r->bytes[i] += bytes;
	r->copies[i]++;
	if (r->first_ms == 0)
		r->first_ms = now_ms ? now_ms : 1;
	r->total_bytes += bytes;
	r->total_copies++;
}

void meta_repl_rate_get(const struct meta_repl_rate *r, uint64_t now_ms, uint64_t *bps,
			uint64_t *mcps)
{
	uint64_t s = now_ms / 1000, b = 0, c = 0, span;
	size_t i;

	for (i = 0; i < META_REPL_RATE_SECS; i++) {
		if (r->sec[i] + META_REPL_RATE_SECS <= s || r->sec[i] > s || r->copies[i] == 0)
			continue;
		b += r->bytes[i];
		c += r->copies[i];
	}
	/* The window covers the current, partial second too; a shorter history
	 * (copies started a few seconds ago) is not diluted by a full window. */
	span = (uint64_t)(META_REPL_RATE_SECS - 1) * 1000 + now_ms % 1000;
	if (r->first_ms && now_ms - r->first_ms < span)
		span = now_ms - r->first_ms;
	if (span < 1000)
		span = 1000;
	*bps = b * 1000 / span;
	*mcps = c * 1000 * 1000 / span;
}

uint64_t meta_repl_eta_s(uint64_t copies_todo, uint64_t bytes_todo, uint64_t bps,
			 uint64_t mcps)
{
	uint64_t by_bytes = 0, by_copies = 0;

	if (copies_todo == 0 && bytes_todo == 0)
		return 0;
	if (bytes_todo) {
		if (bps == 0)
			return META_REPL_ETA_UNKNOWN;
		by_bytes = (bytes_todo + bps - 1) / bps;
	}
	if (copies_todo) {
		if (mcps == 0)
			return META_REPL_ETA_UNKNOWN;
		by_copies = (copies_todo * 1000 + mcps - 1) / mcps;
	}
	return by_bytes > by_copies ? by_bytes : by_copies;
}
