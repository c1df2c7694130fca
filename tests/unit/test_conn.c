/* gd_conn + gd_server over loopback: round trips with bulk data, many calls in
 * flight answered out of order, deadlines, late answers, bad peers on both
 * sides, oversized responses, replies to peers that left; the handshake that
 * starts every connection (the right key, a wrong key, no key, an insecure
 * server, a peer that never finishes it) and the role it gives req->auth;
 * a connection given up after a timeout delivers nothing still queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_server.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BIG (1u << 20)

/* Nonces with this bit set are collected until BATCH of them are there,
 * then answered newest first. */
#define NONCE_BATCH (1ull << 40)

struct echo {
	pthread_mutex_t lock;
	struct gd_request *batch[BATCH]; /* guarded by lock */
	int nbatch;
	struct gd_request *held[8];      /* M_STATFS: never answered by the handler */
	int nheld;
	int closed;                      /* closed callbacks seen */
	int handled;
	int last_role;                   /* req->auth->role of the last request */
};

/* The cluster key of these tests: the servers check against test_policy
 * (not the process's policy), so a test may change the process's own
 * credential (gd_cred_set) to play a stranger. */
static struct gd_keyring test_keys;
static struct gd_auth_policy test_policy = { .keys = &test_keys };

static void make_keys(struct gd_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->n = 1;
	assert_int_equal(gd_random(kr->key[0].key, GD_KEY_LEN), 0);
	gd_key_set_id(&kr->key[0]);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void reply_ping(struct gd_request *req)
{
	Godfs__Ping *in = godfs__ping__unpack(NULL, req->hdr.pb_len, req->pb);
	Godfs__Ping out = GODFS__PING__INIT;

	if (!in) {
		gd_reply_status(req, GD_EPROTO);
		return;
	}
	out.has_nonce = 1;
	out.nonce = in->nonce;
	out.has_status = 1;
	out.status = 0;
	gd_reply(req, &out.base, req->data, req->hdr.data_len);
	godfs__ping__free_unpacked(in, NULL);
}

static void echo_handler(void *ctx, struct gd_request *req)
{
	struct echo *e = ctx;

	pthread_mutex_lock(&e->lock);
	e->handled++;
	e->last_role = req->auth ? (int)req->auth->role : -1;
	pthread_mutex_unlock(&e->lock);
	switch (req->hdr.method) {
	case GODFS__METHOD__M_PING: {
		Godfs__Ping *in = godfs__ping__unpack(NULL, req->hdr.pb_len, req->pb);
		int batched = in && (in->nonce & NONCE_BATCH);

		if (in)
			godfs__ping__free_unpacked(in, NULL);
		if (!batched) {
			reply_ping(req);
			gd_request_free(req);
			return;
		}
		pthread_mutex_lock(&e->lock);
		e->batch[e->nbatch++] = req;
		if (e->nbatch == BATCH) {
			for (int i = BATCH - 1; i >= 0; i--) {
				reply_ping(e->batch[i]);
				gd_request_free(e->batch[i]);
			}
			e->nbatch = 0;
		}
		pthread_mutex_unlock(&e->lock);
		return;
	}
	case GODFS__METHOD__M_STATFS:
		pthread_mutex_lock(&e->lock);
		e->held[e->nheld++] = req;
		pthread_mutex_unlock(&e->lock);
		return;
	case GODFS__METHOD__M_CS_READ: {
		Godfs__CsRead *in = godfs__cs_read__unpack(NULL, req->hdr.pb_len, req->pb);
		Godfs__CsReadResp out = GODFS__CS_READ_RESP__INIT;
		uint8_t *buf;

		if (!in) {
			gd_reply_status(req, GD_EPROTO);
			gd_request_free(req);
			return;
		}
		buf = calloc(1, in->length + 1);
		memset(buf, 0xab, in->length);
		out.has_status = 1;
		out.has_length = 1;
		out.length = in->length;
		gd_reply(req, &out.base, buf, in->length);
		free(buf);
		godfs__cs_read__free_unpacked(in, NULL);
		gd_request_free(req);
		return;
	}
	case GODFS__METHOD__M_GETATTR: {
		/* A follower: not the leader, and says who is. */
		Godfs__AttrResp out = GODFS__ATTR_RESP__INIT;

		out.has_status = 1;
		out.status = GD_ENOTLEADER;
		out.leader = "10.0.0.7:9090";
		gd_reply(req, &out.base, NULL, 0);
		gd_request_free(req);
		return;
	}
	default:
		gd_reply_status(req, GD_ENOTSUP);
		gd_request_free(req);
		return;
	}
}

static void echo_closed(void *ctx, void *conn_ctx)
{
	struct echo *e = ctx;

	pthread_mutex_lock(&e->lock);
	e->closed++;
	pthread_mutex_unlock(&e->lock);
}

struct fixture {
	struct echo e;
	struct gd_server *s;
	char addr[64];
};

static int setup_workers(void **state, int workers)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gd_server_config cfg = {
		.listen = "127.0.0.1:0",
		.handler = echo_handler,
		.closed = echo_closed,
		.workers = workers,
		.limits.send_timeout_ms = 2000,
		.auth = &test_policy,
		.auth_timeout_ms = 500,
	};

	if (!f)
		return -1;
	pthread_mutex_init(&f->e.lock, NULL);
	cfg.ctx = &f->e;
	if (gd_server_start(&cfg, &f->s) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", gd_server_port(f->s));
	*state = f;
	return 0;
}

static int setup4(void **state)
{
	return setup_workers(state, 4);
}

static int setup0(void **state)
{
	return setup_workers(state, 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pthread_mutex_lock(&f->e.lock);
	for (int i = 0; i < f->e.nheld; i++)
		gd_request_free(f->e.held[i]);
	f->e.nheld = 0;
	pthread_mutex_unlock(&f->e.lock);
	gd_server_stop(f->s);
	pthread_mutex_destroy(&f->e.lock);
	free(f);
	return 0;
}

static int ping(struct gd_conn *c, uint64_t nonce, const void *data, size_t len,
		void *rbuf, size_t rlen, int timeout_ms, struct gd_call_result *res)
{
	Godfs__Ping req = GODFS__PING__INIT;
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_PING,
		.req = &req.base,
		.data = data,
		.data_len = len,
		.resp_desc = &godfs__ping__descriptor,
		.rbuf = rbuf,
		.rbuf_len = rlen,
		.timeout_ms = timeout_ms,
	};

	req.has_nonce = 1;
	req.nonce = nonce;
	return gd_call(c, &a, res);
}

static void test_round_trip_bulk(void **state)
{
	struct fixture *f = *state;
	struct gd_conn *c;
	struct gd_call_result res;
	uint8_t *out = malloc(BIG), *in = malloc(BIG);

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < BIG; i++)
		out[i] = (uint8_t)(i * 7 + (i >> 13));
	memset(in, 0, BIG);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_int_equal(ping(c, 42, out, BIG, in, BIG, 5000, &res), 0);
	assert_non_null(res.resp);
	assert_int_equal(((Godfs__Ping *)res.resp)->nonce, 42);
	assert_int_equal(res.data_len, BIG);
	assert_memory_equal(in, out, BIG);
	gd_call_result_release(&res);

	/* No bulk data at all, and a second call on the same connection. */
	assert_int_equal(ping(c, 43, NULL, 0, NULL, 0, 0, &res), 0);
	assert_int_equal(((Godfs__Ping *)res.resp)->nonce, 43);
	assert_int_equal(res.data_len, 0);
	gd_call_result_release(&res);
	assert_false(gd_conn_failed(c));
	gd_conn_close(c);
	free(out);
	free(in);
}

static void test_out_of_order(void **state)
{
	struct fixture *f = *state;
	struct gd_conn *c;
	struct gd_call *calls[BATCH];
	uint32_t rbufs[BATCH];
	Godfs__Ping reqs[BATCH];

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	for (int i = 0; i < BATCH; i++) {
		uint32_t v = 0x1000u + (uint32_t)i;
		struct gd_call_args a = {
			.method = GODFS__METHOD__M_PING,
			.req = &reqs[i].base,
			.data = &v,
			.data_len = sizeof(v),
			.resp_desc = &godfs__ping__descriptor,
			.rbuf = &rbufs[i],
			.rbuf_len = sizeof(rbufs[i]),
			.timeout_ms = 5000,
		};
		godfs__ping__init(&reqs[i]);
		reqs[i].has_nonce = 1;
		reqs[i].nonce = NONCE_BATCH | (uint64_t)i;
		rbufs[i] = 0;
		assert_int_equal(gd_call_start(c, &a, &calls[i]), 0);
	}
	/* Wait newest first too, so both orders are exercised. */
	for (int i = BATCH - 1; i >= 0; i--) {
		struct gd_call_result res;

		assert_int_equal(gd_call_wait(calls[i], &res), 0);
		assert_non_null(res.resp);
		assert_int_equal(((Godfs__Ping *)res.resp)->nonce, NONCE_BATCH | (uint64_t)i);
		assert_int_equal(res.data_len, sizeof(uint32_t));
		assert_int_equal(rbufs[i], 0x1000u + (uint32_t)i);
		gd_call_result_release(&res);
	}
	gd_conn_close(c);
}

struct concurrent_arg {
	struct gd_conn *c;
	int idx;
	int ok;
};

static void *concurrent_caller(void *p)
{
	struct concurrent_arg *ca = p;
	struct gd_call_result res;
	uint64_t v = (uint64_t)ca->idx * 1000003u, back = 0;

	if (ping(ca->c, NONCE_BATCH | (uint64_t)ca->idx, &v, sizeof(v), &back, sizeof(back),
		 5000, &res) == 0 &&
	    res.resp && ((Godfs__Ping *)res.resp)->nonce == (NONCE_BATCH | (uint64_t)ca->idx) &&
	    back == v)
		ca->ok = 1;
	gd_call_result_release(&res);
	return NULL;
}

static void test_concurrent_threads(void **state)
{
	struct fixture *f = *state;
	struct gd_conn *c;
	pthread_t th[BATCH];
	struct concurrent_arg args[BATCH];

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	for (int i = 0; i < BATCH; i++) {
		args[i].c = c;
		args[i].idx = i;
		args[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, concurrent_caller, &args[i]), 0);
	}
	for (int i = 0; i < BATCH; i++) {
		pthread_join(th[i], NULL);
		assert_true(args[i].ok);
	}
	gd_conn_close(c);
}

static void test_timeout_and_late_reply(void **state)
{
	struct fixture *f = *state;
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_STATFS,
		.req = &req.base,
		.resp_desc = &godfs__statfs_resp__descriptor,
		.timeout_ms = 200,
	};
	struct gd_call_result res;
	struct gd_conn *c;
	uint64_t t0;
	int nheld;

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	t0 = gd_net_now_ms();
	assert_int_equal(gd_call(c, &a, &res), GD_ETIMEDOUT);
	assert_null(res.resp);
	assert_true(gd_net_now_ms() - t0 >= 190);
	assert_true(gd_net_now_ms() - t0 < 3000);

	/* The server answers now: the client drops it and the connection lives. */
	pthread_mutex_lock(&f->e.lock);
	nheld = f->e.nheld;
	if (nheld > 0) {
		assert_int_equal(gd_reply_status(f->e.held[0], 0), 0);
		gd_request_free(f->e.held[0]);
		f->e.held[0] = f->e.held[--f->e.nheld];
	}
	pthread_mutex_unlock(&f->e.lock);
	assert_int_equal(nheld, 1);
	assert_int_equal(ping(c, 7, NULL, 0, NULL, 0, 2000, &res), 0);
	assert_int_equal(((Godfs__Ping *)res.resp)->nonce, 7);
	gd_call_result_release(&res);
	assert_false(gd_conn_failed(c));
	gd_conn_close(c);
}

static void test_reply_after_peer_left(void **state)
{
	struct fixture *f = *state;
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_STATFS,
		.req = &req.base,
		.resp_desc = &godfs__statfs_resp__descriptor,
		.timeout_ms = 100,
	};
	struct gd_call_result res;
	struct gd_conn *c;
	int closed;

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_int_equal(gd_call(c, &a, &res), GD_ETIMEDOUT);
	gd_conn_close(c);
	/* Give the server's reader time to see the end of the stream. */
	msleep(300);
	pthread_mutex_lock(&f->e.lock);
	assert_int_equal(f->e.nheld, 1);
	assert_int_equal(gd_reply_status(f->e.held[0], 0), GD_ECONN);
	/* The held request keeps the connection: not closed yet for the handler. */
	closed = f->e.closed;
	pthread_mutex_unlock(&f->e.lock);
	assert_int_equal(closed, 0);
	/* Freeing the last request runs the closed callback, here and now. */
	gd_request_free(f->e.held[0]);
	f->e.nheld = 0;
	assert_int_equal(f->e.closed, 1);
}

/* Reads until the server closes fd; whether it did within about a second. */
static int expect_close(int fd)
{
	uint8_t sink[256];
	ssize_t n;

	gd_net_set_recv_timeout(fd, 1000);
	do
		n = recv(fd, sink, sizeof(sink), 0);
	while (n > 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Connects a plain socket to the server, passes the handshake, sends buf,
 * and says whether the server closed it within a second. */
static int raw_send_expect_close(const char *addr, const void *buf, size_t len)
{
	int fd, closed = 0;

	if (gd_net_connect(addr, 2000, &fd) != 0)
		return 0;
	if (gd_auth_client(fd, gd_cred_self(), GD_ROLE_CLIENT, 2000) != 0)
		goto out;
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto out;
	closed = expect_close(fd);
out:
	close(fd);
	return closed;
}

/* The same without the handshake: buf is what the server gets as the proof. */
static int raw_unauth_expect_close(const char *addr, const void *buf, size_t len)
{
	int fd, closed = 0;

	if (gd_net_connect(addr, 2000, &fd) != 0)
		return 0;
	if (len && send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto out;
	closed = expect_close(fd);
out:
	close(fd);
	return closed;
}

static void test_garbage_closes_only_that_connection(void **state)
{
	struct fixture *f = *state;
	struct gd_conn *c;
	struct gd_call_result res;
	uint8_t junk[512];
	uint8_t frame[GD_FRAME_HDR_LEN + 8];
	struct gd_frame_hdr h = {
		.magic_version = GD_FRAME_MAGIC_VERSION,
		.kind = GD_KIND_REQUEST,
		.method = GODFS__METHOD__M_PING,
		.request_id = 1,
	};

	/* A good client stays connected through all of it. */
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);

	srand(12345);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	junk[0] = 'G'; /* anything but the magic */
	assert_true(raw_send_expect_close(f->addr, junk, sizeof(junk)));
	assert_true(raw_send_expect_close(f->addr, "GET / HTTP/1.0\r\n\r\nxxxxxxxxxx", 28));
	/* The same garbage in place of the handshake. */
	assert_true(raw_unauth_expect_close(f->addr, junk, sizeof(junk)));

	/* A header with a valid magic but a response kind. */
	h.kind = GD_KIND_RESPONSE;
	gd_frame_encode_hdr(&h, frame);
	assert_true(raw_send_expect_close(f->addr, frame, GD_FRAME_HDR_LEN));
	/* pb_len above the bound. */
	h.kind = GD_KIND_REQUEST;
	h.pb_len = GD_FRAME_MAX_PB + 1;
	gd_frame_encode_hdr(&h, frame);
	assert_true(raw_send_expect_close(f->addr, frame, GD_FRAME_HDR_LEN));
	/* A protobuf part that does not unpack (a truncated varint). */
	h.pb_len = 2;
	gd_frame_encode_hdr(&h, frame);
	frame[GD_FRAME_HDR_LEN] = 0x08;     /* field 1, varint */
	frame[GD_FRAME_HDR_LEN + 1] = 0xff; /* continuation with nothing after */
	assert_true(raw_send_expect_close(f->addr, frame, GD_FRAME_HDR_LEN + 2));

	assert_int_equal(ping(c, 99, "abc", 3, junk, sizeof(junk), 2000, &res), 0);
	assert_int_equal(((Godfs__Ping *)res.resp)->nonce, 99);
	assert_int_equal(res.data_len, 3);
	assert_memory_equal(junk, "abc", 3);
	gd_call_result_release(&res);
	gd_conn_close(c);
}

static void test_response_bigger_than_rbuf(void **state)
{
	struct fixture *f = *state;
	Godfs__CsRead req = GODFS__CS_READ__INIT;
	uint8_t rbuf[4096];
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_CS_READ,
		.req = &req.base,
		.resp_desc = &godfs__cs_read_resp__descriptor,
		.rbuf = rbuf,
		.rbuf_len = sizeof(rbuf),
		.timeout_ms = 2000,
	};
	struct gd_call_result res;
	struct gd_conn *c;

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	req.has_length = 1;
	req.length = sizeof(rbuf);
	assert_int_equal(gd_call(c, &a, &res), 0);
	assert_int_equal(res.data_len, sizeof(rbuf));
	assert_int_equal(rbuf[4095], 0xab);
	gd_call_result_release(&res);

	req.length = sizeof(rbuf) + 1;
	assert_int_equal(gd_call(c, &a, &res), GD_EPROTO);
	assert_null(res.resp);
	assert_true(gd_conn_failed(c));
	/* A failed connection fails new calls at once. */
	assert_int_equal(gd_call(c, &a, &res), GD_ECONN);
	gd_conn_close(c);

	/* The server is fine. */
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	req.length = 10;
	assert_int_equal(gd_call(c, &a, &res), 0);
	gd_call_result_release(&res);
	gd_conn_close(c);
}

static void test_status_and_leader(void **state)
{
	struct fixture *f = *state;
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_GETATTR,
		.req = &req.base,
		.resp_desc = &godfs__attr_resp__descriptor,
	};
	struct gd_call_result res;
	struct gd_conn *c;

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_int_equal(gd_call(c, &a, &res), GD_ENOTLEADER);
	assert_non_null(res.resp);
	assert_int_equal(gd_msg_status(res.resp), GD_ENOTLEADER);
	assert_string_equal(gd_msg_leader(res.resp), "10.0.0.7:9090");
	gd_call_result_release(&res);

	/* A StatusResp unpacks as any *Resp: status 19 = GD_ENOTSUP. */
	a.method = GODFS__METHOD__M_RENAME;
	a.resp_desc = &godfs__status_resp__descriptor;
	assert_int_equal(gd_call(c, &a, &res), GD_ENOTSUP);
	assert_null(gd_msg_leader(res.resp));
	gd_call_result_release(&res);
	gd_conn_close(c);
}

static void test_bad_args(void **state)
{
	struct fixture *f = *state;
	Godfs__Ping req = GODFS__PING__INIT;
	struct gd_call_args a = {
		.method = 9999,
		.req = &req.base,
		.resp_desc = &godfs__ping__descriptor,
	};
	struct gd_call_result res;
	struct gd_conn *c;

	assert_int_equal(gd_conn_open("no-port-here", 500, GD_ROLE_CLIENT, &c), GD_EINVAL);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_int_equal(gd_call(c, &a, &res), GD_EINVAL);
	a.method = GODFS__METHOD__M_PING;
	a.data_len = GD_FRAME_MAX_DATA + 1;
	a.data = "x";
	assert_int_equal(gd_call(c, &a, &res), GD_EINVAL);
	assert_false(gd_conn_failed(c));
	gd_conn_close(c);
}

static void test_connect_refused(void **state)
{
	struct gd_conn *c;
	int fd, port;

	/* A port that was just free: nobody listens there. */
	assert_int_equal(gd_net_listen("127.0.0.1:0", 1, &fd, &port), 0);
	close(fd);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(gd_conn_open(addr, 1000, GD_ROLE_CLIENT, &c), GD_ECONN);
}

/* The handshake, for the fake servers below. */
static int fake_server_auth(int fd)
{
	struct gd_peer_auth peer;
	char why[128];

	return gd_auth_server(fd, &test_policy, 2000, &peer, why, sizeof(why));
}

/* A fake server that answers every request with bytes that are no frame. */
static void *bad_server(void *p)
{
	int lfd = *(int *)p, fd;
	uint8_t buf[64];

	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (fake_server_auth(fd) == 0 && recv(fd, buf, sizeof(buf), 0) > 0) {
		memset(buf, 0x5a, sizeof(buf));
		(void)send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
	}
	msleep(200);
	close(fd);
	return NULL;
}

static void test_client_drops_bad_server(void **state)
{
	struct gd_call_result res;
	struct gd_conn *c;
	pthread_t th;
	char addr[64];
	int lfd, port;

	assert_int_equal(gd_net_listen("127.0.0.1:0", 1, &lfd, &port), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(pthread_create(&th, NULL, bad_server, &lfd), 0);
	assert_int_equal(gd_conn_open(addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_int_equal(ping(c, 1, NULL, 0, NULL, 0, 2000, &res), GD_ECONN);
	assert_null(res.resp);
	assert_true(gd_conn_failed(c));
	gd_conn_close(c);
	pthread_join(th, NULL);
	close(lfd);
}

/* A fake server that answers a CS_READ with a header announcing 4096 bytes
 * of data, sends 100 of them, then stops (a hung process: the socket stays
 * open, nothing more comes) until *done is set. */
struct staller {
	int lfd;
	volatile int done;
};

static void *stalling_server(void *p)
{
	struct staller *st = p;
	uint8_t hb[GD_FRAME_HDR_LEN], body[4096];
	struct gd_frame_hdr hdr;
	size_t got = 0;
	int fd = accept(st->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (fake_server_auth(fd) == 0 && gd_net_read_full(fd, hb, sizeof(hb), &got) == 0 &&
	    gd_frame_decode_hdr(hb, sizeof(hb), &hdr, NULL) == 0 &&
	    hdr.pb_len + hdr.data_len <= sizeof(body) &&
	    gd_net_read_full(fd, body, hdr.pb_len + hdr.data_len, &got) == 0) {
		Godfs__CsReadResp out = GODFS__CS_READ_RESP__INIT;
		uint8_t pb[64];
		out.has_status = out.has_length = 1;
		out.length = sizeof(body);
		size_t pblen = godfs__cs_read_resp__pack(&out, pb);
		struct gd_frame_hdr rh = {
			.magic_version = GD_FRAME_MAGIC_VERSION,
			.kind = GD_KIND_RESPONSE,
			.method = hdr.method,
			.request_id = hdr.request_id,
			.pb_len = (uint32_t)pblen,
			.data_len = sizeof(body),
		};
		gd_frame_encode_hdr(&rh, hb);
		memset(body, 0xcd, sizeof(body));
		(void)send(fd, hb, sizeof(hb), MSG_NOSIGNAL);
		(void)send(fd, pb, pblen, MSG_NOSIGNAL);
		(void)send(fd, body, 100, MSG_NOSIGNAL);
	}
	for (int i = 0; i < 100 && !st->done; i++)
		msleep(50);
	close(fd);
	return NULL;
}

/* A peer that stops in the middle of a response body must not hang the
 * caller: the call fails soon after its deadline and the connection is
 * dropped (it cannot be resynchronised). */
static void test_stall_in_body(void **state)
{
	(void)state;
	struct staller st = { .done = 0 };
	Godfs__CsRead req = GODFS__CS_READ__INIT;
	static uint8_t rbuf[4096];
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_CS_READ,
		.req = &req.base,
		.resp_desc = &godfs__cs_read_resp__descriptor,
		.rbuf = rbuf,
		.rbuf_len = sizeof(rbuf),
		.timeout_ms = 300,
	};
	struct gd_call_result res;
	struct gd_conn *c;
	pthread_t th;
	char addr[64];
	int port;

	req.has_length = 1;
	req.length = sizeof(rbuf);
	assert_int_equal(gd_net_listen("127.0.0.1:0", 1, &st.lfd, &port), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(pthread_create(&th, NULL, stalling_server, &st), 0);
	assert_int_equal(gd_conn_open(addr, 2000, GD_ROLE_CLIENT, &c), 0);
	uint64_t t0 = gd_net_now_ms();
	int rc = gd_call(c, &a, &res);
	uint64_t took = gd_net_now_ms() - t0;
	st.done = 1;
	assert_true(rc == GD_ECONN || rc == GD_ETIMEDOUT);
	assert_null(res.resp);
	assert_true(took >= 250);
	assert_true(took < 2000);
	assert_true(gd_conn_failed(c));
	gd_conn_close(c);
	pthread_join(th, NULL);
	close(st.lfd);
}

/* A peer that stops reading (a partition, a hung process): after the
 * handshake it reads nothing until *go is set, then counts what arrives
 * until the connection ends (ended: 1 by a close or a reset) or nothing
 * came for DEAF_WAIT_MS (ended: 0, the connection still open). Its receive
 * buffer is as small as the system allows, so that requests sent meanwhile
 * stay queued on the client's side. */
#define DEAF_WAIT_MS 3000

struct deaf {
	int lfd;
	volatile int go;
	size_t got;
	int ended;
};

static void *deaf_server(void *p)
{
	struct deaf *d = p;
	struct timeval tv = { DEAF_WAIT_MS / 1000, (DEAF_WAIT_MS % 1000) * 1000 };
	uint8_t buf[4096];
	int fd = accept(d->lfd, NULL, NULL);
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fake_server_auth(fd) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0) {
		while (!d->go)
			msleep(10);
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			d->got += (size_t)n;
		d->ended = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
	}
	close(fd);
	return NULL;
}

/* Calls that timed out on a peer that stopped reading, then the connection
 * closed (or, with abort_first, given up while a call on it still waits,
 * and the peer reads again before the close): how many bytes the peer gets
 * once it reads again. */
static size_t queued_after_close(bool abort_first)
{
	static uint8_t data[20000];
	struct deaf d = { .go = 0 };
	struct gd_call_result res;
	struct gd_conn *c;
	pthread_t th;
	char addr[64];
	int port, small = 1;

	assert_int_equal(gd_net_listen("127.0.0.1:0", 1, &d.lfd, &port), 0);
	assert_int_equal(setsockopt(d.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(pthread_create(&th, NULL, deaf_server, &d), 0);
	assert_int_equal(gd_conn_open(addr, 2000, GD_ROLE_CLIENT, &c), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ping(c, (uint64_t)i, data, sizeof(data), NULL, 0, 200, &res),
				 GD_ETIMEDOUT);
		assert_null(res.resp);
	}
	if (abort_first) {
		/* A call still within its deadline (5 s) when the connection is
		 * given up: it fails at once, and what is queued goes nowhere
		 * even though the connection is not closed yet. */
		Godfs__Ping req = GODFS__PING__INIT;
		struct gd_call_args a = {
			.method = GODFS__METHOD__M_PING,
			.req = &req.base,
			.resp_desc = &godfs__ping__descriptor,
			.timeout_ms = 5000,
		};
		struct gd_call *call;

		assert_int_equal(gd_call_start(c, &a, &call), 0);
		uint64_t t0 = gd_net_now_ms();
		gd_conn_abort(c);
		assert_true(gd_conn_failed(c));
		assert_int_equal(gd_call_wait(call, &res), GD_ECONN);
		assert_null(res.resp);
		assert_true(gd_net_now_ms() - t0 < 1000);
		assert_int_equal(ping(c, 9, NULL, 0, NULL, 0, 200, &res), GD_ECONN);
		gd_conn_abort(c);    /* a second time does nothing */
		d.go = 1;
		pthread_join(th, NULL);
		assert_true(d.ended);   /* reset, not left open */
		gd_conn_close(c);
	} else {
		gd_conn_close(c);
		d.go = 1;
		pthread_join(th, NULL);
		assert_true(d.ended);
	}
	close(d.lfd);
	return d.got;
}

/* After calls time out, a connection given up (gd_conn_abort) delivers
 * nothing more of what was queued, at once: the requests the peer had not
 * taken yet are thrown away with the connection (a reset), even while
 * another call on it has not reached its deadline (that call fails now);
 * where an orderly close delivers them all once the peer reads again (a
 * partition that heals gets every retry of a call that went on that
 * connection). The peer may still read what its own small buffer held. */
static void test_abort_drops_queued(void **state)
{
	(void)state;
	size_t all = queued_after_close(false), aborted = queued_after_close(true);

	assert_true(all >= 3 * 20000);
	assert_true(aborted < 20000);
}

/* Server stop with live connections and a request still held by the handler. */
static void test_stop_with_clients(void **state)
{
	struct fixture *f = NULL;
	void *st = NULL;
	struct gd_conn *c[4];
	struct gd_call_result res;

	assert_int_equal(setup4(&st), 0);
	f = st;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c[i]), 0);
		assert_int_equal(ping(c[i], (uint64_t)i, NULL, 0, NULL, 0, 2000, &res), 0);
		gd_call_result_release(&res);
	}
	teardown(&st);
	/* The server is gone: calls fail at once or on the closed socket. */
	for (int i = 0; i < 4; i++) {
		assert_int_not_equal(ping(c[i], 5, NULL, 0, NULL, 0, 2000, &res), 0);
		gd_conn_close(c[i]);
	}
}

/* Only the cluster's key gets in, and req->auth says the role it proved. */
static void test_auth_key(void **state)
{
	struct fixture *f = *state;
	struct gd_keyring other;
	struct gd_call_result res;
	struct gd_conn *c;

	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_ADMIN, &c), 0);
	assert_int_equal(ping(c, 7, NULL, 0, NULL, 0, 2000, &res), 0);
	gd_call_result_release(&res);
	assert_int_equal(f->e.last_role, GD_ROLE_ADMIN);
	gd_conn_close(c);

	/* Another cluster's key, then no key at all: refused before any frame. */
	make_keys(&other);
	gd_cred_set(&other, NULL, false);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), GD_EAUTH);
	gd_cred_set(NULL, NULL, true);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), GD_EAUTH);
	/* A key added as the second line (rotation) is accepted. */
	test_keys.key[1] = other.key[0];
	test_keys.n = 2;
	gd_cred_set(&other, NULL, false);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_PEER, &c), 0);
	assert_int_equal(ping(c, 8, NULL, 0, NULL, 0, 2000, &res), 0);
	gd_call_result_release(&res);
	assert_int_equal(f->e.last_role, GD_ROLE_PEER);
	gd_conn_close(c);
	test_keys.n = 1;
	gd_cred_set(&test_keys, NULL, false);
	assert_int_equal(f->e.handled, 2);
}

/* An --insecure server lets in a client with no credential; a client with a
 * key still gets in. */
static void test_auth_insecure(void **state)
{
	struct fixture *f = *state;
	struct gd_call_result res;
	struct gd_conn *c;

	test_policy.insecure = true;
	gd_cred_set(NULL, NULL, true);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_int_equal(ping(c, 9, NULL, 0, NULL, 0, 2000, &res), 0);
	gd_call_result_release(&res);
	gd_conn_close(c);
	gd_cred_set(&test_keys, NULL, false);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CHUNKD, &c), 0);
	assert_int_equal(ping(c, 10, NULL, 0, NULL, 0, 2000, &res), 0);
	gd_call_result_release(&res);
	assert_int_equal(f->e.last_role, GD_ROLE_CHUNKD);
	gd_conn_close(c);
	test_policy.insecure = false;
}

/* A peer that connects and never says anything is cut at the handshake
 * deadline (500 ms here), not held forever. */
static void test_auth_deadline(void **state)
{
	struct fixture *f = *state;
	uint64_t t0 = gd_net_now_ms(), took;

	assert_true(raw_unauth_expect_close(f->addr, NULL, 0));
	took = gd_net_now_ms() - t0;
	assert_true(took >= 400);
	assert_true(took < 1500);
	assert_int_equal(f->e.handled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_bulk, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_bulk, setup0, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup0, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_threads, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_late_reply, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_reply_after_peer_left, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_closes_only_that_connection, setup4,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_closes_only_that_connection, setup0,
						teardown),
		cmocka_unit_test_setup_teardown(test_response_bigger_than_rbuf, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_leader, setup0, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup0, teardown),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_client_drops_bad_server),
		cmocka_unit_test(test_stall_in_body),
		cmocka_unit_test(test_abort_drops_queued),
		cmocka_unit_test(test_stop_with_clients),
		cmocka_unit_test_setup_teardown(test_auth_key, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_auth_insecure, setup0, teardown),
		cmocka_unit_test_setup_teardown(test_auth_deadline, setup0, teardown),
	};

	gd_log_init("test_conn", getenv("GD_TEST_DEBUG") ? "debug" : "error");
	make_keys(&test_keys);
	gd_cred_set(&test_keys, NULL, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
