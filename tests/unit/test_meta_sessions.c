/* meta_sessions: a session is bound to the connection that created or
 * reclaimed it (meta_sessions_check, with the session a request names read
 * through the method table as meta_dispatch does); a write lease is held at
 * the version it was granted at (meta_sessions_holds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_methods.h"
#include "gd_status.h"
#include "meta_sessions.h"
#include "proto/wire.pb-c.h"

/* What meta_dispatch decides for msg of method on a connection bound to own. */
static int check(struct meta_sessions *s, uint64_t own, uint32_t method,
		 const ProtobufCMessage *msg)
{
	return meta_sessions_check(s, own, gd_method_session(gd_method_get(method), msg));
}

static void test_bound(void **state)
{
	struct meta_sessions *s;
	Godfs__Open o = GODFS__OPEN__INIT;
	Godfs__SessionRenew r = GODFS__SESSION_RENEW__INIT;
	Godfs__Hello h = GODFS__HELLO__INIT;
	uint64_t ids[4];

	(void)state;
	assert_int_equal(meta_sessions_new(&s), 0);
	assert_int_equal(meta_sessions_add(s, 100, 0), 0);
	assert_int_equal(meta_sessions_add(s, 200, 0), 0);

	/* no session named: the connection's own is used */
	assert_int_equal(check(s, 100, GODFS__METHOD__M_OPEN, &o.base), 0);
	assert_int_equal(check(s, 0, GODFS__METHOD__M_OPEN, &o.base), 0);
	/* its own session */
	o.has_session_id = 1;
	o.session_id = 100;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_OPEN, &o.base), 0);
	/* another client's session, from a client, an admin (no session), anyone */
	o.session_id = 200;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_OPEN, &o.base), GD_EPERM);
	assert_int_equal(check(s, 0, GODFS__METHOD__M_OPEN, &o.base), GD_EPERM);
	r.has_session_id = 1;
	r.session_id = 200;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_SESSION_RENEW, &r.base), GD_EPERM);
	r.session_id = 100;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_SESSION_RENEW, &r.base), 0);
	/* a session this leader does not know: the handler answers GD_ENOSESSION
	 * and the client starts a new one */
	o.session_id = 300;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_OPEN, &o.base), 0);
	/* HELLO is how a connection claims its session: not checked here */
	h.has_session_id = 1;
	h.session_id = 200;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_HELLO, &h.base), 0);
	/* a session being expired counts as unknown */
	assert_int_equal(meta_sessions_take_expired(s, 1000000, 10, ids, 4), 2);
	o.session_id = 200;
	assert_int_equal(check(s, 100, GODFS__METHOD__M_OPEN, &o.base), 0);
	meta_sessions_unmark(s, 200);
	assert_int_equal(check(s, 100, GODFS__METHOD__M_OPEN, &o.base), GD_EPERM);
	meta_sessions_free(s);
}

/* A session holds a lease at the chunk and version it was granted at only:
 * not at another version or chunk, not on another index, not another
 * session's, not once it ended, not once the session is being expired. */
static void test_lease_holds(void **state)
{
	struct meta_sessions *s;
	struct meta_sessions_grant g = { 7, 0, 1000, 3 }, x;
	uint64_t ids[2];

	(void)state;
	assert_int_equal(meta_sessions_new(&s), 0);
	assert_int_equal(meta_sessions_add(s, 100, 0), 0);
	assert_int_equal(meta_sessions_add(s, 200, 0), 0);
	assert_false(meta_sessions_holds(s, 100, &g));
	assert_int_equal(meta_sessions_lease(s, 100, &g, 5000), 0);
	assert_true(meta_sessions_holds(s, 100, &g));
	assert_false(meta_sessions_holds(s, 200, &g));
	assert_false(meta_sessions_holds(s, 0, &g));
	x = g;
	x.version = 2;
	assert_false(meta_sessions_holds(s, 100, &x));
	x = g;
	x.chunk_id = 1001;
	assert_false(meta_sessions_holds(s, 100, &x));
	x = g;
	x.index = 1;
	assert_false(meta_sessions_holds(s, 100, &x));
	/* a newer grant on the same chunk replaces the older */
	x = g;
	x.version = 4;
	assert_int_equal(meta_sessions_lease(s, 100, &x, 6000), 0);
	assert_true(meta_sessions_holds(s, 100, &x));
	assert_false(meta_sessions_holds(s, 100, &g));
	/* ended */
	assert_int_equal(meta_sessions_expire_leases(s, 5999), 1);
	assert_true(meta_sessions_holds(s, 100, &x));
	assert_int_equal(meta_sessions_expire_leases(s, 6000), 0);
	assert_false(meta_sessions_holds(s, 100, &x));
	/* a session being expired holds nothing */
	assert_int_equal(meta_sessions_lease(s, 200, &g, 9000), 0);
	assert_true(meta_sessions_holds(s, 200, &g));
	assert_int_equal(meta_sessions_take_expired(s, 100000, 1000, ids, 2), 2);
	assert_false(meta_sessions_holds(s, 200, &g));
	meta_sessions_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_lease_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
