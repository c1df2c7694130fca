/* File data for mount.godfs: a write-back buffer per inode (writes are
 * gathered and sent to the chunkds in large blocks by a small worker pool,
 * while the next writes fill a second buffer), and read-ahead per open file
 * (sequential reads prefetch the next blocks asynchronously into a small
 * cache). Sizes and mtimes go to the meta at flush (close) and fsync.
 *
 * Errors of an asynchronous send are kept in the inode: the next write
 * returns it, and the next flush or fsync reports it once. Functions return
 * 0 (or a byte count) or a negative GD_E* code. */
#ifndef FS_DATA_H
#define FS_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs_inode.h"
#include "gd_client.h"

struct fs_data_config {
	size_t wbuf_size;        /* largest write buffer per inode (8 MiB) */
	size_t ra_block;         /* read-ahead block (4 MiB) */
	unsigned ra_window;      /* most blocks prefetched ahead (8) */
	size_t mem_budget;       /* write buffers + read-ahead + idle blocks of the
				  * mount (64 MiB; fs_budget.h) */
	unsigned threads;        /* worker threads (4) */
	int flush_ms;            /* an idle write buffer is sent after this (1000) */
};

struct fs_data;
struct fs_file;

/* Starts the workers and the flush timer. cfg fields that are 0 take defaults. */
int fs_data_new(struct gd_client *gc, struct fs_itable *it, const struct fs_data_config *cfg,
		struct fs_data **out);
/* Sends every buffer, stops the threads and frees everything. */
void fs_data_free(struct fs_data *d);
/* Sends every inode's buffers and waits (unmount). */
void fs_data_flush_all(struct fs_data *d);

/* A handle for an open file of `in`; takes over the caller's reference of in. */
int fs_data_file_new(struct fs_data *d, struct fs_inode *in, int flags, struct fs_file **out);
/* Drops the handle (after fs_data_flush); read-ahead in flight ends first. */
void fs_data_file_free(struct fs_data *d, struct fs_file *f);
struct fs_inode *fs_data_file_inode(const struct fs_file *f);

/* Buffers len bytes at off (at the end of the file with O_APPEND). Returns len. */
ssize_t fs_data_write(struct fs_data *d, struct fs_file *f, uint64_t off,
		      const void *buf, size_t len);
/* Writes zeros over len bytes at off (fallocate's punch hole and zero
 * range: godfs keeps no holes inside a chunk), O_APPEND or not. */
int fs_data_zero(struct fs_data *d, struct fs_file *f, uint64_t off, uint64_t len);
/* fallocate(2): allocate (the size grows; no space is reserved), keep
 * size, punch hole and zero range (zeros written). Other modes:
 * GD_ENOTSUP. */
int fs_data_fallocate(struct fs_data *d, struct fs_file *f, int mode, uint64_t off,
		      uint64_t len);
/* Receives the bytes of a read (short only at the end of the file); buf is
 * valid only during the call. */
typedef void (*fs_data_reply_fn)(void *ctx, const void *buf, size_t len);
/* Reads up to len bytes at off and hands them to reply (called exactly once
 * on success, never on error). Returns 0 or a GD_E* code. */
int fs_data_read(struct fs_data *d, struct fs_file *f, uint64_t off, size_t len,
		 fs_data_reply_fn reply, void *ctx);
/* close(2): sends the buffers, waits, commits size and mtime if written. */
int fs_data_flush(struct fs_data *d, struct fs_inode *in);
/* Sends the buffers and commits, leaving a pending write error for the next
 * flush or fsync (before a setattr: a later commit must not move size or
 * mtime past it). */
int fs_data_commit(struct fs_data *d, struct fs_inode *in);
/* fsync(2): as flush, then every copy on disk (gd_client_fsync). */
int fs_data_fsync(struct fs_data *d, struct fs_inode *in);
/* Sends the buffers and waits (before a setattr or an O_TRUNC open). */
int fs_data_sync(struct fs_data *d, struct fs_inode *in);
/* truncate(2): sends the buffers, then gd_client_truncate. */
int fs_data_truncate(struct fs_data *d, struct fs_inode *in, uint64_t size,
		     struct gd_attr *attr);
/* An open with O_TRUNC emptied the file at the meta: forget cached data. */
void fs_data_truncated(struct fs_data *d, struct fs_inode *in, const struct gd_attr *attr);
/* The last handle of `in` in this process closed: drop write leases. */
void fs_data_released(struct fs_data *d, struct fs_inode *in);
/* Attributes as this process sees them: size and mtime of unsent or
 * uncommitted writes replace the meta's. */
void fs_data_attr_overlay(struct fs_inode *in, struct gd_attr *a);

/* Bytes held now by write buffers (idle blocks included) and by read-ahead
 * slots (any thread). */
void fs_data_mem(struct fs_data *d, size_t *wbuf, size_t *ra);

#endif
