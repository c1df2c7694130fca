/* The FSM's lock methods (wire.proto LOCK, LOCK_CANCEL, LOCK_GET): the
 * wire's Lock message in, the lock table of the state (meta_locks.h)
 * changed, a LockResp out; and the locks of an expiring session dropped in
 * its own entry. Called by meta_fsm.c only; pure, loop thread, like it.
 *
 * Every function answers like meta_fsm's ops: 0 with res->resp packed (or
 * left for a status-only answer), or a negative GD_E* status. Waiters that
 * a change granted are appended to res->grants. */
#ifndef META_FSM_LOCK_H
#define META_FSM_LOCK_H

#include <stdint.h>

#include "meta_fsm.h"
#include "meta_ns.h"
#include "proto/wire.pb-c.h"

/* LOCK (set, unlock, wait) and LOCK_CANCEL of session (the entry's);
 * GD_ENOSESSION when the state does not know the session. */
int meta_fsm_lock_apply(struct meta_ns_state *st, uint32_t method, uint64_t session,
			const Godfs__Lock *r, struct meta_fsm_result *res);
/* LOCK_GET: the first conflicting lock (its pid only when it is the
 * asking session's: another host's pid means nothing here). */
int meta_fsm_lock_test(const struct meta_ns_state *st, const Godfs__Lock *r,
		       struct meta_fsm_result *res);
/* Drops every lock and waiter of session (M_FSM_SESSION_EXPIRE). */
int meta_fsm_lock_expire(struct meta_ns_state *st, uint64_t session,
			 struct meta_fsm_result *res);

#endif
