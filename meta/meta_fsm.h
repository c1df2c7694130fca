/* The meta's deterministic state machine: the whole durable state of godfs
 * (namespace, chunk records, chunkd registry, sessions, orphans), changed only
 * by applying committed Raft log entries (fsm.proto MetaEntry).
 *
 * Pure: no I/O, no clock, no randomness; the same entries give the same state
 * on every voter. All validation of a mutating request happens in apply (the
 * state may have changed since the leader proposed it), and apply's answer is
 * the response the client gets. Not thread-safe: the meta's libuv loop owns it. */
#ifndef META_FSM_H
#define META_FSM_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_locks.h"

struct meta_fsm;

/* A chunk freed by an apply: the chunkds holding copies are told to delete them. */
struct meta_fsm_freed {
	uint64_t chunk_id;
	uint64_t version;
	char **nodes;           /* node ids that held valid copies */
	size_t n_nodes;
};

/* What an apply or a query answers. */
struct meta_fsm_result {
	int status;             /* 0 or a negative GD_E* code (also inside resp) */
	uint8_t *resp;          /* packed wire.proto response of the method; gd_malloc'd */
	size_t resp_len;
	struct meta_fsm_freed *freed; /* chunks whose copies can go (apply only) */
	size_t n_freed;
	uint64_t orphan_ino;    /* an inode that became an orphan (nlink 0, maybe open), 0 if none */
	bool out_of_memory;     /* an allocation failed (see meta_fsm_apply) */
	bool replayed;          /* a resend answered from its record, nothing applied */
	/* Lock waiters this apply granted or dropped (an unlock, a cancel, a
	 * session expired): the leader pushes LOCK_GRANTED to each. */
	struct meta_locks_grants grants;
};
void meta_fsm_result_release(struct meta_fsm_result *r);
/* Packs m into res->resp (replacing what was there): 0, or GD_ENOMEM with
 * res->out_of_memory set and resp unchanged. The one packer of every apply
 * and query (meta_fsm.c, meta_token.c, meta_fsm_lock.c). */
int meta_fsm_result_pack(struct meta_fsm_result *res, const ProtobufCMessage *m);

/* A chunk record, as stored. */
struct meta_fsm_chunk {
	uint64_t chunk_id;      /* 0 = no chunk at this index (a hole) */
	uint64_t version;
	uint32_t goal;
	char **nodes;           /* node ids of valid copies (pointers into the fsm: valid until the next apply) */
	size_t n_nodes;
	uint64_t file_size;     /* its inode's size (every lookup fills it) */
	uint64_t prev_version;  /* the version before the last bump */
	uint64_t ino;           /* owner (meta_fsm_chunk_by_id / _next) */
	uint64_t index;
};

/* chunk_size: bytes per chunk, fixed when the file system is formatted. */
int meta_fsm_new(uint64_t chunk_size, struct meta_fsm **out);
/* Sets the replication goal of the root directory (default 3), which new
 * inodes inherit from their parent. Call right after meta_fsm_new, before any
 * apply or restore (a restored snapshot carries its own goals). 0 or GD_EINVAL
 * (goal outside 1..32). */
int meta_fsm_set_default_goal(struct meta_fsm *f, uint32_t goal);
void meta_fsm_free(struct meta_fsm *f);

/* Applies one committed entry (a packed MetaEntry). Returns 0 when the entry
 * was applied (the request itself may still have failed: see res->status),
 * GD_EPROTO for an entry that does not decode (the state is unchanged), or
 * GD_ENOMEM when an allocation failed anywhere in the apply: the other voters
 * did not fail there, so this state (or the answer recorded for a resend) may
 * now differ from theirs and the caller must stop the node (meta_server
 * aborts; the restart replays the log).
 *
 * Exactly-once: an entry with req_session whose request carries a req_seq
 * (MKNOD, MKDIR, SYMLINK, CREATE, LINK, UNLINK, RMDIR, RENAME, SETATTR,
 * OPEN, SETXATTR, REMOVEXATTR, WRITE_COMMIT) and whose session exists has its answer
 * recorded in the session (meta_ns_reply_*, part of the state and of
 * snapshots); an entry with a seq already recorded is answered from the
 * record (res->replayed) and changes nothing; one whose record was trimmed
 * (req_ack) or evicted answers GD_EFORGOTTEN and changes nothing. */
int meta_fsm_apply(struct meta_fsm *f, const void *entry, size_t len,
		   struct meta_fsm_result *res);

/* Answers a read-only request (LOOKUP, GETATTR, READLINK, READDIR, GETXATTR,
 * LISTXATTR, STATFS, CHUNK_LOCATE, OPEN without O_TRUNC) from the current
 * state. `req` is the request as gd_server decoded it (the method table's
 * message for method; another one answers GD_EPROTO). ChunkResp.chain holds node ids.
 * READDIR returns only the real entries: "." and ".." are the FUSE layer's;
 * entry cookies start at 3 (1 and 2 are free for "." and ".."), and a walk
 * resumed after any cookie is stable across changes. Reads never change
 * atime (atime moves only with SETATTR). */
int meta_fsm_query_msg(struct meta_fsm *f, uint16_t method, const ProtobufCMessage *req,
		       struct meta_fsm_result *res);
/* The same from the packed request (tests, fuzzing): GD_EPROTO when it does
 * not decode as the method's message. */
int meta_fsm_query(struct meta_fsm *f, uint16_t method, const void *req,
		   size_t len, struct meta_fsm_result *res);

/* Reads the chunk record at (ino, index); chunk_id 0 when there is none
 * (then goal is the file's goal, for placing a new chunk).
 * Returns GD_ENOENT (no such inode), GD_EISDIR... or 0. */
int meta_fsm_chunk_get(struct meta_fsm *f, uint64_t ino, uint64_t index,
		       struct meta_fsm_chunk *out);

/* The inode currently bound to name in dir parent, or 0. */
uint64_t meta_fsm_lookup_ino(struct meta_fsm *f, uint64_t parent, const char *name);

/* The chunk record of chunk_id (file_size: its inode's size): 0, or
 * GD_ENOCHUNK when it is unknown. */
int meta_fsm_chunk_by_id(struct meta_fsm *f, uint64_t chunk_id, struct meta_fsm_chunk *out);
/* Walks every chunk record (for the leader's re-replication scan): *pos
 * starts at 0; returns false at the end. A walk interrupted by an apply may
 * miss or repeat records, never read freed memory. */
bool meta_fsm_chunk_next(struct meta_fsm *f, size_t *pos, struct meta_fsm_chunk *out);

/* Chunk ids and versions of every chunk, for checking a chunkd's report:
 * returns the version of chunk_id, or 0 when the chunk is unknown. */
uint64_t meta_fsm_chunk_version(struct meta_fsm *f, uint64_t chunk_id);

/* Registry: the address of a node id, or NULL. Valid until the next apply. */
const char *meta_fsm_node_address(struct meta_fsm *f, const char *node_id);

/* Sessions and orphans, for the leader's background work: fill up to max
 * ids and return how many were filled. */
size_t meta_fsm_sessions(struct meta_fsm *f, uint64_t *ids, size_t max);
size_t meta_fsm_orphans(struct meta_fsm *f, uint64_t *inos, size_t max);

/* Counters for status output. */
uint64_t meta_fsm_inode_count(struct meta_fsm *f);
uint64_t meta_fsm_chunk_count(struct meta_fsm *f);
uint64_t meta_fsm_chunk_size(struct meta_fsm *f);
/* How many chunkds the registry of the FSM knows (registered once, ever). */
size_t meta_fsm_node_count(struct meta_fsm *f);

/* The namespace state, for the read-only checks of meta_scope.h and
 * meta_token.h (loop thread; valid until the next apply or restore). */
struct meta_ns_state;
const struct meta_ns_state *meta_fsm_state(struct meta_fsm *f);
/* Changes whenever the token table may have changed (a token entry applied,
 * a snapshot restored): meta_token_gate.h copies the table again then. */
uint64_t meta_fsm_tokens_gen(struct meta_fsm *f);

/* Serialises the whole state into one buffer (allocated with raft_malloc so
 * that raft can own it) / replaces the state with a serialised one. */
int meta_fsm_snapshot(struct meta_fsm *f, void **buf, size_t *len);
/* Restore does not take ownership of buf; a truncated or corrupt buffer gives
 * GD_EPROTO and leaves the state as it was. */
int meta_fsm_restore(struct meta_fsm *f, const void *buf, size_t len);

#endif
