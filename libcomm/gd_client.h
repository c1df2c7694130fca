/* The client data library: reads and writes file data for mount.godfs, the
 * gateway and the CLI. No FUSE in here.
 *
 * It wraps one meta session (gd_meta_client) and a pool of chunkd connections
 * (one multiplexed gd_conn per chunkd address, reopened when it fails). Reads
 * locate chunks at the meta (locations cached per (inode, index) with their
 * version) and fetch 1 MiB pieces from the copies, several in flight; writes
 * take a write lease per (inode, index), kept until it expires or the file is
 * released, and stream pieces into the chunkd pipeline, several in flight.
 *
 * Every function is thread-safe. Functions return 0 (or a byte count) or a
 * negative GD_E* code. */
#ifndef GD_CLIENT_H
#define GD_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "gd_meta_client.h"

struct gd_client;

struct gd_client_config {
	const char *meta_addrs;   /* "host:port[,host:port...]" */
	const char *host;         /* this host's name, for the session */
	const char *mountpoint;   /* may be NULL */
	int meta_timeout_ms;      /* per meta call, with retries; 0 = 30 s */
	int chunk_timeout_ms;     /* per chunkd call; 0 = 10 s */
	int role;                 /* GODFS__ROLE__ROLE_CLIENT unless set */
	gd_open_inodes_fn open_inodes; /* inodes open in this process, may be NULL */
	void *open_inodes_ctx;
	/* What the meta session and every chunkd connection present; NULL =
	 * the process's (gd_cred_self()). Copied; the keys or token it points
	 * to must outlive the client (the gateway: one client per API key). */
	const struct gd_cred *cred;
	/* The meta's PUSH frames and new connections (gd_meta_client.h; the
	 * lock client of a mount); may be NULL. */
	gd_conn_push_fn meta_push;
	void (*meta_connected)(void *ctx);
	void *meta_push_ctx;
};

/* POSIX attributes as the meta sends them (wire.proto Attr), in plain C. */
struct gd_attr {
	uint64_t ino;
	uint64_t generation;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
	uint64_t rdev;
	uint32_t goal;
};

/* One piece of data to write: `len` bytes of `data` at file offset `off`. */
struct gd_client_extent {
	uint64_t off;
	const void *data;
	size_t len;
};

/* Opens the meta session (HELLO, renew thread) and learns the chunk size.
 * Returns 0 and *out, or the meta client's error (GD_ECONN, GD_ETIMEDOUT...). */
int gd_client_open(const struct gd_client_config *cfg, struct gd_client **out);
/* Closes every chunkd connection and the meta session. No call may be running. */
void gd_client_close(struct gd_client *c);

/* The meta session, for namespace calls (valid until gd_client_close). */
struct gd_meta_client *gd_client_meta(struct gd_client *c);
uint64_t gd_client_chunk_size(const struct gd_client *c);
uint64_t gd_client_session(const struct gd_client *c);

/* Converts a wire Attr (fields that are absent read as 0). */
struct Godfs__Attr;
void gd_attr_from_pb(struct gd_attr *a, const struct Godfs__Attr *pb);

/* Reads up to len bytes at off of a file whose size is file_size (the caller's
 * best knowledge). Holes and bytes past a copy's end read as zeros without a
 * chunkd round trip. Returns the number of bytes read (0 at or past the end)
 * or a negative GD_E* code. */
ssize_t gd_client_read(struct gd_client *c, uint64_t ino, uint64_t off,
		       void *buf, size_t len, uint64_t file_size);

/* Writes one range (see gd_client_writev). */
int gd_client_write(struct gd_client *c, uint64_t ino, uint64_t off,
		    const void *buf, size_t len);

/* Writes non-overlapping extents: every piece of every extent goes to the
 * chunkd pipeline with several in flight; returns once every copy in the
 * chain acknowledged every piece (in the memory of every copy), or an error.
 * The new size is not committed: call gd_client_commit or gd_client_fsync. */
int gd_client_writev(struct gd_client *c, uint64_t ino,
		     const struct gd_client_extent *ext, size_t n);

/* Makes every chunk written since the last fsync durable on every copy
 * (M_CS_FSYNC through the chain), then commits size and mtime (as
 * gd_client_commit). attr (may be NULL) receives the inode's attributes. */
int gd_client_fsync(struct gd_client *c, uint64_t ino, uint64_t size,
		    const struct timespec *mtime, struct gd_attr *attr);

/* Commits the file size (if larger than the meta's) and mtime (may be NULL:
 * unchanged) after writes. attr (may be NULL) receives the attributes. */
int gd_client_commit(struct gd_client *c, uint64_t ino, uint64_t size,
		     const struct timespec *mtime, struct gd_attr *attr);

/* Sets the file size: truncates the copies of the chunk that holds the new
 * end (when it exists) to the offset inside it, then M_SETATTR SA_SIZE.
 * attr (may be NULL) receives the attributes. */
int gd_client_truncate(struct gd_client *c, uint64_t ino, uint64_t size,
		       struct gd_attr *attr);

/* The file is closed everywhere in this process: drop its write leases.
 * The lease of a chunk this client made (version 1, M_CREATE or a first
 * WRITE_LEASE) and never got a write acknowledged through is given back
 * to the meta (M_LEASE_RETURN), so that no chunk without a copy stays. */
void gd_client_release(struct gd_client *c, uint64_t ino);

struct Godfs__ChunkResp;
/* Takes the location of chunk (ino, index) for reading that came with
 * another answer (AttrResp.chunk of M_OPEN with locate) into the location
 * cache, as if CHUNK_LOCATE had answered it. 0 or a negative GD_E* code. */
int gd_client_locate_seed(struct gd_client *c, uint64_t ino, uint64_t index,
			  const struct Godfs__ChunkResp *cr);

/* Takes a write lease on (ino, index) that came with another answer
 * (OpenResp.chunk of M_CREATE) into the lease cache, as if WRITE_LEASE had
 * answered it. 0, GD_EPROTO (a lease without a chunk), GD_ENOMEM. */
int gd_client_lease_seed(struct gd_client *c, uint64_t ino, uint64_t index,
			 const struct Godfs__ChunkResp *cr);

/* This client truncated ino to 0 through the meta (OPEN with O_TRUNC): its
 * leases, and what it wrote through them, are forgotten. */
void gd_client_truncated(struct gd_client *c, uint64_t ino);

/* Chunk locations cached for reading (the mount's metrics). */
size_t gd_client_location_cache_entries(struct gd_client *c);
/* Forgets cached chunk locations of an inode (after another client changed it). */
void gd_client_invalidate(struct gd_client *c, uint64_t ino);

#endif
