/* Unit tests of the FSM's lock table (meta/meta_locks.c): conflicts by kind
 * and owner, POSIX split and merge, flock conversion, waiters granted in
 * arrival order, deadlock detection (a real cycle only), a session's locks
 * dropped with grants, the bounds (GD_ENOLCK), and the snapshot form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_fsm.h"
#include "meta_locks.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

#define EOF_ META_LOCKS_EOF
#define R META_LOCK_READ
#define W META_LOCK_WRITE
#define U META_LOCK_UNLOCK

static struct meta_lock lk(uint64_t session, uint64_t owner, uint8_t type, uint64_t start,
			   uint64_t end)
{
	struct meta_lock l = { .session = session, .owner = owner, .start = start, .end = end,
			       .pid = 100 + (uint32_t)owner, .kind = META_LOCK_POSIX, .type = type };
	return l;
}

static struct meta_lock fl(uint64_t session, uint64_t owner, uint8_t type)
{
	struct meta_lock l = lk(session, owner, type, 0, EOF_);
	l.kind = META_LOCK_FLOCK;
	return l;
}

/* set without waiting */
static int set(struct meta_locks *l, uint64_t ino, struct meta_lock r)
{
	struct meta_locks_grants g = { 0 };
	bool queued;
	int rc = meta_locks_set(l, ino, &r, false, &queued, &g);

	assert_false(queued);
	meta_locks_grants_release(&g);
	return rc;
}

/* set with waiting under wait_id; *g collects grants */
static int set_wait(struct meta_locks *l, uint64_t ino, struct meta_lock r, uint64_t wait_id,
		    bool *queued, struct meta_locks_grants *g)
{
	r.wait_id = wait_id;
	return meta_locks_set(l, ino, &r, true, queued, g);
}

static bool holds(struct meta_locks *l, uint64_t ino, uint64_t session, uint64_t owner,
		  uint8_t type, uint64_t start, uint64_t end)
{
	/* a write probe by another owner conflicts with any lock of the range */
	struct meta_lock probe = lk(999, 999, W, start, end), got;

	if (!meta_locks_test(l, ino, &probe, &got))
		return false;
	return got.session == session && got.owner == owner && got.type == type &&
	       got.start <= start && got.end >= end;
}

static void test_posix_conflicts(void **state)
{
	struct meta_locks *l;
	struct meta_lock got;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	assert_int_equal(set(l, 5, lk(1, 1, R, 0, 99)), 0);
	/* shared shares, across sessions */
	assert_int_equal(set(l, 5, lk(2, 7, R, 50, 150)), 0);
	/* exclusive excludes */
	assert_int_equal(set(l, 5, lk(2, 7, W, 90, 95)), GD_EAGAIN);
	assert_int_equal(set(l, 5, lk(3, 1, W, 100, 149)), GD_EAGAIN);
	assert_int_equal(set(l, 5, lk(3, 1, W, 151, 200)), 0);
	/* the same owner number in another session is another owner */
	assert_int_equal(set(l, 5, lk(2, 1, W, 0, 0)), GD_EAGAIN);
	/* another inode, another kind: no conflict */
	assert_int_equal(set(l, 6, lk(2, 7, W, 0, EOF_)), 0);
	assert_int_equal(set(l, 5, fl(2, 7, W)), 0);
	/* F_GETLK names the holder */
	struct meta_lock q = lk(4, 4, W, 120, 120);
	assert_true(meta_locks_test(l, 5, &q, &got));
	assert_int_equal(got.session, 2);
	assert_int_equal(got.start, 50);
	q = lk(4, 4, R, 0, 10);
	assert_false(meta_locks_test(l, 5, &q, &got));
	/* bad requests */
	assert_int_equal(set(l, 5, lk(0, 1, R, 0, 1)), GD_EINVAL);
	assert_int_equal(set(l, 5, lk(1, 1, R, 5, 4)), GD_EINVAL);
	assert_int_equal(set(l, 0, lk(1, 1, R, 0, 4)), GD_EINVAL);
	meta_locks_free(l);
}

static void test_posix_split_merge(void **state)
{
	struct meta_locks *l;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	assert_int_equal(set(l, 5, lk(1, 1, W, 0, 99)), 0);
	/* unlock the middle: two pieces */
	assert_int_equal(set(l, 5, lk(1, 1, U, 40, 59)), 0);
	assert_int_equal(meta_locks_count(l), 2);
	assert_true(holds(l, 5, 1, 1, W, 0, 39));
	assert_true(holds(l, 5, 1, 1, W, 60, 99));
	assert_int_equal(set(l, 5, lk(2, 2, W, 40, 59)), 0);
	assert_int_equal(set(l, 5, lk(2, 2, U, 0, EOF_)), 0);
	/* downgrade a piece: the owner's own locks never conflict */
	assert_int_equal(set(l, 5, lk(1, 1, R, 30, 69)), 0);
	assert_int_equal(meta_locks_count(l), 3);
	/* the same type again over everything: one lock */
	assert_int_equal(set(l, 5, lk(1, 1, W, 0, 99)), 0);
	assert_int_equal(meta_locks_count(l), 1);
	/* adjacent ranges of one type join */
	assert_int_equal(set(l, 5, lk(1, 1, W, 100, 199)), 0);
	assert_int_equal(meta_locks_count(l), 1);
	assert_true(holds(l, 5, 1, 1, W, 0, 199));
	/* to the end of the file */
	assert_int_equal(set(l, 5, lk(1, 1, W, 200, EOF_)), 0);
	assert_int_equal(meta_locks_count(l), 1);
	assert_int_equal(set(l, 5, lk(1, 1, U, 0, EOF_)), 0);
	assert_int_equal(meta_locks_count(l), 0);
	assert_int_equal(meta_locks_session_count(l, 1), 0);
	meta_locks_free(l);
}

static void test_flock(void **state)
{
	struct meta_locks *l;
	struct meta_locks_grants g = { 0 };
	bool queued;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	assert_int_equal(set(l, 5, fl(1, 1, R)), 0);
	assert_int_equal(set(l, 5, fl(2, 2, R)), 0);
	assert_int_equal(set(l, 5, fl(2, 3, W)), GD_EAGAIN);
	/* a conversion that fails has dropped the old lock (Linux does too) */
	assert_int_equal(set(l, 5, fl(2, 2, W)), GD_EAGAIN);
	assert_int_equal(meta_locks_count(l), 1);
	/* a blocking exclusive waits, granted when the shared one goes */
	assert_int_equal(set_wait(l, 5, fl(2, 3, W), 77, &queued, &g), 0);
	assert_true(queued);
	assert_true(meta_locks_waiting(l, 5, 2, 77));
	/* a resend of the same wait is the same wait */
	assert_int_equal(set_wait(l, 5, fl(2, 3, W), 77, &queued, &g), 0);
	assert_true(queued);
	assert_int_equal(meta_locks_count(l), 2);
	assert_int_equal(g.n, 0);
	assert_int_equal(set(l, 5, fl(1, 1, U)), 0);
	/* the grant came with that unlock; test the state */
	assert_false(meta_locks_waiting(l, 5, 2, 77));
	{
		struct meta_lock probe = fl(9, 9, R), got;
		assert_true(meta_locks_test(l, 5, &probe, &got));
		assert_int_equal(got.session, 2);
		assert_int_equal(got.owner, 3);
		assert_int_equal(got.type, W);
	}
	meta_locks_grants_release(&g);
	meta_locks_free(l);
}

static void test_fifo(void **state)
{
	struct meta_locks *l;
	struct meta_locks_grants g = { 0 };
	bool queued;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	assert_int_equal(set(l, 5, lk(1, 1, R, 0, 9)), 0);
	/* a writer waits for the reader */
	assert_int_equal(set_wait(l, 5, lk(2, 2, W, 0, 9), 21, &queued, &g), 0);
	assert_true(queued);
	/* a new blocking reader queues behind the writer (no starvation)... */
	assert_int_equal(set_wait(l, 5, lk(3, 3, R, 0, 9), 31, &queued, &g), 0);
	assert_true(queued);
	/* ...but a try-lock looks at the held locks only */
	assert_int_equal(set(l, 5, lk(4, 4, R, 5, 5)), 0);
	assert_int_equal(set(l, 5, lk(4, 4, U, 0, EOF_)), 0);
	/* the holder itself is never queued behind a waiter it blocks */
	assert_int_equal(set_wait(l, 5, lk(1, 1, R, 0, 19), 11, &queued, &g), 0);
	assert_false(queued);
	/* cancelling the reader, then releasing: the writer is granted, alone */
	assert_int_equal(meta_locks_cancel(l, 5, 3, 31, &g), 0);
	assert_int_equal(meta_locks_cancel(l, 5, 3, 31, &g), GD_ENOENT);
	assert_int_equal(set_wait(l, 5, lk(3, 3, R, 0, 9), 32, &queued, &g), 0);
	assert_true(queued);
	assert_int_equal(g.n, 0);
	{
		struct meta_lock un = lk(1, 1, U, 0, EOF_);
		assert_int_equal(meta_locks_set(l, 5, &un, false, &queued, &g), 0);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v[0].session, 2);
	assert_int_equal(g.v[0].wait_id, 21);
	assert_true(meta_locks_waiting(l, 5, 3, 32));
	{
		struct meta_lock un = lk(2, 2, U, 0, EOF_);
		assert_int_equal(meta_locks_set(l, 5, &un, false, &queued, &g), 0);
	}
	assert_int_equal(g.n, 2);
	assert_int_equal(g.v[1].session, 3);
	assert_int_equal(g.v[1].wait_id, 32);
	meta_locks_grants_release(&g);
	meta_locks_free(l);
}

static void test_deadlock(void **state)
{
	struct meta_locks *l;
	struct meta_locks_grants g = { 0 };
	bool queued;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	/* A holds byte 100, B holds byte 200 (two mounts) */
	assert_int_equal(set(l, 5, lk(1, 10, W, 100, 100)), 0);
	assert_int_equal(set(l, 5, lk(2, 20, W, 200, 200)), 0);
	/* no cycle yet: A waits for B */
	assert_int_equal(set_wait(l, 5, lk(1, 10, W, 200, 200), 1, &queued, &g), 0);
	assert_true(queued);
	/* B waiting for A closes the cycle */
	assert_int_equal(set_wait(l, 5, lk(2, 20, W, 100, 100), 2, &queued, &g), GD_EDEADLK);
	assert_false(queued);
	/* another owner of B's session (an OFD lock, another process) waiting
	 * for A is no deadlock: it is not who A waits for */
	assert_int_equal(set_wait(l, 5, lk(2, 21, W, 100, 100), 3, &queued, &g), 0);
	assert_true(queued);
	/* flock has no deadlock detection (as on Linux) */
	assert_int_equal(set(l, 7, fl(1, 10, W)), 0);
	assert_int_equal(set(l, 8, fl(2, 20, W)), 0);
	assert_int_equal(set_wait(l, 8, fl(1, 10, W), 4, &queued, &g), 0);
	assert_true(queued);
	assert_int_equal(set_wait(l, 7, fl(2, 20, W), 5, &queued, &g), 0);
	assert_true(queued);
	/* a three-owner cycle across inodes */
	assert_int_equal(set(l, 9, lk(3, 30, W, 0, 0)), 0);
	assert_int_equal(set_wait(l, 9, lk(2, 20, W, 0, 0), 6, &queued, &g), 0); /* B -> C */
	assert_true(queued);
	/* C -> A -> B -> C */
	assert_int_equal(set_wait(l, 5, lk(3, 30, W, 100, 100), 7, &queued, &g), GD_EDEADLK);
	meta_locks_grants_release(&g);
	meta_locks_free(l);
}

static void test_drop_session(void **state)
{
	struct meta_locks *l;
	struct meta_locks_grants g = { 0 };
	bool queued;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	assert_int_equal(set(l, 5, lk(1, 1, W, 0, EOF_)), 0);
	assert_int_equal(set(l, 6, fl(1, 2, W)), 0);
	assert_int_equal(set_wait(l, 5, lk(2, 1, W, 0, 0), 9, &queued, &g), 0);
	assert_int_equal(set_wait(l, 6, fl(2, 1, R), 10, &queued, &g), 0);
	assert_int_equal(set_wait(l, 6, fl(3, 1, R), 11, &queued, &g), 0);
	assert_int_equal(set_wait(l, 5, lk(1, 3, R, 0, 0), 12, &queued, &g), 0);
	assert_int_equal(meta_locks_session_count(l, 1), 3);
	assert_int_equal(meta_locks_drop_session(l, 1, &g), 0);
	assert_int_equal(meta_locks_session_count(l, 1), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(meta_locks_count(l), 3);
	assert_int_equal(meta_locks_drop_session(l, 2, &g), 0);
	assert_int_equal(meta_locks_drop_session(l, 3, &g), 0);
	assert_int_equal(meta_locks_count(l), 0);
	meta_locks_grants_release(&g);
	meta_locks_free(l);
}

static void test_bounds(void **state)
{
	struct meta_locks *l;
	unsigned i;
	int rc = 0;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	/* every other byte: no merging */
	for (i = 0; i <= META_LOCKS_INODE_MAX && rc == 0; i++)
		rc = set(l, 5, lk(1, 1, R, 2 * i, 2 * i));
	assert_int_equal(rc, GD_ENOLCK);
	assert_true(meta_locks_count(l) <= META_LOCKS_INODE_MAX);
	/* an unlock that would split past the bound is refused too */
	rc = 0;
	assert_int_equal(set(l, 6, lk(1, 1, R, 0, EOF_)), 0);
	for (i = 0; i <= META_LOCKS_SESSION_MAX && rc == 0; i++)
		rc = set(l, 6, lk(1, 1, U, 10 * (i + 1), 10 * (i + 1)));
	assert_int_equal(rc, GD_ENOLCK);
	assert_true(meta_locks_session_count(l, 1) <= META_LOCKS_SESSION_MAX);
	/* another session still may */
	assert_int_equal(set(l, 7, lk(2, 1, R, 0, 0)), 0);
	meta_locks_free(l);
}

static void test_snapshot_form(void **state)
{
	struct meta_locks *l, *m;
	struct meta_locks_grants g = { 0 };
	uint8_t *a, *b;
	size_t alen, blen;
	bool queued;

	(void)state;
	assert_int_equal(meta_locks_new(&l), 0);
	assert_int_equal(set(l, 9, lk(1, 1, W, 0, 99)), 0);
	assert_int_equal(set(l, 5, fl(2, 2, R)), 0);
	assert_int_equal(set_wait(l, 9, lk(2, 2, R, 50, 50), 4, &queued, &g), 0);
	assert_int_equal(meta_locks_encode(l, &a, &alen), 0);
	assert_int_equal(meta_locks_decode(a, alen, &m), 0);
	assert_int_equal(meta_locks_count(m), 3);
	assert_true(meta_locks_waiting(m, 9, 2, 4));
	assert_int_equal(meta_locks_encode(m, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	/* every truncation and a few flipped bytes are refused, never crash */
	for (size_t n = 0; n < alen; n++) {
		struct meta_locks *x = NULL;
		assert_int_not_equal(meta_locks_decode(a, n, &x), 0);
	}
	a[8 + 8 + 4 + 4 + 5 * 8 + 4] = 7;   /* the kind of the first lock */
	{
		struct meta_locks *x = NULL;
		assert_int_equal(meta_locks_decode(a, alen, &x), GD_EPROTO);
	}
	/* an empty table */
	gd_free(b);
	meta_locks_free(m);
	assert_int_equal(meta_locks_encode(NULL, &b, &blen), 0);
	assert_int_equal(blen, 8);
	assert_int_equal(meta_locks_decode(b, blen, &m), 0);
	assert_int_equal(meta_locks_count(m), 0);
	gd_free(a);
	gd_free(b);
	meta_locks_grants_release(&g);
	meta_locks_free(l);
	meta_locks_free(m);
}

/* ---- through the FSM: Raft entries, snapshots, session expiry ---- */

static int fsm_apply(struct meta_fsm *f, uint32_t method, uint64_t session,
		     const ProtobufCMessage *req, struct meta_fsm_result *res)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	uint8_t rbuf[512], ebuf[1024];
	size_t len;

	e.has_method = 1;
	e.method = method;
	if (req) {
		e.has_request = 1;
		e.request.len = protobuf_c_message_pack(req, rbuf);
		e.request.data = rbuf;
	}
	if (method == GODFS__FSM_METHOD__M_FSM_SESSION_EXPIRE) {
		e.has_expire_session = 1;
		e.expire_session = session;
	} else if (session) {
		e.has_session_id = 1;
		e.session_id = session;
	}
	len = protobuf_c_message_pack(&e.base, ebuf);
	assert_int_equal(meta_fsm_apply(f, ebuf, len, res), 0);
	return res->status;
}

static Godfs__LockResp *lock_call(struct meta_fsm *f, uint32_t method, uint64_t session,
				  uint32_t type, bool wait, uint64_t wait_id, int want)
{
	Godfs__Lock r = GODFS__LOCK__INIT;
	struct meta_fsm_result res;
	Godfs__LockResp *out;

	r.has_session_id = r.has_ino = r.has_owner = r.has_pid = r.has_kind = r.has_type = 1;
	r.session_id = session;
	r.ino = 42;
	r.owner = 7;
	r.pid = 1000 + (uint32_t)session;
	r.kind = GODFS__LOCK_KIND__LOCK_POSIX;
	r.type = (Godfs__LockType)type;
	r.has_start = r.has_end = 1;
	r.start = 0;
	r.end = 9;
	r.has_wait = r.has_wait_id = 1;
	r.wait = wait;
	r.wait_id = wait_id;
	if (method == GODFS__METHOD__M_LOCK_GET)
		assert_int_equal(meta_fsm_query_msg(f, (uint16_t)method, &r.base, &res), 0);
	else
		fsm_apply(f, method, session, &r.base, &res);
	assert_int_equal(res.status, want);
	out = godfs__lock_resp__unpack(NULL, res.resp_len, res.resp);
	assert_non_null(out);
	meta_fsm_result_release(&res);
	return out;
}

static void test_fsm(void **state)
{
	Godfs__Hello h = GODFS__HELLO__INIT;
	struct meta_fsm_result res;
	struct meta_fsm *f, *g;
	Godfs__LockResp *r;
	void *a, *b;
	size_t alen, blen;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	h.host = "h";
	for (uint64_t s = 1; s <= 2; s++) {
		assert_int_equal(fsm_apply(f, GODFS__METHOD__M_HELLO, s, &h.base, &res), 0);
		meta_fsm_result_release(&res);
	}
	/* an unknown session may not lock */
	r = lock_call(f, GODFS__METHOD__M_LOCK, 9, W, false, 0, GD_ENOSESSION);
	godfs__lock_resp__free_unpacked(r, NULL);
	r = lock_call(f, GODFS__METHOD__M_LOCK, 1, W, false, 0, 0);
	assert_false(r->queued);
	godfs__lock_resp__free_unpacked(r, NULL);
	r = lock_call(f, GODFS__METHOD__M_LOCK, 2, R, false, 0, GD_EAGAIN);
	godfs__lock_resp__free_unpacked(r, NULL);
	r = lock_call(f, GODFS__METHOD__M_LOCK, 2, R, true, 5, 0);
	assert_true(r->queued);
	godfs__lock_resp__free_unpacked(r, NULL);
	/* F_GETLK: the holder's pid only for its own session */
	r = lock_call(f, GODFS__METHOD__M_LOCK_GET, 2, R, false, 0, 0);
	assert_int_equal(r->type, GODFS__LOCK_TYPE__LOCK_WRITE);
	assert_int_equal(r->session_id, 1);
	assert_int_equal(r->pid, 0);
	godfs__lock_resp__free_unpacked(r, NULL);
	/* the table is in snapshots: restore gives the same bytes */
	assert_int_equal(meta_fsm_snapshot(f, &a, &alen), 0);
	assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
	assert_int_equal(meta_fsm_restore(g, a, alen), 0);
	assert_int_equal(meta_fsm_snapshot(g, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	/* the holder's session expires: its lock goes in the same entry and
	 * the waiter is granted (on both copies alike) */
	assert_int_equal(fsm_apply(g, GODFS__FSM_METHOD__M_FSM_SESSION_EXPIRE, 1, NULL, &res), 0);
	assert_int_equal(res.grants.n, 1);
	assert_int_equal(res.grants.v[0].session, 2);
	assert_int_equal(res.grants.v[0].wait_id, 5);
	meta_fsm_result_release(&res);
	r = lock_call(g, GODFS__METHOD__M_LOCK_GET, 2, W, false, 0, 0);
	assert_int_equal(r->type, GODFS__LOCK_TYPE__LOCK_UNLOCK);   /* its own lock only */
	godfs__lock_resp__free_unpacked(r, NULL);
	r = lock_call(g, GODFS__METHOD__M_LOCK_GET, 3, W, false, 0, 0);
	assert_int_equal(r->type, GODFS__LOCK_TYPE__LOCK_READ);
	godfs__lock_resp__free_unpacked(r, NULL);
	/* a cancel of a wait already granted */
	r = lock_call(g, GODFS__METHOD__M_LOCK_CANCEL, 2, R, true, 5, GD_ENOENT);
	godfs__lock_resp__free_unpacked(r, NULL);
	raft_free(a);
	raft_free(b);
	meta_fsm_free(f);
	meta_fsm_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posix_conflicts),
		cmocka_unit_test(test_posix_split_merge),
		cmocka_unit_test(test_flock),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_deadlock),
		cmocka_unit_test(test_drop_session),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_snapshot_form),
		cmocka_unit_test(test_fsm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
