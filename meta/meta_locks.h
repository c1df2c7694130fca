/* Cluster-wide file locks, part of the meta FSM's replicated state: the
 * flock, POSIX (fcntl) and OFD locks every session holds, and the blocking
 * requests waiting for one, per inode in arrival order. docs/locks.md has
 * the semantics; in short:
 *
 * - Two namespaces, as on Linux: POSIX record locks (fcntl and OFD locks:
 *   the FUSE lock owner tells a process from an open file description) and
 *   flock locks. A lock never conflicts with one of the other kind, nor
 *   with one of its own owner; an owner is the pair (session, lock owner),
 *   never a pid.
 * - POSIX locks of one owner split and merge by byte range (a new lock
 *   replaces the owner's locks under its range); a conflicting request
 *   changes nothing. A flock request first drops the owner's flock of
 *   another type (a conversion is not atomic, as on Linux).
 * - A blocking request that cannot be granted waits (queued). Waiters are
 *   granted in arrival order: a waiter is granted once no lock of another
 *   owner conflicts with it and no earlier waiter of another owner that it
 *   conflicts with is still waiting, unless its owner already holds a lock
 *   of that kind on the inode (it may be what the earlier one waits for).
 *   A new blocking request follows the same rule; a non-blocking one looks
 *   only at the locks held (what F_GETLK reports).
 * - Deadlock detection for POSIX requests only: a blocking request whose
 *   wait would close a cycle of owners, each waiting (by the rule above) for
 *   the next, fails with GD_EDEADLK. Only waits that exist count, so there
 *   is no false positive among owners; the search is bounded
 *   (META_LOCKS_DEADLOCK_STEPS), beyond which a cycle is not reported.
 * - Bounded tables: held + waiting per inode, per session and in total;
 *   a request that would pass a bound gets GD_ENOLCK.
 *
 * Pure like meta_fsm (no I/O, no clock): the same calls give the same state
 * on every voter. Not thread-safe: the meta's loop owns it (through the FSM
 * state, struct meta_ns_state.locks). */
#ifndef META_LOCKS_H
#define META_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_LOCKS_MAX 65536u          /* held + waiting, all sessions */
#define META_LOCKS_SESSION_MAX 8192u   /* held + waiting of one session */
#define META_LOCKS_INODE_MAX 1024u     /* held + waiting on one inode */
#define META_LOCKS_DEADLOCK_STEPS 4096u /* waiters looked at per deadlock search */
#define META_LOCKS_EOF UINT64_MAX      /* a range end: to the end of the file */

enum meta_lock_kind { META_LOCK_POSIX = 0, META_LOCK_FLOCK = 1 };
enum meta_lock_type { META_LOCK_UNLOCK = 0, META_LOCK_READ = 1, META_LOCK_WRITE = 2 };

/* A lock held, or a request (waiting, or being made). */
struct meta_lock {
	uint64_t session;
	uint64_t owner;         /* the kernel's lock owner, as FUSE gives it */
	uint64_t start, end;    /* inclusive byte range; flock: 0..META_LOCKS_EOF */
	uint64_t wait_id;       /* a waiter's id (its session's); 0 for held locks */
	uint32_t pid;           /* the requester's pid on its host (F_GETLK) */
	uint8_t kind;           /* enum meta_lock_kind */
	uint8_t type;           /* enum meta_lock_type */
};

/* A waiter granted (or dropped) by a change: whom to tell. */
struct meta_locks_grant {
	uint64_t session;
	uint64_t wait_id;
};

/* The grants of one change, appended by every call that may grant
 * (gd_malloc'd array; meta_locks_grants_release frees it). */
struct meta_locks_grants {
	struct meta_locks_grant *v;
	size_t n, cap;
};
void meta_locks_grants_release(struct meta_locks_grants *g);

struct meta_locks;

int meta_locks_new(struct meta_locks **out);
void meta_locks_free(struct meta_locks *l);

/* Sets, converts or (type META_LOCK_UNLOCK) releases a lock of req's owner
 * on ino. Returns 0 (done; *queued false), or with wait 0 and *queued
 * true (req waits under req->wait_id, which must be nonzero, until a later
 * change grants it), GD_EAGAIN (conflict, not waiting), GD_EDEADLK,
 * GD_ENOLCK (a bound), GD_EINVAL (bad kind, type, range or ids), GD_ENOMEM.
 * A request whose (session, wait_id) already waits answers queued and
 * changes nothing (a resend). An unlock may grant waiters: appended to g. */
int meta_locks_set(struct meta_locks *l, uint64_t ino, const struct meta_lock *req, bool wait,
		   bool *queued, struct meta_locks_grants *g);

/* Drops the waiter (session, wait_id) of ino: 0, or GD_ENOENT when it does
 * not wait (granted already, or never queued). Later waiters it held back
 * may be granted: appended to g. */
int meta_locks_cancel(struct meta_locks *l, uint64_t ino, uint64_t session, uint64_t wait_id,
		      struct meta_locks_grants *g);

/* F_GETLK: the first held lock that conflicts with req (other owner, same
 * kind, overlapping, one of them a write lock) in *out; false when none. */
bool meta_locks_test(const struct meta_locks *l, uint64_t ino, const struct meta_lock *req,
		     struct meta_lock *out);

/* Drops every lock and waiter of a session (it expired) and grants what
 * that frees: appended to g. 0 or GD_ENOMEM. */
int meta_locks_drop_session(struct meta_locks *l, uint64_t session, struct meta_locks_grants *g);

/* Held locks and waiters: in total, and of one session. */
size_t meta_locks_count(const struct meta_locks *l);
size_t meta_locks_session_count(const struct meta_locks *l, uint64_t session);
/* Whether (session, wait_id) waits on ino. */
bool meta_locks_waiting(const struct meta_locks *l, uint64_t ino, uint64_t session,
			uint64_t wait_id);

/* Snapshot form (part of meta_snap's format 7): deterministic bytes
 * (inodes in number order, locks in table order), little endian:
 *   u64 inodes; per inode u64 ino, u32 held, u32 waiting, then each lock
 *   u64 session, owner, start, end, wait_id, u32 pid, u8 kind, u8 type.
 * encode: *buf gd_malloc'd (the caller frees). decode: every count bounded
 * by the bytes left and the tables' bounds, every lock checked; GD_EPROTO
 * or GD_ENOMEM, *out untouched then. */
int meta_locks_encode(const struct meta_locks *l, uint8_t **buf, size_t *len);
int meta_locks_decode(const uint8_t *buf, size_t len, struct meta_locks **out);

/* Calls fn for each session that holds or waits (restore checks that each
 * is a session of the state); stops at the first nonzero return. */
int meta_locks_each_session(const struct meta_locks *l, int (*fn)(void *ctx, uint64_t session),
			    void *ctx);

#endif
