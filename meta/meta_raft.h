/* The meta's Raft node: every call into libraft (canonical/raft 0.15, or the
 * API-compatible cowsql/raft) lives in meta_raft.c and nowhere else, so the
 * implementation can be swapped without touching the rest of the meta.
 *
 * (The one other file that speaks libraft's API is meta_raft_transport.c, the
 * Raft port: libraft's transport interface, opened only to peers with the
 * cluster key, from the credential gd_cred_setup loaded.)
 *
 * Raft and its transport run on the meta's libuv loop and only make
 * progress inside uv_run(); every function here must be called on that loop's
 * thread, and every callback below runs on it. */
#ifndef META_RAFT_H
#define META_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct meta_raft;

/* What the node applies and snapshots. The FSM callbacks run on every voter. */
struct meta_raft_fsm {
	void *ctx;
	/* Applies one committed entry; *result is handed to the proposer's done
	 * callback (on the node that proposed it), or released with
	 * result_free when nobody proposed it here. Returning non-zero stops
	 * raft, so only a failure that must stop the node may do that. */
	int (*apply)(void *ctx, const void *buf, size_t len, void **result);
	void (*result_free)(void *ctx, void *result);
	/* Serialises the state into *buf (allocated with meta_raft_malloc). */
	int (*snapshot)(void *ctx, void **buf, size_t *len);
	/* Replaces the state; the buffer stays owned by the caller. */
	int (*restore)(void *ctx, const void *buf, size_t len);
};

struct meta_raft_peer {
	uint64_t id;
	char *raft_addr;        /* host:port of its Raft transport */
	char *client_addr;      /* host:port of its client RPC, may be NULL */
};

struct meta_raft_config {
	uv_loop_t *loop;
	const char *dir;        /* raft files; must exist */
	uint64_t id;            /* this node's id (>= 1) */
	const char *address;    /* this node's Raft host:port */
	const struct meta_raft_peer *peers; /* the voters of a new cluster (this node included); NULL = only this node */
	size_t n_peers;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	bool join;              /* a new voter of a live cluster: never bootstrap,
				 * wait for the leader (godfs-admin masters add) */
	size_t segment_size;    /* log segment file size (a multiple of the block size); 0 = libraft's */
	/* Called (on the loop, outside libraft's callbacks, once) when this
	 * node's disk failed a write (a log append or a snapshot), leader or
	 * follower: the owner must stop the node (fail-stop) and exit with an
	 * error (meta_raft.c, write_failed, says why). May be NULL. */
	void (*fail_stop)(void *arg);
	void *fail_stop_arg;
};

/* Initialises raft on cfg->loop, bootstraps a new cluster (or finds an existing
 * one: *bootstrapped false) and starts it (loading the snapshot and log).
 * Returns 0, GD_ENOSPC (less free space in cfg->dir than two log segments: a
 * voter that cannot write its log must not run) or GD_EIO (the reason is
 * logged). On failure nothing is left to free. */
int meta_raft_start(const struct meta_raft_config *cfg, const struct meta_raft_fsm *fsm,
		    struct meta_raft **out, bool *bootstrapped);

/* Called once a proposal is applied (status 0, result from fsm->apply, owned
 * by the callee) or failed (status GD_ENOTLEADER, GD_ESHUTDOWN, GD_ENOMEM,
 * GD_EIO; result NULL). */
typedef void (*meta_raft_done_fn)(void *arg, int status, void *result);

/* Proposes an entry (copied). Returns 0 (done will be called exactly once) or
 * GD_ENOTLEADER / GD_ENOMEM / GD_EIO (done is not called). */
int meta_raft_propose(struct meta_raft *r, const void *buf, size_t len,
		      meta_raft_done_fn done, void *arg);

/* Calls done(arg, status, NULL) once every entry committed before it is
 * applied (status 0) or when that fails. Returns 0 or a GD_E* code. */
int meta_raft_barrier(struct meta_raft *r, meta_raft_done_fn done, void *arg);

bool meta_raft_is_leader(struct meta_raft *r);
/* The leader's id (0 = unknown). */
uint64_t meta_raft_leader_id(struct meta_raft *r);
uint64_t meta_raft_last_index(struct meta_raft *r);
uint64_t meta_raft_last_applied(struct meta_raft *r);
/* The highest index known committed. */
uint64_t meta_raft_commit_index(struct meta_raft *r);
uint64_t meta_raft_term(struct meta_raft *r);
/* "leader", "follower", "candidate" or "unavailable". */
const char *meta_raft_state_name(struct meta_raft *r);

/* ---- membership (godfs-admin masters; docs/meta.md "Voters") ----
 * One change or transfer at a time, on the leader only. The calls return 0
 * (done(arg, status) is called exactly once, later), META_RAFT_NOTHING_TO_DO
 * (it is already so; done is not called) or a GD_E* code (done is not
 * called): GD_ENOTLEADER, GD_EBUSY (a change or transfer is in progress; or
 * the leader itself would be removed), GD_ENOENT (no such node), GD_EEXIST
 * (the id or the address is another node's), GD_EAGAIN (a removal would leave
 * fewer voters this leader hears from than a majority), GD_EINVAL,
 * GD_ENOMEM, GD_ESHUTDOWN. done's status: 0, GD_ENOTLEADER (leadership lost
 * meanwhile), GD_ETIMEDOUT (a new voter did not catch up; a transfer did not
 * happen), or another GD_E* code. */
#define META_RAFT_NOTHING_TO_DO 1

typedef void (*meta_raft_change_fn)(void *arg, int status);

struct meta_raft_member {
	uint64_t id;
	char raft_addr[256];     /* META_RAFT_CONF_ADDR_MAX + 1 */
	char client_addr[256];   /* "" when the configuration has none */
	const char *role;        /* "voter", "standby" or "spare" */
	bool leader;             /* the leader as this node knows it */
	bool has_match;          /* on the leader: */
	uint64_t match_index;    /*   the last entry known to be on it */
	uint64_t heard_ago_ms;   /*   since its last answer of this term (0 = none yet or self) */
	bool heard;              /*   heard_ago_ms is set: it answered in this term */
};

/* Fills out (capacity max) with the configuration; returns how many. */
size_t meta_raft_members(struct meta_raft *r, struct meta_raft_member *out, size_t max);
/* The client address the configuration gives node id: 0, or GD_ENOENT (no
 * such node, or its address has no client part). */
int meta_raft_client_addr(struct meta_raft *r, uint64_t id, char *buf, size_t cap);
/* Adds node id (Raft address raft_addr, client address client_addr) as a
 * spare, then makes it a voter once it has caught up with the log (libraft
 * catches it up in rounds first). A node left a spare by an add that did not
 * finish is promoted. */
int meta_raft_member_add(struct meta_raft *r, uint64_t id, const char *raft_addr,
			 const char *client_addr, meta_raft_change_fn done, void *arg);
/* Removes node id (not the leader itself). */
int meta_raft_member_remove(struct meta_raft *r, uint64_t id, meta_raft_change_fn done,
			    void *arg);
/* Hands leadership to voter id (0 = the most up-to-date voter); done's
 * status is 0 once this node sees the new leader. Ends the read lease. */
int meta_raft_transfer(struct meta_raft *r, uint64_t id, meta_raft_change_fn done, void *arg);

/* Whether this leader holds its read lease now (meta_raft_lease.h): a read
 * answered from the local state now is linearizable. *until_ms (may be
 * NULL): when it ends, in gd_net_now_ms() time. */
bool meta_raft_read_lease(struct meta_raft *r, uint64_t *until_ms);
unsigned meta_raft_lease_ms(struct meta_raft *r);
unsigned meta_raft_election_timeout_ms(struct meta_raft *r);
/* Logs (once per new message) the last storage error libraft met, e.g. a
 * full disk: libraft only records it in its error message and goes on (a
 * follower refuses the entries, a leader fails the proposals), so without
 * this the operator sees nothing. Call it on every tick. */
void meta_raft_log_io_error(struct meta_raft *r);

/* Allocator whose buffers raft may own (snapshots). */
void *meta_raft_malloc(size_t n);
void meta_raft_free_buf(void *p);

/* Starts closing: raft_close is deferred to a 0 ms timer, so this is safe
 * from inside any raft callback. closed(arg) runs on the loop once raft has
 * let go of everything; then let uv_run return and call meta_raft_free. */
void meta_raft_close(struct meta_raft *r, void (*closed)(void *arg), void *arg);
/* Releases the I/O and transport; only after uv_run has returned. */
void meta_raft_free(struct meta_raft *r);

#endif
