/* The handler API of godfs-meta: all that a request handler (meta_h_*.c) and
 * the leader's periodic work (meta_repl.c, meta_housekeeping.c) may use
 * besides the state they read from struct meta_server (fsm, reg, sess, locs,
 * opt): answering, proposing to Raft, waiting for something, and a few
 * helpers shared by several areas. Handlers include this and their own
 * header, never each other's.
 *
 * Every handler ends its request exactly once: with a meta_h_reply*, with
 * meta_h_finish, by proposing it (the done callback, or the default answer,
 * ends it later), or by parking it (meta_h_park: it goes back on the run
 * queue and through the dispatcher again when what it waits for happens,
 * never from inside another handler).
 *
 * Threads: everything here runs on the meta's loop thread only. */
#ifndef META_H_H
#define META_H_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_cap.h"
#include "gd_server.h"
#include "meta_server.h"

#define M(name) GODFS__METHOD__M_##name
#define META_H_CHAIN_MAX META_LOCS_CHAIN_MAX
/* A lease's capability outlives the lease by up to this (meta_h_lease_cap_ms). */
#define META_H_LEASE_CAP_MARGIN_MS 60000u

/* A request handler: dispatched by meta_dispatch.c behind its gates. */
typedef void (*meta_h_fn)(struct meta_server *ms, struct gd_request *req);

/* ---- answers (they send, a lost connection is fine, and free req) ---- */

void meta_h_reply(struct meta_server *ms, struct gd_request *req, const ProtobufCMessage *resp);
void meta_h_reply_packed(struct meta_server *ms, struct gd_request *req, const uint8_t *pb,
			 size_t len);
/* A response of the method's own type carrying only status (and, for
 * GD_ENOTLEADER, the leader's client address when known). */
void meta_h_reply_status(struct meta_server *ms, struct gd_request *req, int status);
/* The FSM's packed answer, or its status when it packed none. */
void meta_h_reply_result(struct meta_server *ms, struct gd_request *req,
			 const struct meta_fsm_result *res);
/* Frees a request without answering (its connection is gone). */
void meta_h_finish(struct meta_server *ms, struct gd_request *req);

/* ---- proposals ---- */

/* Called once a proposal is applied (status 0: res is the FSM's answer, owned
 * by the callee until it returns) or failed (res NULL). req may be NULL
 * (internal entries); otherwise the callee must answer it. May run before
 * meta_h_propose returns (a proposal that cannot be made; a test's Raft). */
typedef void (*meta_applied_fn)(struct meta_server *ms, struct gd_request *req, int status,
				struct meta_fsm_result *res, void *arg);

/* Fills in the leader's time, packs e and proposes it. done is called exactly
 * once. done NULL = answer req with the FSM's packed response. */
void meta_h_propose(struct meta_server *ms, Godfs__MetaEntry *e, struct gd_request *req,
		    meta_applied_fn done, void *arg);
/* The same for a client's request: e's method, session_id (when not 0) and,
 * on a client connection with a session, req_session (the FSM records the
 * answer under it and the request's req_seq: exactly-once). */
void meta_h_propose_req(struct meta_server *ms, struct gd_request *req, Godfs__MetaEntry *e,
			uint64_t session_id, meta_applied_fn done, void *arg);
/* The request bytes of req, unchanged, as the entry's request. */
void meta_h_entry_request(Godfs__MetaEntry *e, struct gd_request *req);

/* ---- waiting ---- */

/* Parks req until meta_h_wake names why and the keys (META_WAIT_NODES:
 * also after each registration and once a second, and answered
 * GD_ENOSERVERS after 10 s). Answers at once when this node is stopping or
 * not a ready leader. */
void meta_h_park(struct meta_server *ms, struct gd_request *req, enum meta_wait why,
		 uint64_t k1, uint64_t k2);
/* Puts the requests parked for why and the keys back on the run queue. */
void meta_h_wake(struct meta_server *ms, enum meta_wait why, uint64_t k1, uint64_t k2);

/* Removals in flight (UNLINK/RMDIR/RENAME with purge_now, orphan purges):
 * an OPEN of the inode waits (META_WAIT_REMOVAL) until they are applied. */
int meta_h_removal_begin(struct meta_server *ms, uint64_t ino);
/* One removal of ino applied or failed: when it was the last, the OPENs
 * that waited go back on the run queue. */
void meta_h_removal_end(struct meta_server *ms, uint64_t ino);
bool meta_h_removal_pending(struct meta_server *ms, uint64_t ino);

/* ---- what handlers share ---- */

uint64_t meta_h_now_ms(void);
/* Whether the leader is still in its start grace period. */
bool meta_h_in_grace(struct meta_server *ms);
/* Whether chunkds may still be registering with this leader: fewer have
 * registered than the FSM knows, and --node-dead-ms has not passed since it
 * became ready. */
bool meta_h_in_node_window(struct meta_server *ms);
/* What a request gets from a node that is stopping: GD_ESHUTDOWN, or
 * GD_ENOTLEADER after a fail-stop (ms->fail_stopped: a voter whose disk
 * failed a write; the client then asks another voter at once with the same
 * sequence number instead of failing the call). Also off the loop once the
 * queue is closed. */
int meta_h_stop_status(const struct meta_server *ms);
/* The argument of a background proposal's done callback (session expiry,
 * orphan purge, a chunk's node set): one id, session, inode or chunk;
 * gd_malloc'ed (NULL when out of memory), freed by the callback. */
struct meta_h_id_arg {
	uint64_t id;
};
struct meta_h_id_arg *meta_h_id_arg_new(uint64_t id);

/* A session id never handed out before. */
uint64_t meta_h_new_session_id(struct meta_server *ms);
/* The connection state of req (NULL in some tests). */
struct meta_conn *meta_h_conn(struct gd_request *req);
/* The session a request acts for: its own field, else its connection's. */
uint64_t meta_h_session_of(struct gd_request *req, protobuf_c_boolean has, uint64_t id);
/* The address of node_id: the registry's, else the FSM's; NULL when unknown. */
const char *meta_h_node_address(struct meta_server *ms, const char *node_id);
/* Signs a chunk capability (gd_cap.h) with the cluster key for chunk_id at
 * version with rights, valid lifetime_ms from now. false when this meta has
 * no key (an --insecure cluster: no capability is sent, none is checked). */
bool meta_h_cap_sign(uint64_t chunk_id, uint64_t version, uint32_t rights,
		     uint32_t lifetime_ms, uint8_t out[GD_CAP_LEN]);
/* Fault point of test builds only (configure --enable-sanitizers defines
 * GODFS_FAULT_INJECTION; a no-op otherwise), in the GODFS_FAULT syntax of
 * chunkd/chunkd_fault.h: with GODFS_FAULT=after_apply:N in the environment,
 * the Nth namespace change applied by this process for a client kills the
 * process (SIGKILL) before the reply goes out: a reply lost after the
 * change was committed and applied, deterministically
 * (tests/e2e/e2e_meta_exactly_once.sh). Called by the done callbacks of
 * namespace changes (meta_h_ns.c, meta_h_create.c) once applied. */
void meta_h_fault_after_apply(void);
/* How long the capability of a write lease lasts: the lease, and a margin
 * (at most a minute) for the fsync and the commit that follow its last
 * write. */
uint32_t meta_h_lease_cap_ms(const struct meta_server *ms);
/* Replies ar (the FSM's answer of an OPEN of regular file ino, unpacked)
 * with chunk 0's locations in ar->chunk as CHUNK_LOCATE would answer them
 * (meta_h_data.c), or without when it has no live copy (the client asks
 * CHUNK_LOCATE, which waits for chunkds as usual) or is a hole. */
void meta_h_reply_open_located(struct meta_server *ms, struct gd_request *req,
			       Godfs__AttrResp *ar, uint64_t ino);
/* Frees an unpacked message (NULL is fine). */
void meta_h_msg_free(void *m);

#endif
