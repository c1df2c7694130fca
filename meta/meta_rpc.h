/* The request handlers of godfs-meta, seen from meta_server.c: everything that
 * knows what a method means lives behind these calls (meta_rpc_client.c for
 * clients and admins, meta_rpc_chunkd.c for chunkds, meta_rpc_background.c for
 * the leader's periodic work). meta_server.c owns the loop, the queue, Raft
 * and leadership; it calls these only on the loop thread, only while this node
 * is the leader and caught up (ms->ready), except where noted. */
#ifndef META_RPC_H
#define META_RPC_H

#include <stdint.h>

#include "gd_server.h"

struct meta_server;

/* Handles one request (any method of wire.proto: HELLO, PING, SESSION_RENEW,
 * the namespace and data methods, the chunkd methods, ADMIN_STATUS). Must end
 * with exactly one meta_server_reply* / meta_server_finish / meta_server_park
 * (possibly later, from a proposal's done callback). Called only when ready. */
void meta_rpc_dispatch(struct meta_server *ms, struct gd_request *req);

/* Checks at start that the meta has a handler for exactly the methods the
 * method table (gd_methods.h) says it serves: 0, or GD_EINVAL with every
 * difference logged (a method added to the table without its handler). */
int meta_rpc_check_table(void);

/* This node just became a ready leader: rebuild the soft state that comes
 * from the FSM (sessions known to the FSM, orphans) into ms->sess, with every
 * session's renew clock starting now. ms->reg was cleared by the caller;
 * chunkds re-register when their heartbeat is answered with reregister. */
void meta_rpc_became_leader(struct meta_server *ms);

/* This node stopped being leader: soft state is dropped by the caller
 * (meta_registry_clear, meta_sessions_clear); this drops anything else the
 * handlers keep. May be called when not ready. */
void meta_rpc_lost_leader(struct meta_server *ms);

/* Once every 100 ms while ready: session expiry, orphan purge, lease expiry,
 * node liveness, re-replication and deletion orders (each rate-limited). */
void meta_rpc_tick(struct meta_server *ms, uint64_t now_ms);

#endif
