/* The mount's side of cluster-wide locks (docs/locks.md): fcntl record
 * locks, OFD locks and flock go to the meta (LOCK, LOCK_GET, LOCK_CANCEL),
 * held per session there, so that they hold across hosts.
 *
 * - Owners: the kernel's lock owner (fuse_file_info.lock_owner) names a
 *   process's POSIX locks (its files table), an OFD lock's and a flock's
 *   open file description; the meta keys locks on (session, owner).
 * - Blocking requests (F_SETLKW, flock without LOCK_NB) hold no FUSE
 *   thread: the request is answered queued by the meta and left without a
 *   reply; the meta's LOCK_GRANTED push (on the meta connection's reader
 *   thread) replies. A FUSE interrupt (a signal, a kill) cancels the wait at
 *   the meta (LOCK_CANCEL) and replies EINTR, or 0 when the grant won the
 *   race. After a new meta connection (a leader change, a lost connection)
 *   every wait is sent again: a grant pushed to the old connection is not
 *   lost.
 * - Coherence: a granted lock drops what this mount cached of the file (the
 *   kernel's pages and attributes, read-ahead, chunk locations); an unlock
 *   first sends and commits what it wrote (close-to-open, per lock).
 * - Close: a flush drops the POSIX locks of its owner on the inode (a
 *   process's locks go when it closes any descriptor of the file, as on
 *   Linux); a release drops what was locked through that file handle (OFD
 *   locks, flock), when its last descriptor goes.
 *
 * One worker thread sends the cancels and the resends. Thread-safe: mu
 * guards the waiters and the table of who locked through which handle. */
#ifndef FS_LOCKS_H
#define FS_LOCKS_H

#include "fs_ops.h"

#include <stdbool.h>
#include <stdint.h>

struct fs_locks;
struct gd_meta_client;

int fs_locks_new(struct fs_locks **out);
/* Starts the worker once the meta client exists (calls go through meta). */
int fs_locks_start(struct fs_locks *l, struct gd_meta_client *meta);
/* Stops the worker (before the meta client closes: it calls the meta). */
void fs_locks_stop(struct fs_locks *l);
/* After the FUSE session and the meta client are gone (pushes come on the
 * meta client's threads): frees; pending waits are dropped unanswered. */
void fs_locks_free(struct fs_locks *l);

/* For the meta client (gd_meta_client.h): PUSH frames and new connections. */
void fs_locks_push(void *ctx, uint16_t push, const uint8_t *pb, size_t len);
void fs_locks_connected(void *ctx);

/* The FUSE operations, on the meta inode ino; each replies exactly once
 * (a wait: later). */
void fs_locks_getlk(struct fs_locks *l, fuse_req_t req, uint64_t ino,
		    struct fuse_file_info *fi, struct flock *lock);
void fs_locks_setlk(struct fs_locks *l, fuse_req_t req, fuse_ino_t fino, uint64_t ino,
		    struct fuse_file_info *fi, struct flock *lock, int sleep);
void fs_locks_flock(struct fs_locks *l, fuse_req_t req, fuse_ino_t fino, uint64_t ino,
		    struct fuse_file_info *fi, int op);

/* Close: a flush by owner of ino; a release of file handle fh of ino
 * (flock_owner: the owner of its flock when the kernel says it had one,
 * else 0). Failures are logged (the locks go with the session at worst). */
void fs_locks_flush(struct fs_locks *l, uint64_t ino, uint64_t owner);
void fs_locks_release(struct fs_locks *l, uint64_t ino, uint64_t fh, uint64_t flock_owner);

/* Held-lock records and waits, for status and tests. */
size_t fs_locks_waiting(struct fs_locks *l);

#endif
