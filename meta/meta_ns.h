/* The namespace data structures of the meta FSM: a growing hash map from
 * 64-bit keys (inode numbers, chunk ids) to records, directories (names ->
 * entries, looked up by hash, walked in the order of stable per-directory
 * cookies), inodes with their xattrs and chunk tables, and name validation.
 *
 * No I/O, no clock. Not thread-safe: the meta's libuv loop owns every instance
 * (through meta_fsm), so no field below is guarded by a lock. */
#ifndef META_NS_H
#define META_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_NS_NAME_MAX 255          /* bytes in a directory entry name */
#define META_NS_SYMLINK_MAX 4095      /* bytes in a symlink target */
#define META_NS_XATTR_NAME_MAX 255
#define META_NS_XATTR_VALUE_MAX 65536 /* bytes in one xattr value (Linux XATTR_SIZE_MAX) */
#define META_NS_XATTR_TOTAL_MAX (1u << 20) /* names + values of one inode */
#define META_NS_XATTR_LIST_MAX 65536  /* bytes of a listxattr answer (Linux XATTR_LIST_MAX) */
#define META_NS_LINK_MAX 65000        /* hard links of a file, subdirectories + 2 of a dir (ext4) */
#define META_NS_FIRST_COOKIE 3        /* cookies 1 and 2 are left to "." and ".." */
#define META_NS_STR_MAX 4096          /* bytes of a host, mount point, node id or address in the state */
#define META_NS_NODES_MAX 64          /* valid copies recorded for one chunk */

/* ---- u64 -> pointer map ---------------------------------------------------
 * Open addressing with linear probing and backward-shift deletion; the table
 * doubles at 3/4 load. Key 0 is not allowed (no inode or chunk has number 0);
 * values are never NULL. */
struct meta_ns_map {
	uint64_t *keys;
	void **vals;            /* NULL = empty slot */
	size_t cap;             /* power of two, or 0 before the first put */
	size_t count;
};

void meta_ns_map_init(struct meta_ns_map *m);
/* Frees the table (not the values). */
void meta_ns_map_release(struct meta_ns_map *m);
void *meta_ns_map_get(const struct meta_ns_map *m, uint64_t key);
/* Inserts or replaces; 0, GD_EINVAL (key 0 or val NULL) or GD_ENOMEM (map unchanged). */
int meta_ns_map_put(struct meta_ns_map *m, uint64_t key, void *val);
/* Removes key; returns its value or NULL. */
void *meta_ns_map_del(struct meta_ns_map *m, uint64_t key);
/* Iteration: *pos starts at 0; returns the next value (and its key) or NULL at
 * the end. The map must not change during a walk. */
void *meta_ns_map_next(const struct meta_ns_map *m, size_t *pos, uint64_t *key);

/* ---- names ---------------------------------------------------------------- */

/* 0 for a valid directory entry name of len bytes (1..255, no '/' or NUL, not
 * "." or ".."), GD_ENAMETOOLONG above 255 bytes, GD_EINVAL otherwise. */
int meta_ns_name_check(const char *name, size_t len);

/* ---- directories ------------------------------------------------------------
 * Each entry gets a cookie from the directory's counter (never reused), so a
 * readdir that resumes "after cookie c" sees every entry that existed for the
 * whole walk exactly once, whatever was added or removed in between. Removed
 * entries leave a tombstone in the cookie-ordered array until the tombstones
 * outnumber the live entries, then the array is compacted. */
struct meta_ns_dirent {
	struct meta_ns_dirent *hnext; /* name hash chain */
	uint64_t ino;
	uint64_t cookie;
	uint32_t type;          /* S_IFMT bits of the inode */
	uint16_t name_len;
	char name[];            /* NUL-terminated */
};

struct meta_ns_dir_slot {
	uint64_t cookie;
	struct meta_ns_dirent *de; /* NULL = tombstone */
};

struct meta_ns_dir {
	struct meta_ns_dirent **buckets; /* name hash, chained */
	size_t n_buckets;       /* power of two, or 0 */
	size_t count;           /* live entries */
	struct meta_ns_dir_slot *order; /* sorted by cookie, with tombstones */
	size_t n_order;
	size_t cap_order;
	size_t n_dead;
	uint64_t next_cookie;
};

void meta_ns_dir_init(struct meta_ns_dir *d);
void meta_ns_dir_release(struct meta_ns_dir *d);
struct meta_ns_dirent *meta_ns_dir_lookup(const struct meta_ns_dir *d,
					  const char *name, size_t len);
/* Adds a new entry with the next cookie. The name must be valid and absent.
 * 0 or GD_ENOMEM (directory unchanged). *out (may be NULL) gets the entry. */
int meta_ns_dir_add(struct meta_ns_dir *d, const char *name, size_t len,
		    uint64_t ino, uint32_t type, struct meta_ns_dirent **out);
/* Adds an entry with a given cookie, for restore: GD_EPROTO when the cookie is
 * not above every cookie given so far or the name exists; the counter moves
 * past it. */
int meta_ns_dir_add_cookie(struct meta_ns_dir *d, const char *name, size_t len,
			   uint64_t ino, uint32_t type, uint64_t cookie);
/* Removes the entry of that name: 0 or GD_ENOENT. */
int meta_ns_dir_remove(struct meta_ns_dir *d, const char *name, size_t len);
/* The first live entry whose cookie is above `after` (0 = from the start), or NULL. */
struct meta_ns_dirent *meta_ns_dir_next(const struct meta_ns_dir *d, uint64_t after);

/* ---- chunk records and inodes ------------------------------------------------ */

struct meta_ns_chunk {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t prev_version;  /* the version before the last bump (0 for a new chunk) */
	uint64_t ino;           /* owner */
	uint64_t index;
	uint32_t goal;
	char **nodes;           /* node ids of valid copies, chain order */
	size_t n_nodes;
};

struct meta_ns_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct meta_ns_inode {
	uint64_t ino;
	uint64_t generation;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t trunc_seq;     /* truncates of the file so far (WriteCommit.written_seq) */
	uint64_t trunc_size;    /* the size the last of them set */
	uint64_t rdev;
	int64_t atime_sec, mtime_sec, ctime_sec;
	uint32_t atime_nsec, mtime_nsec, ctime_nsec;
	uint32_t goal;
	/* Directories: the directory holding it (root: itself). Other inodes:
	 * a directory holding one of its links, or 0 = unknown (that link was
	 * removed while others remain); client tokens (meta_scope.h) refuse an
	 * inode whose way up is unknown, never guess. */
	uint64_t parent;
	bool orphan;            /* no links left, kept until purged */
	char *target;           /* symlinks */
	struct meta_ns_xattr *xattrs;
	size_t n_xattrs;
	size_t xattr_bytes;     /* sum of name and value lengths */
	struct meta_ns_chunk **chunks; /* regular files: sorted by index */
	size_t n_chunks;
	size_t cap_chunks;
	struct meta_ns_dir *dir; /* directories */
	uint64_t scratch;       /* for a single walk (restore's link count) */
};

/* A new inode of that mode (a directory gets its entry table). NULL on ENOMEM. */
struct meta_ns_inode *meta_ns_inode_new(uint64_t ino, uint32_t mode);
/* Frees the inode, its xattrs, target, directory and chunk records (the
 * caller has removed the chunks from any map first). */
void meta_ns_inode_free(struct meta_ns_inode *in);

/* The position of chunk `index` in in->chunks, or where it would go; *found says which. */
size_t meta_ns_chunk_pos(const struct meta_ns_inode *in, uint64_t index, bool *found);
struct meta_ns_chunk *meta_ns_chunk_find(const struct meta_ns_inode *in, uint64_t index);
/* Inserts c at pos (from meta_ns_chunk_pos): 0 or GD_ENOMEM. */
int meta_ns_chunk_insert(struct meta_ns_inode *in, size_t pos, struct meta_ns_chunk *c);
void meta_ns_chunk_free(struct meta_ns_chunk *c);
/* Replaces the valid copies of c with a copy of nodes: 0 or GD_ENOMEM (c unchanged). */
int meta_ns_chunk_set_nodes(struct meta_ns_chunk *c, char *const *nodes, size_t n);

/* xattrs: lookup by name; set (create or replace), remove. */
struct meta_ns_xattr *meta_ns_xattr_find(const struct meta_ns_inode *in, const char *name);
/* Sets name = value[len]: 0, GD_ENOSPC (over the per-inode total), GD_ENOMEM. */
int meta_ns_xattr_set(struct meta_ns_inode *in, const char *name,
		      const void *value, size_t len);
/* 0 or GD_ENODATA. */
int meta_ns_xattr_remove(struct meta_ns_inode *in, const char *name);

/* ---- the whole state ----------------------------------------------------------- */

/* Replication goal bound: a chain carries one address per copy, and chains
 * are at most 16 long everywhere (META_LOCS_CHAIN_MAX in the meta,
 * CHUNKD_CHAIN_MAX in chunkd). SetAttr and --default-goal above it are
 * GD_EINVAL (docs/meta.md). */
#define META_NS_GOAL_MAX 16
/* Snapshots written before the bound above allowed goals up to 32: they still
 * load (such an inode keeps its goal, placement gives it at most 16 copies). */
#define META_NS_GOAL_STORED_MAX 32
#define META_NS_ROOT_INO 1

/* The recorded answer of one applied request of a client session (exactly-once:
 * a resend of the same request gets this, the request is not applied again). */
struct meta_ns_reply {
	uint64_t seq;           /* the request's req_seq */
	uint32_t method;        /* the request's method: a resend must be the same */
	int32_t status;
	uint8_t *resp;          /* packed wire.proto response, gd_malloc'd (NULL when resp_len is 0) */
	uint32_t resp_len;      /* <= META_NS_REPLY_RESP_MAX */
};

#define META_NS_REPLIES_MAX 1024      /* recorded answers per session (then the oldest go) */
#define META_NS_REPLY_RESP_MAX 4096   /* bytes of one recorded answer */

struct meta_ns_session {
	uint64_t id;
	char *host;
	char *mountpoint;
	struct meta_ns_reply *replies; /* sorted by seq, at most META_NS_REPLIES_MAX */
	size_t n_replies;
	size_t cap_replies;
	uint64_t replies_floor; /* every seq <= this was trimmed or evicted: not answerable */
};

struct meta_ns_node {
	char *id;
	char *address;
	char *label;
	bool draining;          /* M_NODE_DRAIN (meta_drain.h); kept across registrations */
};

#define META_NS_TOKEN_NAME_MAX 255   /* bytes of a token's name */
#define META_NS_TOKENS_MAX 100000     /* tokens ever created (revoked ones stay) */

/* A client token as the FSM knows it (gd_auth.h struct gd_token has the
 * secret, which is never stored: it is derived from these fields under the
 * cluster key). Tokens are never removed: a revoked one stays, revoked. */
struct meta_ns_token {
	uint64_t id;
	uint64_t subtree;       /* the directory it opens */
	uint64_t expires;       /* Unix seconds, 0 = never */
	int64_t created;        /* the leader's clock when it was created */
	uint32_t flags;         /* GD_TOKEN_* */
	uint32_t uid, gid;      /* GD_TOKEN_APIKEY: the identity forced on its
				 * requests (meta_token_identity); 0 otherwise */
	bool revoked;
	char *name;             /* operator's comment, never NULL */
};

struct meta_ns_state {
	uint64_t chunk_size;
	uint32_t default_goal;
	uint64_t next_ino;      /* inode numbers are never reused */
	uint64_t next_chunk_id; /* nor chunk ids */
	struct meta_ns_map inodes;  /* ino -> struct meta_ns_inode (owns them) */
	struct meta_ns_map chunks;  /* chunk id -> struct meta_ns_chunk (owned by the inodes) */
	struct meta_ns_map orphans; /* ino -> struct meta_ns_inode with nlink 0 */
	struct meta_ns_session *sessions; /* sorted by id */
	size_t n_sessions;
	struct meta_ns_node *nodes; /* sorted by id (strcmp) */
	size_t n_nodes;
	struct meta_ns_token *tokens; /* sorted by id (ids only grow) */
	size_t n_tokens;
	uint64_t next_token_id;
	struct meta_locks *locks;   /* cluster-wide file locks (meta_locks.h); owned,
				     * NULL until the first lock */
};

/* An empty state (no inodes, counters at their start), for restore to fill. */
void meta_ns_state_init_empty(struct meta_ns_state *s, uint64_t chunk_size);
/* A fresh file system: the root directory (0755, uid/gid 0) with the default goal. */
int meta_ns_state_init(struct meta_ns_state *s, uint64_t chunk_size, uint32_t default_goal);
void meta_ns_state_release(struct meta_ns_state *s);

/* Sessions: find, insert-or-update (copies the strings), remove (0 or GD_ENOSESSION). */
struct meta_ns_session *meta_ns_session_find(const struct meta_ns_state *s, uint64_t id);
int meta_ns_session_put(struct meta_ns_state *s, uint64_t id, const char *host,
			const char *mountpoint);
int meta_ns_session_remove(struct meta_ns_state *s, uint64_t id);

/* Recorded answers of a session (exactly-once). find: the record of seq or NULL.
 * trim: drops the records of every seq <= ack (the client has their answers)
 * and raises the floor to ack. put: records an answer (copies resp; seq must
 * be above the floor and not recorded yet); at META_NS_REPLIES_MAX records
 * the lowest seq goes first and the floor rises to it. 0, GD_EINVAL (resp
 * too long, seq 0, at or below the floor, or recorded) or GD_ENOMEM (nothing
 * changed). */
struct meta_ns_reply *meta_ns_reply_find(const struct meta_ns_session *se, uint64_t seq);
void meta_ns_reply_trim(struct meta_ns_session *se, uint64_t ack);
int meta_ns_reply_put(struct meta_ns_session *se, uint64_t seq, uint32_t method, int32_t status,
		      const uint8_t *resp, size_t resp_len);
/* Frees every record of the session (it expires, or the state goes). */
void meta_ns_replies_release(struct meta_ns_session *se);

/* Chunkd registry: find, insert-or-update (copies the strings). */
struct meta_ns_node *meta_ns_node_find(const struct meta_ns_state *s, const char *id);
int meta_ns_node_put(struct meta_ns_state *s, const char *id, const char *address,
		     const char *label);

/* Client tokens: find by id (NULL when unknown); add a copy of t (copies the
 * name; t->id must be above every id so far): 0, GD_EINVAL, GD_ENOMEM
 * (nothing changed). */
struct meta_ns_token *meta_ns_token_find(const struct meta_ns_state *s, uint64_t id);
int meta_ns_token_add(struct meta_ns_state *s, const struct meta_ns_token *t);

#endif
