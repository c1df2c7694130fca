/* Soft state of the client sessions on the leader: when each one last renewed,
 * which inodes it has open (how many times), its write leases, and the orphan
 * inodes (no links left) waiting until nobody holds them. The durable part (a
 * session exists, an inode is an orphan) is in the FSM; this is rebuilt from
 * it when a node becomes leader, and clients re-claim their opens on HELLO.
 *
 * Not thread-safe: the meta's libuv loop owns it, so no field is locked. */
#ifndef META_SESSIONS_H
#define META_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta_sessions;

int meta_sessions_new(struct meta_sessions **out);
void meta_sessions_free(struct meta_sessions *s);
/* Forgets everything (a node that stops being leader). */
void meta_sessions_clear(struct meta_sessions *s);

/* Adds (or renews) a session known to the FSM; 0 or GD_ENOMEM. */
int meta_sessions_add(struct meta_sessions *s, uint64_t id, uint64_t now_ms);
bool meta_sessions_known(struct meta_sessions *s, uint64_t id);
/* Whether a request that came on a connection bound to session conn_session
 * (0: none) may name session `named` (0: names none): 0, or GD_EPERM when
 * named is another session this leader knows. A session is bound to the
 * connection that created or reclaimed it with HELLO; an unknown (or
 * expiring) session passes, for the handler to answer GD_ENOSESSION (the
 * client then starts a new session). */
int meta_sessions_check(struct meta_sessions *s, uint64_t conn_session, uint64_t named);
/* 0, or GD_ENOSESSION for an unknown (or expiring) session. */
int meta_sessions_renew(struct meta_sessions *s, uint64_t id, uint64_t now_ms);
/* Drops the session with its opens and leases (after M_FSM_SESSION_EXPIRE). */
void meta_sessions_remove(struct meta_sessions *s, uint64_t id);

/* Open files: counted per session and in total. */
int meta_sessions_open(struct meta_sessions *s, uint64_t id, uint64_t ino);
/* Drops one open of ino by the session; 0 or GD_ENOENT (it had none). */
int meta_sessions_release(struct meta_sessions *s, uint64_t id, uint64_t ino);
/* Replaces the session's opens with inos (a client's HELLO after a reconnect). */
int meta_sessions_reclaim(struct meta_sessions *s, uint64_t id, const uint64_t *inos, size_t n);
/* How many opens of ino all sessions hold. */
uint64_t meta_sessions_open_count(struct meta_sessions *s, uint64_t ino);

/* What a write lease names: the chunk, and the version it was granted at. */
struct meta_sessions_grant {
	uint64_t ino;
	uint64_t index;
	uint64_t chunk_id;
	uint64_t version;
};

/* Records a write lease on g's (ino, index) for the session until
 * expire_ms, granted at g's chunk and version (a newer grant on the same
 * (ino, index) replaces it). */
int meta_sessions_lease(struct meta_sessions *s, uint64_t id,
			const struct meta_sessions_grant *g, uint64_t expire_ms);
/* Whether the session's recorded write lease on g's (ino, index) was
 * granted at exactly g's chunk and version. A version is granted to one
 * session only (the lease that made it), so this tells the version's only
 * writer; a lease is forgotten once it ended (meta_sessions_expire_leases),
 * and a new leader knows none: then the answer is false. */
bool meta_sessions_holds(struct meta_sessions *s, uint64_t id,
			 const struct meta_sessions_grant *g);
/* Drops expired leases; returns how many are left. */
size_t meta_sessions_expire_leases(struct meta_sessions *s, uint64_t now_ms);

/* Sessions not renewed for timeout_ms and not yet being expired: marks them
 * (so they are proposed once) and returns up to max ids. */
size_t meta_sessions_take_expired(struct meta_sessions *s, uint64_t now_ms,
				  uint64_t timeout_ms, uint64_t *ids, size_t max);
/* An expiry proposal failed: the session may be proposed again. */
void meta_sessions_unmark(struct meta_sessions *s, uint64_t id);
size_t meta_sessions_count(struct meta_sessions *s);

/* Orphans (from the FSM): candidates for M_FSM_PURGE once nobody holds them. */
int meta_sessions_orphan_add(struct meta_sessions *s, uint64_t ino);
void meta_sessions_orphan_del(struct meta_sessions *s, uint64_t ino);
bool meta_sessions_is_orphan(struct meta_sessions *s, uint64_t ino);
/* Orphans nobody has open and not yet proposed: marks them proposed and
 * returns up to max of them. */
size_t meta_sessions_take_purgeable(struct meta_sessions *s, uint64_t *inos, size_t max);
/* Whether an M_FSM_PURGE of ino is in flight (taken, not yet done). */
bool meta_sessions_orphan_proposed(struct meta_sessions *s, uint64_t ino);
/* A purge proposal failed (or the inode was re-opened): it may be proposed again. */
void meta_sessions_orphan_unmark(struct meta_sessions *s, uint64_t ino);

#endif
