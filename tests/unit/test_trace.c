/* Request ids (gd_trace): which ids are valid, what gd_trace_set makes of
 * the others, generated ids, one id per thread; the frame's trace prefix
 * (gd_frame_trace_put/_take, the GD_FRAME_F_TRACE checks of
 * gd_frame_decode_hdr); a round trip over loopback (the id a client thread
 * had is the handler's, on the reader thread and on a worker, and a request
 * without one has none; a malformed prefix drops the connection); and the
 * log line formats (text with req=, JSON that escapes what it must). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_auth.h"
#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_server.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "proto/wire.pb-c.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool is_generated(const char *id)
{
	if (!id || strlen(id) != GD_TRACE_GEN_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static void test_valid(void **state)
{
	char longest[GD_TRACE_MAX + 2];

	(void)state;
	assert_true(gd_trace_valid("a", 1));
	assert_true(gd_trace_valid("req-1.2_3:Z", 11));
	memset(longest, 'x', sizeof(longest));
	assert_true(gd_trace_valid(longest, GD_TRACE_MAX));
	assert_false(gd_trace_valid(longest, GD_TRACE_MAX + 1));
	assert_false(gd_trace_valid("", 0));
	assert_false(gd_trace_valid(NULL, 3));
	static const char *const bad[] = {
		"a b", "a\nb", "a/b", "a=b", "a\"b", "a\\b", "caf\xc3\xa9", "a\tb", "a;b", "a%20",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(gd_trace_valid(bad[i], strlen(bad[i])));
	/* only the first len bytes count */
	assert_true(gd_trace_valid("ab cd", 2));
}

static void test_set_get(void **state)
{
	char longest[GD_TRACE_MAX + 2], saved[GD_TRACE_MAX + 1];

	(void)state;
	assert_null(gd_trace_set(NULL));
	assert_null(gd_trace_get());
	assert_string_equal(gd_trace_set("op-42"), "op-42");
	assert_string_equal(gd_trace_get(), "op-42");
	gd_trace_save(saved);
	assert_string_equal(saved, "op-42");
	/* anything else becomes a generated id */
	assert_true(is_generated(gd_trace_set("not valid")));
	assert_true(is_generated(gd_trace_get()));
	memset(longest, 'x', sizeof(longest));
	longest[GD_TRACE_MAX] = '\0';
	assert_string_equal(gd_trace_set(longest), longest);
	longest[GD_TRACE_MAX] = 'x';
	longest[GD_TRACE_MAX + 1] = '\0';
	assert_true(is_generated(gd_trace_set(longest)));
	/* "" clears, and a saved "" restores "none" */
	assert_null(gd_trace_set(""));
	assert_null(gd_trace_get());
	gd_trace_save(saved);
	assert_string_equal(saved, "");
	gd_trace_set("x");
	gd_trace_set(saved);
	assert_null(gd_trace_get());
}

static void test_generate(void **state)
{
	enum { N = 2000 };
	static char ids[N][GD_TRACE_GEN_LEN + 1];

	(void)state;
	for (int i = 0; i < N; i++) {
		gd_trace_generate(ids[i]);
		assert_true(is_generated(ids[i]));
		assert_true(gd_trace_valid(ids[i], strlen(ids[i])));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
}

struct thread_seen {
	const char *at_start;      /* what the new thread had (must be none) */
	char own[GD_TRACE_MAX + 1];
	char gen[GD_TRACE_GEN_LEN + 1];
};

static void *other_thread(void *arg)
{
	struct thread_seen *t = arg;

	t->at_start = gd_trace_get();
	gd_trace_set("thread-b");
	snprintf(t->own, sizeof(t->own), "%s", gd_trace_get());
	gd_trace_generate(t->gen);
	return NULL;
}

static void test_thread_local(void **state)
{
	struct thread_seen t = { 0 };
	char mine[GD_TRACE_GEN_LEN + 1];
	pthread_t th;

	(void)state;
	gd_trace_set("thread-a");
	assert_int_equal(pthread_create(&th, NULL, other_thread, &t), 0);
	pthread_join(th, NULL);
	assert_null(t.at_start);
	assert_string_equal(t.own, "thread-b");
	assert_string_equal(gd_trace_get(), "thread-a");
	/* each thread's generator has a seed of its own */
	gd_trace_generate(mine);
	assert_string_not_equal(mine, t.gen);
	gd_trace_set(NULL);
}

/* ---- the frame ---- */

static struct gd_frame_hdr traced_hdr(uint32_t pb_len)
{
	struct gd_frame_hdr h = {
		.magic_version = GD_FRAME_MAGIC_VERSION,
		.kind = GD_KIND_REQUEST | GD_FRAME_F_TRACE,
		.method = GODFS__METHOD__M_PING,
		.request_id = 9,
		.pb_len = pb_len,
		.data_len = 0,
	};
	return h;
}

static int decode(const struct gd_frame_hdr *h, struct gd_frame_hdr *out, const char **why)
{
	uint8_t buf[GD_FRAME_HDR_LEN];

	gd_frame_encode_hdr(h, buf);
	*why = NULL;
	return gd_frame_decode_hdr(buf, sizeof(buf), out, why);
}

static void test_frame_prefix(void **state)
{
	uint8_t pb[GD_FRAME_TRACE_MAX + 8];
	char id[GD_TRACE_MAX + 1];
	struct gd_frame_hdr h, out;
	const char *why;
	size_t n, skip;

	(void)state;
	/* nothing to send for none or a bad id */
	assert_int_equal(gd_frame_trace_put(NULL, pb), 0);
	assert_int_equal(gd_frame_trace_put("", pb), 0);
	assert_int_equal(gd_frame_trace_put("no good", pb), 0);
	n = gd_frame_trace_put("gw-7f3a", pb);
	assert_int_equal(n, 8);
	assert_int_equal(pb[0], 7);
	assert_memory_equal(pb + 1, "gw-7f3a", 7);
	pb[n] = 0x08;    /* a protobuf byte after it */

	h = traced_hdr((uint32_t)n + 1);
	assert_int_equal(decode(&h, &out, &why), 0);
	assert_int_equal(out.kind, h.kind);     /* kept as it came: encodes back */
	assert_int_equal(gd_frame_kind(&out), GD_KIND_REQUEST);
	assert_int_equal(gd_frame_trace_take(&out, pb, id, &skip, &why), 0);
	assert_string_equal(id, "gw-7f3a");
	assert_int_equal(skip, n);
	/* an id may fill the whole pb part (an empty protobuf message) */
	h.pb_len = (uint32_t)n;
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), 0);
	assert_int_equal(skip, n);

	/* without the flag: no id, nothing skipped, whatever the bytes */
	h.kind = GD_KIND_REQUEST;
	strcpy(id, "stale");
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), 0);
	assert_string_equal(id, "");
	assert_int_equal(skip, 0);

	/* the longest id */
	char longest[GD_TRACE_MAX + 1];
	memset(longest, 'L', GD_TRACE_MAX);
	longest[GD_TRACE_MAX] = '\0';
	n = gd_frame_trace_put(longest, pb);
	assert_int_equal(n, GD_FRAME_TRACE_MAX);
	h = traced_hdr((uint32_t)n);
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), 0);
	assert_string_equal(id, longest);
}

/* Every malformed form is refused with a reason: at the header, or when the
 * prefix is read. */
static void test_frame_malformed(void **state)
{
	uint8_t pb[80];
	char id[GD_TRACE_MAX + 1];
	struct gd_frame_hdr h, out;
	const char *why;
	size_t skip;

	(void)state;
	/* the flag on a response or a push */
	h = traced_hdr(10);
	h.kind = GD_KIND_RESPONSE | GD_FRAME_F_TRACE;
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	assert_non_null(strstr(why, "not a request"));
	h.kind = GD_KIND_PUSH | GD_FRAME_F_TRACE;
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	/* a flag nobody defined */
	h = traced_hdr(10);
	h.kind = GD_KIND_REQUEST | 0x0200;
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	assert_non_null(strstr(why, "flag"));
	h.kind = GD_KIND_REQUEST | 0x8000;
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	/* no room for a length byte and one character */
	h = traced_hdr(1);
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	assert_non_null(strstr(why, "no room"));
	h.pb_len = 0;
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	/* the kind is still checked on its own */
	h = traced_hdr(10);
	h.kind = GD_FRAME_F_TRACE;
	assert_int_equal(decode(&h, &out, &why), GD_EPROTO);
	assert_non_null(strstr(why, "kind"));

	/* the prefix: length 0, over 64, past the pb part, bad characters */
	h = traced_hdr(sizeof(pb));
	memset(pb, 'a', sizeof(pb));
	pb[0] = 0;
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), GD_EPROTO);
	assert_non_null(strstr(why, "length"));
	pb[0] = GD_TRACE_MAX + 1;
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), GD_EPROTO);
	pb[0] = 255;
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), GD_EPROTO);
	pb[0] = 5;
	h.pb_len = 5;
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), GD_EPROTO);
	assert_non_null(strstr(why, "longer"));
	h.pb_len = 6;
	assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), 0);
	static const char bad[] = { ' ', '\n', '\0', '/', '=', '"', (char)0xc3, 0x7f };
	for (size_t i = 0; i < sizeof(bad); i++) {
		pb[3] = (uint8_t)bad[i];
		why = NULL;
		assert_int_equal(gd_frame_trace_take(&h, pb, id, &skip, &why), GD_EPROTO);
		assert_non_null(strstr(why, "character"));
	}
	/* a refusal leaves no id behind */
	assert_string_equal(id, "");
	assert_int_equal(skip, 0);
}

/* ---- over loopback ---- */

struct seen {
	pthread_mutex_t lock;
	int handled;
	char req_trace[GD_TRACE_MAX + 1];  /* req->trace */
	char thread_trace[GD_TRACE_MAX + 1]; /* gd_trace_get() in the handler */
	uint16_t kind;
	uint32_t pb_len;
	uint64_t nonce;
};

static void seen_handler(void *ctx, struct gd_request *req)
{
	struct seen *s = ctx;
	const char *t = gd_trace_get();

	pthread_mutex_lock(&s->lock);
	s->handled++;
	snprintf(s->req_trace, sizeof(s->req_trace), "%s", req->trace);
	snprintf(s->thread_trace, sizeof(s->thread_trace), "%s", t ? t : "(none)");
	s->kind = req->hdr.kind;
	s->pb_len = req->hdr.pb_len;
	s->nonce = ((const Godfs__Ping *)req->msg)->nonce;
	pthread_mutex_unlock(&s->lock);
	(void)gd_reply_status(req, 0);
	gd_request_free(req);
}

struct fixture {
	struct seen s;
	struct gd_server *srv;
	int port;
	char addr[64];
	struct gd_conn *c;
};

static int setup(void **state, int workers)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gd_server_config cfg = {
		.listen = "127.0.0.1:0",
		.handler = seen_handler,
		.workers = workers,
	};

	if (!f)
		return -1;
	pthread_mutex_init(&f->s.lock, NULL);
	cfg.ctx = &f->s;
	if (gd_server_start(&cfg, &f->srv) != 0) {
		free(f);
		return -1;
	}
	f->port = gd_server_port(f->srv);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
	if (gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &f->c) != 0) {
		gd_server_stop(f->srv);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup_inline(void **state)
{
	return setup(state, 0);
}

static int setup_workers(void **state)
{
	return setup(state, 2);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gd_conn_close(f->c);
	gd_server_stop(f->srv);
	pthread_mutex_destroy(&f->s.lock);
	free(f);
	gd_trace_set(NULL);
	return 0;
}

static int ping(struct fixture *f, uint64_t nonce)
{
	Godfs__Ping p = GODFS__PING__INIT;
	struct gd_call_args a = { 0 };
	struct gd_call_result res = { 0 };
	int rc;

	p.has_nonce = 1;
	p.nonce = nonce;
	a.method = GODFS__METHOD__M_PING;
	a.req = &p.base;
	a.resp_desc = &godfs__ping__descriptor;
	a.timeout_ms = 5000;
	rc = gd_call(f->c, &a, &res);
	gd_call_result_release(&res);
	return rc;
}

/* The id of the calling thread reaches the handler, as req->trace and as
 * the handler thread's id; the handler sees the request without it. */
static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	Godfs__Ping p = GODFS__PING__INIT;

	p.has_nonce = 1;
	p.nonce = 1001;
	gd_trace_set("rt-1");
	assert_int_equal(ping(f, 1001), 0);
	assert_int_equal(f->s.handled, 1);
	assert_string_equal(f->s.req_trace, "rt-1");
	assert_string_equal(f->s.thread_trace, "rt-1");
	assert_int_equal(f->s.kind, GD_KIND_REQUEST);
	assert_int_equal(f->s.pb_len, godfs__ping__get_packed_size(&p));
	assert_int_equal(f->s.nonce, 1001);
	/* the caller's id is unchanged by the call */
	assert_string_equal(gd_trace_get(), "rt-1");

	/* none set: none sent, none in the handler (not the last one's) */
	gd_trace_set(NULL);
	assert_int_equal(ping(f, 1002), 0);
	assert_int_equal(f->s.handled, 2);
	assert_string_equal(f->s.req_trace, "");
	assert_string_equal(f->s.thread_trace, "(none)");
	assert_int_equal(f->s.nonce, 1002);

	/* another id on the same connection */
	gd_trace_set("rt-2.b");
	assert_int_equal(ping(f, 1003), 0);
	assert_string_equal(f->s.req_trace, "rt-2.b");
	assert_string_equal(f->s.thread_trace, "rt-2.b");
}

/* Writes a whole buffer to a raw socket. */
static void send_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Whether the server closes fd within 3 s (reads until EOF). */
static bool closed_by_server(int fd)
{
	uint8_t junk[256];

	for (int i = 0; i < 30; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) == 1) {
			ssize_t n = recv(fd, junk, sizeof(junk), 0);
			if (n <= 0)
				return true;
		}
	}
	return false;
}

/* A raw, authenticated connection to the fixture's server. */
static int raw_connect(struct fixture *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(gd_auth_client(fd, gd_cred_self(), GD_ROLE_CLIENT, 2000), 0);
	return fd;
}

/* A ping frame with prefix bytes (tlen of them) before its protobuf. */
static size_t traced_ping(uint8_t *buf, const uint8_t *prefix, size_t tlen)
{
	Godfs__Ping p = GODFS__PING__INIT;
	struct gd_frame_hdr h = traced_hdr(0);
	size_t n;

	p.has_nonce = 1;
	p.nonce = 77;
	memcpy(buf + GD_FRAME_HDR_LEN, prefix, tlen);
	n = godfs__ping__pack(&p, buf + GD_FRAME_HDR_LEN + tlen);
	h.pb_len = (uint32_t)(tlen + n);
	gd_frame_encode_hdr(&h, buf);
	return GD_FRAME_HDR_LEN + h.pb_len;
}

/* A well-formed prefix sent by hand is taken; a malformed one drops the
 * connection before the handler sees anything. */
static void test_malformed_on_wire(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	static const uint8_t good[] = { 4, 'h', 'a', 'n', 'd' };
	static const uint8_t zero[] = { 0, 'x' };
	static const uint8_t space[] = { 3, 'a', ' ', 'b' };
	static const uint8_t toolong[] = { 65, 'a' };
	const uint8_t *bad[] = { zero, space, toolong };
	const size_t badlen[] = { sizeof(zero), sizeof(space), sizeof(toolong) };
	int fd;

	fd = raw_connect(f);
	send_all(fd, buf, traced_ping(buf, good, sizeof(good)));
	for (int i = 0; i < 100 && f->s.handled < 1; i++)
		usleep(10000);
	assert_int_equal(f->s.handled, 1);
	assert_string_equal(f->s.req_trace, "hand");
	assert_int_equal(f->s.nonce, 77);
	close(fd);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = raw_connect(f);
		send_all(fd, buf, traced_ping(buf, bad[i], badlen[i]));
		assert_true(closed_by_server(fd));
		close(fd);
	}
	assert_int_equal(f->s.handled, 1);
	/* the server still serves */
	assert_int_equal(ping(f, 5), 0);
	assert_int_equal(f->s.handled, 2);
}

/* ---- log lines ---- */

static void test_log_text(void **state)
{
	char line[4096];

	(void)state;
	assert_int_equal(gd_log_set_format("text"), 0);
	gd_trace_set(NULL);
	gd_log_format_line(line, sizeof(line), GD_LOG_WARN, "dir/meta_x.c", 12, "hello");
	/* 2026-01-02T03:04:05.678Z test_trace[PID] warn meta_x.c:12: hello */
	assert_int_equal(strlen(line) > 24, 1);
	assert_int_equal(line[4], '-');
	assert_int_equal(line[10], 'T');
	assert_int_equal(line[23], 'Z');
	{
		char want[64];
		snprintf(want, sizeof(want), " test_trace[%d] warn meta_x.c:12: hello", (int)getpid());
		assert_string_equal(line + 24, want);
	}
	gd_trace_set("abc-1");
	gd_log_format_line(line, sizeof(line), GD_LOG_INFO, "x.c", 1, "m");
	assert_non_null(strstr(line, " info x.c:1: m req=abc-1"));
	assert_int_equal(strcmp(line + strlen(line) - 10, " req=abc-1"), 0);
	/* a name from the network cannot forge a line or drive a terminal */
	gd_trace_set(NULL);
	gd_log_format_line(line, sizeof(line), GD_LOG_INFO, "x.c", 1,
			   "a\n2099-01-01T00:00:00.000Z godfs-meta[1] error f.c:1: FORGED\r\t"
			   "\x1b[31m\x7f\x01 back\\ caf\xc3\xa9");
	assert_null(strchr(line, '\n'));
	assert_null(strchr(line, '\r'));
	assert_null(strchr(line, '\x1b'));
	assert_non_null(strstr(line, " info x.c:1: a\\n2099-01-01T00:00:00.000Z godfs-meta[1] "
				     "error f.c:1: FORGED\\r\\t\\x1b[31m\\x7f\\x01 back\\ "
				     "caf\xc3\xa9"));
	/* a short buffer is cut, never overrun */
	memset(line, 'Q', sizeof(line));
	gd_log_format_line(line, 16, GD_LOG_INFO, "x.c", 1, "m");
	assert_int_equal(strlen(line), 15);
	assert_int_equal(line[16], 'Q');
	gd_trace_set(NULL);
}

static void test_log_json(void **state)
{
	char line[16384];

	(void)state;
	assert_int_equal(gd_log_set_format("yaml"), GD_EINVAL);
	assert_int_equal(gd_log_get_format(), GD_LOG_TEXT);
	assert_int_equal(gd_log_set_format("json"), 0);
	assert_int_equal(gd_log_get_format(), GD_LOG_JSON);
	gd_trace_set("j-1");
	gd_log_format_line(line, sizeof(line), GD_LOG_ERROR, "a/b/c.c", 7,
			   "quote\" back\\ nl\n tab\t bell\x07 caf\xc3\xa9 bad\xff end");
	assert_int_equal(strncmp(line, "{\"ts\":\"", 7), 0);
	assert_non_null(strstr(line, "\",\"prog\":\"test_trace\",\"pid\":"));
	assert_non_null(strstr(line, ",\"level\":\"error\",\"src\":\"c.c:7\",\"msg\":"
				     "\"quote\\\" back\\\\ nl\\n tab\\t bell\\u0007 caf\xc3\xa9 "
				     "bad\\ufffd end\",\"req\":\"j-1\"}"));
	assert_int_equal(line[strlen(line) - 1], '}');
	/* no id: no "req" */
	gd_trace_set(NULL);
	gd_log_format_line(line, sizeof(line), GD_LOG_DEBUG, "c.c", 7, "m");
	assert_null(strstr(line, "\"req\""));
	assert_non_null(strstr(line, ",\"level\":\"debug\",\"src\":\"c.c:7\",\"msg\":\"m\"}"));
	/* the longest message with the worst escaping still closes */
	char msg[1024];
	memset(msg, 0x01, sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	gd_log_format_line(line, 8 * 1024 - 1, GD_LOG_INFO, "c.c", 7, msg);
	assert_int_equal(line[strlen(line) - 1], '}');
	/* truncated UTF-8 at the end, overlong forms, surrogates */
	gd_log_format_line(line, sizeof(line), GD_LOG_INFO, "c.c", 7,
			   "x\xc0\xaf y\xed\xa0\x80 z\xe2\x82");
	assert_non_null(strstr(line, "\"x\\ufffd\\ufffd y\\ufffd\\ufffd\\ufffd z\\ufffd\\ufffd\""));
	assert_int_equal(gd_log_set_format("text"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_set_get),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_thread_local),
		cmocka_unit_test(test_frame_prefix),
		cmocka_unit_test(test_frame_malformed),
		cmocka_unit_test_setup_teardown(test_round_trip, setup_inline, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup_workers, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_on_wire, setup_workers, teardown),
		cmocka_unit_test(test_log_text),
		cmocka_unit_test(test_log_json),
	};

	gd_log_init("test_trace", getenv("GD_TEST_LOG") ? getenv("GD_TEST_LOG") : "error");
	gd_cred_set(NULL, NULL, true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
