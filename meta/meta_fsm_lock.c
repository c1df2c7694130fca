/* The FSM's lock methods (see meta_fsm_lock.h). */
#include "meta_fsm_lock.h"

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_locks.h"

#define M(name) GODFS__METHOD__M_##name

/* The lock a Lock message names: GD_EINVAL for a kind or type out of range
 * (the table checks the rest). */
static int from_wire(const Godfs__Lock *r, uint64_t session, struct meta_lock *out)
{
	if (!r->has_ino || r->ino == 0 || !r->has_kind || !r->has_type ||
	    (unsigned)r->kind > META_LOCK_FLOCK || (unsigned)r->type > META_LOCK_WRITE)
		return GD_EINVAL;
	out->session = session;
	out->owner = r->has_owner ? r->owner : 0;
	out->start = r->has_start ? r->start : 0;
	out->end = r->has_end ? r->end : META_LOCKS_EOF;
	out->wait_id = r->has_wait_id ? r->wait_id : 0;
	out->pid = r->has_pid ? r->pid : 0;
	out->kind = (uint8_t)r->kind;
	out->type = (uint8_t)r->type;
	return 0;
}

int meta_fsm_lock_apply(struct meta_ns_state *st, uint32_t method, uint64_t session,
			const Godfs__Lock *r, struct meta_fsm_result *res)
{
	Godfs__LockResp m = GODFS__LOCK_RESP__INIT;
	struct meta_lock k;
	bool queued = false;
	int rc;

	if (session == 0 || !meta_ns_session_find(st, session))
		return GD_ENOSESSION;
	rc = from_wire(r, session, &k);
	if (rc)
		return rc;
	if (method == M(LOCK_CANCEL)) {
		if (!st->locks)
			return GD_ENOENT;
		rc = meta_locks_cancel(st->locks, r->ino, session, k.wait_id, &res->grants);
	} else {
		if (!st->locks && k.type == META_LOCK_UNLOCK)
			return 0;
		if (!st->locks && (rc = meta_locks_new(&st->locks)) != 0)
			return rc;
		rc = meta_locks_set(st->locks, r->ino, &k, r->has_wait && r->wait, &queued,
				    &res->grants);
	}
	if (rc)
		return rc;
	m.has_status = 1;
	m.has_queued = queued;
	m.queued = queued;
	return meta_fsm_result_pack(res, &m.base);
}

int meta_fsm_lock_test(const struct meta_ns_state *st, const Godfs__Lock *r,
		       struct meta_fsm_result *res)
{
	Godfs__LockResp m = GODFS__LOCK_RESP__INIT;
	uint64_t session = r->has_session_id ? r->session_id : 0;
	struct meta_lock k, got;
	int rc = from_wire(r, session, &k);

	if (rc)
		return rc;
	m.has_status = m.has_type = 1;
	m.type = GODFS__LOCK_TYPE__LOCK_UNLOCK;
	if (meta_locks_test(st->locks, r->ino, &k, &got)) {
		m.type = (Godfs__LockType)got.type;
		m.has_start = m.has_end = m.has_pid = m.has_session_id = 1;
		m.start = got.start;
		m.end = got.end;
		m.pid = got.session == session ? got.pid : 0;
		m.session_id = got.session;
	}
	return meta_fsm_result_pack(res, &m.base);
}

int meta_fsm_lock_expire(struct meta_ns_state *st, uint64_t session,
			 struct meta_fsm_result *res)
{
	return meta_locks_drop_session(st->locks, session, &res->grants);
}
