/* Handlers of cluster-wide locks (docs/locks.md): LOCK and LOCK_CANCEL are
 * proposed to Raft and answered with the FSM's LockResp (meta_fsm_lock.h);
 * LOCK_GET is answered from the state. A blocking LOCK that must wait is
 * answered at once with queued; the grant comes later as a LOCK_GRANTED
 * PUSH on the connection the session last sent a lock request on, which
 * this module holds (gd_sconn_hold) for that. A push that cannot go (the
 * connection died, a new leader) is not retried: the client sends its
 * waits again when it reconnects, and the resend is answered granted.
 *
 * Loop thread only (meta_h.h); the held connections are in
 * ms->lock_conns (session -> struct gd_sconn *). */
#ifndef META_H_LOCKS_H
#define META_H_LOCKS_H

#include "gd_server.h"
#include "meta_fsm.h"
#include "meta_server.h"

void meta_h_locks_lock(struct meta_server *ms, struct gd_request *req);
void meta_h_locks_get(struct meta_server *ms, struct gd_request *req);

/* Every applied result on the leader passes here (meta_h.c's prop_done):
 * pushes LOCK_GRANTED for each waiter in res->grants. */
void meta_h_locks_applied(struct meta_server *ms, const struct meta_fsm_result *res);

/* This node stops leading (or stops): every held connection is released. */
void meta_h_locks_lost_leader(struct meta_server *ms);

#endif
