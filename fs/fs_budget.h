/* The memory budget of mount.godfs: one count of the bytes held by write-back
 * buffers, read-ahead blocks and the idle blocks kept for their reuse, and
 * one limit on it (`-o mem_budget`). A writer or a prefetch asks before it
 * allocates; what does not fit is refused, and the caller does without
 * (a writer flushes its own buffers first, then writes through; read-ahead
 * prefetches less). Idle blocks count too, and are dropped when someone
 * needs their room.
 *
 * Two kinds of fixed-size blocks are pooled (FS_BUDGET_WRITE: a full write
 * buffer, FS_BUDGET_READ: a read-ahead block); other sizes (a write buffer
 * that grows from 256 KiB) are counted with fs_budget_take/fs_budget_give.
 *
 * Thread-safe: one mutex guards the count and the pools (taken once per
 * block, never while the caller sleeps). */
#ifndef FS_BUDGET_H
#define FS_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

enum { FS_BUDGET_WRITE = 0, FS_BUDGET_READ = 1, FS_BUDGET_KINDS };

#define FS_BUDGET_IDLE 4        /* idle blocks kept per kind, at most */

struct fs_budget;

/* A budget of `limit` bytes with blocks of wsize (write) and rsize (read)
 * bytes. Returns 0 or GD_ENOMEM. */
int fs_budget_new(size_t limit, size_t wsize, size_t rsize, struct fs_budget **out);
/* Frees the idle blocks and b; every block must have been given back. */
void fs_budget_free(struct fs_budget *b);

/* Counts `bytes` if the count stays at most limit - keep (idle blocks are
 * freed to make room). Returns whether they were counted. */
bool fs_budget_take(struct fs_budget *b, size_t bytes, size_t keep);
/* Uncounts bytes that fs_budget_take counted (their memory was freed). */
void fs_budget_give(struct fs_budget *b, size_t bytes);

/* A block of `kind`, counted: an idle one, else a new allocation when it
 * fits under limit - keep. NULL when it does not (or malloc failed). */
void *fs_budget_block(struct fs_budget *b, int kind, size_t keep);
/* Gives a block of `kind` back: kept idle (still counted) or freed. */
void fs_budget_block_put(struct fs_budget *b, int kind, void *p);

/* Bytes counted now (idle blocks included), and the limit. */
size_t fs_budget_used(struct fs_budget *b);
size_t fs_budget_limit(const struct fs_budget *b);
/* Size of a block of `kind`. */
size_t fs_budget_block_size(const struct fs_budget *b, int kind);

#endif
