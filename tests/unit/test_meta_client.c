/* gd_meta_client against fake metas (gd_server on loopback): HELLO and the
 * session, roles without a session, leader following on HELLO and on calls,
 * reconnects after a meta restart (same session, open inodes re-claimed), a
 * forgotten session replaced and the request re-sent with the new id, the
 * renew thread, no meta at all, a meta that answers nothing (a call that
 * timed out gives its connection up), voters learnt from HELLO answers (each
 * answer's list replaces the last), many threads calling through a restart, and
 * a meta that refuses our key (at start: GD_EAUTH at once; another address
 * that accepts it is used; while running: retried until the key is right). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_meta_client.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_server.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SESSIONS 64
#define CHUNK (64ull << 20)

/* One fake meta. */
struct fake {
	pthread_mutex_t lock;
	struct gd_server *srv;
	int port;
	char addr[64];
	int leader;                    /* answers, or says GD_ENOTLEADER */
	char leader_addr[64];          /* named in GD_ENOTLEADER */
	uint64_t sessions[MAX_SESSIONS];
	int nsessions;
	uint64_t next_session;
	int hellos, renews, calls;
	int deaf;                      /* answers nothing (a partition): counts */
	int deaf_hellos, deaf_calls;
	size_t last_open_inodes;       /* of the last HELLO */
	int last_role;
	int last_auth_role;            /* req->auth->role of the last HELLO */
	const struct gd_auth_policy *auth; /* NULL: the process's policy */
	char metas[4][64];             /* the voters a HELLO answer lists */
	int nmetas;
};

/* The process's key (the fakes check it through gd_cred_policy()) and the
 * key of another cluster. */
static struct gd_keyring our_keys, other_keys;
static struct gd_auth_policy other_policy = { .keys = &other_keys };

static void make_keys(struct gd_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->n = 1;
	if (gd_random(kr->key[0].key, GD_KEY_LEN) != 0)
		abort();
	gd_key_set_id(&kr->key[0]);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int known(struct fake *f, uint64_t id)
{
	for (int i = 0; i < f->nsessions; i++)
		if (f->sessions[i] == id)
			return 1;
	return 0;
}

static void notleader(struct fake *f, struct gd_request *req)
{
	Godfs__StatusResp r = GODFS__STATUS_RESP__INIT;

	r.has_status = 1;
	r.status = GD_ENOTLEADER;
	r.leader = f->leader_addr[0] ? f->leader_addr : NULL;
	gd_reply(req, &r.base, NULL, 0);
}

static void do_hello(struct fake *f, struct gd_request *req)
{
	Godfs__Hello *h = godfs__hello__unpack(NULL, req->hdr.pb_len, req->pb);
	Godfs__HelloResp r = GODFS__HELLO_RESP__INIT;

	assert_non_null(h);
	f->hellos++;
	f->last_role = h->role;
	f->last_auth_role = req->auth ? (int)req->auth->role : -1;
	f->last_open_inodes = h->n_open_inodes;
	r.has_status = r.has_chunk_size = r.has_session_timeout_ms = 1;
	r.chunk_size = CHUNK;
	r.session_timeout_ms = 300;
	char *metas[4];
	for (int i = 0; i < f->nmetas; i++)
		metas[i] = f->metas[i];
	r.n_metas = (size_t)f->nmetas;
	r.metas = metas;
	if (h->role == GODFS__ROLE__ROLE_CLIENT) {
		r.has_session_id = 1;
		if (h->session_id && known(f, h->session_id)) {
			r.session_id = h->session_id;
		} else if (h->session_id) {
			r.status = GD_ENOSESSION;
		} else {
			r.session_id = ++f->next_session;
			if (f->nsessions < MAX_SESSIONS)
				f->sessions[f->nsessions++] = r.session_id;
		}
	}
	gd_reply(req, &r.base, NULL, 0);
	godfs__hello__free_unpacked(h, NULL);
}

/* M_GETATTR answers with the session id it saw in attr.size. */
static void do_getattr(struct fake *f, struct gd_request *req)
{
	Godfs__InodeReq *q = godfs__inode_req__unpack(NULL, req->hdr.pb_len, req->pb);
	Godfs__AttrResp r = GODFS__ATTR_RESP__INIT;
	Godfs__Attr a = GODFS__ATTR__INIT;

	assert_non_null(q);
	f->calls++;
	r.has_status = 1;
	if (!known(f, q->session_id)) {
		r.status = GD_ENOSESSION;
	} else {
		a.has_ino = a.has_size = 1;
		a.ino = q->ino;
		a.size = q->session_id;
		r.attr = &a;
	}
	gd_reply(req, &r.base, NULL, 0);
	godfs__inode_req__free_unpacked(q, NULL);
}

static void fake_handler(void *ctx, struct gd_request *req)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	if (f->deaf) {
		if (req->hdr.method == GODFS__METHOD__M_HELLO)
			f->deaf_hellos++;
		else if (req->hdr.method == GODFS__METHOD__M_GETATTR)
			f->deaf_calls++;
	} else if (!f->leader) {
		notleader(f, req);
	} else if (req->hdr.method == GODFS__METHOD__M_HELLO) {
		do_hello(f, req);
	} else if (req->hdr.method == GODFS__METHOD__M_GETATTR) {
		do_getattr(f, req);
	} else if (req->hdr.method == GODFS__METHOD__M_SESSION_RENEW) {
		Godfs__SessionRenew *q = godfs__session_renew__unpack(NULL, req->hdr.pb_len,
								       req->pb);
		f->renews++;
		gd_reply_status(req, q && known(f, q->session_id) ? 0 : GD_ENOSESSION);
		if (q)
			godfs__session_renew__free_unpacked(q, NULL);
	} else {
		gd_reply_status(req, GD_ENOTSUP);
	}
	pthread_mutex_unlock(&f->lock);
	gd_request_free(req);
}

static void fake_start(struct fake *f, int port, int leader)
{
	char listen[64];

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	struct gd_server_config sc = { .listen = listen, .handler = fake_handler, .ctx = f,
				       .workers = 4, .auth = f->auth };
	assert_int_equal(gd_server_start(&sc, &f->srv), 0);
	f->port = gd_server_port(f->srv);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
	pthread_mutex_lock(&f->lock);
	f->leader = leader;
	pthread_mutex_unlock(&f->lock);
}

static void fake_init(struct fake *f, int leader)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->next_session = 1000;
	fake_start(f, 0, leader);
}

static void fake_stop(struct fake *f)
{
	gd_server_stop(f->srv);
	f->srv = NULL;
}

static void fake_free(struct fake *f)
{
	if (f->srv)
		fake_stop(f);
	pthread_mutex_destroy(&f->lock);
}

static void set_leader(struct fake *f, int leader, const char *leader_addr)
{
	pthread_mutex_lock(&f->lock);
	f->leader = leader;
	snprintf(f->leader_addr, sizeof(f->leader_addr), "%s", leader_addr ? leader_addr : "");
	pthread_mutex_unlock(&f->lock);
}

/* The voters f's HELLO answers list: a and b, either NULL for fewer. */
static void set_metas(struct fake *f, const char *a, const char *b)
{
	pthread_mutex_lock(&f->lock);
	f->nmetas = 0;
	if (a)
		snprintf(f->metas[f->nmetas++], sizeof(f->metas[0]), "%s", a);
	if (b)
		snprintf(f->metas[f->nmetas++], sizeof(f->metas[0]), "%s", b);
	pthread_mutex_unlock(&f->lock);
}

static void fake_restart(struct fake *f)
{
	int port = f->port;

	fake_stop(f);
	msleep(50);
	fake_start(f, port, 1);
}

static int get_int(struct fake *f, int *p)
{
	pthread_mutex_lock(&f->lock);
	int v = *p;
	pthread_mutex_unlock(&f->lock);
	return v;
}

static size_t three_inodes(void *ctx, uint64_t *ino, size_t max)
{
	(void)ctx;
	for (size_t i = 0; i < 3 && i < max; i++)
		ino[i] = 100 + i;
	return max < 3 ? max : 3;
}

static int open_client(const char *addrs, int role, int timeout_ms, struct gd_meta_client **m)
{
	struct gd_meta_client_config cfg = {
		.addrs = addrs, .role = role, .host = "unit", .mountpoint = "/mnt/x",
		.timeout_ms = timeout_ms, .open_inodes = three_inodes,
	};
	return gd_meta_client_open(&cfg, m);
}

/* One M_GETATTR with the client's session; returns the status and the
 * session id the fake saw (attr.size). */
static int getattr(struct gd_meta_client *m, uint64_t ino, uint64_t *seen)
{
	Godfs__InodeReq q = GODFS__INODE_REQ__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	q.has_ino = q.has_session_id = 1;
	q.ino = ino;
	q.session_id = gd_meta_client_session(m);
	rc = gd_meta_call(m, GODFS__METHOD__M_GETATTR, &q.base, &godfs__attr_resp__descriptor,
			  &resp);
	if (rc == 0) {
		Godfs__AttrResp *r = (Godfs__AttrResp *)resp;
		assert_non_null(r->attr);
		assert_int_equal(r->attr->ino, ino);
		if (seen)
			*seen = r->attr->size;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static void test_hello_and_roles(void **state)
{
	struct fake f;
	struct gd_meta_client *m;
	uint64_t seen = 0;

	(void)state;
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 2000, &m), 0);
	assert_int_equal(gd_meta_client_session(m), 1001);
	assert_int_equal(gd_meta_client_chunk_size(m), CHUNK);
	assert_int_equal(f.last_open_inodes, 0); /* first HELLO: nothing to re-claim */
	assert_int_equal(getattr(m, 7, &seen), 0);
	assert_int_equal(seen, 1001);
	char buf[64];
	gd_meta_client_address(m, buf, sizeof(buf));
	assert_string_equal(buf, f.addr);
	gd_meta_client_close(m);

	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_ADMIN, 2000, &m), 0);
	assert_int_equal(gd_meta_client_session(m), 0);
	assert_int_equal(gd_meta_client_chunk_size(m), CHUNK);
	assert_int_equal(f.last_role, GODFS__ROLE__ROLE_ADMIN);
	assert_int_equal(f.last_auth_role, GD_ROLE_ADMIN); /* the handshake said it too */
	gd_meta_client_close(m);
	fake_free(&f);
}

static void test_follow_leader(void **state)
{
	struct fake a, b;
	struct gd_meta_client *m;

	(void)state;
	fake_init(&a, 0);
	fake_init(&b, 1);
	set_leader(&a, 0, b.addr);
	/* Only the follower is configured: HELLO follows it to b. */
	assert_int_equal(open_client(a.addr, GODFS__ROLE__ROLE_ADMIN, 3000, &m), 0);
	assert_int_equal(get_int(&b, &b.hellos), 1);
	assert_int_equal(getattr(m, 1, NULL), GD_ENOSESSION); /* admin: no session */
	assert_int_equal(get_int(&b, &b.calls), 1);
	/* Leadership moves to a: the next call follows. */
	set_leader(&b, 0, a.addr);
	set_leader(&a, 1, NULL);
	assert_int_equal(getattr(m, 2, NULL), GD_ENOSESSION);
	assert_int_equal(get_int(&a, &a.calls), 1);
	char buf[64];
	gd_meta_client_address(m, buf, sizeof(buf));
	assert_string_equal(buf, a.addr);
	gd_meta_client_close(m);
	fake_free(&a);
	fake_free(&b);
}

static void test_reconnect_same_session(void **state)
{
	struct fake f;
	struct gd_meta_client *m;
	uint64_t seen = 0, sid;
	int port;

	(void)state;
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 5000, &m), 0);
	sid = gd_meta_client_session(m);
	port = f.port;
	fake_stop(&f);
	msleep(100);
	fake_start(&f, port, 1);
	assert_int_equal(getattr(m, 5, &seen), 0);
	assert_int_equal(seen, sid);
	assert_int_equal(gd_meta_client_session(m), sid);
	assert_int_equal(get_int(&f, &f.hellos), 2);
	pthread_mutex_lock(&f.lock);
	assert_int_equal(f.last_open_inodes, 3);   /* re-claimed on the new connection */
	pthread_mutex_unlock(&f.lock);
	gd_meta_client_close(m);
	fake_free(&f);
}

static void test_new_session_resends(void **state)
{
	struct fake f;
	struct gd_meta_client *m;
	uint64_t seen = 0, sid;

	(void)state;
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 3000, &m), 0);
	sid = gd_meta_client_session(m);
	pthread_mutex_lock(&f.lock);
	f.nsessions = 0;                         /* the meta forgets every session */
	pthread_mutex_unlock(&f.lock);
	assert_int_equal(getattr(m, 9, &seen), 0);
	assert_int_not_equal(gd_meta_client_session(m), sid);
	assert_int_equal(seen, gd_meta_client_session(m)); /* re-sent with the new id */
	gd_meta_client_close(m);
	fake_free(&f);
}

static void test_renew_thread(void **state)
{
	struct fake f;
	struct gd_meta_client *m;

	(void)state;
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 3000, &m), 0);
	msleep(700);   /* timeout 300 ms: a renewal every 100 ms */
	assert_true(get_int(&f, &f.renews) >= 3);
	gd_meta_client_close(m);
	int after = get_int(&f, &f.renews);
	msleep(300);
	assert_int_equal(get_int(&f, &f.renews), after);   /* stopped by close */
	fake_free(&f);

	/* Other roles have no session to renew. */
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CHUNKD, 3000, &m), 0);
	msleep(400);
	assert_int_equal(get_int(&f, &f.renews), 0);
	gd_meta_client_close(m);
	fake_free(&f);
}

static void test_no_meta(void **state)
{
	struct fake f;
	struct gd_meta_client *m = NULL;
	char addr[64];
	uint64_t t0;

	(void)state;
	fake_init(&f, 1);
	snprintf(addr, sizeof(addr), "%s", f.addr);
	fake_free(&f);     /* the port is closed now */
	t0 = gd_net_now_ms();
	assert_int_equal(open_client(addr, GODFS__ROLE__ROLE_ADMIN, 500, &m), GD_ECONN);
	assert_true(gd_net_now_ms() - t0 >= 400);
	assert_true(gd_net_now_ms() - t0 < 3000);
	assert_null(m);
	assert_int_equal(open_client("no-port-here:x", GODFS__ROLE__ROLE_ADMIN, 500, &m),
			 GD_EINVAL);
}

/* A meta that answers nothing (a partition, a stopped process): a call that
 * timed out gives its connection up, so the next call does not queue its
 * request behind the first on that connection (after a partition the meta
 * would get every such retry at once); it reconnects instead, and is sent
 * once the meta answers a HELLO again. */
static void test_timeout_gives_connection_up(void **state)
{
	struct fake f;
	struct gd_meta_client *m = NULL;
	uint64_t seen = 0;
	int rc;

	(void)state;
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 2500, &m), 0);
	assert_int_equal(getattr(m, 7, &seen), 0);
	pthread_mutex_lock(&f.lock);
	f.deaf = 1;
	pthread_mutex_unlock(&f.lock);
	/* timed out, or failed at once when a session renew on the same
	 * connection timed out first and gave the connection up */
	rc = getattr(m, 7, NULL);
	assert_true(rc == GD_ETIMEDOUT || rc == GD_ECONN);
	/* no connection now: its HELLO got no answer either */
	rc = getattr(m, 7, NULL);
	assert_true(rc == GD_ETIMEDOUT || rc == GD_ECONN);
	/* one GETATTR reached the meta; the second call's waited for a HELLO */
	assert_int_equal(get_int(&f, &f.deaf_calls), 1);
	assert_true(get_int(&f, &f.deaf_hellos) >= 1);
	pthread_mutex_lock(&f.lock);
	f.deaf = 0;
	pthread_mutex_unlock(&f.lock);
	assert_int_equal(getattr(m, 7, &seen), 0);
	assert_int_equal(seen, gd_meta_client_session(m));
	gd_meta_client_close(m);
	fake_free(&f);
}

/* The voters a HELLO answer lists replace those learnt before (the
 * configured ones stay): a voter learnt from one answer and missing from a
 * later one is tried no more, and is learnt again when listed again. */
static void test_learnt_voters_replaced(void **state)
{
	struct fake a, d;
	struct gd_meta_client *m;

	(void)state;
	fake_init(&a, 1);
	fake_init(&d, 1);
	set_metas(&a, a.addr, d.addr);
	set_metas(&d, a.addr, d.addr);
	/* Only a is configured: d is learnt, and serves once a is gone. */
	assert_int_equal(open_client(a.addr, GODFS__ROLE__ROLE_ADMIN, 1500, &m), 0);
	fake_stop(&a);
	assert_int_equal(getattr(m, 1, NULL), GD_ENOSESSION); /* admin: no session */
	assert_int_equal(get_int(&d, &d.calls), 1);
	/* d now lists a and another voter, not itself: once connected again
	 * to d, the client forgets it, and with a down finds nobody. */
	set_metas(&d, a.addr, "127.0.0.1:1");
	fake_restart(&d);
	assert_int_equal(getattr(m, 2, NULL), GD_ENOSESSION);
	assert_int_equal(get_int(&d, &d.calls), 2);
	int hellos = get_int(&d, &d.hellos);
	fake_restart(&d);
	int rc = getattr(m, 3, NULL);
	assert_true(rc == GD_ETIMEDOUT || rc == GD_ECONN);
	assert_int_equal(get_int(&d, &d.hellos), hellos);  /* d not tried */
	/* a comes back (configured, never forgotten) and lists d again. */
	set_metas(&a, a.addr, d.addr);
	fake_start(&a, a.port, 1);
	assert_int_equal(getattr(m, 4, NULL), GD_ENOSESSION);
	assert_int_equal(get_int(&a, &a.calls), 1);
	fake_stop(&a);
	assert_int_equal(getattr(m, 5, NULL), GD_ENOSESSION);
	assert_int_equal(get_int(&d, &d.calls), 3);
	gd_meta_client_close(m);
	fake_free(&a);
	fake_free(&d);
}

struct hammer {
	struct gd_meta_client *m;
	atomic_int failures;
	atomic_int calls;
	atomic_int stop;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	for (uint64_t i = 1; !atomic_load(&h->stop); i++) {
		if (getattr(h->m, i, NULL) != 0)
			atomic_fetch_add(&h->failures, 1);
		atomic_fetch_add(&h->calls, 1);
	}
	return NULL;
}

static void test_threads_through_restart(void **state)
{
	struct fake f;
	struct hammer h;
	pthread_t th[8];
	int port;

	(void)state;
	fake_init(&f, 1);
	atomic_init(&h.failures, 0);
	atomic_init(&h.calls, 0);
	atomic_init(&h.stop, 0);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 10000, &h.m), 0);
	port = f.port;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h), 0);
	msleep(100);
	int before = atomic_load(&h.calls);
	fake_stop(&f);
	msleep(200);
	int during = atomic_load(&h.calls);
	fake_start(&f, port, 1);
	/* The callers get through again (after the reconnect's backoff). */
	for (int t = 0; t < 100 && atomic_load(&h.calls) < during + 16; t++)
		msleep(50);
	atomic_store(&h.stop, 1);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_true(before > 0);
	assert_true(atomic_load(&h.calls) >= during + 16);
	assert_int_equal(atomic_load(&h.failures), 0);
	/* One reconnect for everybody, not one per thread. */
	assert_true(get_int(&f, &f.hellos) <= 2);
	gd_meta_client_close(h.m);
	fake_free(&f);
}

/* A meta of another cluster (it does not know our key). */
static void fake_init_other(struct fake *f, int leader)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->next_session = 1000;
	f->auth = &other_policy;
	fake_start(f, 0, leader);
}

static void test_auth_refused_at_start(void **state)
{
	struct fake a, b;
	struct gd_meta_client *m = NULL;
	char both[160];
	uint64_t t0;

	(void)state;
	fake_init_other(&a, 1);
	/* Refused: GD_EAUTH at once, not retried until the 5 s timeout. */
	t0 = gd_net_now_ms();
	assert_int_equal(open_client(a.addr, GODFS__ROLE__ROLE_CLIENT, 5000, &m), GD_EAUTH);
	assert_true(gd_net_now_ms() - t0 < 2000);
	assert_null(m);
	assert_int_equal(get_int(&a, &a.hellos), 0);
	/* Without any credential: the same. */
	gd_cred_set(NULL, NULL, true);
	assert_int_equal(open_client(a.addr, GODFS__ROLE__ROLE_ADMIN, 5000, &m), GD_EAUTH);
	gd_cred_set(&our_keys, NULL, false);
	/* Another configured meta that knows our key is used. */
	fake_init(&b, 1);
	snprintf(both, sizeof(both), "%s,%s", a.addr, b.addr);
	assert_int_equal(open_client(both, GODFS__ROLE__ROLE_CLIENT, 5000, &m), 0);
	assert_int_equal(get_int(&b, &b.hellos), 1);
	assert_int_equal(get_int(&a, &a.hellos), 0);
	gd_meta_client_close(m);
	fake_free(&a);
	fake_free(&b);
}

/* A running client whose meta comes back with another key: calls fail with
 * GD_EAUTH at their deadline (retried with backoff meanwhile, not in a tight
 * loop), and work again once the meta takes our key again. */
static void test_auth_refused_while_running(void **state)
{
	struct fake f;
	struct gd_meta_client *m;
	uint64_t t0, took;
	int port;

	(void)state;
	fake_init(&f, 1);
	assert_int_equal(open_client(f.addr, GODFS__ROLE__ROLE_CLIENT, 1500, &m), 0);
	port = f.port;
	fake_stop(&f);
	f.auth = &other_policy;
	fake_start(&f, port, 1);
	t0 = gd_net_now_ms();
	assert_int_equal(getattr(m, 5, NULL), GD_EAUTH);
	took = gd_net_now_ms() - t0;
	assert_true(took >= 1000);
	assert_true(took < 4000);
	fake_stop(&f);
	f.auth = NULL;
	fake_start(&f, port, 1);
	assert_int_equal(getattr(m, 6, NULL), 0);
	gd_meta_client_close(m);
	fake_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_and_roles),
		cmocka_unit_test(test_follow_leader),
		cmocka_unit_test(test_reconnect_same_session),
		cmocka_unit_test(test_new_session_resends),
		cmocka_unit_test(test_renew_thread),
		cmocka_unit_test(test_no_meta),
		cmocka_unit_test(test_timeout_gives_connection_up),
		cmocka_unit_test(test_learnt_voters_replaced),
		cmocka_unit_test(test_threads_through_restart),
		cmocka_unit_test(test_auth_refused_at_start),
		cmocka_unit_test(test_auth_refused_while_running),
	};

	gd_log_init("test_meta_client", getenv("GD_TEST_LOG") ? getenv("GD_TEST_LOG") : "error");
	make_keys(&our_keys);
	make_keys(&other_keys);
	gd_cred_set(&our_keys, NULL, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
