/* The mount's memory budget (see fs_budget.h). */
#include "fs_budget.h"

#include <pthread.h>

#include "gd_alloc.h"
#include "gd_status.h"

struct fs_pool {
	size_t size;
	size_t n;                           /* guarded by fs_budget's mu */
	void *idle[FS_BUDGET_IDLE];         /* guarded by fs_budget's mu */
};

struct fs_budget {
	pthread_mutex_t mu;                 /* guards used and the pools */
	size_t limit;                       /* fixed */
	size_t used;                        /* in use + idle */
	struct fs_pool pool[FS_BUDGET_KINDS];
};

int fs_budget_new(size_t limit, size_t wsize, size_t rsize, struct fs_budget **out)
{
	struct fs_budget *b = gd_calloc(1, sizeof(*b));
	if (!b)
		return GD_ENOMEM;
	pthread_mutex_init(&b->mu, NULL);
	b->limit = limit;
	b->pool[FS_BUDGET_WRITE].size = wsize;
	b->pool[FS_BUDGET_READ].size = rsize;
	*out = b;
	return 0;
}

void fs_budget_free(struct fs_budget *b)
{
	if (!b)
		return;
	for (int k = 0; k < FS_BUDGET_KINDS; k++)
		while (b->pool[k].n)
			gd_free(b->pool[k].idle[--b->pool[k].n]);
	pthread_mutex_destroy(&b->mu);
	gd_free(b);
}

/* Whether `bytes` more fit under limit - keep, after freeing idle blocks
 * (other than of `spare`, whose block the caller may take next) as long as
 * they do not. Caller holds mu. */
static bool fits_locked(struct fs_budget *b, size_t bytes, size_t keep, int spare)
{
	const size_t room = b->limit > keep ? b->limit - keep : 0;
	for (int k = 0; k < FS_BUDGET_KINDS && b->used + bytes > room; k++) {
		struct fs_pool *p = &b->pool[k];
		while (k != spare && p->n && b->used + bytes > room) {
			gd_free(p->idle[--p->n]);
			b->used -= p->size;
		}
	}
	return b->used + bytes <= room;
}

bool fs_budget_take(struct fs_budget *b, size_t bytes, size_t keep)
{
	pthread_mutex_lock(&b->mu);
	bool ok = fits_locked(b, bytes, keep, -1);
	if (ok)
		b->used += bytes;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

void fs_budget_give(struct fs_budget *b, size_t bytes)
{
	pthread_mutex_lock(&b->mu);
	b->used = b->used > bytes ? b->used - bytes : 0;
	pthread_mutex_unlock(&b->mu);
}

void *fs_budget_block(struct fs_budget *b, int kind, size_t keep)
{
	struct fs_pool *p = &b->pool[kind];
	void *blk = NULL;
	pthread_mutex_lock(&b->mu);
	if (p->n) {
		/* Counted already: reusing it costs nothing more. */
		blk = p->idle[--p->n];
		pthread_mutex_unlock(&b->mu);
		return blk;
	}
	bool ok = fits_locked(b, p->size, keep, kind);
	if (ok)
		b->used += p->size;
	pthread_mutex_unlock(&b->mu);
	if (!ok)
		return NULL;
	blk = gd_malloc(p->size);
	if (!blk)
		fs_budget_give(b, p->size);
	return blk;
}

void fs_budget_block_put(struct fs_budget *b, int kind, void *blk)
{
	struct fs_pool *p = &b->pool[kind];
	if (!blk)
		return;
	pthread_mutex_lock(&b->mu);
	if (p->n < FS_BUDGET_IDLE) {
		p->idle[p->n++] = blk;
		blk = NULL;
	} else {
		b->used = b->used > p->size ? b->used - p->size : 0;
	}
	pthread_mutex_unlock(&b->mu);
	gd_free(blk);
}

size_t fs_budget_used(struct fs_budget *b)
{
	pthread_mutex_lock(&b->mu);
	size_t used = b->used;
	pthread_mutex_unlock(&b->mu);
	return used;
}

size_t fs_budget_limit(const struct fs_budget *b)
{
	return b->limit;
}

size_t fs_budget_block_size(const struct fs_budget *b, int kind)
{
	return b->pool[kind].size;
}
