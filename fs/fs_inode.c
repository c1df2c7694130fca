/* The sharded inode table (see fs_inode.h). An entry lives while the kernel
 * holds lookups of it, a handle is open or a request holds a reference. */
#include "fs_inode.h"

#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#define FS_SHARDS 64
#define FS_SHARD_BUCKETS 256

struct fs_shard {
	pthread_mutex_t mu;
	struct fs_inode *b[FS_SHARD_BUCKETS]; /* guarded by mu */
	size_t count;                         /* guarded by mu */
};

struct fs_itable {
	struct fs_shard shards[FS_SHARDS];
};

void (*fs_inode_free_hook)(struct fs_inode *in);

static uint64_t ino_hash(uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static struct fs_shard *shard_of(struct fs_itable *t, uint64_t ino)
{
	return &t->shards[ino_hash(ino) % FS_SHARDS];
}

/* Caller holds the shard lock. */
static struct fs_inode **slot_of(struct fs_shard *s, uint64_t ino)
{
	struct fs_inode **p = &s->b[(ino_hash(ino) / FS_SHARDS) % FS_SHARD_BUCKETS];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

int fs_itable_new(struct fs_itable **out)
{
	struct fs_itable *t = gd_calloc(1, sizeof(*t));
	if (!t)
		return GD_ENOMEM;
	for (size_t i = 0; i < FS_SHARDS; i++)
		pthread_mutex_init(&t->shards[i].mu, NULL);
	*out = t;
	return 0;
}

static void inode_free(struct fs_inode *in)
{
	if (fs_inode_free_hook)
		fs_inode_free_hook(in);
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cv);
	gd_free(in);
}

void fs_itable_free(struct fs_itable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < FS_SHARDS; i++) {
		struct fs_shard *s = &t->shards[i];
		for (size_t b = 0; b < FS_SHARD_BUCKETS; b++) {
			struct fs_inode *in = s->b[b];
			while (in) {
				struct fs_inode *n = in->next;
				inode_free(in);
				in = n;
			}
		}
		pthread_mutex_destroy(&s->mu);
	}
	gd_free(t);
}

/* Caller holds the shard lock: the entry of ino, created when missing. */
static struct fs_inode *get_locked(struct fs_shard *s, uint64_t ino, bool create)
{
	struct fs_inode **p = slot_of(s, ino);
	if (*p || !create)
		return *p;
	struct fs_inode *in = gd_calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->ino = ino;
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
	*p = in;
	s->count++;
	return in;
}

/* Caller holds the shard lock: frees the entry when nothing holds it. */
static void maybe_free_locked(struct fs_shard *s, struct fs_inode *in)
{
	if (in->nlookup || in->nopen || in->refs)
		return;
	struct fs_inode **p = slot_of(s, in->ino);
	if (*p == in) {
		*p = in->next;
		s->count--;
	}
	inode_free(in);
}

struct fs_inode *fs_inode_get(struct fs_itable *t, uint64_t ino)
{
	struct fs_shard *s = shard_of(t, ino);
	pthread_mutex_lock(&s->mu);
	struct fs_inode *in = get_locked(s, ino, true);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&s->mu);
	return in;
}

struct fs_inode *fs_inode_find(struct fs_itable *t, uint64_t ino)
{
	struct fs_shard *s = shard_of(t, ino);
	pthread_mutex_lock(&s->mu);
	struct fs_inode *in = get_locked(s, ino, false);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&s->mu);
	return in;
}

void fs_inode_put(struct fs_itable *t, struct fs_inode *in)
{
	if (!in)
		return;
	struct fs_shard *s = shard_of(t, in->ino);
	pthread_mutex_lock(&s->mu);
	in->refs--;
	maybe_free_locked(s, in);
	pthread_mutex_unlock(&s->mu);
}

int fs_inode_lookup_add(struct fs_itable *t, uint64_t ino, const struct gd_attr *a)
{
	struct fs_shard *s = shard_of(t, ino);
	pthread_mutex_lock(&s->mu);
	struct fs_inode *in = get_locked(s, ino, true);
	if (in) {
		in->nlookup++;
		if (a)
			fs_inode_set_attr(in, a);
	}
	pthread_mutex_unlock(&s->mu);
	return in ? 0 : GD_ENOMEM;
}

void fs_inode_forget(struct fs_itable *t, uint64_t ino, uint64_t n)
{
	struct fs_shard *s = shard_of(t, ino);
	pthread_mutex_lock(&s->mu);
	struct fs_inode *in = get_locked(s, ino, false);
	if (in) {
		if (n > in->nlookup) {
			gd_warn("inode %llu: the kernel forgot %llu lookups of %llu",
				(unsigned long long)ino, (unsigned long long)n,
				(unsigned long long)in->nlookup);
			n = in->nlookup;
		}
		in->nlookup -= n;
		maybe_free_locked(s, in);
	}
	pthread_mutex_unlock(&s->mu);
}

uint32_t fs_inode_opened(struct fs_itable *t, struct fs_inode *in)
{
	struct fs_shard *s = shard_of(t, in->ino);
	pthread_mutex_lock(&s->mu);
	uint32_t n = ++in->nopen;
	pthread_mutex_unlock(&s->mu);
	return n;
}

bool fs_inode_open_here(struct fs_itable *t, uint64_t ino)
{
	struct fs_shard *s = shard_of(t, ino);
	pthread_mutex_lock(&s->mu);
	struct fs_inode *in = get_locked(s, ino, false);
	bool open = in && in->nopen > 0;
	pthread_mutex_unlock(&s->mu);
	return open;
}

uint32_t fs_inode_closed(struct fs_itable *t, struct fs_inode *in)
{
	struct fs_shard *s = shard_of(t, in->ino);
	pthread_mutex_lock(&s->mu);
	uint32_t n = in->nopen ? --in->nopen : 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t fs_itable_open_inodes(struct fs_itable *t, uint64_t *ino, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < FS_SHARDS; i++) {
		struct fs_shard *s = &t->shards[i];
		pthread_mutex_lock(&s->mu);
		for (size_t b = 0; b < FS_SHARD_BUCKETS; b++)
			for (struct fs_inode *in = s->b[b]; in; in = in->next)
				for (uint32_t k = 0; k < in->nopen && n < max; k++)
					ino[n++] = in->ino;
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

void fs_itable_foreach(struct fs_itable *t, void (*fn)(struct fs_inode *in, void *ctx),
		       void *ctx)
{
	for (size_t i = 0; i < FS_SHARDS; i++) {
		struct fs_shard *s = &t->shards[i];
		pthread_mutex_lock(&s->mu);
		for (size_t b = 0; b < FS_SHARD_BUCKETS; b++)
			for (struct fs_inode *in = s->b[b]; in; in = in->next)
				fn(in, ctx);
		pthread_mutex_unlock(&s->mu);
	}
}

void fs_inode_set_attr(struct fs_inode *in, const struct gd_attr *a)
{
	pthread_mutex_lock(&in->mu);
	in->attr = *a;
	in->have_attr = true;
	if (!in->dirty && !in->fill && !in->nbusy)
		in->size = a->size;
	else if (a->size > in->size)
		in->size = a->size;
	pthread_mutex_unlock(&in->mu);
}

size_t fs_itable_count(struct fs_itable *t)
{
	size_t n = 0;

	for (size_t i = 0; i < FS_SHARDS; i++) {
		pthread_mutex_lock(&t->shards[i].mu);
		n += t->shards[i].count;
		pthread_mutex_unlock(&t->shards[i].mu);
	}
	return n;
}
