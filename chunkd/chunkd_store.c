#include "chunkd_store.h"

#include "chunkd_fault.h"
#include "chunkd_uring.h"
#include "gd_alloc.h"
#include "gd_hex.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "gd_time.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define HDR_MAGIC "GODFSCHK"
#define HDR_OFF_FORMAT 8
#define HDR_OFF_BLOCK 12
#define HDR_OFF_ID 16
#define HDR_OFF_VERSION 24
#define HDR_OFF_DATALEN 32
#define HDR_OFF_CHUNKSIZE 40
#define HDR_OFF_STATE 48
#define HDR_STATE_CLEAN 0u
#define HDR_STATE_OPEN 1u
#define HDR_OFF_SUM (CHUNKD_HDR_SIZE - 8)
#define DEFAULT_RESERVE (64ull << 20)
#define DEFAULT_FD_CACHE 256
#define PATH_LEN 4096

/* Where a format keeps its blocks, and how its table entries read. */
struct layout {
	uint32_t format;                /* written in headers: 2 (format 1 copies too) or 3 */
	uint32_t bs;                    /* checksum block size */
	uint32_t nblocks;               /* table entries */
	uint32_t table_size;            /* bytes, at CHUNKD_HDR_SIZE */
	uint64_t data_off;              /* where data byte 0 is in the file */
	uint64_t key;                   /* entry = XXH3-64(block) ^ key (0: plain) */
	uint64_t zero_hash;             /* XXH3-64 of a block of zeros */
};

struct data_dir {
	char *path;
	dev_t dev;
	uint64_t nchunks;               /* store->mu: copies in it */
	/* failed reads, writes, fsyncs, truncates (EIO, EROFS) and bad
	 * checksums found, for the metrics (chunkd_store_dir_stats) */
	atomic_uint_fast64_t io_errors;
	atomic_uint_fast64_t checksum_errors;
};

/* One chunk id in the index. Lock order: rw, then fd_mu, then store->mu. */
struct chunk {
	uint64_t id;                    /* const */
	struct chunk *hnext;            /* store->mu */
	int refs;                       /* store->mu */
	int dead;                       /* store->mu: out of the map, freed at refs 0 */
	pthread_rwlock_t rw;            /* the copy: readers share, writers alone */
	/* Written under rw (write) and store->mu; read under either. */
	int exists;
	uint64_t version;
	int counted_dir;                /* store->mu: the dir whose nchunks counts it */
	/* rw */
	int dir;
	const struct layout *lay;       /* the copy's format: it keeps it for life */
	uint64_t data_len;
	uint64_t chunk_size;
	int header_dirty;               /* header's data length is behind */
	int dir_dirty;                  /* the file's directory entry is not synced */
	/* Written under rw (write) and store->mu; read under either. */
	int open_on_disk;               /* the header on disk says "open": may be torn */
	uint64_t last_write_ms;         /* when data last changed (for settling) */
	/* rw */
	int recover;                    /* found open at start: rehash what a crash tore */
	/* store->mu: blocks found bad since start (a bit each, lazily allocated) */
	uint8_t *bad;
	unsigned nbad;
	/* The open file: opened under fd_mu, the fields below under store->mu.
	 * fd and table stay valid while fd_users > 0 (eviction needs 0). */
	pthread_mutex_t fd_mu;
	int fd;
	uint64_t *table;                /* lay->nblocks entries, as on disk */
	int fd_users;
	struct chunk *lru_prev, *lru_next;
};

struct chunkd_store {
	struct data_dir *dirs;          /* const after open */
	int ndirs;
	char node_id[17];
	struct chunkd_uring *io;
	uint64_t reserve;
	int fd_cache;
	chunkd_store_corrupt_fn on_corrupt;
	void *ctx;
	struct layout lay2, lay3;       /* const after open: formats 1/2 and 3 */
	const struct layout *new_lay;   /* const after open: for new copies */
	uint64_t settle_ms;             /* const: idle time before an open copy is settled */
	pthread_t settler;
	int settler_running;            /* const after open */
	pthread_cond_t settle_cv;       /* with mu */
	int stopping;                   /* mu */
	pthread_mutex_t mu;
	struct chunk **buckets;         /* mu */
	size_t nbuckets;                /* mu */
	size_t entries;                 /* mu: entries in the map */
	size_t count;                   /* mu: entries with a copy */
	struct chunk *lru_head, *lru_tail;  /* mu: entries with an open fd */
	int open_fds;                   /* mu */
};

struct chunkd_import {
	struct chunkd_store *s;
	uint64_t id, version;
	int dir;
	char tmp[PATH_LEN];
	int fd;
	const struct layout *lay;       /* the store's format for new copies */
	uint64_t *table;
	uint64_t end;                   /* end of the last non-zero block */
	uint8_t *pad;                   /* a zero-padded last block */
};

/* ---- small helpers ---- */


static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

/* Spreads sequential chunk ids over the 65536 leaf directories. */
static void chunk_subdirs(uint64_t id, unsigned *a, unsigned *b)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	*a = (unsigned)(h >> 56);
	*b = (unsigned)((h >> 48) & 0xff);
}

static void chunk_path(const struct chunkd_store *s, int dir, uint64_t id,
		       uint64_t version, char *out)
{
	unsigned a, b;
	chunk_subdirs(id, &a, &b);
	snprintf(out, PATH_LEN, "%s/%02x/%02x/%016" PRIx64 "_%016" PRIx64 ".chk",
		 s->dirs[dir].path, a, b, id, version);
}

static int mkdir_one(const char *p)
{
	if (mkdir(p, 0755) == 0 || errno == EEXIST)
		return 0;
	return gd_status_from_errno(errno);
}

/* Creates hh/ and hh/hh/ of a chunk; says whether anything was created. */
static int make_leafdir(const struct chunkd_store *s, int dir, uint64_t id)
{
	char p[PATH_LEN];
	unsigned a, b;
	int rc;

	chunk_subdirs(id, &a, &b);
	snprintf(p, sizeof(p), "%s/%02x/%02x", s->dirs[dir].path, a, b);
	if (access(p, F_OK) == 0)
		return 0;
	snprintf(p, sizeof(p), "%s/%02x", s->dirs[dir].path, a);
	rc = mkdir_one(p);
	if (rc == 0) {
		snprintf(p, sizeof(p), "%s/%02x/%02x", s->dirs[dir].path, a, b);
		rc = mkdir_one(p);
	}
	return rc;
}

static int fsync_path(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return gd_status_from_errno(errno);
	if (fsync(fd) != 0)
		rc = gd_status_from_errno(errno);
	close(fd);
	return rc;
}

/* fdatasync of a chunk file, between the two fault points that bracket it. */
static int sync_file(struct chunkd_store *s, int fd)
{
	int rc;

	CHUNKD_FAULT("before_fdatasync");
	rc = chunkd_uring_fdatasync(s->io, fd);
	CHUNKD_FAULT("after_fdatasync");
	return rc;
}

/* Syncs the leaf dir of a chunk and its parents, so that a new or renamed
 * name survives a crash. */
static int sync_chunk_dirs(const struct chunkd_store *s, int dir, uint64_t id)
{
	char p[PATH_LEN];
	unsigned a, b;
	int rc;

	chunk_subdirs(id, &a, &b);
	snprintf(p, sizeof(p), "%s/%02x/%02x", s->dirs[dir].path, a, b);
	rc = fsync_path(p);
	if (rc == 0) {
		snprintf(p, sizeof(p), "%s/%02x", s->dirs[dir].path, a);
		rc = fsync_path(p);
	}
	if (rc == 0)
		rc = fsync_path(s->dirs[dir].path);
	return rc;
}

static uint64_t dir_avail(const struct chunkd_store *s, int dir)
{
	struct statvfs sv;

	if (statvfs(s->dirs[dir].path, &sv) != 0)
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* The data dir with the most free space, for a new copy. */
static int pick_dir(const struct chunkd_store *s)
{
	int best = 0;
	uint64_t best_free = 0;

	for (int i = 0; i < s->ndirs; i++) {
		uint64_t f = dir_avail(s, i);
		if (i == 0 || f > best_free) {
			best = i;
			best_free = f;
		}
	}
	return best;
}

/* Refuses a write of len bytes that would eat into the reserve. */
static int space_check(const struct chunkd_store *s, int dir, uint64_t len)
{
	uint64_t avail = dir_avail(s, dir);

	if (avail < s->reserve + len) {
		gd_warn("data dir %s: %" PRIu64 " bytes free, a write of %" PRIu64
			" needs %" PRIu64 " (reserve included): ENOSPC",
			s->dirs[dir].path, avail, len, s->reserve + len);
		return GD_ENOSPC;
	}
	return 0;
}

static void header_encode(uint8_t *h, const struct layout *lay, uint64_t id, uint64_t version,
			  uint64_t data_len, uint64_t chunk_size, uint32_t state)
{
	memset(h, 0, CHUNKD_HDR_SIZE);
	memcpy(h, HDR_MAGIC, 8);
	put_le32(h + HDR_OFF_FORMAT, lay->format);
	put_le32(h + HDR_OFF_BLOCK, lay->bs);
	put_le64(h + HDR_OFF_ID, id);
	put_le64(h + HDR_OFF_VERSION, version);
	put_le64(h + HDR_OFF_DATALEN, data_len);
	put_le64(h + HDR_OFF_CHUNKSIZE, chunk_size);
	put_le32(h + HDR_OFF_STATE, state);
	put_le64(h + HDR_OFF_SUM, XXH3_64bits(h, HDR_OFF_SUM));
}

/* Checks a header read from disk and says the copy's layout; returns a
 * reason or NULL when it is good. */
static const char *header_decode(const struct chunkd_store *s, const uint8_t *h,
				 const struct layout **lay, uint64_t *id, uint64_t *version,
				 uint64_t *data_len, uint64_t *chunk_size, uint32_t *state)
{
	uint32_t format;

	if (memcmp(h, HDR_MAGIC, 8) != 0)
		return "bad magic";
	if (get_le64(h + HDR_OFF_SUM) != XXH3_64bits(h, HDR_OFF_SUM))
		return "header checksum mismatch";
	format = get_le32(h + HDR_OFF_FORMAT);
	if (format == 1 || format == 2)
		*lay = &s->lay2;
	else if (format == 3)
		*lay = &s->lay3;
	else
		return "unknown format version";
	if (get_le32(h + HDR_OFF_BLOCK) != (*lay)->bs)
		return "unsupported block size";
	*id = get_le64(h + HDR_OFF_ID);
	*version = get_le64(h + HDR_OFF_VERSION);
	*data_len = get_le64(h + HDR_OFF_DATALEN);
	*chunk_size = get_le64(h + HDR_OFF_CHUNKSIZE);
	/* format 1 had no state: such a copy was never left open */
	*state = format == 1 ? HDR_STATE_CLEAN : get_le32(h + HDR_OFF_STATE);
	if (*state != HDR_STATE_CLEAN && *state != HDR_STATE_OPEN)
		return "bad state";
	if (*chunk_size == 0 || *chunk_size > CHUNKD_MAX_CHUNK || *data_len > *chunk_size)
		return "bad lengths";
	return NULL;
}

/* The checksum of one whole block of bs bytes whose first n bytes are at p
 * (the rest zeros). */
static uint64_t block_hash(const uint8_t *p, size_t n, size_t bs, uint8_t *pad)
{
	if (n == bs)
		return XXH3_64bits(p, bs);
	memcpy(pad, p, n);
	memset(pad + n, 0, bs - n);
	return XXH3_64bits(pad, bs);
}

/* The checksum table entry b says block b must hash to (fd acquired). */
static uint64_t entry_get(const struct chunk *c, uint64_t b)
{
	return get_le64((const uint8_t *)&c->table[b]) ^ c->lay->key;
}

static void entry_set(struct chunk *c, uint64_t b, uint64_t hash)
{
	put_le64((uint8_t *)&c->table[b], hash ^ c->lay->key);
}

/* Fills a table with the entries of blocks of zeros. */
static void table_fill_zero(const struct layout *lay, uint64_t *table)
{
	for (uint32_t i = 0; i < lay->nblocks; i++)
		put_le64((uint8_t *)&table[i], lay->zero_hash ^ lay->key);
}

static void layout_init(struct layout *lay, uint32_t format, uint32_t bs,
			const uint8_t *zeros)
{
	lay->format = format;
	lay->bs = bs;
	lay->nblocks = CHUNKD_MAX_CHUNK / bs;
	lay->table_size = lay->nblocks * 8u;
	lay->data_off = CHUNKD_HDR_SIZE + lay->table_size;
	lay->zero_hash = XXH3_64bits(zeros, bs);
	/* format 3: a block of zeros has the entry 0, so table holes are right */
	lay->key = format >= 3 ? lay->zero_hash : 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zeros[256];

	while (n >= sizeof(zeros)) {
		if (memcmp(p, zeros, sizeof(zeros)) != 0)
			return 0;
		p += sizeof(zeros);
		n -= sizeof(zeros);
	}
	return n == 0 || memcmp(p, zeros, n) == 0;
}

/* ---- the index ---- */

static size_t bucket_of(const struct chunkd_store *s, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & (s->nbuckets - 1);
}

/* Doubles the bucket array when the map gets full (s->mu held). */
static void map_grow(struct chunkd_store *s)
{
	size_t n = s->nbuckets * 2;
	struct chunk **nb;

	if (s->entries < s->nbuckets)
		return;
	nb = gd_calloc(n, sizeof(*nb));
	if (!nb)
		return;   /* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct chunk *c = s->buckets[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			size_t b = (size_t)((c->id * 0x9E3779B97F4A7C15ull) >> 20) & (n - 1);
			c->hnext = nb[b];
			nb[b] = c;
		}
	}
	gd_free(s->buckets);
	s->buckets = nb;
	s->nbuckets = n;
}

static struct chunk *chunk_new(uint64_t id)
{
	struct chunk *c = gd_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = id;
	c->fd = -1;
	pthread_rwlock_init(&c->rw, NULL);
	pthread_mutex_init(&c->fd_mu, NULL);
	return c;
}

static void chunk_free(struct chunk *c)
{
	if (c->fd >= 0)
		close(c->fd);
	gd_free(c->table);
	gd_free(c->bad);
	pthread_rwlock_destroy(&c->rw);
	pthread_mutex_destroy(&c->fd_mu);
	gd_free(c);
}

/* A referenced entry for id; with create, one is added when missing.
 * Returns NULL when absent (or out of memory with create). */
static struct chunk *chunk_get(struct chunkd_store *s, uint64_t id, int create)
{
	struct chunk *c;

	pthread_mutex_lock(&s->mu);
	for (c = s->buckets[bucket_of(s, id)]; c; c = c->hnext)
		if (c->id == id)
			break;
	if (!c && create) {
		c = chunk_new(id);
		if (c) {
			size_t b = bucket_of(s, id);
			c->hnext = s->buckets[b];
			s->buckets[b] = c;
			s->entries++;
			map_grow(s);
		}
	}
	if (c)
		c->refs++;
	pthread_mutex_unlock(&s->mu);
	return c;
}

static void lru_unlink(struct chunkd_store *s, struct chunk *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else if (s->lru_head == c)
		s->lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else if (s->lru_tail == c)
		s->lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_push_head(struct chunkd_store *s, struct chunk *c)
{
	c->lru_prev = NULL;
	c->lru_next = s->lru_head;
	if (s->lru_head)
		s->lru_head->lru_prev = c;
	s->lru_head = c;
	if (!s->lru_tail)
		s->lru_tail = c;
}

/* Closes the fd of an entry nobody uses (s->mu held). */
static void fd_drop_locked(struct chunkd_store *s, struct chunk *c)
{
	if (c->fd < 0)
		return;
	lru_unlink(s, c);
	close(c->fd);
	c->fd = -1;
	gd_free(c->table);
	c->table = NULL;
	s->open_fds--;
}

/* Takes the entry out of the map (s->mu held); it is freed at its last put. */
static void chunk_kill_locked(struct chunkd_store *s, struct chunk *c)
{
	struct chunk **pp;

	if (c->dead)
		return;
	for (pp = &s->buckets[bucket_of(s, c->id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	c->dead = 1;
	s->entries--;
	if (c->fd_users == 0)
		fd_drop_locked(s, c);
}

static void chunk_put(struct chunkd_store *s, struct chunk *c)
{
	int free_it;

	pthread_mutex_lock(&s->mu);
	free_it = --c->refs == 0 && c->dead;
	if (free_it)
		fd_drop_locked(s, c);
	pthread_mutex_unlock(&s->mu);
	if (free_it)
		chunk_free(c);
}

/* Moves the copy's count to the dir it is in now (store->mu held, c->exists
 * still the old state). */
static void count_in_dir(struct chunkd_store *s, struct chunk *c, int exists)
{
	if (c->exists)
		s->dirs[c->counted_dir].nchunks--;
	if (exists) {
		s->dirs[c->dir].nchunks++;
		c->counted_dir = c->dir;
	}
}

/* An I/O error of the copy's data dir, counted (rc of a read, write, fsync
 * or truncate of c; rw held). */
static void count_io_error(struct chunkd_store *s, const struct chunk *c, int rc)
{
	if ((rc == GD_EIO || rc == GD_EROFS) && c->exists)
		atomic_fetch_add(&s->dirs[c->dir].io_errors, 1);
}

/* Records whether a copy exists and its version (rw held for writing). */
static void chunk_set_state(struct chunkd_store *s, struct chunk *c, int exists,
			    uint64_t version)
{
	pthread_mutex_lock(&s->mu);
	if (exists && !c->exists)
		s->count++;
	else if (!exists && c->exists)
		s->count--;
	count_in_dir(s, c, exists);
	c->exists = exists;
	c->version = version;
	if (!exists)
		chunk_kill_locked(s, c);
	pthread_mutex_unlock(&s->mu);
}

/* Ends a write-locked operation: an entry left without a copy leaves the map. */
static void chunk_unlock_w(struct chunkd_store *s, struct chunk *c)
{
	if (!c->exists) {
		pthread_mutex_lock(&s->mu);
		chunk_kill_locked(s, c);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_rwlock_unlock(&c->rw);
	chunk_put(s, c);
}

/* Closes the least recently used fds beyond the cache size (s->mu held). */
static void fd_evict_locked(struct chunkd_store *s)
{
	struct chunk *c = s->lru_tail, *prev;

	for (; c && s->open_fds > s->fd_cache; c = prev) {
		prev = c->lru_prev;
		if (c->fd_users == 0)
			fd_drop_locked(s, c);
	}
}

/* Puts an open fd and its loaded table on the entry (s->mu not held). */
static void fd_install(struct chunkd_store *s, struct chunk *c, int fd, uint64_t *table)
{
	pthread_mutex_lock(&s->mu);
	c->fd = fd;
	c->table = table;
	c->fd_users++;
	s->open_fds++;
	lru_push_head(s, c);
	fd_evict_locked(s);
	pthread_mutex_unlock(&s->mu);
}

/* Makes c->fd and c->table usable until fd_release (rw held, copy exists). */
static int fd_acquire(struct chunkd_store *s, struct chunk *c)
{
	char path[PATH_LEN];
	uint64_t *table = NULL;
	int fd = -1, rc = 0;

	pthread_mutex_lock(&s->mu);
	if (c->fd >= 0) {
		c->fd_users++;
		lru_unlink(s, c);
		lru_push_head(s, c);
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	pthread_mutex_unlock(&s->mu);

	pthread_mutex_lock(&c->fd_mu);
	pthread_mutex_lock(&s->mu);
	if (c->fd >= 0) {
		c->fd_users++;
		pthread_mutex_unlock(&s->mu);
		goto out_unlock;
	}
	pthread_mutex_unlock(&s->mu);
	chunk_path(s, c->dir, c->id, c->version, path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = gd_status_from_errno(errno);
		gd_error("open %s: %s", path, strerror(errno));
		goto out_unlock;
	}
	table = gd_malloc(c->lay->table_size);
	if (!table) {
		rc = GD_ENOMEM;
		goto err_after_open;
	}
	struct chunkd_uring_op op = {
		.fd = fd, .write = 0, .buf = table, .len = c->lay->table_size,
		.off = CHUNKD_HDR_SIZE,
	};
	rc = chunkd_uring_run(s->io, &op, 1);
	if (rc == 0 && op.done != c->lay->table_size)
		rc = GD_ECORRUPT;   /* a file shorter than its checksum table */
	if (rc != 0) {
		gd_error("%s: cannot read the checksum table: %s", path, gd_strerror(rc));
		goto err_after_alloc;
	}
	fd_install(s, c, fd, table);
	goto out_unlock;

err_after_alloc:
	gd_free(table);
err_after_open:
	close(fd);
out_unlock:
	pthread_mutex_unlock(&c->fd_mu);
	return rc;
}

static void fd_release(struct chunkd_store *s, struct chunk *c)
{
	pthread_mutex_lock(&s->mu);
	c->fd_users--;
	if (c->dead && c->fd_users == 0)
		fd_drop_locked(s, c);
	else if (c->fd_users == 0 && s->open_fds > s->fd_cache)
		fd_evict_locked(s);
	pthread_mutex_unlock(&s->mu);
}

/* Writes the header of an open copy (rw held for writing, fd acquired). */
static int header_write(struct chunkd_store *s, struct chunk *c)
{
	uint8_t h[CHUNKD_HDR_SIZE];
	struct chunkd_uring_op op = { .fd = c->fd, .write = 1, .buf = h,
				      .len = sizeof(h), .off = 0 };
	int rc;

	header_encode(h, c->lay, c->id, c->version, c->data_len, c->chunk_size,
		      c->open_on_disk ? HDR_STATE_OPEN : HDR_STATE_CLEAN);
	rc = chunkd_uring_run(s->io, &op, 1);
	if (rc == 0)
		c->header_dirty = 0;
	return rc;
}

/* ---- bad blocks ---- */

/* Records that block b of the copy does not match its checksum and tells the
 * callback the first time (rw held, shared or alone). The copy stays where it
 * is: its other blocks are good, reads of them go on, and the meta replaces
 * the copy from a good one (an import at the same version replaces a copy
 * with bad blocks). */
static void note_bad(struct chunkd_store *s, struct chunk *c, uint64_t b, const char *why)
{
	uint64_t version;
	int first = 1;

	pthread_mutex_lock(&s->mu);
	if (!c->bad)
		c->bad = gd_calloc(CHUNKD_MAX_BLOCKS / 8, 1);   /* the most blocks of any format */
	if (c->bad) {
		first = !(c->bad[b / 8] & (1u << (b % 8)));
		c->bad[b / 8] |= (uint8_t)(1u << (b % 8));
		c->nbad += (unsigned)first;
	}
	version = c->version;
	pthread_mutex_unlock(&s->mu);
	if (!first)
		return;
	atomic_fetch_add(&s->dirs[c->dir].checksum_errors, 1);
	gd_error("chunk %016" PRIx64 " v%" PRIu64 ": block %" PRIu64 " (data bytes %" PRIu64
		 "..%" PRIu64 ") does not match its checksum (%s): reported, the copy is kept",
		 c->id, version, b, b * c->lay->bs, b * c->lay->bs + c->lay->bs - 1, why);
	if (s->on_corrupt)
		s->on_corrupt(s->ctx, c->id, version, b);
}

/* Forgets bad blocks [b0, b1] that a write replaced whole (rw held alone). */
static void clear_bad(struct chunkd_store *s, struct chunk *c, uint64_t b0, uint64_t b1)
{
	pthread_mutex_lock(&s->mu);
	for (uint64_t b = b0; c->bad && b <= b1; b++) {
		if (c->bad[b / 8] & (1u << (b % 8))) {
			c->bad[b / 8] &= (uint8_t)~(1u << (b % 8));
			c->nbad--;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- crash safety: the "open" mark ---- */

/* Records the open state (and, when open, the time of the last change) under
 * store->mu too, for the settler's scan (rw held alone). */
static void set_open(struct chunkd_store *s, struct chunk *c, int open)
{
	pthread_mutex_lock(&s->mu);
	c->open_on_disk = open;
	if (open)
		c->last_write_ms = gd_net_now_ms();
	pthread_mutex_unlock(&s->mu);
}

/* Marks the copy open on disk before its data or checksums change (rw held
 * alone, fd acquired): the header says so and is synced first, so that after
 * any crash a block that matches no checksum is known to be one a write was
 * tearing (docs/chunkd.md, "On-disk format and crash safety"), not rot.
 * Costs one fdatasync per copy until it is settled again. */
static int mark_open(struct chunkd_store *s, struct chunk *c)
{
	int rc;

	if (c->open_on_disk)
		return 0;
	set_open(s, c, 1);
	rc = header_write(s, c);
	CHUNKD_FAULT("write_dirty");
	if (rc == 0)
		rc = sync_file(s, c->fd);
	if (rc) {
		set_open(s, c, 0);
		c->header_dirty = 1;
		gd_error("chunk %016" PRIx64 ": cannot mark the copy open: %s", c->id,
			 gd_strerror(rc));
	}
	return rc;
}

/* Syncs an open copy and writes its header as clean (rw held alone, fd
 * acquired). The clean header needs no sync of its own: everything it vouches
 * for is on disk already, and the next write marks the copy open (synced)
 * before it changes anything. */
static int settle_locked(struct chunkd_store *s, struct chunk *c)
{
	int rc;

	if (!c->open_on_disk)
		return 0;
	rc = sync_file(s, c->fd);
	if (rc == 0) {
		set_open(s, c, 0);
		rc = header_write(s, c);
		if (rc) {
			set_open(s, c, 1);   /* what the disk may still say: harmless */
			c->header_dirty = 1;
		}
	}
	return rc;
}

/* ---- versions ---- */

/* A unique temp file name in DATA/tmp/ for a new copy (removed at start). */
static void tmp_path(const struct chunkd_store *s, int dir, uint64_t id, uint64_t version,
		     char *out)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out;
	snprintf(out, PATH_LEN, "%s/tmp/%016" PRIx64 "_%016" PRIx64 ".%016" PRIx64 ".tmp",
		 s->dirs[dir].path, id, version, r);
}

/* Creates an empty copy in the store's format for new copies (rw held for
 * writing, no copy). The header (marked open, so that the first writes need
 * no sync of their own) and the table are written to a temp file and synced
 * before it is renamed into place: a chunk file under its name always has a
 * whole header, even after a power loss. A format 3 table of zeros is a hole:
 * only the header is written, the file is extended over the table. */
static int chunk_create(struct chunkd_store *s, struct chunk *c, uint64_t version,
			uint64_t chunk_size)
{
	const struct layout *lay = s->new_lay;
	char path[PATH_LEN], tmp[PATH_LEN];
	uint8_t *head;
	uint64_t *table;
	int fd, rc, dir = pick_dir(s);

	rc = space_check(s, dir, lay->data_off);
	if (rc)
		return rc;
	rc = make_leafdir(s, dir, c->id);
	if (rc) {
		gd_error("data dir %s: cannot make the chunk directory: %s",
			 s->dirs[dir].path, gd_strerror(rc));
		return rc;
	}
	head = gd_malloc(lay->format >= 3 ? CHUNKD_HDR_SIZE : lay->data_off);
	table = gd_malloc(lay->table_size);
	if (!head || !table) {
		rc = GD_ENOMEM;
		goto out_free;
	}
	tmp_path(s, dir, c->id, version, tmp);
	chunk_path(s, dir, c->id, version, path);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = gd_status_from_errno(errno);
		gd_error("create %s: %s", tmp, strerror(errno));
		goto out_free;
	}
	header_encode(head, lay, c->id, version, 0, chunk_size, HDR_STATE_OPEN);
	table_fill_zero(lay, table);
	if (lay->format < 3)
		memcpy(head + CHUNKD_HDR_SIZE, table, lay->table_size);
	struct chunkd_uring_op op = { .fd = fd, .write = 1, .buf = head,
				      .len = lay->format >= 3 ? CHUNKD_HDR_SIZE : lay->data_off,
				      .off = 0 };
	rc = chunkd_uring_run(s->io, &op, 1);
	if (rc == 0 && lay->format >= 3 && ftruncate(fd, (off_t)lay->data_off) != 0)
		rc = gd_status_from_errno(errno);
	if (rc == 0)
		rc = sync_file(s, fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = gd_status_from_errno(errno);
	if (rc) {
		gd_error("create %s: %s", path, gd_strerror(rc));
		close(fd);
		unlink(tmp);
		goto out_free;
	}
	CHUNKD_FAULT("rename");
	c->dir = dir;
	c->lay = lay;
	c->data_len = 0;
	c->chunk_size = chunk_size;
	c->header_dirty = 0;
	c->dir_dirty = 1;
	set_open(s, c, 1);
	chunk_set_state(s, c, 1, version);
	fd_install(s, c, fd, table);
	fd_release(s, c);
	table = NULL;
out_free:
	gd_free(head);
	gd_free(table);
	return rc;
}

/* Renames the copy from its version to `version` (rw held for writing). */
static int chunk_rename(struct chunkd_store *s, struct chunk *c, uint64_t version)
{
	char from[PATH_LEN], to[PATH_LEN];
	uint64_t old = c->version;
	int rc;

	chunk_path(s, c->dir, c->id, old, from);
	chunk_path(s, c->dir, c->id, version, to);
	if (rename(from, to) != 0) {
		rc = gd_status_from_errno(errno);
		gd_error("rename %s -> %s: %s", from, to, strerror(errno));
		return rc;
	}
	CHUNKD_FAULT("rename");
	chunk_set_state(s, c, 1, version);
	c->dir_dirty = 1;
	/* The file name is the truth (the scan reads the version from it); the
	 * header follows so that the file describes itself. */
	rc = fd_acquire(s, c);
	if (rc == 0) {
		rc = header_write(s, c);
		fd_release(s, c);
	}
	if (rc)
		c->header_dirty = 1;
	return 0;
}

/* Applies the version rule of chunkd_store.h and leaves a copy at `version`
 * (rw held for writing). create_size is the chunk size for a new copy. */
static int chunk_settle(struct chunkd_store *s, struct chunk *c, uint64_t version,
			uint64_t prev_version, uint64_t create_size)
{
	if (version == 0)
		return GD_EINVAL;
	if (c->exists && c->version == version)
		return 0;
	if (c->exists && prev_version != 0 && c->version == prev_version)
		return chunk_rename(s, c, version);
	if (!c->exists && prev_version == 0)
		return chunk_create(s, c, version, create_size);
	return GD_ESTALE;
}

/* Looks up (or adds) the entry and write-locks it; retries an entry that
 * died while we waited for it. */
static struct chunk *chunk_lock_w(struct chunkd_store *s, uint64_t id)
{
	for (;;) {
		struct chunk *c = chunk_get(s, id, 1);
		if (!c)
			return NULL;
		pthread_rwlock_wrlock(&c->rw);
		pthread_mutex_lock(&s->mu);
		int dead = c->dead;
		pthread_mutex_unlock(&s->mu);
		if (!dead)
			return c;
		pthread_rwlock_unlock(&c->rw);
		chunk_put(s, c);
	}
}

/* ---- block I/O ---- */

/* Reads whole block b into buf (zeros past the end of the file) and checks
 * it (fd acquired). Returns 0, GD_ECORRUPT or an I/O error. */
static int block_read_verify(struct chunkd_store *s, struct chunk *c, uint64_t b,
			     uint8_t *buf)
{
	size_t bs = c->lay->bs;
	struct chunkd_uring_op op = { .fd = c->fd, .write = 0, .buf = buf,
				      .len = bs, .off = c->lay->data_off + b * bs };
	int rc = chunkd_uring_run(s->io, &op, 1);

	if (rc)
		return rc;
	memset(buf + op.done, 0, bs - op.done);
	if (XXH3_64bits(buf, bs) != entry_get(c, b))
		return GD_ECORRUPT;
	return 0;
}

/* Writes the table entries [b0, b1] to disk. */
static int table_write(struct chunkd_store *s, struct chunk *c, uint64_t b0, uint64_t b1)
{
	struct chunkd_uring_op op = {
		.fd = c->fd, .write = 1, .buf = &c->table[b0],
		.len = (size_t)(b1 - b0 + 1) * 8, .off = CHUNKD_HDR_SIZE + b0 * 8,
	};
	return chunkd_uring_run(s->io, &op, 1);
}

/* The write itself (rw held for writing, fd acquired, range checked). Partial
 * blocks are read, verified and merged only to compute their new checksum;
 * the data goes to disk straight from the caller's buffer, then the table. */
static int do_write(struct chunkd_store *s, struct chunk *c, uint64_t off,
		    const uint8_t *data, size_t len, uint64_t *bad_b)
{
	const uint64_t BS = c->lay->bs;
	uint64_t b0 = off / BS, b1 = (off + len - 1) / BS;
	uint64_t *newh, *oldh;
	uint8_t *scratch = NULL;
	int rc = 0;

	newh = gd_malloc((size_t)(b1 - b0 + 1) * 2 * sizeof(*newh));
	if (!newh)
		return GD_ENOMEM;
	oldh = newh + (b1 - b0 + 1);
	for (uint64_t b = b0; b <= b1; b++) {
		uint64_t bs = b * BS;
		if (bs >= off && bs + BS <= off + len) {
			newh[b - b0] = XXH3_64bits(data + (bs - off), BS);
			continue;
		}
		/* A block the write covers in part: merge with what is there. */
		if (!scratch) {
			scratch = gd_malloc(BS);
			if (!scratch) {
				rc = GD_ENOMEM;
				goto out;
			}
		}
		if (bs >= c->data_len) {
			/* wholly past the data: zeros (truncate and recovery keep
			 * it so), nothing to read */
			memset(scratch, 0, BS);
		} else {
			rc = block_read_verify(s, c, b, scratch);
			if (rc) {
				*bad_b = b;
				goto out;
			}
		}
		uint64_t from = off > bs ? off : bs;
		uint64_t to = off + len < bs + BS ? off + len : bs + BS;
		memcpy(scratch + (from - bs), data + (from - off), to - from);
		newh[b - b0] = XXH3_64bits(scratch, BS);
	}

	struct chunkd_uring_op op = { .fd = c->fd, .write = 1, .buf = (void *)data,
				      .len = len, .off = c->lay->data_off + off };
	rc = chunkd_uring_run(s->io, &op, 1);
	CHUNKD_FAULT("write_data");
	if (rc) {
		gd_error("chunk %016" PRIx64 ": write of %zu bytes at %" PRIu64 " failed: %s"
			 " (checksums left as they were)", c->id, len, off, gd_strerror(rc));
		goto out;
	}
	for (uint64_t b = b0; b <= b1; b++) {
		oldh[b - b0] = c->table[b];
		entry_set(c, b, newh[b - b0]);
	}
	rc = table_write(s, c, b0, b1);
	if (rc) {
		/* The data is new and its checksums old: those blocks now read as
		 * corrupt, which is the truth; keep memory equal to the disk. */
		for (uint64_t b = b0; b <= b1; b++)
			c->table[b] = oldh[b - b0];
		gd_error("chunk %016" PRIx64 ": checksum table write failed: %s", c->id,
			 gd_strerror(rc));
		goto out;
	}
	if (off + len > c->data_len) {
		c->data_len = off + len;
		c->header_dirty = 1;
	}
	set_open(s, c, 1);   /* it is: this refreshes last_write_ms */
	if (c->bad) {
		/* blocks the write covered whole are good again */
		uint64_t w0 = (off + BS - 1) / BS, w1 = (off + len) / BS;
		if (w1 > w0)
			clear_bad(s, c, w0, w1 - 1);
	}
out:
	gd_free(scratch);
	gd_free(newh);
	return rc;
}

static uint64_t bound_chunk_size(uint64_t chunk_size)
{
	if (chunk_size == 0 || chunk_size > CHUNKD_MAX_CHUNK)
		return CHUNKD_MAX_CHUNK;
	return chunk_size;
}

int chunkd_store_write(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
		       uint64_t prev_version, uint64_t chunk_size, uint64_t offset,
		       const void *data, size_t len)
{
	uint64_t cs = bound_chunk_size(chunk_size), bad_b = 0;
	struct chunk *c;
	int rc;

	if (offset > cs || len > cs - offset || (len && !data))
		return GD_EINVAL;
	c = chunk_lock_w(s, chunk_id);
	if (!c)
		return GD_ENOMEM;
	rc = chunk_settle(s, c, version, prev_version, cs);
	if (rc)
		goto out;
	if (offset + len > c->chunk_size) {
		rc = GD_EINVAL;
		goto out;
	}
	if (len == 0)
		goto out;
	rc = space_check(s, c->dir, len + c->lay->bs);
	if (rc)
		goto out;
	rc = fd_acquire(s, c);
	if (rc)
		goto out;
	rc = mark_open(s, c);
	if (rc == 0)
		rc = do_write(s, c, offset, data, len, &bad_b);
	fd_release(s, c);
	if (rc == GD_ECORRUPT)
		note_bad(s, c, bad_b, "before a partial write");
out:
	count_io_error(s, c, rc);
	chunk_unlock_w(s, c);
	return rc;
}

/* The read itself (rw held, fd acquired, range inside the chunk). Whole
 * blocks are read straight into buf; the partial head and tail blocks go
 * through scratch buffers; all in one batch. */
static int do_read(struct chunkd_store *s, struct chunk *c, uint64_t off, size_t len,
		   uint8_t *buf, uint64_t *bad_b)
{
	const uint64_t BS = c->lay->bs, DOFF = c->lay->data_off;
	uint64_t b0 = off / BS, b1 = (off + len - 1) / BS;
	uint64_t end = off + len;
	struct chunkd_uring_op ops[3];
	uint8_t *head = NULL, *tail = NULL;
	int n = 0, head_i = -1, mid_i = -1, tail_i = -1, rc;
	uint64_t mid_b0, mid_b1;   /* whole blocks [mid_b0, mid_b1) */

	int head_partial = off % BS != 0 || end < b0 * BS + BS;
	int tail_partial = b1 != b0 && end % BS != 0;
	mid_b0 = head_partial ? b0 + 1 : b0;
	mid_b1 = tail_partial ? b1 : b1 + 1;
	if (head_partial && b1 == b0)
		mid_b1 = mid_b0;

	if (head_partial) {
		head = gd_malloc(BS);
		if (!head)
			return GD_ENOMEM;
		ops[n] = (struct chunkd_uring_op){ .fd = c->fd, .buf = head, .len = BS,
						   .off = DOFF + b0 * BS };
		head_i = n++;
	}
	if (mid_b1 > mid_b0) {
		ops[n] = (struct chunkd_uring_op){ .fd = c->fd, .buf = buf + (mid_b0 * BS - off),
						   .len = (size_t)(mid_b1 - mid_b0) * BS,
						   .off = DOFF + mid_b0 * BS };
		mid_i = n++;
	}
	if (tail_partial) {
		tail = gd_malloc(BS);
		if (!tail) {
			rc = GD_ENOMEM;
			goto out;
		}
		ops[n] = (struct chunkd_uring_op){ .fd = c->fd, .buf = tail, .len = BS,
						   .off = DOFF + b1 * BS };
		tail_i = n++;
	}
	rc = chunkd_uring_run(s->io, ops, n);
	if (rc)
		goto out;
	for (int i = 0; i < n; i++)
		memset((uint8_t *)ops[i].buf + ops[i].done, 0, ops[i].len - ops[i].done);

	if (head_i >= 0 && XXH3_64bits(head, BS) != entry_get(c, b0)) {
		*bad_b = b0;
		rc = GD_ECORRUPT;
		goto out;
	}
	if (mid_i >= 0) {
		for (uint64_t b = mid_b0; b < mid_b1; b++) {
			if (XXH3_64bits(buf + (b * BS - off), BS) != entry_get(c, b)) {
				*bad_b = b;
				rc = GD_ECORRUPT;
				goto out;
			}
		}
	}
	if (tail_i >= 0 && XXH3_64bits(tail, BS) != entry_get(c, b1)) {
		*bad_b = b1;
		rc = GD_ECORRUPT;
		goto out;
	}
	if (head_i >= 0) {
		uint64_t to = end < b0 * BS + BS ? end : b0 * BS + BS;
		memcpy(buf, head + (off - b0 * BS), to - off);
	}
	if (tail_i >= 0)
		memcpy(buf + (b1 * BS - off), tail, end - b1 * BS);
out:
	gd_free(head);
	gd_free(tail);
	return rc;
}

int chunkd_store_read(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
		      uint64_t offset, size_t len, void *buf, size_t *out_len)
{
	struct chunk *c = chunk_get(s, chunk_id, 0);
	uint64_t bad_b = 0;
	int rc = 0;

	*out_len = 0;
	if (!c)
		return GD_ENOCHUNK;
	pthread_rwlock_rdlock(&c->rw);
	if (!c->exists) {
		rc = GD_ENOCHUNK;
		goto out;
	}
	if (c->version != version) {
		rc = GD_ESTALE;
		goto out;
	}
	if (offset >= c->chunk_size || len == 0)
		goto out;
	if (len > c->chunk_size - offset)
		len = (size_t)(c->chunk_size - offset);
	rc = fd_acquire(s, c);
	if (rc)
		goto out;
	rc = do_read(s, c, offset, len, buf, &bad_b);
	fd_release(s, c);
	if (rc == 0)
		*out_len = len;
	else if (rc == GD_ECORRUPT)
		note_bad(s, c, bad_b, "on read");
out:
	count_io_error(s, c, rc);
	pthread_rwlock_unlock(&c->rw);
	chunk_put(s, c);
	return rc;
}

int chunkd_store_fsync(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
		       uint64_t prev_version)
{
	struct chunk *c = chunk_lock_w(s, chunk_id);
	int rc;

	if (!c)
		return GD_ENOMEM;
	rc = chunk_settle(s, c, version, prev_version, CHUNKD_MAX_CHUNK);
	if (rc)
		goto out;
	rc = fd_acquire(s, c);
	if (rc)
		goto out;
	if (c->header_dirty)
		rc = header_write(s, c);
	if (rc == 0)
		rc = sync_file(s, c->fd);
	fd_release(s, c);
	if (rc == 0 && c->dir_dirty) {
		rc = sync_chunk_dirs(s, c->dir, c->id);
		if (rc == 0)
			c->dir_dirty = 0;
	}
	if (rc)
		gd_error("chunk %016" PRIx64 ": fsync failed: %s", chunk_id, gd_strerror(rc));
out:
	count_io_error(s, c, rc);
	chunk_unlock_w(s, c);
	return rc;
}

/* Cuts the data at length: the block holding the new end gets its tail zeroed
 * and a new checksum, the blocks after it the checksum of zeros (rw held for
 * writing, fd acquired). */
static int do_truncate(struct chunkd_store *s, struct chunk *c, uint64_t length,
		       uint64_t *bad_b)
{
	const uint64_t BS = c->lay->bs, DOFF = c->lay->data_off;
	uint64_t old = c->data_len;
	uint8_t *scratch = NULL;
	int rc = 0;

	if (length < old) {
		uint64_t b = length / BS, rem = length % BS;
		uint64_t last = (old - 1) / BS;
		uint64_t first_zero = rem ? b + 1 : b;
		uint64_t bh = 0;

		if (rem) {
			scratch = gd_malloc(BS);
			if (!scratch)
				return GD_ENOMEM;
			rc = block_read_verify(s, c, b, scratch);
			if (rc) {
				*bad_b = b;
				goto out;
			}
			memset(scratch + rem, 0, BS - rem);
			bh = XXH3_64bits(scratch, BS);
		}
		if (ftruncate(c->fd, (off_t)(DOFF + length)) != 0) {
			rc = gd_status_from_errno(errno);
			goto out;
		}
		if (rem)
			entry_set(c, b, bh);
		for (uint64_t i = first_zero; i <= last; i++)
			entry_set(c, i, c->lay->zero_hash);
		rc = table_write(s, c, b, last);
		if (rc)
			goto out;
	} else if (length > old) {
		/* The new bytes are a hole: zeros, which their checksums already say. */
		if (ftruncate(c->fd, (off_t)(DOFF + length)) != 0) {
			rc = gd_status_from_errno(errno);
			goto out;
		}
	}
	c->data_len = length;
	set_open(s, c, 1);
	rc = header_write(s, c);
out:
	gd_free(scratch);
	return rc;
}

int chunkd_store_truncate(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
			  uint64_t prev_version, uint64_t length)
{
	struct chunk *c;
	uint64_t bad_b = 0;
	int rc;

	if (length > CHUNKD_MAX_CHUNK)
		return GD_EINVAL;
	c = chunk_lock_w(s, chunk_id);
	if (!c)
		return GD_ENOMEM;
	rc = chunk_settle(s, c, version, prev_version, CHUNKD_MAX_CHUNK);
	if (rc)
		goto out;
	if (length > c->chunk_size) {
		rc = GD_EINVAL;
		goto out;
	}
	rc = fd_acquire(s, c);
	if (rc)
		goto out;
	/* A truncate to the current length changes nothing on disk: no mark,
	 * no header write, nothing for the settler to sync. */
	rc = length != c->data_len ? mark_open(s, c) : 0;
	if (rc == 0 && length != c->data_len)
		rc = do_truncate(s, c, length, &bad_b);
	fd_release(s, c);
	if (rc == GD_ECORRUPT) {
		note_bad(s, c, bad_b, "before a truncate");
	} else if (rc) {
		gd_error("chunk %016" PRIx64 ": truncate to %" PRIu64 " failed: %s", chunk_id,
			 length, gd_strerror(rc));
	}
out:
	count_io_error(s, c, rc);
	chunk_unlock_w(s, c);
	return rc;
}

/* Removes the file of the copy and drops it (rw held for writing). */
static int chunk_remove_locked(struct chunkd_store *s, struct chunk *c)
{
	char path[PATH_LEN];

	chunk_path(s, c->dir, c->id, c->version, path);
	if (unlink(path) != 0 && errno != ENOENT) {
		int rc = gd_status_from_errno(errno);
		gd_error("unlink %s: %s", path, strerror(errno));
		return rc;
	}
	chunk_set_state(s, c, 0, c->version);
	return 0;
}

int chunkd_store_delete(struct chunkd_store *s, uint64_t chunk_id, uint64_t version)
{
	struct chunk *c = chunk_get(s, chunk_id, 0);
	int rc;

	if (!c)
		return GD_ENOCHUNK;
	chunk_put(s, c);
	c = chunk_lock_w(s, chunk_id);
	if (!c)
		return GD_ENOMEM;
	if (!c->exists)
		rc = GD_ENOCHUNK;
	else if (version != 0 && c->version > version)
		rc = GD_ESTALE;
	else
		rc = chunk_remove_locked(s, c);
	chunk_unlock_w(s, c);
	return rc;
}

unsigned chunkd_store_bad_blocks(struct chunkd_store *s, uint64_t chunk_id)
{
	struct chunk *c = chunk_get(s, chunk_id, 0);
	unsigned n = 0;

	if (!c)
		return 0;
	pthread_mutex_lock(&s->mu);
	if (c->exists && !c->dead)
		n = c->nbad;
	pthread_mutex_unlock(&s->mu);
	chunk_put(s, c);
	return n;
}

int chunkd_store_version(struct chunkd_store *s, uint64_t chunk_id, uint64_t *version)
{
	struct chunk *c = chunk_get(s, chunk_id, 0);
	int rc = GD_ENOCHUNK;

	if (!c)
		return rc;
	pthread_mutex_lock(&s->mu);
	if (c->exists && !c->dead) {
		*version = c->version;
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	chunk_put(s, c);
	return rc;
}

int chunkd_store_extent(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
			uint64_t *data_len, uint64_t *chunk_size)
{
	struct chunk *c = chunk_get(s, chunk_id, 0);
	int rc = 0;

	if (!c)
		return GD_ENOCHUNK;
	pthread_rwlock_rdlock(&c->rw);
	if (!c->exists) {
		rc = GD_ENOCHUNK;
	} else if (c->version != version) {
		rc = GD_ESTALE;
	} else {
		*data_len = c->data_len;
		*chunk_size = c->chunk_size;
	}
	pthread_rwlock_unlock(&c->rw);
	chunk_put(s, c);
	return rc;
}

uint32_t chunkd_store_block_size(struct chunkd_store *s, uint64_t chunk_id)
{
	struct chunk *c = chunk_get(s, chunk_id, 0);
	uint32_t bs = CHUNKD_BLOCK_SIZE;

	if (!c)
		return bs;
	pthread_rwlock_rdlock(&c->rw);
	if (c->exists)
		bs = c->lay->bs;
	pthread_rwlock_unlock(&c->rw);
	chunk_put(s, c);
	return bs;
}

int chunkd_store_list(struct chunkd_store *s, struct chunkd_chunk_info **out, size_t *n)
{
	struct chunkd_chunk_info *v = NULL;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->mu);
	if (s->count) {
		v = gd_malloc(s->count * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&s->mu);
			return GD_ENOMEM;
		}
		for (size_t i = 0; i < s->nbuckets; i++)
			for (struct chunk *c = s->buckets[i]; c; c = c->hnext)
				if (c->exists && k < s->count)
					v[k++] = (struct chunkd_chunk_info){ c->id, c->version };
	}
	pthread_mutex_unlock(&s->mu);
	*out = v;
	*n = k;
	return 0;
}

uint64_t chunkd_store_count(struct chunkd_store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->mu);
	n = s->count;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void chunkd_store_space(struct chunkd_store *s, uint64_t *total, uint64_t *free_bytes)
{
	*total = 0;
	*free_bytes = 0;
	for (int i = 0; i < s->ndirs; i++) {
		struct statvfs sv;
		int seen = 0;

		for (int j = 0; j < i; j++)
			if (s->dirs[j].dev == s->dirs[i].dev)
				seen = 1;
		if (seen || statvfs(s->dirs[i].path, &sv) != 0)
			continue;
		*total += (uint64_t)sv.f_blocks * sv.f_frsize;
		*free_bytes += (uint64_t)sv.f_bavail * sv.f_frsize;
	}
}

size_t chunkd_store_ndirs(const struct chunkd_store *s)
{
	return (size_t)s->ndirs;
}

void chunkd_store_dir_stats(struct chunkd_store *s, size_t i, struct chunkd_store_dir_stats *out)
{
	struct statvfs sv;

	memset(out, 0, sizeof(*out));
	if (i >= (size_t)s->ndirs)
		return;
	out->path = s->dirs[i].path;
	if (statvfs(s->dirs[i].path, &sv) == 0) {
		out->total = (uint64_t)sv.f_blocks * sv.f_frsize;
		out->free = (uint64_t)sv.f_bavail * sv.f_frsize;
	}
	out->full = out->free < s->reserve;
	pthread_mutex_lock(&s->mu);
	out->chunks = s->dirs[i].nchunks;
	pthread_mutex_unlock(&s->mu);
	out->io_errors = atomic_load(&s->dirs[i].io_errors);
	out->checksum_errors = atomic_load(&s->dirs[i].checksum_errors);
}

const char *chunkd_store_node_id(const struct chunkd_store *s)
{
	return s->node_id;
}

int chunkd_store_uring_active(struct chunkd_store *s)
{
	return chunkd_uring_active(s->io);
}

/* ---- replication: import a copy ---- */

int chunkd_store_import_begin(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
			      struct chunkd_import **out)
{
	struct chunkd_import *imp;
	int rc = 0;

	if (version == 0)
		return GD_EINVAL;
	imp = gd_calloc(1, sizeof(*imp));
	if (!imp)
		return GD_ENOMEM;
	imp->s = s;
	imp->id = chunk_id;
	imp->version = version;
	imp->dir = pick_dir(s);
	imp->fd = -1;
	imp->lay = s->new_lay;
	imp->table = gd_malloc(imp->lay->table_size);
	imp->pad = gd_malloc(imp->lay->bs);
	if (!imp->table || !imp->pad) {
		rc = GD_ENOMEM;
		goto err;
	}
	table_fill_zero(imp->lay, imp->table);
	rc = space_check(s, imp->dir, imp->lay->data_off);
	if (rc)
		goto err;
	tmp_path(s, imp->dir, chunk_id, version, imp->tmp);
	imp->fd = open(imp->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (imp->fd < 0) {
		rc = gd_status_from_errno(errno);
		gd_error("create %s: %s", imp->tmp, strerror(errno));
		goto err;
	}
	*out = imp;
	return 0;
err:
	gd_free(imp->table);
	gd_free(imp->pad);
	gd_free(imp);
	return rc;
}

int chunkd_store_import_write(struct chunkd_import *imp, uint64_t offset,
			      const void *data, size_t len)
{
	struct chunkd_store *s = imp->s;
	const struct layout *lay = imp->lay;
	const size_t BS = lay->bs;
	const uint8_t *p = data;
	int rc;

	if (offset % BS != 0 || offset > CHUNKD_MAX_CHUNK || len > CHUNKD_MAX_CHUNK - offset)
		return GD_EINVAL;
	rc = space_check(s, imp->dir, len);
	if (rc)
		return rc;
	for (size_t at = 0; at < len; at += BS) {
		size_t n = len - at < BS ? len - at : BS;
		uint64_t b = (offset + at) / BS;

		if (all_zero(p + at, n))
			continue;   /* a hole reads as zeros; its entry is already the zero hash */
		put_le64((uint8_t *)&imp->table[b], block_hash(p + at, n, BS, imp->pad) ^ lay->key);
		struct chunkd_uring_op op = { .fd = imp->fd, .write = 1, .buf = (void *)(p + at),
					      .len = n, .off = lay->data_off + offset + at };
		rc = chunkd_uring_run(s->io, &op, 1);
		if (rc)
			return rc;
		if (offset + at + n > imp->end)
			imp->end = offset + at + n;
	}
	return 0;
}

void chunkd_store_import_abort(struct chunkd_import *imp)
{
	if (!imp)
		return;
	if (imp->fd >= 0)
		close(imp->fd);
	unlink(imp->tmp);
	gd_free(imp->table);
	gd_free(imp->pad);
	gd_free(imp);
}

/* Writes the imported copy's table: in format 3 only the 4 KiB pages that
 * hold an entry other than 0 (the rest stay holes, which read as the entries
 * of zeros); in format 2 all of it. */
static int import_write_table(struct chunkd_import *imp)
{
	const size_t per_page = 4096 / 8;
	int rc = 0;

	for (size_t i = 0; i < imp->lay->nblocks && rc == 0; i += per_page) {
		size_t n = imp->lay->nblocks - i < per_page ? imp->lay->nblocks - i : per_page;

		if (imp->lay->format >= 3 && all_zero((const uint8_t *)&imp->table[i], n * 8))
			continue;
		struct chunkd_uring_op op = { .fd = imp->fd, .write = 1, .buf = &imp->table[i],
					      .len = n * 8, .off = CHUNKD_HDR_SIZE + i * 8 };
		rc = chunkd_uring_run(imp->s->io, &op, 1);
	}
	return rc;
}

int chunkd_store_import_commit(struct chunkd_import *imp, uint64_t chunk_size)
{
	struct chunkd_store *s = imp->s;
	char final[PATH_LEN], old[PATH_LEN];
	uint8_t head[CHUNKD_HDR_SIZE];
	struct chunk *c = NULL;
	int rc, fd;

	if (chunk_size == 0 || chunk_size > CHUNKD_MAX_CHUNK || imp->end > chunk_size) {
		rc = GD_EINVAL;
		goto out_abort;
	}
	header_encode(head, imp->lay, imp->id, imp->version, imp->end, chunk_size,
		      HDR_STATE_CLEAN);
	rc = import_write_table(imp);
	if (rc == 0) {
		struct chunkd_uring_op op = { .fd = imp->fd, .write = 1, .buf = head,
					      .len = CHUNKD_HDR_SIZE, .off = 0 };
		rc = chunkd_uring_run(s->io, &op, 1);
	}
	if (rc == 0 && ftruncate(imp->fd, (off_t)(imp->lay->data_off + imp->end)) != 0)
		rc = gd_status_from_errno(errno);
	if (rc == 0)
		rc = sync_file(s, imp->fd);
	if (rc) {
		gd_error("%s: %s", imp->tmp, gd_strerror(rc));
		goto out_abort;
	}

	c = chunk_lock_w(s, imp->id);
	if (!c) {
		rc = GD_ENOMEM;
		goto out_abort;
	}
	if (c->exists && (c->version > imp->version ||
			  (c->version == imp->version && c->nbad == 0))) {
		gd_info("chunk %016" PRIx64 ": already here at v%" PRIu64 ", replica v%" PRIu64
			" dropped", imp->id, c->version, imp->version);
		rc = 0;
		goto out_unlock_abort;
	}
	rc = make_leafdir(s, imp->dir, imp->id);
	if (rc)
		goto out_unlock_abort;
	chunk_path(s, imp->dir, imp->id, imp->version, final);
	if (rename(imp->tmp, final) != 0) {
		rc = gd_status_from_errno(errno);
		gd_error("rename %s -> %s: %s", imp->tmp, final, strerror(errno));
		goto out_unlock_abort;
	}
	CHUNKD_FAULT("rename");
	if (c->exists) {
		/* An older copy: the new one replaces it. */
		chunk_path(s, c->dir, c->id, c->version, old);
		pthread_mutex_lock(&s->mu);
		if (c->fd_users == 0)
			fd_drop_locked(s, c);
		pthread_mutex_unlock(&s->mu);
		if (strcmp(old, final) != 0 && unlink(old) != 0 && errno != ENOENT)
			gd_warn("unlink %s: %s", old, strerror(errno));
	}
	if (c->exists && c->nbad)
		gd_info("chunk %016" PRIx64 " v%" PRIu64 ": copy with %u bad block(s) replaced "
			"by a replica", imp->id, c->version, c->nbad);
	pthread_mutex_lock(&s->mu);
	gd_free(c->bad);
	c->bad = NULL;
	c->nbad = 0;
	pthread_mutex_unlock(&s->mu);
	c->dir = imp->dir;
	c->lay = imp->lay;
	c->data_len = imp->end;
	c->chunk_size = chunk_size;
	c->header_dirty = 0;
	c->dir_dirty = 0;
	c->recover = 0;
	set_open(s, c, 0);
	chunk_set_state(s, c, 1, imp->version);
	rc = sync_chunk_dirs(s, imp->dir, imp->id);
	if (rc)
		c->dir_dirty = 1;
	rc = 0;
	fd = imp->fd;
	imp->fd = -1;
	close(fd);
	chunk_unlock_w(s, c);
	gd_free(imp->table);
	gd_free(imp->pad);
	gd_free(imp);
	return 0;

out_unlock_abort:
	chunk_unlock_w(s, c);
out_abort:
	chunkd_store_import_abort(imp);
	return rc;
}

/* ---- crash recovery and settling ---- */

/* A copy found open at start may hold blocks that a write was tearing when the
 * process died or the power went: each 4 KiB page of such a block is old or
 * new, and the bytes the write did not touch are as they were synced. Every
 * block is checked; one that matches no checksum gets the checksum of what is
 * there (logged), then the copy is synced and settled (single-threaded, at
 * open). The price: rot inside such a block in the same window is not seen. */
static int recover_copy(struct chunkd_store *s, struct chunk *c)
{
	const uint64_t BS = c->lay->bs;
	uint64_t nb = (c->data_len + BS - 1) / BS, fixed = 0, lo = UINT64_MAX, hi = 0;
	uint8_t *buf = gd_malloc(BS);
	int rc;

	if (!buf)
		return GD_ENOMEM;
	rc = fd_acquire(s, c);
	if (rc)
		goto out_free;
	for (uint64_t b = 0; b < c->lay->nblocks && rc == 0; b++) {
		if (b >= nb) {
			/* past the data: zeros, whatever a torn truncate left in the table */
			if (entry_get(c, b) == c->lay->zero_hash)
				continue;
			entry_set(c, b, c->lay->zero_hash);
		} else {
			rc = block_read_verify(s, c, b, buf);
			if (rc != GD_ECORRUPT)
				continue;
			entry_set(c, b, XXH3_64bits(buf, BS));
			rc = 0;
		}
		fixed++;
		lo = b < lo ? b : lo;
		hi = b;
	}
	if (rc == 0 && fixed)
		rc = table_write(s, c, lo, hi);
	if (rc == 0)
		rc = settle_locked(s, c);
	fd_release(s, c);
	if (rc == 0) {
		c->recover = 0;
		if (fixed)
			gd_warn("chunk %016" PRIx64 " v%" PRIu64 ": left open by a crash: %" PRIu64
				" block(s) torn by unsynced writes, checksums recomputed", c->id,
				c->version, fixed);
		else
			gd_info("chunk %016" PRIx64 " v%" PRIu64 ": left open by a crash: every "
				"block matches its checksum", c->id, c->version);
	}
out_free:
	gd_free(buf);
	if (rc)
		gd_error("chunk %016" PRIx64 ": recovery after a crash failed: %s", c->id,
			 gd_strerror(rc));
	return rc;
}

/* Every copy found open by the scan goes through recover_copy (at open). */
static int recover_all(struct chunkd_store *s)
{
	uint64_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < s->nbuckets && rc != GD_ENOMEM; i++)
		for (struct chunk *c = s->buckets[i]; c && rc != GD_ENOMEM; c = c->hnext)
			if (c->exists && c->recover) {
				n++;
				rc = recover_copy(s, c);
				/* One copy that cannot be checked (a read error) stays
				 * marked for recovery (never settled as it is); the
				 * node still starts with every other copy. */
				if (rc && rc != GD_ENOMEM)
					gd_error("recovery: chunk %016" PRIx64 " v%" PRIu64 ": %s; left open",
						 c->id, c->version, gd_strerror(rc));
			}
	if (n)
		gd_info("recovery: %" PRIu64 " copie(s) left open by a crash checked", n);
	return rc == GD_ENOMEM ? rc : 0;
}

int chunkd_store_settle(struct chunkd_store *s, uint64_t idle_ms)
{
	uint64_t *ids = NULL, now = gd_net_now_ms();
	size_t n = 0, cap = 0;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nbuckets; i++) {
		for (struct chunk *c = s->buckets[i]; c; c = c->hnext) {
			if (!c->exists || !c->open_on_disk || now - c->last_write_ms < idle_ms)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				uint64_t *v = gd_realloc(ids, ncap * sizeof(*v));
				if (!v)
					break;
				ids = v;
				cap = ncap;
			}
			ids[n++] = c->id;
		}
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		struct chunk *c = chunk_get(s, ids[i], 0);
		int r = 0;

		if (!c)
			continue;
		pthread_rwlock_wrlock(&c->rw);
		if (c->exists && !c->dead && c->open_on_disk && !c->recover &&
		    gd_net_now_ms() - c->last_write_ms >= idle_ms) {
			r = fd_acquire(s, c);
			if (r == 0) {
				r = settle_locked(s, c);
				fd_release(s, c);
			}
			if (r) {
				gd_warn("chunk %016" PRIx64 ": not settled: %s", c->id, gd_strerror(r));
				rc = r;
			}
		}
		pthread_rwlock_unlock(&c->rw);
		chunk_put(s, c);
	}
	gd_free(ids);
	return rc;
}

/* The settler thread: every settle_ms/2, settles the copies idle for settle_ms. */
static void *settle_main(void *arg)
{
	struct chunkd_store *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct timespec ts;

		gd_time_deadline(&ts, s->settle_ms / 2 + 1);
		pthread_cond_timedwait(&s->settle_cv, &s->mu, &ts);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->mu);
		chunkd_store_settle(s, s->settle_ms);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- open: node id and scan ---- */

static int read_node_id(const char *dir, char *out)
{
	char p[PATH_LEN], buf[64];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/node_id", dir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 16)
		return -1;
	for (int i = 0; i < 16; i++)
		if (!strchr("0123456789abcdef", buf[i]) || buf[i] == '\0')
			return -1;
	memcpy(out, buf, 16);
	out[16] = '\0';
	return 0;
}

static int write_node_id(const char *dir, const char *id)
{
	char p[PATH_LEN], tmp[PATH_LEN], line[18];
	int fd, rc = 0;

	snprintf(p, sizeof(p), "%s/node_id", dir);
	snprintf(tmp, sizeof(tmp), "%s/node_id.tmp", dir);
	snprintf(line, sizeof(line), "%s\n", id);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return gd_status_from_errno(errno);
	if (write(fd, line, 17) != 17 || fsync(fd) != 0)
		rc = GD_EIO;
	close(fd);
	if (rc == 0 && rename(tmp, p) != 0)
		rc = gd_status_from_errno(errno);
	if (rc == 0)
		rc = fsync_path(dir);
	return rc;
}

/* The node id from the first data dir that has one, else a new random one;
 * written to every dir that lacks it, so that any disk can tell who it is. */
static int setup_node_id(struct chunkd_store *s)
{
	int found = -1, rc;

	for (int i = 0; i < s->ndirs && found < 0; i++)
		if (read_node_id(s->dirs[i].path, s->node_id) == 0)
			found = i;
	if (found < 0) {
		uint8_t r[8];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return GD_EIO;
		gd_hex_encode(r, sizeof(r), s->node_id);
		gd_info("new node id %s", s->node_id);
	}
	for (int i = 0; i < s->ndirs; i++) {
		char other[17];
		if (read_node_id(s->dirs[i].path, other) == 0) {
			if (strcmp(other, s->node_id) != 0)
				gd_warn("data dir %s has node id %s, this node is %s",
					s->dirs[i].path, other, s->node_id);
			continue;
		}
		rc = write_node_id(s->dirs[i].path, s->node_id);
		if (rc) {
			gd_error("%s/node_id: cannot write: %s", s->dirs[i].path, gd_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static int is_hex2(const char *n)
{
	return strlen(n) == 2 && strchr("0123456789abcdef", n[0]) && n[0] &&
	       strchr("0123456789abcdef", n[1]) && n[1];
}

/* Parses "<16 hex>_<16 hex>.chk". */
static int parse_chunk_name(const char *n, uint64_t *id, uint64_t *version)
{
	char a[17], b[17];

	if (strlen(n) != 37 || n[16] != '_' || strcmp(n + 33, ".chk") != 0)
		return -1;
	memcpy(a, n, 16);
	a[16] = '\0';
	memcpy(b, n + 17, 16);
	b[16] = '\0';
	for (int i = 0; i < 16; i++)
		if (!strchr("0123456789abcdef", a[i]) || !strchr("0123456789abcdef", b[i]))
			return -1;
	*id = strtoull(a, NULL, 16);
	*version = strtoull(b, NULL, 16);
	return 0;
}

static void move_aside(const char *path, const char *dir, const char *name, const char *why)
{
	char to[PATH_LEN];

	snprintf(to, sizeof(to), "%s/lost+found/%s.%lld.bad", dir, name, (long long)time(NULL));
	if (rename(path, to) != 0)
		gd_error("%s (%s): cannot move aside: %s", path, why, strerror(errno));
	else
		gd_warn("%s: %s, moved to %s", path, why, to);
}

/* Adds one chunk file found by the scan to the index. */
static int scan_file(struct chunkd_store *s, int dir, const char *leaf, const char *name)
{
	char path[PATH_LEN], other[PATH_LEN];
	uint8_t h[CHUNKD_HDR_SIZE];
	uint64_t id, version, hid = 0, hver = 0, dlen = 0, csize = 0;
	const struct layout *lay = NULL;
	uint32_t state = HDR_STATE_CLEAN;
	unsigned a, b;
	const char *why = NULL;
	struct stat st;
	struct chunk *c;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", leaf, name) >= (int)sizeof(path))
		return 0;
	if (parse_chunk_name(name, &id, &version) != 0) {
		gd_warn("%s: not a chunk file name, left alone", path);
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		gd_warn("%s: %s", path, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) != 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		why = "too short";
	close(fd);
	if (!why)
		why = header_decode(s, h, &lay, &hid, &hver, &dlen, &csize, &state);
	if (!why && st.st_size < (off_t)lay->data_off)
		why = "too short";
	if (!why && hid != id)
		why = "header names another chunk";
	chunk_subdirs(id, &a, &b);
	snprintf(other, sizeof(other), "%s/%02x/%02x", s->dirs[dir].path, a, b);
	if (!why && strcmp(other, leaf) != 0)
		why = "in the wrong directory";
	if (why) {
		move_aside(path, s->dirs[dir].path, name, why);
		return 0;
	}
	if (version == 0) {
		move_aside(path, s->dirs[dir].path, name, "version 0");
		return 0;
	}
	c = chunk_get(s, id, 1);
	if (!c)
		return GD_ENOMEM;
	if (c->exists) {
		/* Two versions of one chunk: the highest stays. */
		uint64_t lose_ver = c->version < version ? c->version : version;
		int lose_dir = c->version < version ? c->dir : dir;
		chunk_path(s, lose_dir, id, lose_ver, other);
		gd_warn("chunk %016" PRIx64 ": versions %" PRIu64 " and %" PRIu64
			" found, removing the stale %s", id, c->version, version, other);
		if (unlink(other) != 0)
			gd_warn("unlink %s: %s", other, strerror(errno));
		if (c->version > version) {
			chunk_put(s, c);
			return 0;
		}
	}
	uint64_t file_len = (uint64_t)st.st_size - lay->data_off;
	c->dir = dir;
	c->lay = lay;
	c->chunk_size = csize;
	c->data_len = dlen > file_len ? dlen : file_len;
	if (c->data_len > csize)
		c->data_len = csize;
	c->header_dirty = hver != version || c->data_len != dlen;
	c->recover = state == HDR_STATE_OPEN;
	pthread_mutex_lock(&s->mu);
	if (!c->exists)
		s->count++;
	count_in_dir(s, c, 1);
	c->exists = 1;
	c->version = version;
	c->open_on_disk = state == HDR_STATE_OPEN;
	pthread_mutex_unlock(&s->mu);
	chunk_put(s, c);
	return 0;
}

/* Walks DATA/hh/hh/ of one data dir. */
static int scan_dir(struct chunkd_store *s, int dir)
{
	char p1[PATH_LEN], p2[PATH_LEN];
	DIR *d1, *d2, *d3;
	struct dirent *e1, *e2, *e3;
	int rc = 0;

	d1 = opendir(s->dirs[dir].path);
	if (!d1)
		return gd_status_from_errno(errno);
	while (rc == 0 && (e1 = readdir(d1))) {
		if (!is_hex2(e1->d_name))
			continue;
		snprintf(p1, sizeof(p1), "%s/%s", s->dirs[dir].path, e1->d_name);
		d2 = opendir(p1);
		if (!d2)
			continue;
		while (rc == 0 && (e2 = readdir(d2))) {
			if (!is_hex2(e2->d_name))
				continue;
			if (snprintf(p2, sizeof(p2), "%s/%s", p1, e2->d_name) >= (int)sizeof(p2))
				continue;
			d3 = opendir(p2);
			if (!d3)
				continue;
			while (rc == 0 && (e3 = readdir(d3))) {
				if (e3->d_name[0] == '.')
					continue;
				rc = scan_file(s, dir, p2, e3->d_name);
			}
			closedir(d3);
		}
		closedir(d2);
	}
	closedir(d1);
	return rc;
}

/* Removes the temp files of replications that never finished. */
static void clear_tmp(const char *dir)
{
	char p[PATH_LEN], f[PATH_LEN];
	DIR *d;
	struct dirent *e;

	snprintf(p, sizeof(p), "%s/tmp", dir);
	d = opendir(p);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(f, sizeof(f), "%s/%s", p, e->d_name) >= (int)sizeof(f))
			continue;
		if (unlink(f) == 0)
			gd_info("removed leftover %s", f);
	}
	closedir(d);
}

static int setup_dirs(struct chunkd_store *s, const char *list)
{
	const char *p = list;
	int n = 1, rc;

	for (const char *q = list; *q; q++)
		if (*q == ',')
			n++;
	s->dirs = gd_calloc((size_t)n, sizeof(*s->dirs));
	if (!s->dirs)
		return GD_ENOMEM;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char sub[PATH_LEN];
		struct stat st;

		while (len > 1 && p[len - 1] == '/')
			len--;
		if (len == 0 || len >= PATH_LEN - 64) {
			gd_error("--data-dir: empty or too long entry in \"%s\"", list);
			return GD_EINVAL;
		}
		char *path = gd_strndup(p, len);
		if (!path)
			return GD_ENOMEM;
		s->dirs[s->ndirs++].path = path;
		rc = mkdir_one(path);
		if (rc == 0) {
			snprintf(sub, sizeof(sub), "%s/lost+found", path);
			rc = mkdir_one(sub);
		}
		if (rc == 0) {
			snprintf(sub, sizeof(sub), "%s/tmp", path);
			rc = mkdir_one(sub);
		}
		if (rc || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
			gd_error("data dir %s: cannot use it: %s", path,
				 rc ? gd_strerror(rc) : "not a directory");
			return rc ? rc : GD_ENOTDIR;
		}
		s->dirs[s->ndirs - 1].dev = st.st_dev;
		p = comma ? comma + 1 : p + len;
	}
	if (s->ndirs == 0) {
		gd_error("no data directory given");
		return GD_EINVAL;
	}
	return 0;
}

int chunkd_store_open(const struct chunkd_store_opts *o, struct chunkd_store **out)
{
	struct chunkd_store *s;
	uint8_t *zeros;
	int rc;

	if (!o->data_dirs || !*o->data_dirs) {
		gd_error("no data directory given");
		return GD_EINVAL;
	}
	s = gd_calloc(1, sizeof(*s));
	if (!s)
		return GD_ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->reserve = o->reserve_bytes ? o->reserve_bytes : DEFAULT_RESERVE;
	s->fd_cache = o->fd_cache > 0 ? o->fd_cache : DEFAULT_FD_CACHE;
	s->on_corrupt = o->on_corrupt;
	s->ctx = o->ctx;
	s->nbuckets = 1024;
	s->buckets = gd_calloc(s->nbuckets, sizeof(*s->buckets));
	zeros = gd_calloc(1, CHUNKD_V2_BLOCK_SIZE);
	if (!s->buckets || !zeros) {
		gd_free(zeros);
		rc = GD_ENOMEM;
		goto err;
	}
	layout_init(&s->lay2, 2, CHUNKD_V2_BLOCK_SIZE, zeros);
	layout_init(&s->lay3, 3, CHUNKD_BLOCK_SIZE, zeros);
	gd_free(zeros);
	if (o->new_format != 0 && o->new_format != 2 && o->new_format != 3) {
		gd_error("chunk format %u: only 2 and 3 can be written", o->new_format);
		rc = GD_EINVAL;
		goto err;
	}
	s->new_lay = o->new_format == 2 ? &s->lay2 : &s->lay3;
	rc = chunkd_uring_create(o->force_pread, &s->io);
	if (rc)
		goto err;
	rc = setup_dirs(s, o->data_dirs);
	if (rc)
		goto err;
	rc = setup_node_id(s);
	if (rc)
		goto err;
	for (int i = 0; i < s->ndirs; i++) {
		clear_tmp(s->dirs[i].path);
		rc = scan_dir(s, i);
		if (rc) {
			gd_error("data dir %s: scan failed: %s", s->dirs[i].path, gd_strerror(rc));
			goto err;
		}
	}
	rc = recover_all(s);
	if (rc)
		goto err;
	s->settle_ms = o->settle_ms;
	if (s->settle_ms) {
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->settle_cv, &ca);
		pthread_condattr_destroy(&ca);
		if (pthread_create(&s->settler, NULL, settle_main, s) != 0) {
			pthread_cond_destroy(&s->settle_cv);
			rc = GD_ENOMEM;
			goto err;
		}
		s->settler_running = 1;
	}
	gd_info("chunk store: %d data dir(s), %zu chunk(s), node id %s", s->ndirs,
		s->count, s->node_id);
	*out = s;
	return 0;
err:
	chunkd_store_close(s);
	return rc;
}

void chunkd_store_close(struct chunkd_store *s)
{
	if (!s)
		return;
	if (s->settler_running) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_broadcast(&s->settle_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->settler, NULL);
		pthread_cond_destroy(&s->settle_cv);
	}
	for (size_t i = 0; s->buckets && i < s->nbuckets; i++) {
		struct chunk *c = s->buckets[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			/* a clean stop settles every open copy: nothing to recover */
			if (c->exists && !c->recover && (c->open_on_disk || c->header_dirty) &&
			    fd_acquire(s, c) == 0) {
				int r = c->open_on_disk ? settle_locked(s, c) : header_write(s, c);
				if (r != 0)
					gd_warn("chunk %016" PRIx64 ": header not updated: %s", c->id,
						gd_strerror(r));
				fd_release(s, c);
			}
			pthread_mutex_lock(&s->mu);
			fd_drop_locked(s, c);
			pthread_mutex_unlock(&s->mu);
			chunk_free(c);
		}
	}
	gd_free(s->buckets);
	chunkd_uring_destroy(s->io);
	for (int i = 0; i < s->ndirs; i++)
		gd_free(s->dirs[i].path);
	gd_free(s->dirs);
	pthread_mutex_destroy(&s->mu);
	gd_free(s);
}
