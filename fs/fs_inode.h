/* The inode table of mount.godfs: one entry per meta inode the kernel knows
 * (its lookup count, as FUSE's forget accounting demands) or that is open
 * here, in shards keyed by inode number so that requests on different inodes
 * do not contend. Each entry also holds the client's state of that file: the
 * attributes last seen, the size as this process knows it and the write-back
 * buffers (fs_data.c works on those fields).
 *
 * Lock order: a shard's lock before an inode's `mu`; never take a shard lock
 * (fs_inode_put, fs_inode_forget...) while holding an inode's `mu`. */
#ifndef FS_INODE_H
#define FS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gd_client.h"

struct fs_wbuf;

#define FS_MAX_BUSY 2               /* sends in flight per inode */

struct fs_inode {
	struct fs_inode *next;      /* shard chain; guarded by the shard lock */
	uint64_t ino;               /* meta inode number; fixed */
	uint64_t nlookup;           /* kernel lookup count; shard lock */
	uint32_t nopen;             /* open handles here; shard lock */
	uint32_t refs;              /* running requests holding it; shard lock */

	pthread_mutex_t mu;         /* guards everything below */
	pthread_cond_t cv;          /* a send finished */
	bool have_attr;
	struct gd_attr attr;        /* as last seen from the meta */
	uint64_t size;              /* size as this process sees it (writes included) */
	bool dirty;                 /* written since the last commit */
	uint64_t commit_size;       /* end of acknowledged writes since the last commit */
	struct timespec mtime;      /* time of the last write */
	struct fs_wbuf *fill;       /* the buffer being filled, or NULL */
	struct fs_wbuf *busy[FS_MAX_BUSY]; /* buffers being sent (disjoint ranges) */
	unsigned nbusy;
	uint64_t pending_end;       /* end of sends done while older ones still run */
	uint64_t seal_seq;          /* buffers sealed so far */
	int64_t fill_ms;            /* when fill got its first byte (monotonic) */
	int werr;                   /* a failed send, reported by the next flush/fsync */
	uint64_t data_gen;          /* bumped by every change of the data */
	int64_t nocaps_until_ms;    /* security.capability known absent until */
	int64_t attr_fresh_until_ms; /* attr answers the kernel's GETATTR until (a
				      * directory this mount changed: fs_ops.c) */
};

struct fs_itable;

int fs_itable_new(struct fs_itable **out);
/* Frees every entry (with fs_data's buffers: call fs_data_drop first). */
void fs_itable_free(struct fs_itable *t);

/* The entry of ino with one more reference (created when missing; NULL only
 * when out of memory). Release it with fs_inode_put. */
struct fs_inode *fs_inode_get(struct fs_itable *t, uint64_t ino);
/* The entry of ino with one more reference, or NULL when there is none. */
struct fs_inode *fs_inode_find(struct fs_itable *t, uint64_t ino);
void fs_inode_put(struct fs_itable *t, struct fs_inode *in);

/* The kernel learned of ino (a reply_entry/create/readdirplus entry): one
 * more lookup. Returns 0 or GD_ENOMEM. */
int fs_inode_lookup_add(struct fs_itable *t, uint64_t ino, const struct gd_attr *a);
/* The kernel forgot n lookups of ino. */
void fs_inode_forget(struct fs_itable *t, uint64_t ino, uint64_t n);
/* Open handles: opened adds one, closed drops one (after the last one the
 * entry may go). Return the count after the change. */
uint32_t fs_inode_opened(struct fs_itable *t, struct fs_inode *in);
uint32_t fs_inode_closed(struct fs_itable *t, struct fs_inode *in);
/* Whether this mount holds an open handle of ino now. */
bool fs_inode_open_here(struct fs_itable *t, uint64_t ino);

/* Fills ino (capacity max) with one entry per open handle; returns how many. */
size_t fs_itable_open_inodes(struct fs_itable *t, uint64_t *ino, size_t max);
/* Inodes in the table (the mount's metrics; locks each shard in turn). */
size_t fs_itable_count(struct fs_itable *t);

/* Calls fn on every entry, with that entry's shard locked (fn may lock the
 * inode's mu, never a shard). */
void fs_itable_foreach(struct fs_itable *t, void (*fn)(struct fs_inode *in, void *ctx),
		       void *ctx);

/* Records attributes from the meta: the size follows them unless this process
 * has writes the meta does not know yet. */
void fs_inode_set_attr(struct fs_inode *in, const struct gd_attr *a);

/* Hook for freeing an entry's write buffers (set by fs_data). */
extern void (*fs_inode_free_hook)(struct fs_inode *in);

#endif
