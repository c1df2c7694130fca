/* Write-back buffers and read-ahead of mount.godfs (see fs_data.h).
 *
 * Writes: each inode has at most one buffer being filled (`fill`) and up to
 * FS_MAX_BUSY being sent (`busy`), all under the inode's mu. A buffer holds
 * non-overlapping extents: a write that continues or overwrites one is
 * copied into it, a write elsewhere adds an extent (random writes go out
 * together in one gd_client_writev). A full buffer, or a write that
 * overlaps it partly, moves fill to busy and a worker sends it while the
 * next writes fill a new buffer. Buffers whose ranges overlap are never in
 * flight together, so later writes land after earlier ones. The size to
 * commit only moves once no send is running and none failed, so it never
 * covers a gap. The flush timer sends buffers that stayed idle.
 *
 * Reads: first any buffered write overlapping the range is sent, so that
 * the chunkds have what this process wrote. Each open file then keeps a few
 * read-ahead slots of ra_block bytes (aligned); sequential reads schedule
 * the next blocks on the workers and are answered from the slots. A slot
 * remembers the inode's data_gen at its start and is ignored once the data
 * changed. */
#include "fs_data.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "fs_budget.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#define FS_RA_SLOTS 12
#define FS_SEQ_SLACK (2u << 20)  /* reads this close to the last end are sequential */
#define FS_TIMER_MS 200
#define FS_TIMER_BATCH 256

#define FS_MAX_EXT 4096          /* extents per write buffer */

/* One extent of a write buffer: len bytes at file offset off, kept at doff
 * in the buffer's data. */
struct fs_wext {
	uint64_t off;
	size_t len;
	size_t doff;
};

struct fs_wbuf {
	struct fs_wext *ext;     /* non-overlapping */
	size_t n;
	size_t ext_cap;
	char *data;
	size_t used;             /* bytes of data in use */
	size_t cap;              /* bytes of data allocated */
	uint64_t lo, hi;         /* every extent lies inside [lo, hi) */
	uint64_t seq;            /* order in which buffers were sealed */
	bool borrowed;           /* data is the writer's own (written through) */
};

enum { SLOT_EMPTY = 0, SLOT_LOADING, SLOT_READY };

struct fs_ra_slot {
	int state;
	int status;              /* of the read, when READY */
	uint64_t block;
	uint64_t gen;
	size_t len;              /* valid bytes, when READY */
	unsigned pins;           /* replies being sent from buf */
	char *buf;               /* ra_block bytes, kept for reuse */
};

struct fs_file {
	struct fs_file *prev, *next; /* every live file; guarded by fs_data's mu */
	struct fs_inode *in;     /* one reference, dropped with the file */
	int flags;
	atomic_int refs;         /* the handle + read-ahead jobs in flight */
	pthread_mutex_t mu;      /* guards what follows */
	pthread_cond_t cv;       /* a slot became READY */
	uint64_t last_end;
	int64_t last_ms;         /* monotonic time of the last read */
	unsigned window;
	bool started;
	struct fs_ra_slot slots[FS_RA_SLOTS];
};

enum { JOB_SEND = 1, JOB_PREFETCH };

struct fs_job {
	struct fs_job *next;
	int kind;
	struct fs_file *f;       /* holds a file reference */
	struct fs_wbuf *wb;      /* JOB_SEND */
	size_t slot;             /* JOB_PREFETCH */
	uint64_t file_size;      /* JOB_PREFETCH */
};

struct fs_data {
	struct fs_budget *mem;   /* write buffers, read-ahead slots, idle blocks */
	struct gd_client *gc;
	struct fs_itable *it;
	struct fs_data_config cfg;
	atomic_size_t ra_mem;    /* bytes of read-ahead slots (fs_data_mem) */

	pthread_mutex_t mu;      /* guards the queue and stopping */
	pthread_cond_t cv;
	struct fs_job *head, *tail;
	struct fs_file *files;   /* live files (freed at exit if still open) */
	bool stopping;
	pthread_t *workers;
	unsigned n_workers;
	pthread_t timer;
	bool timer_started;
	pthread_mutex_t timer_mu;
	pthread_cond_t timer_cv;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wbuf_free(struct fs_data *d, struct fs_wbuf *b)
{
	if (!b)
		return;
	gd_free(b->ext);
	if (b->borrowed) {
		/* The writer's bytes: nothing to free or uncount. */
	} else if (d && b->data && b->cap == d->cfg.wbuf_size) {
		fs_budget_block_put(d->mem, FS_BUDGET_WRITE, b->data);
	} else {
		gd_free(b->data);
		if (d)
			fs_budget_give(d->mem, b->cap);
	}
	gd_free(b);
}

/* Frees what an inode still buffers when the table drops it (only at exit:
 * a buffer is always sent before its last handle closes). */
static void inode_free_hook(struct fs_inode *in)
{
	if (in->fill || in->nbusy)
		gd_warn("inode %llu: dropping unsent writes", (unsigned long long)in->ino);
	wbuf_free(NULL, in->fill);
	in->fill = NULL;
	for (unsigned i = 0; i < in->nbusy; i++)
		wbuf_free(NULL, in->busy[i]);
	in->nbusy = 0;
}

/* ---- files ---- */

/* Gives a slot's block back to the budget. Caller holds f->mu, or is the
 * last user of f; the slot is not LOADING and not pinned. */
static void slot_release(struct fs_data *d, struct fs_ra_slot *s)
{
	if (!s->buf)
		return;
	fs_budget_block_put(d->mem, FS_BUDGET_READ, s->buf);
	atomic_fetch_sub(&d->ra_mem, d->cfg.ra_block);
	s->buf = NULL;
	s->state = SLOT_EMPTY;
}

static void file_unref(struct fs_data *d, struct fs_file *f)
{
	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	pthread_mutex_lock(&d->mu);
	if (f->prev)
		f->prev->next = f->next;
	else
		d->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < FS_RA_SLOTS; i++)
		slot_release(d, &f->slots[i]);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	fs_inode_put(d->it, f->in);
	gd_free(f);
}

int fs_data_file_new(struct fs_data *d, struct fs_inode *in, int flags, struct fs_file **out)
{
	struct fs_file *f = gd_calloc(1, sizeof(*f));
	if (!f)
		return GD_ENOMEM;
	f->in = in;
	f->flags = flags;
	atomic_init(&f->refs, 1);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	pthread_mutex_lock(&d->mu);
	f->next = d->files;
	if (f->next)
		f->next->prev = f;
	d->files = f;
	pthread_mutex_unlock(&d->mu);
	*out = f;
	return 0;
}

void fs_data_file_free(struct fs_data *d, struct fs_file *f)
{
	if (f)
		file_unref(d, f);
}

struct fs_inode *fs_data_file_inode(const struct fs_file *f)
{
	return f->in;
}

/* ---- the worker pool ---- */

static void job_push(struct fs_data *d, struct fs_job *j)
{
	pthread_mutex_lock(&d->mu);
	j->next = NULL;
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* Sends b (in in->busy, owned by the caller) and records the outcome. No
 * lock held on entry. */
static void send_busy(struct fs_data *d, struct fs_inode *in, struct fs_wbuf *b)
{
	struct gd_client_extent stack[16] = { { 0 } };
	struct gd_client_extent *e = b->n <= 16 ? stack : gd_calloc(b->n, sizeof(*e));
	int rc = GD_ENOMEM;
	if (e) {
		for (size_t i = 0; i < b->n; i++) {
			e[i].off = b->ext[i].off;
			e[i].data = b->data + b->ext[i].doff;
			e[i].len = b->ext[i].len;
		}
		rc = gd_client_writev(d->gc, in->ino, e, b->n);
		if (e != stack)
			gd_free(e);
	}
	pthread_mutex_lock(&in->mu);
	if (rc == 0) {
		/* The size moves only over data with no failed or unfinished
		 * send before it. */
		bool older = false;
		for (unsigned i = 0; i < in->nbusy; i++)
			older |= in->busy[i] != b && in->busy[i]->seq < b->seq;
		if (b->hi > in->pending_end)
			in->pending_end = b->hi;
		if (!older && !in->werr) {
			if (in->pending_end > in->commit_size)
				in->commit_size = in->pending_end;
			in->pending_end = 0;
		}
	} else {
		gd_debug("inode %llu: send of %zu bytes in %zu extents failed: %s",
			 (unsigned long long)in->ino, b->used, b->n, gd_strerror(rc));
		if (!in->werr)
			in->werr = rc;
		/* Later data must not land after a gap: it goes too. */
		wbuf_free(d, in->fill);
		in->fill = NULL;
		in->data_gen++;
	}
	for (unsigned i = 0; i < in->nbusy; i++)
		if (in->busy[i] == b) {
			in->busy[i] = in->busy[--in->nbusy];
			break;
		}
	/* The chunkds now hold different bytes: a read-ahead slot loaded
	 * before this point (it may have been scheduled while these bytes
	 * were still only in the buffer) must not answer a read. */
	in->data_gen++;
	if (in->werr)
		in->pending_end = 0;
	if (in->nbusy == 0) {
		if (in->werr) {
			/* What was not written is not part of the file. */
			uint64_t known = in->have_attr ? in->attr.size : 0;
			in->size = known > in->commit_size ? known : in->commit_size;
		}
	}
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
	wbuf_free(d, b);
}

static void prefetch_run(struct fs_data *d, struct fs_job *j)
{
	struct fs_file *f = j->f;
	struct fs_ra_slot *s = &f->slots[j->slot];
	uint64_t off = s->block * d->cfg.ra_block;
	ssize_t n = gd_client_read(d->gc, f->in->ino, off, s->buf, d->cfg.ra_block,
				   j->file_size);
	pthread_mutex_lock(&f->mu);
	s->status = n < 0 ? (int)n : 0;
	s->len = n < 0 ? 0 : (size_t)n;
	s->state = SLOT_READY;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void *worker_main(void *arg)
{
	struct fs_data *d = arg;
	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (!d->head && !d->stopping)
			pthread_cond_wait(&d->cv, &d->mu);
		struct fs_job *j = d->head;
		if (!j) {
			pthread_mutex_unlock(&d->mu);
			break;
		}
		d->head = j->next;
		if (!d->head)
			d->tail = NULL;
		pthread_mutex_unlock(&d->mu);

		if (j->kind == JOB_SEND)
			send_busy(d, j->f->in, j->wb);
		else
			prefetch_run(d, j);
		file_unref(d, j->f);
		gd_free(j);
	}
	return NULL;
}

/* ---- write buffers ---- */

/* Whether b's range meets a buffer in flight. Caller holds in->mu. */
static bool busy_overlaps(const struct fs_inode *in, uint64_t lo, uint64_t hi)
{
	for (unsigned i = 0; i < in->nbusy; i++)
		if (lo < in->busy[i]->hi && in->busy[i]->lo < hi)
			return true;
	return false;
}

/* Moves fill to busy (waiting while too many sends run or one covers the
 * same range) and sends it: on a worker when f is given and a job can be
 * made, else right here. Called and returns with in->mu held; may drop it
 * meanwhile. */
static void seal_locked(struct fs_data *d, struct fs_inode *in, struct fs_file *f)
{
	while (in->fill && !in->werr &&
	       (in->nbusy >= FS_MAX_BUSY || busy_overlaps(in, in->fill->lo, in->fill->hi)))
		pthread_cond_wait(&in->cv, &in->mu);
	struct fs_wbuf *b = in->fill;
	if (!b)
		return;
	in->fill = NULL;
	if (in->werr || b->n == 0) {
		/* An earlier block failed: nothing after it is sent (and an
		 * empty buffer, left by a write that found no room, has
		 * nothing to send). */
		wbuf_free(d, b);
		return;
	}
	b->seq = ++in->seal_seq;
	in->busy[in->nbusy++] = b;
	struct fs_job *j = f ? gd_calloc(1, sizeof(*j)) : NULL;
	if (j) {
		j->kind = JOB_SEND;
		j->f = f;
		j->wb = b;
		atomic_fetch_add(&f->refs, 1);
		job_push(d, j);
		return;
	}
	pthread_mutex_unlock(&in->mu);
	send_busy(d, in, b);
	pthread_mutex_lock(&in->mu);
}

static void wait_idle_locked(struct fs_inode *in)
{
	while (in->nbusy)
		pthread_cond_wait(&in->cv, &in->mu);
}

int fs_data_sync(struct fs_data *d, struct fs_inode *in)
{
	pthread_mutex_lock(&in->mu);
	seal_locked(d, in, NULL);
	wait_idle_locked(in);
	int rc = in->werr;
	pthread_mutex_unlock(&in->mu);
	return rc;
}

enum { ADD_DONE = 0, ADD_SEAL = 1, ADD_NOROOM = 2 };

/* Makes room for `more` bytes of data and one extent: 0, ADD_NOROOM (the
 * mount's memory budget is spent) or GD_ENOMEM. */
static int wbuf_reserve(struct fs_data *d, struct fs_wbuf *b, size_t more, size_t max)
{
	if (b->cap == 0 && more == max) {
		b->data = fs_budget_block(d->mem, FS_BUDGET_WRITE, 0);
		if (!b->data)
			return ADD_NOROOM;
		b->cap = max;
	}
	if (b->used + more > b->cap) {
		size_t cap = b->cap ? b->cap : (256u << 10);
		while (cap < b->used + more)
			cap *= 2;
		if (cap > max)
			cap = max;
		if (!fs_budget_take(d->mem, cap - b->cap, 0))
			return ADD_NOROOM;
		char *data = gd_realloc(b->data, cap);
		if (!data) {
			fs_budget_give(d->mem, cap - b->cap);
			return GD_ENOMEM;
		}
		b->data = data;
		b->cap = cap;
	}
	if (b->n == b->ext_cap) {
		size_t n = b->ext_cap ? b->ext_cap * 4 : 4;
		struct fs_wext *e = gd_realloc(b->ext, n * sizeof(*e));
		if (!e)
			return GD_ENOMEM;
		b->ext = e;
		b->ext_cap = n;
	}
	return 0;
}

/* Puts a write into the buffer: ADD_DONE, ADD_SEAL (it does not fit or
 * overlaps an extent partly: send the buffer first), ADD_NOROOM (no budget
 * for its bytes) or a GD_E* code. */
static int wbuf_add(struct fs_data *d, struct fs_wbuf *b, uint64_t off, const void *buf,
		    size_t len, size_t max)
{
	const uint64_t end = off + len;
	if (b->n) {
		/* The common case: continuing (or rewriting) the newest extent. */
		struct fs_wext *e = &b->ext[b->n - 1];
		uint64_t eend = e->off + e->len;
		if (off >= e->off && off <= eend && e->doff + e->len == b->used &&
		    (end <= eend || eend == b->hi)) {
			size_t grow = end > eend ? (size_t)(end - eend) : 0;
			if (b->used + grow > max)
				return ADD_SEAL;
			int rc = wbuf_reserve(d, b, grow, max);
			if (rc != 0)
				return rc;
			e = &b->ext[b->n - 1]; /* the extents may have moved */
			memcpy(b->data + e->doff + (off - e->off), buf, len);
			e->len += grow;
			b->used += grow;
			if (end > b->hi)
				b->hi = end;
			return ADD_DONE;
		}
		if (off < b->hi && b->lo < end) {
			for (size_t i = 0; i < b->n; i++) {
				struct fs_wext *x = &b->ext[i];
				if (off >= x->off + x->len || x->off >= end)
					continue;
				if (off >= x->off && end <= x->off + x->len) {
					memcpy(b->data + x->doff + (off - x->off), buf, len);
					return ADD_DONE;
				}
				return ADD_SEAL;
			}
		}
	}
	if (b->used + len > max || b->n >= FS_MAX_EXT)
		return ADD_SEAL;
	int rc = wbuf_reserve(d, b, len, max);
	if (rc)
		return rc;
	struct fs_wext *e = &b->ext[b->n++];
	e->off = off;
	e->len = len;
	e->doff = b->used;
	memcpy(b->data + b->used, buf, len);
	b->used += len;
	if (b->n == 1 || off < b->lo)
		b->lo = off;
	if (b->n == 1 || end > b->hi)
		b->hi = end;
	return ADD_DONE;
}

/* The mount's budget has no room for a write: sends it straight from the
 * writer's bytes, after what this inode buffered before it (so that it lands
 * later), and waits. A failure is kept in the inode as a send's would be.
 * The borrowed buffer is never published as in->fill: while this thread
 * waits (in->mu released) another writer could add to it, or a reader, the
 * timer or fsync could seal and send it after this write returned and
 * libfuse reused the bytes. It goes straight into busy[] and is sent here.
 * Called and returns with in->mu held. */
static int write_through(struct fs_data *d, struct fs_inode *in, uint64_t off,
			 const void *buf, size_t len)
{
	gd_debug("inode %llu: no room in the memory budget: %zu bytes at %llu written through",
		 (unsigned long long)in->ino, len, (unsigned long long)off);
	if (in->fill && in->fill->n == 0) {
		wbuf_free(d, in->fill);
		in->fill = NULL;
	}
	seal_locked(d, in, NULL);
	while (!in->werr && (in->nbusy >= FS_MAX_BUSY || busy_overlaps(in, off, off + len)))
		pthread_cond_wait(&in->cv, &in->mu);
	if (in->werr)
		return in->werr;
	struct fs_wbuf *b = gd_calloc(1, sizeof(*b));
	struct fs_wext *e = gd_calloc(1, sizeof(*e));
	if (!b || !e) {
		gd_free(b);
		gd_free(e);
		return GD_ENOMEM;
	}
	e->off = off;
	e->len = len;
	b->ext = e;
	b->n = b->ext_cap = 1;
	b->data = (char *)buf;   /* only read by the send */
	b->used = len;
	b->lo = off;
	b->hi = off + len;
	b->borrowed = true;
	b->seq = ++in->seal_seq;
	in->busy[in->nbusy++] = b;
	pthread_mutex_unlock(&in->mu);
	send_busy(d, in, b);
	pthread_mutex_lock(&in->mu);
	return in->werr;
}

/* Buffers len bytes at off, or at the end of the file with `append`. */
static ssize_t buffer_write(struct fs_data *d, struct fs_file *f, uint64_t off,
			    const void *buf, size_t len, bool append)
{
	struct fs_inode *in = f->in;
	const size_t max = d->cfg.wbuf_size;
	ssize_t ret = (ssize_t)len;
	bool flushed = false;

	if (len == 0)
		return 0;
	if (len > max)
		return GD_EINVAL;
	pthread_mutex_lock(&in->mu);
	if (append)
		off = in->size;
	if (off > UINT64_MAX - len || off + len > (1ull << 62)) {
		ret = GD_EFBIG;
		goto out;
	}
	for (;;) {
		if (in->werr) {
			ret = in->werr;
			goto out;
		}
		if (!in->fill) {
			struct fs_wbuf *b = gd_calloc(1, sizeof(*b));
			if (!b) {
				ret = GD_ENOMEM;
				goto out;
			}
			/* A stream starts: take the whole buffer at once. */
			size_t first = off % max == 0 && len >= (128u << 10) ? max : 0;
			int rc = first ? wbuf_reserve(d, b, first, max) : 0;
			if (rc < 0) {
				wbuf_free(d, b);
				ret = rc;
				goto out;
			}
			/* ADD_NOROOM: the buffer grows by the write instead
			 * (and wbuf_add finds no room either). */
			in->fill = b;
			in->fill_ms = now_ms();
		}
		int rc = wbuf_add(d, in->fill, off, buf, len, max);
		if (rc < 0) {
			ret = rc;
			goto out;
		}
		if (rc == ADD_DONE)
			break;
		if (rc == ADD_NOROOM && !flushed) {
			/* The budget is spent: this inode's buffers go first,
			 * and their memory with them. */
			flushed = true;
			if (in->fill->n)
				seal_locked(d, in, f);
			wait_idle_locked(in);
			continue;
		}
		if (rc == ADD_NOROOM) {
			/* Still none (other files hold it): no copy at all. */
			rc = write_through(d, in, off, buf, len);
			if (rc < 0) {
				ret = rc;
				goto out;
			}
			break;
		}
		seal_locked(d, in, f);
	}
	if (off + len > in->size)
		in->size = off + len;
	in->dirty = true;
	clock_gettime(CLOCK_REALTIME, &in->mtime);
	in->data_gen++;
	if (in->fill && (in->fill->used >= max || in->fill->n >= FS_MAX_EXT))
		seal_locked(d, in, f);
out:
	pthread_mutex_unlock(&in->mu);
	return ret;
}

/* The meta took a commit of `size` made at data generation `gen`: the inode
 * is clean unless written since, and the size to commit starts again from
 * nothing (else a later fsync would commit this size again, growing a file
 * that another mount has since truncated). */
static void committed(struct fs_inode *in, uint64_t gen, uint64_t size, const struct gd_attr *a)
{
	pthread_mutex_lock(&in->mu);
	if (in->data_gen == gen && !in->fill && !in->nbusy)
		in->dirty = false;
	if (in->commit_size == size)
		in->commit_size = 0;
	pthread_mutex_unlock(&in->mu);
	fs_inode_set_attr(in, a);
}

ssize_t fs_data_write(struct fs_data *d, struct fs_file *f, uint64_t off,
		      const void *buf, size_t len)
{
	return buffer_write(d, f, off, buf, len, (f->flags & O_APPEND) != 0);
}

int fs_data_zero(struct fs_data *d, struct fs_file *f, uint64_t off, uint64_t len)
{
	static const char zeros[1u << 20];
	while (len > 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t rc = buffer_write(d, f, off, zeros, n, false);
		if (rc < 0)
			return (int)rc;
		off += n;
		len -= n;
	}
	return 0;
}

int fs_data_fallocate(struct fs_data *d, struct fs_file *f, int mode, uint64_t off,
		      uint64_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
	struct fs_inode *in = f->in;
	if (mode & ~known)
		return GD_ENOTSUP;
	if (len == 0 || off > UINT64_MAX - len || off + len > (1ull << 62))
		return len == 0 ? GD_EINVAL : GD_EFBIG;
	const uint64_t end = off + len;
	pthread_mutex_lock(&in->mu);
	uint64_t size = in->size;
	pthread_mutex_unlock(&in->mu);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/* Bytes past the end read as zeros already: only those inside
		 * the file are written. */
		uint64_t zend = end < size ? end : size;
		if (off < zend) {
			int rc = fs_data_zero(d, f, off, zend - off);
			if (rc)
				return rc;
		}
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size) {
		/* No space is reserved (chunks are allocated as written): the
		 * file only grows, as a truncate up would make it. */
		struct gd_attr a;
		return fs_data_truncate(d, in, end, &a);
	}
	return 0;
}

/* Commits size and mtime when the inode was written since the last commit. */
static int commit_if_dirty(struct fs_data *d, struct fs_inode *in)
{
	pthread_mutex_lock(&in->mu);
	bool dirty = in->dirty;
	uint64_t size = in->commit_size;
	struct timespec mt = in->mtime;
	uint64_t gen = in->data_gen;
	pthread_mutex_unlock(&in->mu);
	if (!dirty)
		return 0;
	struct gd_attr a;
	int rc = gd_client_commit(d->gc, in->ino, size, &mt, &a);
	if (rc == 0)
		committed(in, gen, size, &a);
	return rc;
}

/* Takes the pending error of the inode (reported once). */
static int take_werr(struct fs_inode *in)
{
	pthread_mutex_lock(&in->mu);
	int rc = in->werr;
	in->werr = 0;
	pthread_mutex_unlock(&in->mu);
	return rc;
}

int fs_data_commit(struct fs_data *d, struct fs_inode *in)
{
	fs_data_sync(d, in);
	return commit_if_dirty(d, in);
}

int fs_data_flush(struct fs_data *d, struct fs_inode *in)
{
	fs_data_sync(d, in);
	int crc = commit_if_dirty(d, in);
	int rc = take_werr(in);
	return rc ? rc : crc;
}

int fs_data_fsync(struct fs_data *d, struct fs_inode *in)
{
	fs_data_sync(d, in);
	pthread_mutex_lock(&in->mu);
	bool dirty = in->dirty;
	uint64_t size = in->commit_size;
	struct timespec mt = in->mtime;
	uint64_t gen = in->data_gen;
	pthread_mutex_unlock(&in->mu);
	struct gd_attr a;
	int crc = gd_client_fsync(d->gc, in->ino, size, dirty ? &mt : NULL, &a);
	if (crc == 0)
		committed(in, gen, size, &a);
	int rc = take_werr(in);
	return rc ? rc : crc;
}

int fs_data_truncate(struct fs_data *d, struct fs_inode *in, uint64_t size,
		     struct gd_attr *attr)
{
	fs_data_sync(d, in);
	pthread_mutex_lock(&in->mu);
	in->data_gen++;
	pthread_mutex_unlock(&in->mu);
	int rc = gd_client_truncate(d->gc, in->ino, size, attr);
	pthread_mutex_lock(&in->mu);
	in->data_gen++;
	if (rc == 0) {
		if (in->commit_size > size)
			in->commit_size = size;
		in->size = size;
		in->attr = *attr;
		in->have_attr = true;
	}
	pthread_mutex_unlock(&in->mu);
	return rc;
}

void fs_data_truncated(struct fs_data *d, struct fs_inode *in, const struct gd_attr *attr)
{
	/* Leases of the old chunks must not be used again: their chunks go,
	 * with what this mount wrote to them (it truncated that itself). */
	gd_client_truncated(d->gc, in->ino);
	gd_client_invalidate(d->gc, in->ino);
	pthread_mutex_lock(&in->mu);
	in->commit_size = 0;
	in->size = 0;
	in->data_gen++;
	in->attr = *attr;
	in->have_attr = true;
	pthread_mutex_unlock(&in->mu);
}

void fs_data_released(struct fs_data *d, struct fs_inode *in)
{
	gd_client_release(d->gc, in->ino);
}

void fs_data_attr_overlay(struct fs_inode *in, struct gd_attr *a)
{
	pthread_mutex_lock(&in->mu);
	if (in->dirty || in->fill || in->nbusy) {
		if (in->size > a->size)
			a->size = in->size;
		if (in->dirty)
			a->mtime = in->mtime;
	}
	pthread_mutex_unlock(&in->mu);
}

/* ---- reads ---- */

/* Caller holds f->mu: the usable slot of block b, or NULL. */
static struct fs_ra_slot *slot_find(struct fs_file *f, uint64_t b, uint64_t gen)
{
	for (size_t i = 0; i < FS_RA_SLOTS; i++) {
		struct fs_ra_slot *s = &f->slots[i];
		if (s->state != SLOT_EMPTY && s->block == b && s->gen == gen)
			return s;
	}
	return NULL;
}

/* Caller holds f->mu: starts the read-ahead of blocks [from, to] that are
 * inside the file and not cached yet, while slots and memory allow. */
static void schedule(struct fs_data *d, struct fs_file *f, uint64_t from, uint64_t to,
		     uint64_t cur, uint64_t gen, uint64_t fsize)
{
	const size_t rab = d->cfg.ra_block;
	for (uint64_t b = from; b <= to && b * rab < fsize; b++) {
		if (slot_find(f, b, gen))
			continue;
		struct fs_ra_slot *s = NULL;
		for (size_t i = 0; i < FS_RA_SLOTS && !s; i++) {
			struct fs_ra_slot *c = &f->slots[i];
			if (c->state == SLOT_EMPTY ||
			    (c->state == SLOT_READY && c->pins == 0 &&
			     (c->gen != gen || c->block < cur || c->block > to)))
				s = c;
		}
		if (!s)
			return;
		if (!s->buf) {
			/* Read-ahead shrinks to what the budget leaves after
			 * room for one write buffer. */
			s->buf = fs_budget_block(d->mem, FS_BUDGET_READ, d->cfg.wbuf_size);
			if (!s->buf)
				return;
			atomic_fetch_add(&d->ra_mem, rab);
		}
		struct fs_job *j = gd_calloc(1, sizeof(*j));
		if (!j)
			return;
		s->state = SLOT_LOADING;
		s->block = b;
		s->gen = gen;
		s->status = 0;
		s->len = 0;
		j->kind = JOB_PREFETCH;
		j->f = f;
		j->slot = (size_t)(s - f->slots);
		j->file_size = fsize;
		atomic_fetch_add(&f->refs, 1);
		job_push(d, j);
	}
}

int fs_data_read(struct fs_data *d, struct fs_file *f, uint64_t off, size_t len,
		 fs_data_reply_fn reply, void *ctx)
{
	struct fs_inode *in = f->in;
	const size_t rab = d->cfg.ra_block;

	/* Buffered writes in the range go to the chunkds first. */
	pthread_mutex_lock(&in->mu);
	bool overlap = busy_overlaps(in, off, off + len) ||
		       (in->fill && off < in->fill->hi && in->fill->lo < off + len);
	if (overlap) {
		seal_locked(d, in, NULL);
		wait_idle_locked(in);
	}
	uint64_t fsize = in->size;
	uint64_t gen = in->data_gen;
	pthread_mutex_unlock(&in->mu);

	if (off >= fsize || len == 0) {
		reply(ctx, NULL, 0);
		return 0;
	}
	if (len > fsize - off)
		len = (size_t)(fsize - off);
	const uint64_t end = off + len;
	uint64_t pos = off;
	char *buf = NULL;

	pthread_mutex_lock(&f->mu);
	bool seq = (!f->started && off == 0) ||
		   (f->started && off + FS_SEQ_SLACK >= f->last_end &&
		    off <= f->last_end + FS_SEQ_SLACK);
	f->started = true;
	f->last_end = end;
	f->last_ms = now_ms();
	if (!seq) {
		f->window = 0;
	} else if (f->window < d->cfg.ra_window) {
		f->window++;
	}
	uint64_t cur = off / rab;
	/* A read that reaches the end (a small file read whole) needs none. */
	if (seq && end < fsize)
		schedule(d, f, cur, (end - 1) / rab + f->window, cur, gen, fsize);
	while (pos < end) {
		uint64_t b = pos / rab;
		struct fs_ra_slot *s = slot_find(f, b, gen);
		if (s && s->state == SLOT_LOADING) {
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		if (!s || s->status || pos >= b * rab + s->len)
			break;
		uint64_t stop = b * rab + s->len;
		if (stop > end)
			stop = end;
		if (pos == off && stop == end) {
			/* The whole answer is in one slot: reply straight from it
			 * (pinned: not reused meanwhile). Once the kernel has
			 * the reply it may release the handle at once, so a
			 * reference keeps f alive until the pin is dropped. */
			s->pins++;
			atomic_fetch_add(&f->refs, 1);
			pthread_mutex_unlock(&f->mu);
			reply(ctx, s->buf + (pos - b * rab), len);
			pthread_mutex_lock(&f->mu);
			s->pins--;
			pthread_mutex_unlock(&f->mu);
			file_unref(d, f);
			return 0;
		}
		if (!buf) {
			buf = gd_malloc(len);
			if (!buf) {
				pthread_mutex_unlock(&f->mu);
				return GD_ENOMEM;
			}
		}
		memcpy(buf + (pos - off), s->buf + (pos - b * rab), (size_t)(stop - pos));
		pos = stop;
	}
	pthread_mutex_unlock(&f->mu);

	if (!buf) {
		buf = gd_malloc(len);
		if (!buf)
			return GD_ENOMEM;
	}
	if (pos < end) {
		ssize_t n = gd_client_read(d->gc, in->ino, pos, buf + (pos - off),
					   (size_t)(end - pos), fsize);
		if (n < 0) {
			gd_free(buf);
			return (int)n;
		}
		len = (size_t)(pos - off) + (size_t)n;
	}
	reply(ctx, buf, len);
	gd_free(buf);
	return 0;
}

/* ---- the flush timer ---- */

struct idle_scan {
	int64_t now;
	int flush_ms;
	bool commit;             /* also inodes written but not committed */
	uint64_t ino[FS_TIMER_BATCH];
	size_t n;
};

static void idle_scan_fn(struct fs_inode *in, void *ctx)
{
	struct idle_scan *sc = ctx;
	if (sc->n >= FS_TIMER_BATCH)
		return;
	pthread_mutex_lock(&in->mu);
	if ((in->fill && sc->now - in->fill_ms >= sc->flush_ms) || (sc->commit && in->dirty))
		sc->ino[sc->n++] = in->ino;
	pthread_mutex_unlock(&in->mu);
}

/* Sends the fill buffers idle for at least flush_ms (and with commit, commits
 * what was written); returns how many inodes it found. */
static size_t flush_idle(struct fs_data *d, int flush_ms, bool commit)
{
	struct idle_scan *sc = gd_calloc(1, sizeof(*sc));
	if (!sc)
		return 0;
	sc->now = now_ms();
	sc->flush_ms = flush_ms;
	sc->commit = commit;
	fs_itable_foreach(d->it, idle_scan_fn, sc);
	size_t n = sc->n;
	for (size_t i = 0; i < sc->n; i++) {
		struct fs_inode *in = fs_inode_find(d->it, sc->ino[i]);
		if (!in)
			continue;
		if (commit) {
			int rc = fs_data_flush(d, in);
			if (rc)
				gd_error("inode %llu: writes lost at unmount: %s",
					 (unsigned long long)in->ino, gd_strerror(rc));
		} else {
			fs_data_sync(d, in);
		}
		fs_inode_put(d->it, in);
	}
	gd_free(sc);
	return n;
}

/* Gives the read-ahead blocks of files not read for flush_ms back to the
 * budget (a file left open must not keep them from the writers). f->mu is
 * only tried: schedule() holds it when it takes d->mu. */
static void release_idle_slots(struct fs_data *d)
{
	const int64_t now = now_ms();
	pthread_mutex_lock(&d->mu);
	for (struct fs_file *f = d->files; f; f = f->next) {
		if (pthread_mutex_trylock(&f->mu) != 0)
			continue;
		if (now - f->last_ms >= d->cfg.flush_ms)
			for (size_t i = 0; i < FS_RA_SLOTS; i++) {
				struct fs_ra_slot *s = &f->slots[i];
				if (s->state != SLOT_LOADING && s->pins == 0)
					slot_release(d, s);
			}
		pthread_mutex_unlock(&f->mu);
	}
	pthread_mutex_unlock(&d->mu);
}

static void *timer_main(void *arg)
{
	struct fs_data *d = arg;
	pthread_mutex_lock(&d->timer_mu);
	while (!d->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += FS_TIMER_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->timer_cv, &d->timer_mu, &ts);
		if (d->stopping)
			break;
		pthread_mutex_unlock(&d->timer_mu);
		flush_idle(d, d->cfg.flush_ms, false);
		release_idle_slots(d);
		pthread_mutex_lock(&d->timer_mu);
	}
	pthread_mutex_unlock(&d->timer_mu);
	return NULL;
}

void fs_data_flush_all(struct fs_data *d)
{
	/* Bounded: an inode whose commit keeps failing is found again. */
	for (int i = 0; i < 64 && flush_idle(d, 0, true) == FS_TIMER_BATCH; i++)
		;
}

/* ---- setup ---- */

/* Frees what fs_data_new set up, once no thread of d runs any more. */
static void data_teardown(struct fs_data *d)
{
	gd_free(d->workers);
	fs_budget_free(d->mem);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->timer_mu);
	pthread_cond_destroy(&d->timer_cv);
	gd_free(d);
}

int fs_data_new(struct gd_client *gc, struct fs_itable *it, const struct fs_data_config *cfg,
		struct fs_data **out)
{
	struct fs_data *d = gd_calloc(1, sizeof(*d));
	if (!d)
		return GD_ENOMEM;
	d->gc = gc;
	d->it = it;
	d->cfg = *cfg;
	if (!d->cfg.wbuf_size)
		d->cfg.wbuf_size = 8u << 20;
	if (d->cfg.wbuf_size < (1u << 20))
		d->cfg.wbuf_size = 1u << 20;
	if (!d->cfg.ra_block)
		d->cfg.ra_block = 4u << 20;
	if (!d->cfg.ra_window)
		d->cfg.ra_window = 8;
	if (d->cfg.ra_window > FS_RA_SLOTS - 2)
		d->cfg.ra_window = FS_RA_SLOTS - 2;
	if (!d->cfg.mem_budget)
		d->cfg.mem_budget = (size_t)64 << 20;
	if (!d->cfg.threads)
		d->cfg.threads = 4;
	if (!d->cfg.flush_ms)
		d->cfg.flush_ms = 1000;
	atomic_init(&d->ra_mem, 0);
	if (fs_budget_new(d->cfg.mem_budget, d->cfg.wbuf_size, d->cfg.ra_block, &d->mem)) {
		gd_free(d);
		return GD_ENOMEM;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	pthread_mutex_init(&d->timer_mu, NULL);
	pthread_cond_init(&d->timer_cv, NULL);
	fs_inode_free_hook = inode_free_hook;
	d->workers = gd_calloc(d->cfg.threads, sizeof(*d->workers));
	if (!d->workers)
		goto err_after_init;
	for (unsigned i = 0; i < d->cfg.threads; i++) {
		if (pthread_create(&d->workers[i], NULL, worker_main, d) != 0)
			break;
		d->n_workers++;
	}
	if (d->n_workers == 0)
		goto err_after_init;
	if (pthread_create(&d->timer, NULL, timer_main, d) == 0)
		d->timer_started = true;
	*out = d;
	return 0;

err_after_init:
	data_teardown(d);
	return GD_ENOMEM;
}

void fs_data_free(struct fs_data *d)
{
	if (!d)
		return;
	fs_data_flush_all(d);
	pthread_mutex_lock(&d->timer_mu);
	pthread_mutex_lock(&d->mu);
	d->stopping = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_cond_broadcast(&d->timer_cv);
	pthread_mutex_unlock(&d->timer_mu);
	if (d->timer_started)
		pthread_join(d->timer, NULL);
	for (unsigned i = 0; i < d->n_workers; i++)
		pthread_join(d->workers[i], NULL);
	/* Files the kernel never released (a forced unmount). */
	while (d->files) {
		atomic_store(&d->files->refs, 1);
		file_unref(d, d->files);
	}
	data_teardown(d);
}

void fs_data_mem(struct fs_data *d, size_t *wbuf, size_t *ra)
{
	size_t mem = fs_budget_used(d->mem);

	*ra = atomic_load(&d->ra_mem);
	*wbuf = mem > *ra ? mem - *ra : 0;
}
