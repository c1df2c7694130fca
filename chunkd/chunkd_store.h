/* The chunk store of chunkd: one file per chunk copy, checksummed per block,
 * spread over several data directories (DESIGN.md section 4).
 *
 * On-disk file DATA/hh/hh/<chunk id, 16 hex>_<version, 16 hex>.chk, format 3
 * (what new copies, created or imported, are written in):
 *   [0, 4 KiB)       header: "GODFSCHK", format version (3), block size
 *                    (4096), chunk id, version, data length, chunk size,
 *                    state (0 clean, 1 open); XXH3-64 of the header in its
 *                    last 8 bytes
 *   [4 KiB, 132 KiB) checksum table, 16384 entries (little endian): the
 *                    XXH3-64 of each 4 KiB block XOR the XXH3-64 of 4 KiB of
 *                    zeros, so that a block of zeros has the entry 0 and a
 *                    table page nobody wrote can stay a hole: a tiny chunk
 *                    costs one table page on disk, not 128 KiB
 *   [132 KiB, ...)   the data, 4 KiB aligned; bytes past the end of the file
 *                    read as zeros
 * Formats 2 and 1 (older copies keep their format for life, read and written
 * as they are): block size 64 KiB, the table at [4 KiB, 12 KiB) holds 1024
 * plain XXH3-64 entries (a block never written has the XXH3-64 of 64 KiB of
 * zeros), data at 12 KiB; format 1 has no state (always clean).
 *
 * A checksum always covers its whole block, bytes past the data counting as
 * zeros. Every read verifies the blocks it touches; a mismatch returns
 * GD_ECORRUPT for that request and calls the corrupt callback once per bad
 * block (chunkd reports it to the meta); the copy stays, its other blocks
 * read on, until a replica at the same version replaces it. A write that
 * covers whole blocks reads nothing; a block it covers in part is read,
 * verified and merged (not when it lies wholly past the data: zeros).
 *
 * Crash safety (docs/chunkd.md): before the data or checksums of a copy
 * change, its header is marked open and synced; a copy is settled (synced,
 * header clean) when idle, and at close. A copy found open at start is
 * checked block by block, and a block that matches no checksum (torn by a
 * write that was not synced) gets the checksum of what the disk kept. New
 * copies are made in DATA/tmp/ and renamed into place once synced.
 *
 * Thread-safe: operations on different chunks run in parallel; on one chunk,
 * reads share it and writes/truncate/fsync/rename take it alone. */
#ifndef CHUNKD_STORE_H
#define CHUNKD_STORE_H

#include <stddef.h>
#include <stdint.h>

/* Format 3, the format of new copies. */
#define CHUNKD_BLOCK_SIZE 4096u
#define CHUNKD_MAX_CHUNK (64u * 1024u * 1024u)
#define CHUNKD_MAX_BLOCKS (CHUNKD_MAX_CHUNK / CHUNKD_BLOCK_SIZE)
#define CHUNKD_HDR_SIZE 4096u
#define CHUNKD_TABLE_SIZE (CHUNKD_MAX_BLOCKS * 8u)
#define CHUNKD_DATA_OFF (CHUNKD_HDR_SIZE + CHUNKD_TABLE_SIZE)
#define CHUNKD_FORMAT_VERSION 3u
/* Formats 2 and 1, still read and written. */
#define CHUNKD_V2_BLOCK_SIZE (64u * 1024u)
#define CHUNKD_V2_MAX_BLOCKS (CHUNKD_MAX_CHUNK / CHUNKD_V2_BLOCK_SIZE)
#define CHUNKD_V2_TABLE_SIZE (CHUNKD_V2_MAX_BLOCKS * 8u)
#define CHUNKD_V2_DATA_OFF (CHUNKD_HDR_SIZE + CHUNKD_V2_TABLE_SIZE)

struct chunkd_store;
struct chunkd_import;

/* Called (from the thread that found it, with the copy locked: it must not
 * call the store) the first time block `block` (in the copy's block size:
 * chunkd_store_block_size) of a copy does not match its checksum. The copy
 * stays in place. */
typedef void (*chunkd_store_corrupt_fn)(void *ctx, uint64_t chunk_id, uint64_t version,
					uint64_t block);

struct chunkd_store_opts {
	const char *data_dirs;          /* "dir[,dir...]"; created when missing */
	int force_pread;                /* 1 = never use io_uring */
	int fd_cache;                   /* open chunk files kept; 0 = 256 */
	uint64_t reserve_bytes;         /* free space kept on each dir; 0 = 64 MiB */
	uint64_t settle_ms;             /* copies not written for this long are settled
					 * (synced, header clean) by a store thread;
					 * 0 = no thread (chunkd_store_settle, close) */
	chunkd_store_corrupt_fn on_corrupt;   /* may be NULL */
	void *ctx;
	unsigned new_format;            /* format of new copies: 0 or 3 = format 3 (4 KiB
					 * blocks); 2 = the old 64 KiB format (--chunk-format:
					 * a way back; tests of old copies) */
};

/* One chunk copy, for the registration report. */
struct chunkd_chunk_info {
	uint64_t chunk_id;
	uint64_t version;
};

/* Opens (creating when needed) every data dir, reads or makes the node id
 * (DATA/node_id), scans the chunk files into the index (of two versions of one
 * chunk the highest stays, the others are removed; a file with a bad header is
 * moved to lost+found), clears leftover temp files and recovers the copies a
 * crash left open. Returns 0 or a GD_E* code (logged). */
int chunkd_store_open(const struct chunkd_store_opts *o, struct chunkd_store **out);
/* Writes pending headers, closes every file, frees. */
void chunkd_store_close(struct chunkd_store *s);

/* Syncs and marks clean every copy left open whose data has not changed for
 * idle_ms (0: all of them). The settler thread (opts.settle_ms) calls it. */
int chunkd_store_settle(struct chunkd_store *s, uint64_t idle_ms);

/* The 16 hex chars of this node's id (owned by the store). */
const char *chunkd_store_node_id(const struct chunkd_store *s);
/* Whether I/O goes through io_uring (for the calling thread). */
int chunkd_store_uring_active(struct chunkd_store *s);

/* Version rule shared by write/fsync/truncate: a local copy at `version` is
 * used; a local copy at `prev_version` (prev_version != 0) is renamed to
 * `version` first; no local copy and prev_version == 0 creates one; anything
 * else is GD_ESTALE. */

/* Writes len bytes at offset (inside the chunk's data). chunk_size is the
 * meta's chunk size (0 = 64 MiB, larger is bounded to 64 MiB); offset + len
 * beyond it is GD_EINVAL. GD_ENOSPC when the dir would keep less than the
 * reserve; on a failed data write the checksums are left as they were. */
int chunkd_store_write(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
		       uint64_t prev_version, uint64_t chunk_size, uint64_t offset,
		       const void *data, size_t len);

/* Reads up to len bytes at offset into buf, bounded to the copy's chunk size;
 * *out_len is how many bytes were filled (bytes past the data are zeros).
 * GD_ENOCHUNK without a copy, GD_ESTALE when the copy has another version,
 * GD_ECORRUPT when a block does not match its checksum. */
int chunkd_store_read(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
		      uint64_t offset, size_t len, void *buf, size_t *out_len);

/* fdatasync of the data and the checksum table (and the header and directory
 * when they changed). */
int chunkd_store_fsync(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
		       uint64_t prev_version);

/* Sets the data length; a shorter length zeroes the tail (it reads as zeros
 * and its checksums are updated). Beyond the chunk size is GD_EINVAL. */
int chunkd_store_truncate(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
			  uint64_t prev_version, uint64_t length);

/* Removes the copy when its version is <= version (version 0 = any version).
 * GD_ENOCHUNK without a copy, GD_ESTALE when the copy is newer. */
int chunkd_store_delete(struct chunkd_store *s, uint64_t chunk_id, uint64_t version);

/* How many blocks of the local copy were found bad since start (0 without a
 * copy); an import at the same version replaces such a copy. */
unsigned chunkd_store_bad_blocks(struct chunkd_store *s, uint64_t chunk_id);
/* The version of the local copy, or GD_ENOCHUNK. */
int chunkd_store_version(struct chunkd_store *s, uint64_t chunk_id, uint64_t *version);
/* The data length (past it the copy reads as zeros) and chunk size of the
 * local copy at version: GD_ENOCHUNK, GD_ESTALE (another version). */
int chunkd_store_extent(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
			uint64_t *data_len, uint64_t *chunk_size);

/* The checksum block size of the local copy (4096 for format 3, 65536 for
 * formats 1 and 2); CHUNKD_BLOCK_SIZE without a copy. */
uint32_t chunkd_store_block_size(struct chunkd_store *s, uint64_t chunk_id);

/* A snapshot of the index. *out is allocated (free with gd_free), may be
 * NULL when *n is 0. */
int chunkd_store_list(struct chunkd_store *s, struct chunkd_chunk_info **out, size_t *n);
uint64_t chunkd_store_count(struct chunkd_store *s);
/* Total and free bytes over the data dirs (each file system counted once). */
void chunkd_store_space(struct chunkd_store *s, uint64_t *total, uint64_t *free_bytes);

/* One data dir, for the metrics (chunkd_metrics.h). */
struct chunkd_store_dir_stats {
	const char *path;           /* owned by the store */
	uint64_t total, free;       /* its file system (free: for this user) */
	uint64_t chunks;            /* copies in it */
	uint64_t io_errors;         /* reads, writes, fsyncs, truncates failed with EIO/EROFS */
	uint64_t checksum_errors;   /* blocks found not matching their checksum */
	int full;                   /* free is below the reserve: new data is refused */
};
size_t chunkd_store_ndirs(const struct chunkd_store *s);
/* Thread-safe; i < chunkd_store_ndirs (else *out is zeroed). */
void chunkd_store_dir_stats(struct chunkd_store *s, size_t i, struct chunkd_store_dir_stats *out);

/* A copy pulled from a peer (written in format 3, whatever the source's
 * format): written to a temp file, then fsynced and renamed into place by
 * commit. Pieces come in order at 4 KiB aligned offsets; blocks of zeros are
 * left as holes. */
int chunkd_store_import_begin(struct chunkd_store *s, uint64_t chunk_id, uint64_t version,
			      struct chunkd_import **out);
int chunkd_store_import_write(struct chunkd_import *imp, uint64_t offset,
			      const void *data, size_t len);
/* chunk_size: the source's chunk size (what it served in all). A local copy
 * at the same or a newer version wins (the import is dropped, 0 returned); an
 * older local copy is replaced. Frees imp in every case. */
int chunkd_store_import_commit(struct chunkd_import *imp, uint64_t chunk_size);
/* Removes the temp file and frees imp. */
void chunkd_store_import_abort(struct chunkd_import *imp);

#endif
