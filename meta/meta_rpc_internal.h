/* What the request handlers of godfs-meta share among themselves
 * (meta_rpc_client.c, meta_rpc_chunkd.c, meta_rpc_background.c): the
 * leader's soft state of chunk locations and pending re-replications, and a
 * few helpers. Everything here is touched only by the meta's loop thread.
 *
 * Locations: the FSM keeps the valid node set of each chunk (durable); which
 * of those nodes really hold a copy at the chunk's current version is learnt
 * from registrations (the chunk report) and from leases granted since, and is
 * kept here per chunk id. Read chains and lease chains come from it, and
 * every entry is checked against the FSM's version before use. */
#ifndef META_RPC_INTERNAL_H
#define META_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_cap.h"
#include "meta_ns.h"
#include "meta_server.h"

/* Added by meta_server.c: re-dispatches parked requests (after a chunkd
 * registered). Declared here too so that these files build on their own. */
void meta_server_unpark(struct meta_server *ms);

#define META_RPC_CHAIN_MAX 16      /* longest chain handed out */
_Static_assert(META_NS_GOAL_MAX <= META_RPC_CHAIN_MAX, "a goal must fit in a chain");
#define META_RPC_NODE_NONE UINT32_MAX

/* ---- node names (meta_rpc_background.c) ----
 * Node ids are interned into small numbers for the location tables. */
uint32_t meta_rpc_node_intern(const char *node_id);
/* The node id of an interned number, or NULL. */
const char *meta_rpc_node_name(uint32_t idx);

/* ---- locations (meta_rpc_background.c) ---- */

/* Holders of chunk_id at version: replaces whatever was recorded (a lease or
 * a new chain bumped the version). lease_until_ms > 0: a lease runs until
 * then (no re-replication meanwhile), and for a few seconds a
 * re-registration that does not show the copy yet keeps the holder (the
 * lease's first write may not have reached it) and is checked again later. */
int meta_rpc_loc_set(uint64_t chunk_id, uint64_t version, const char *const *node_ids,
		     size_t n, uint64_t lease_until_ms);
/* Adds one holder at version (an entry at another version is reset first). */
int meta_rpc_loc_add(uint64_t chunk_id, uint64_t version, uint32_t node);
/* Removes node from the holders (and pending replication) of chunk_id. */
void meta_rpc_loc_remove(uint64_t chunk_id, uint32_t node);
/* Forgets chunk_id entirely. */
void meta_rpc_loc_drop(uint64_t chunk_id);
/* Whether node holds chunk_id at version (by the soft state). */
bool meta_rpc_loc_has(uint64_t chunk_id, uint64_t version, uint32_t node);
/* Whether node was ordered to replicate chunk_id (at version) and is not yet confirmed. */
bool meta_rpc_loc_pending(uint64_t chunk_id, uint64_t version, uint32_t node);

/* Fills ids (up to max) with the holders of the chunk that can serve it now:
 * alive, not marked bad, at the FSM's version. With for_read, least loaded
 * first (and the first one's read count goes up), then the alive holders
 * marked bad (a bad block fails only its own range); otherwise in FSM chain
 * order, then the rest. Returns how many. */
size_t meta_rpc_loc_live(struct meta_server *ms, const struct meta_fsm_chunk *c,
			 bool for_read, const char **ids, size_t max);

/* Fills ids with the live valid-set members still at the record's
 * prev_version (a lease bumped the version, its first write never came).
 * When nobody holds the current version, no write at it was acknowledged
 * (an acknowledged write is on every chain member), so these copies hold
 * every acknowledged byte: reads use them at prev_version, and a new lease
 * moves them straight to the next version (MetaEntry.lease_prev). */
size_t meta_rpc_loc_live_prev(struct meta_server *ms, const struct meta_fsm_chunk *c,
			      const char **ids, size_t max);
/* Whether chunk c (prev_version 0: created by a lease) provably has no copy
 * anywhere: every valid-set member is live and registered, none has it, and
 * no copy was ever seen. Then it reads as a hole and a new lease may create
 * it afresh. One live member without the copy proves nothing (it may have
 * lost it while a member that is down holds the only one): the read then
 * fails with EIO until that member is back. */
bool meta_rpc_loc_never_written(struct meta_server *ms, const struct meta_fsm_chunk *c);

/* A (re)registration of node with its chunk report: the copies to drop go to
 * drop[] (pointers into the report), holders are updated, pending
 * replications confirmed. Returns the count of drop[] (capacity n). */
size_t meta_rpc_loc_register(struct meta_server *ms, const char *node_id,
			     Godfs__ChunkReport *const *report, size_t n,
			     Godfs__ChunkReport **drop);
/* A replication node_id reports finished (CsHeartbeat.replicated): a copy
 * this leader ordered to it is confirmed (its valid set grows, as with a
 * registration), or, when it failed, ordered again from another source. */
void meta_rpc_loc_replicated(struct meta_server *ms, const char *node_id,
			     const Godfs__CsReplicated *r);
/* Whether node should re-register now to confirm replications it was given
 * (a fallback: a chunkd reports them with its heartbeats). */
bool meta_rpc_loc_want_report(const char *node_id, uint64_t now_ms);

/* Chunks an apply freed: delete orders to every node with a copy, and the
 * soft state forgets them. */
void meta_rpc_freed(struct meta_server *ms, const struct meta_fsm_result *res);

/* Under-goal chunks counted by the last complete re-replication scan. */
uint64_t meta_rpc_under_goal(void);

/* Fills the re-replication fields of an AdminStatusResp (repl_*,
 * under_goal_why, repl); the strings and r->repl stay valid until the next
 * call or tick. */
void meta_rpc_repl_status(Godfs__AdminStatusResp *r);

/* A member left the chain of chunk_id when the version went to version: its
 * copy (at prev_version) is deleted once a holder reports the new version
 * (the new chain acknowledged a write), never before. */
void meta_rpc_loc_dropped(struct meta_server *ms, uint64_t chunk_id, uint64_t version,
			  const char *node_id, uint64_t prev_version);

/* ---- helpers (meta_rpc_client.c) ---- */

/* Signs a chunk capability (gd_cap.h) with the cluster key for chunk_id at
 * version with rights, valid lifetime_ms from now. false when this meta has
 * no key (an --insecure cluster: no capability is sent, none is checked). */
bool meta_rpc_cap_sign(uint64_t chunk_id, uint64_t version, uint32_t rights,
		       uint32_t lifetime_ms, uint8_t out[GD_CAP_LEN]);

/* The address of node_id: the registry's, else the FSM's; NULL when unknown. */
const char *meta_rpc_node_address(struct meta_server *ms, const char *node_id);

/* The removal of ino (a purge_now UNLINK/RMDIR/RENAME or an orphan purge)
 * was applied or failed: the OPENs that waited for it are dispatched again. */
void meta_rpc_client_removed(struct meta_server *ms, uint64_t ino);

/* Answers the requests waiting behind an in-flight lease or a removal (this
 * node stops being leader). */
void meta_rpc_client_lost_leader(struct meta_server *ms);

/* ---- client tokens (meta_rpc_token.c) ---- */

/* The gate of a request on a token connection (req->auth kind token): true
 * when it may go on to its handler; false when it was answered (token no
 * longer valid, inode outside its subtree, write with a read-only token,
 * method not open to tokens: one rate-limited log line). Requests of other
 * connections pass. */
bool meta_rpc_token_admit(struct meta_server *ms, struct gd_request *req);
/* M_TOKEN_CREATE, M_TOKEN_LIST, M_TOKEN_REVOKE (admin role only). */
void meta_rpc_token_admin(struct meta_server *ms, struct gd_request *req);

/* meta_rpc_nodes.c: M_NODE_DRAIN and M_ADMIN_PLACEMENT (admin role only). */
void meta_rpc_node_drain(struct meta_server *ms, struct gd_request *req);
void meta_rpc_admin_placement(struct meta_server *ms, struct gd_request *req);

/* meta_rpc_chunkd.c's entry points, called by meta_rpc_dispatch. */
void meta_rpc_cs_register(struct meta_server *ms, struct gd_request *req);
void meta_rpc_cs_heartbeat(struct meta_server *ms, struct gd_request *req);
void meta_rpc_cs_report_bad(struct meta_server *ms, struct gd_request *req);

/* Drops every piece of soft state kept in meta_rpc_background.c. */
void meta_rpc_soft_clear(void);

#endif
