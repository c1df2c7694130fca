/* The method table (gd_methods): one row for every method of wire.proto, rows
 * whose flags fit their messages, who may call what; and gd_server's use of
 * it over loopback: each request decoded once and handed over as a message,
 * a method this daemon does not serve or bulk data on a method that carries
 * none answered with an error, the connection kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_methods.h"
#include "gd_server.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_ROLES ((1u << GD_ROLE_COUNT) - 1u)

/* An optional uint64 field numbered num named name, or NULL. */
static const ProtobufCFieldDescriptor *u64_field(const ProtobufCMessageDescriptor *d,
						 unsigned num, const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, num);

	if (!f || strcmp(f->name, name) != 0 || f->type != PROTOBUF_C_TYPE_UINT64 ||
	    f->label != PROTOBUF_C_LABEL_OPTIONAL)
		return NULL;
	return f;
}

/* Every value of wire.proto's enum Method has exactly one row (a method added
 * to wire.proto without a row fails here), and no row is for anything else. */
static void test_every_method_has_one_row(void **state)
{
	const ProtobufCEnumDescriptor *d = &godfs__method__descriptor;
	unsigned rows = 0, methods = 0;

	(void)state;
	for (unsigned i = 0; i < d->n_values; i++) {
		const ProtobufCEnumValue *v = &d->values[i];
		const struct gd_method *m = gd_method_get((uint32_t)v->value);

		assert_true(v->value >= 0 && v->value <= GD_METHOD_ID_MAX);
		if (v->value == GODFS__METHOD__M_NONE) {
			assert_null(m);
			continue;
		}
		methods++;
		assert_non_null(m);
		assert_int_equal(m->id, v->value);
		/* the enum says "M_LOOKUP", the row "LOOKUP" */
		assert_string_equal(v->name + 2, m->name);
		assert_string_equal(gd_method_name(m->id), m->name);
		assert_non_null(m->req);
		assert_non_null(m->resp);
		/* every response can carry a status (gd_reply_status, gd_msg_status) */
		assert_non_null(protobuf_c_message_descriptor_get_field_by_name(m->resp, "status"));
		assert_true(m->served_by != 0 && (m->served_by & ~GD_SERVE_ANY) == 0);
		assert_true(m->roles != 0 && (m->roles & ~ALL_ROLES) == 0);
	}
	for (uint32_t id = 0; id <= GD_METHOD_ID_MAX + 10; id++) {
		const struct gd_method *m = gd_method_get(id);

		if (!m)
			continue;
		rows++;
		assert_non_null(protobuf_c_enum_descriptor_get_value(d, (int)id));
	}
	assert_int_equal(rows, methods);
	assert_null(gd_method_get(UINT32_MAX));
	assert_string_equal(gd_method_name(9999), "?");
}

/* The flags say what the messages hold: exactly-once methods carry req_seq
 * and req_ack, every request with a session_id field is bound to its
 * connection's session (HELLO claims one), bulk data only where it goes. */
static void test_flags_fit_messages(void **state)
{
	(void)state;
	for (uint32_t id = 0; id <= GD_METHOD_ID_MAX; id++) {
		const struct gd_method *m = gd_method_get(id);
		bool has_seq, has_session;

		if (!m)
			continue;
		has_seq = u64_field(m->req, 100, "req_seq") && u64_field(m->req, 101, "req_ack");
		assert_int_equal(!!(m->flags & GD_METHOD_ONCE), has_seq && m->id != GODFS__METHOD__M_GETXATTR);
		has_session = protobuf_c_message_descriptor_get_field_by_name(m->req, "session_id");
		if (id == GODFS__METHOD__M_HELLO)
			assert_false(m->flags & GD_METHOD_SESSION);
		else
			assert_int_equal(!!(m->flags & GD_METHOD_SESSION), has_session);
		if (m->flags & GD_METHOD_SESSION) {
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field_by_name(m->req, "session_id");
			assert_int_equal(f->type, PROTOBUF_C_TYPE_UINT64);
			assert_int_equal(f->label, PROTOBUF_C_LABEL_OPTIONAL);
		}
		if (m->flags & GD_METHOD_REQ_DATA)
			assert_true(id == GODFS__METHOD__M_CS_WRITE || id == GODFS__METHOD__M_PING);
		if (m->flags & GD_METHOD_RESP_DATA)
			assert_true(id == GODFS__METHOD__M_CS_READ || id == GODFS__METHOD__M_PING);
		/* a chunkd method is a chunkd's alone, and the other way round */
		if (id >= GODFS__METHOD__M_CS_WRITE)
			assert_int_equal(m->served_by, GD_SERVE_CHUNKD);
		else if (id > GODFS__METHOD__M_PING)
			assert_int_equal(m->served_by, GD_SERVE_META);
		else
			assert_int_equal(m->served_by, GD_SERVE_ANY);
	}
}

/* Who may call what, as decided from who calls it today. */
static void test_roles(void **state)
{
	const struct gd_method *m;

	(void)state;
	for (int r = 0; r < GD_ROLE_COUNT; r++) {
		assert_true(gd_method_allowed(gd_method_get(GODFS__METHOD__M_HELLO), r));
		assert_true(gd_method_allowed(gd_method_get(GODFS__METHOD__M_PING), r));
	}
	/* the chunkd registry: chunkds only (no re-registering by a mount) */
	m = gd_method_get(GODFS__METHOD__M_CS_REGISTER);
	assert_int_equal(m->roles, GD_ROLE_BIT(GD_ROLE_CHUNKD));
	assert_int_equal(gd_method_get(GODFS__METHOD__M_CS_HEARTBEAT)->roles,
			 GD_ROLE_BIT(GD_ROLE_CHUNKD));
	assert_int_equal(gd_method_get(GODFS__METHOD__M_CS_REPORT_BAD)->roles,
			 GD_ROLE_BIT(GD_ROLE_CHUNKD));
	assert_int_equal(gd_method_get(GODFS__METHOD__M_ADMIN_STATUS)->roles,
			 GD_ROLE_BIT(GD_ROLE_ADMIN));
	/* writes: mounts, gateways and the next chunkd of a pipeline */
	m = gd_method_get(GODFS__METHOD__M_CS_WRITE);
	assert_true(gd_method_allowed(m, GD_ROLE_CLIENT));
	assert_true(gd_method_allowed(m, GD_ROLE_GATEWAY));
	assert_true(gd_method_allowed(m, GD_ROLE_PEER));
	assert_false(gd_method_allowed(m, GD_ROLE_CHUNKD));
	assert_false(gd_method_allowed(m, GD_ROLE_ADMIN));
	assert_false(gd_method_allowed(m, GD_ROLE_META));
	/* replication pulls read from a peer */
	assert_true(gd_method_allowed(gd_method_get(GODFS__METHOD__M_CS_READ), GD_ROLE_PEER));
	/* deleting a copy or importing one: never a mount, never a peer */
	for (uint32_t id = GODFS__METHOD__M_CS_DELETE; id <= GODFS__METHOD__M_CS_REPLICATE; id++) {
		m = gd_method_get(id);
		assert_false(gd_method_allowed(m, GD_ROLE_CLIENT));
		assert_false(gd_method_allowed(m, GD_ROLE_GATEWAY));
		assert_false(gd_method_allowed(m, GD_ROLE_PEER));
		assert_false(gd_method_allowed(m, GD_ROLE_CHUNKD));
	}
	/* an API key's fields: the admin and the gateway, never a client (a
	 * token holder would learn other keys' scopes) */
	m = gd_method_get(GODFS__METHOD__M_TOKEN_GET);
	assert_int_equal(m->roles, GD_ROLE_BIT(GD_ROLE_ADMIN) | GD_ROLE_BIT(GD_ROLE_GATEWAY));
	assert_false(m->flags & GD_METHOD_MUTATES);
	assert_int_equal(gd_method_get(GODFS__METHOD__M_TOKEN_CREATE)->roles,
			 GD_ROLE_BIT(GD_ROLE_ADMIN));
	/* godfs-admin looks up paths and sets goals; it creates nothing */
	assert_true(gd_method_allowed(gd_method_get(GODFS__METHOD__M_LOOKUP), GD_ROLE_ADMIN));
	assert_true(gd_method_allowed(gd_method_get(GODFS__METHOD__M_GETATTR), GD_ROLE_ADMIN));
	assert_true(gd_method_allowed(gd_method_get(GODFS__METHOD__M_SETATTR), GD_ROLE_ADMIN));
	assert_false(gd_method_allowed(gd_method_get(GODFS__METHOD__M_MKNOD), GD_ROLE_ADMIN));
	assert_false(gd_method_allowed(gd_method_get(GODFS__METHOD__M_WRITE_LEASE), GD_ROLE_ADMIN));
	/* a chunkd or a peer never touches the namespace */
	for (uint32_t id = GODFS__METHOD__M_SESSION_RENEW; id <= GODFS__METHOD__M_CHUNK_FAILED; id++) {
		m = gd_method_get(id);
		if (!m)
			continue;
		assert_true(gd_method_allowed(m, GD_ROLE_CLIENT));
		assert_true(gd_method_allowed(m, GD_ROLE_GATEWAY));
		assert_false(gd_method_allowed(m, GD_ROLE_CHUNKD));
		assert_false(gd_method_allowed(m, GD_ROLE_PEER));
		assert_false(gd_method_allowed(m, GD_ROLE_META));
	}
	assert_false(gd_method_allowed(NULL, GD_ROLE_CLIENT));
	assert_false(gd_method_allowed(gd_method_get(GODFS__METHOD__M_LOOKUP), GD_ROLE_COUNT));
	assert_false(gd_method_allowed(gd_method_get(GODFS__METHOD__M_LOOKUP), (enum gd_role)-1));
	/* read-only credentials: what changes nothing */
	assert_false(gd_method_get(GODFS__METHOD__M_LOOKUP)->flags & GD_METHOD_MUTATES);
	assert_false(gd_method_get(GODFS__METHOD__M_CS_READ)->flags & GD_METHOD_MUTATES);
	assert_true(gd_method_get(GODFS__METHOD__M_RENAME)->flags & GD_METHOD_MUTATES);
	assert_true(gd_method_get(GODFS__METHOD__M_CS_WRITE)->flags & GD_METHOD_MUTATES);
}

/* What a daemon takes, and what it answers at once. */
static void test_check(void **state)
{
	const struct gd_method *write = gd_method_get(GODFS__METHOD__M_CS_WRITE);
	const struct gd_method *reg = gd_method_get(GODFS__METHOD__M_CS_REGISTER);
	const char *why = NULL;

	(void)state;
	assert_int_equal(gd_method_check(write, GD_SERVE_CHUNKD, 4096, &why), 0);
	assert_int_equal(gd_method_check(write, GD_SERVE_META, 4096, &why), GD_ENOTSUP);
	assert_non_null(why);
	assert_int_equal(gd_method_check(reg, GD_SERVE_META, 0, &why), 0);
	assert_int_equal(gd_method_check(reg, GD_SERVE_META, 1, &why), GD_EPROTO);
	assert_non_null(why);
	assert_int_equal(gd_method_check(reg, GD_SERVE_CHUNKD, 0, &why), GD_ENOTSUP);
	assert_int_equal(gd_method_check(NULL, GD_SERVE_ANY, 0, &why), GD_ENOTSUP);
	assert_int_equal(gd_method_check(gd_method_get(GODFS__METHOD__M_HELLO), GD_SERVE_CHUNKD,
					 0, &why), 0);
}

/* The session and sequence numbers read through the table off any message. */
static void test_session_and_seq(void **state)
{
	Godfs__Open o = GODFS__OPEN__INIT;
	Godfs__Xattr x = GODFS__XATTR__INIT;
	Godfs__Hello h = GODFS__HELLO__INIT;
	const struct gd_method *open = gd_method_get(GODFS__METHOD__M_OPEN);
	uint64_t seq, ack;

	(void)state;
	assert_int_equal(gd_method_session(open, &o.base), 0);
	assert_true(gd_method_seq(open, &o.base, &seq, &ack));
	assert_int_equal(seq, 0);
	assert_int_equal(ack, 0);
	o.has_session_id = o.has_req_seq = o.has_req_ack = 1;
	o.session_id = 77;
	o.req_seq = 5;
	o.req_ack = 4;
	assert_int_equal(gd_method_session(open, &o.base), 77);
	assert_true(gd_method_seq(open, &o.base, &seq, &ack));
	assert_int_equal(seq, 5);
	assert_int_equal(ack, 4);
	/* a message that is not the method's own says nothing */
	assert_int_equal(gd_method_session(gd_method_get(GODFS__METHOD__M_RELEASE), &o.base), 0);
	assert_false(gd_method_seq(gd_method_get(GODFS__METHOD__M_SETXATTR), &o.base, &seq, &ack));
	/* SETXATTR: exactly-once, no session field (the connection's) */
	x.has_req_seq = 1;
	x.req_seq = 9;
	assert_int_equal(gd_method_session(gd_method_get(GODFS__METHOD__M_SETXATTR), &x.base), 0);
	assert_true(gd_method_seq(gd_method_get(GODFS__METHOD__M_SETXATTR), &x.base, &seq, &ack));
	assert_int_equal(seq, 9);
	/* GETXATTR has the fields (same message) but is a query: no seq */
	assert_false(gd_method_seq(gd_method_get(GODFS__METHOD__M_GETXATTR), &x.base, &seq, &ack));
	/* HELLO claims a session: not a session-bound request */
	h.has_session_id = 1;
	h.session_id = 77;
	assert_int_equal(gd_method_session(gd_method_get(GODFS__METHOD__M_HELLO), &h.base), 0);
}

/* ---- gd_server over loopback ---- */

struct rec {
	pthread_mutex_t lock;
	int handled;
	uint64_t last_nonce;      /* read off req->msg */
};

static void rec_handler(void *ctx, struct gd_request *req)
{
	struct rec *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->handled++;
	/* decoded once, by the server, as the method's message */
	if (req->msg && req->method && req->msg->descriptor == req->method->req &&
	    req->method->id == req->hdr.method) {
		if (req->hdr.method == GODFS__METHOD__M_PING)
			r->last_nonce = ((const Godfs__Ping *)req->msg)->nonce;
		pthread_mutex_unlock(&r->lock);
		(void)gd_reply_status(req, 0);
	} else {
		pthread_mutex_unlock(&r->lock);
		(void)gd_reply_status(req, GD_EIO);
	}
	gd_request_free(req);
}

struct fixture {
	struct rec r;
	struct gd_server *s;
	char addr[64];
	struct gd_conn *c;
};

static int setup(void **state, unsigned serves, int workers)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gd_server_config cfg = {
		.listen = "127.0.0.1:0",
		.handler = rec_handler,
		.workers = workers,
		.serves = serves,
	};

	if (!f)
		return -1;
	pthread_mutex_init(&f->r.lock, NULL);
	cfg.ctx = &f->r;
	if (gd_server_start(&cfg, &f->s) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", gd_server_port(f->s));
	/* an --insecure process (gd_cred_set in main): the role each test's
	 * connection proves is the one it says */
	if (gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &f->c) != 0) {
		gd_server_stop(f->s);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup_meta(void **state)
{
	return setup(state, GD_SERVE_META, 0);
}

static int setup_chunkd(void **state)
{
	return setup(state, GD_SERVE_CHUNKD, 2);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gd_conn_close(f->c);
	gd_server_stop(f->s);
	pthread_mutex_destroy(&f->r.lock);
	free(f);
	return 0;
}

static int handled(struct fixture *f)
{
	int n;

	pthread_mutex_lock(&f->r.lock);
	n = f->r.handled;
	pthread_mutex_unlock(&f->r.lock);
	return n;
}

/* One call of method with an empty request of its own message (PING: nonce). */
static int call(struct fixture *f, uint16_t method, const void *data, size_t len, uint64_t nonce)
{
	const struct gd_method *m = gd_method_get(method);
	uint64_t raw[64];
	ProtobufCMessage *req = (ProtobufCMessage *)raw;
	struct gd_call_result res;
	int rc;

	assert_true(m->req->sizeof_message <= sizeof(raw));
	m->req->message_init(req);
	if (method == GODFS__METHOD__M_PING) {
		((Godfs__Ping *)req)->has_nonce = 1;
		((Godfs__Ping *)req)->nonce = nonce;
	}
	struct gd_call_args a = { .method = method, .req = req, .data = data, .data_len = len,
				  .resp_desc = m->resp, .timeout_ms = 5000 };
	rc = gd_call(f->c, &a, &res);
	if (rc == 0 || res.resp)
		assert_non_null(res.resp);
	gd_call_result_release(&res);
	return rc;
}

static void test_server_meta(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f, GODFS__METHOD__M_PING, NULL, 0, 4242), 0);
	assert_int_equal(f->r.last_nonce, 4242);
	assert_int_equal(call(f, GODFS__METHOD__M_LOOKUP, NULL, 0, 0), 0);
	assert_int_equal(handled(f), 2);
	/* chunkd's methods are not the meta's: answered, not handled */
	assert_int_equal(call(f, GODFS__METHOD__M_CS_WRITE, "abcd", 4, 0), GD_ENOTSUP);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_DELETE, NULL, 0, 0), GD_ENOTSUP);
	/* bulk data on a method that carries none */
	assert_int_equal(call(f, GODFS__METHOD__M_GETATTR, "abcd", 4, 0), GD_EPROTO);
	assert_int_equal(handled(f), 2);
	/* the connection is still good */
	assert_false(gd_conn_failed(f->c));
	assert_int_equal(call(f, GODFS__METHOD__M_PING, "xy", 2, 7), 0);
	assert_int_equal(f->r.last_nonce, 7);
	assert_int_equal(handled(f), 3);
}

static void test_server_chunkd(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f, GODFS__METHOD__M_HELLO, NULL, 0, 0), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_WRITE, "abcd", 4, 0), 0);
	assert_int_equal(handled(f), 2);
	/* the meta's methods are not a chunkd's */
	assert_int_equal(call(f, GODFS__METHOD__M_CS_REGISTER, NULL, 0, 0), GD_ENOTSUP);
	assert_int_equal(call(f, GODFS__METHOD__M_ADMIN_STATUS, NULL, 0, 0), GD_ENOTSUP);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_READ, "abcd", 4, 0), GD_EPROTO);
	assert_int_equal(handled(f), 2);
	/* many refusals: answered every time (the log is rate-limited) */
	for (int i = 0; i < 50; i++)
		assert_int_equal(call(f, GODFS__METHOD__M_MKDIR, NULL, 0, 0), GD_ENOTSUP);
	assert_false(gd_conn_failed(f->c));
	assert_int_equal(call(f, GODFS__METHOD__M_PING, NULL, 0, 1), 0);
	assert_int_equal(handled(f), 3);
}

/* A role the table does not allow is refused before the handler, whatever
 * the request, and the connection stays; the allowed roles get through. */
static void test_server_roles(void **state)
{
	struct fixture *f = *state;

	/* a mount may not register a chunkd or ask for the admin status */
	assert_int_equal(call(f, GODFS__METHOD__M_CS_REGISTER, NULL, 0, 0), GD_EPERM);
	assert_int_equal(call(f, GODFS__METHOD__M_ADMIN_STATUS, NULL, 0, 0), GD_EPERM);
	assert_int_equal(call(f, GODFS__METHOD__M_TOKEN_CREATE, NULL, 0, 0), GD_EPERM);
	assert_int_equal(handled(f), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_MKDIR, NULL, 0, 0), 0);
	assert_int_equal(handled(f), 1);
	assert_false(gd_conn_failed(f->c));
	gd_conn_close(f->c);

	/* a chunkd may register, and may not touch the namespace */
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CHUNKD, &f->c), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_REGISTER, NULL, 0, 0), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_MKDIR, NULL, 0, 0), GD_EPERM);
	assert_int_equal(call(f, GODFS__METHOD__M_LOOKUP, NULL, 0, 0), GD_EPERM);
	assert_int_equal(call(f, GODFS__METHOD__M_PING, NULL, 0, 3), 0);
	assert_int_equal(handled(f), 3);
	gd_conn_close(f->c);

	/* an admin: status and goals, no files */
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_ADMIN, &f->c), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_ADMIN_STATUS, NULL, 0, 0), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_SETATTR, NULL, 0, 0), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_WRITE_LEASE, NULL, 0, 0), GD_EPERM);
	assert_int_equal(handled(f), 5);
}

/* On a chunkd: a peer may write but not delete a copy; a chunkd (its meta
 * link's role) may not write. */
static void test_server_chunkd_roles(void **state)
{
	struct fixture *f = *state;

	gd_conn_close(f->c);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_PEER, &f->c), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_WRITE, "abcd", 4, 0), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_READ, NULL, 0, 0), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_DELETE, NULL, 0, 0), GD_EPERM);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_REPLICATE, NULL, 0, 0), GD_EPERM);
	assert_int_equal(handled(f), 2);
	gd_conn_close(f->c);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CHUNKD, &f->c), 0);
	assert_int_equal(call(f, GODFS__METHOD__M_CS_WRITE, "abcd", 4, 0), GD_EPERM);
	assert_int_equal(handled(f), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_method_has_one_row),
		cmocka_unit_test(test_flags_fit_messages),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_session_and_seq),
		cmocka_unit_test_setup_teardown(test_server_meta, setup_meta, teardown),
		cmocka_unit_test_setup_teardown(test_server_chunkd, setup_chunkd, teardown),
		cmocka_unit_test_setup_teardown(test_server_roles, setup_meta, teardown),
		cmocka_unit_test_setup_teardown(test_server_chunkd_roles, setup_chunkd, teardown),
	};

	gd_log_set_level(GD_LOG_ERROR);
	gd_cred_set(NULL, NULL, true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
