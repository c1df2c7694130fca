/* The Raft port (meta/meta_raft_transport.c) on a real libuv loop and real
 * loopback sockets: two transports with the same key connect and raft's bytes
 * pass unchanged; a wrong key, no key, a token-less stranger speaking garbage,
 * a bad hello (huge or zero address length, id 0), a peer of another role and
 * a silent peer are refused or cut with a log line and never reach raft's
 * accept callback; a flood is bounded; closing the transport with handshakes
 * in flight fires every callback exactly once (ASan checks the rest).
 * With TLS (the policy's tls flag): two TLS transports carry raft's bytes
 * both ways through their pipes, the bytes on the wire are not raft's, a TLS
 * transport and a plain one refuse each other in both directions, a stranger
 * who passes the handshake but speaks no TLS is cut, and closing leaves no
 * thread and no file descriptor behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gd_auth.h"
#include "gd_log.h"
#include "gd_tls.h"
#include "meta_raft_transport.h"

/* ---- fixtures ------------------------------------------------------------------ */

struct side {
	struct raft_uv_transport t;
	struct gd_auth_policy pol;
	struct gd_cred cred;
	int closed;                 /* close callbacks */
};

struct accepted {
	int n;
	raft_id id;
	char address[300];
	uv_stream_t *stream;
	char data[(1 << 20) + 64];  /* bytes raft would read from it */
	size_t got;
};

struct connected {
	struct raft_uv_connect req;
	int n;                      /* callbacks */
	int status;
	uv_stream_t *stream;
};

static uv_loop_t loop;
static struct gd_keyring key_a, key_b;
static struct accepted acc;
static int log_fd = -1, saved_stderr = -1;
static char log_path[64];

static void make_key(struct gd_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->n = 1;
	assert_int_equal(gd_random(kr->key[0].key, GD_KEY_LEN), 0);
	gd_key_set_id(&kr->key[0]);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop for up to ms, or until *flag becomes non-zero. */
static void pump(int ms, const int *flag)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end && (flag == NULL || *flag == 0)) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

/* The log lines written since the test began (stderr goes to a file). */
static char *log_text(void)
{
	static char buf[1 << 16];
	ssize_t n;

	fflush(stderr);
	n = pread(log_fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void side_closed_cb(struct raft_uv_transport *t)
{
	struct side *s = (struct side *)((char *)t - offsetof(struct side, t));

	s->closed++;
}

static unsigned max_per_address;   /* for the next side_init; 0 = the default */
static bool with_tls;              /* for the next side_init */

static void side_init(struct side *s, const struct gd_keyring *policy_keys, bool insecure,
		      const struct gd_keyring *cred_keys, unsigned hs_ms, unsigned max_hs)
{
	struct meta_raft_transport_opts o = { 0 };

	memset(s, 0, sizeof(*s));
	s->pol.keys = policy_keys;
	s->pol.insecure = insecure;
	s->pol.tokens = true;       /* the transport must turn this off */
	s->pol.tls = with_tls;
	s->cred.kind = cred_keys ? GD_AUTH_CLUSTER : GD_AUTH_NONE;
	s->cred.keys = cred_keys;
	o.policy = &s->pol;
	o.cred = &s->cred;
	o.handshake_ms = hs_ms;
	o.max_handshakes = max_hs;
	o.max_per_address = max_per_address;
	assert_int_equal(meta_raft_transport_init(&s->t, &loop, &o), 0);
}

static void acc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = acc.data + acc.got;
	buf->len = sizeof(acc.data) - 1 - acc.got;
}

static void acc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)s;
	(void)buf;
	if (n > 0)
		acc.got += (size_t)n;
}

/* raft's accept callback: keeps the stream and reads what follows. */
static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
		      uv_stream_t *stream)
{
	(void)t;
	acc.n++;
	acc.id = id;
	snprintf(acc.address, sizeof(acc.address), "%s", address);
	acc.stream = stream;
	assert_int_equal(uv_read_start(stream, acc_alloc, acc_read), 0);
}

static void connect_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
	struct connected *c = req->data;

	c->n++;
	c->status = status;
	c->stream = stream;
	if (status == 0)
		assert_non_null(stream);
	else
		assert_null(stream);
}

/* A server side listening on 127.0.0.1, port picked by the kernel. */
static int server_start(struct side *s, const struct gd_keyring *keys, bool insecure,
			unsigned hs_ms, unsigned max_hs)
{
	side_init(s, keys, insecure, keys, hs_ms, max_hs);
	assert_int_equal(s->t.init(&s->t, 1, "127.0.0.1:0"), 0);
	assert_int_equal(s->t.listen(&s->t, accept_cb), 0);
	assert_true(meta_raft_transport_port(&s->t) > 0);
	return meta_raft_transport_port(&s->t);
}

static void stream_free_cb(uv_handle_t *h)
{
	raft_free(h);
}

static void side_close(struct side *s)
{
	s->t.close(&s->t, side_closed_cb);
	pump(2000, &s->closed);
	assert_int_equal(s->closed, 1);
	meta_raft_transport_release(&s->t);
}

static int setup(void **state)
{
	(void)state;
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(uv_loop_init(&loop), 0);
	snprintf(log_path, sizeof(log_path), "/tmp/test_raft_transport.XXXXXX");
	log_fd = mkstemp(log_path);
	assert_true(log_fd >= 0);
	unlink(log_path);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(log_fd, 2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (acc.stream != NULL)
		uv_close((uv_handle_t *)acc.stream, stream_free_cb);
	pump(50, NULL);
	assert_int_equal(uv_loop_close(&loop), 0);
	/* the test's log lines (and cmocka's messages) go to the real stderr */
	fputs(log_text(), stdout);
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	close(log_fd);
	return 0;
}

/* ---- a stranger with a raw socket ---------------------------------------------- */

/* A connection from 127.0.0.N (N = from; 1 is the usual one). */
static int raw_connect_from(int port, int from)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + (uint32_t)from);
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* completes from the backlog; the loop accepts later */
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int raw_connect(int port)
{
	return raw_connect_from(port, 1);
}

static void raw_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads exactly len bytes while the loop runs (2 s at most); false when the
 * connection ended or the time ran out first. */
static bool raw_try_recv(int fd, void *buf, size_t len)
{
	uint64_t end = now_ms() + 2000;
	size_t got = 0;

	while (got < len && now_ms() < end) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);

		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			pump(2, NULL);
		else
			break;
	}
	return got == len;
}

static void raw_recv(int fd, void *buf, size_t len)
{
	assert_true(raw_try_recv(fd, buf, len));
}

/* True when the server closed the connection within ms (what it sent before,
 * if anything, is skipped). */
static bool raw_closed(int fd, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	char b[256];

	while (now_ms() < end) {
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
		if (n < 0)
			pump(2, NULL);
	}
	return false;
}

/* Runs the client side of the godfs handshake by hand; returns the verdict's
 * check (0 = accepted), or -1 when the server closed without a verdict. */
static int raw_auth(int fd, const struct gd_cred *cred, enum gd_role role)
{
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], proof[GD_AUTH_PROOF_LEN], v[GD_AUTH_VERDICT_LEN];
	uint8_t secret[GD_KEY_LEN], ins[GD_AUTH_CHALLENGE_LEN];

	raw_recv(fd, ch, sizeof(ch));
	/* a stranger with no key sends a NONE proof even to a secure server */
	memcpy(ins, ch, sizeof(ch));
	if (cred->kind == GD_AUTH_NONE)
		ins[7] |= GD_AUTH_F_INSECURE;
	assert_int_equal(gd_auth_prove(ins, cred, role, proof, secret), 0);
	raw_send(fd, proof, sizeof(proof));
	if (!raw_try_recv(fd, v, sizeof(v)))
		return -1;
	return gd_auth_verdict(ch, proof, secret, v);
}

/* raw_auth that also gives the challenge's flags and the session key. */
static int raw_auth_key(int fd, const struct gd_cred *cred, uint32_t *flags,
			uint8_t key[GD_KEY_LEN])
{
	uint8_t ch[GD_AUTH_CHALLENGE_LEN], proof[GD_AUTH_PROOF_LEN], v[GD_AUTH_VERDICT_LEN];
	uint8_t secret[GD_KEY_LEN];

	raw_recv(fd, ch, sizeof(ch));
	*flags = (uint32_t)ch[4] << 24 | (uint32_t)ch[5] << 16 | (uint32_t)ch[6] << 8 | ch[7];
	assert_int_equal(gd_auth_prove(ch, cred, GD_ROLE_META, proof, secret), 0);
	raw_send(fd, proof, sizeof(proof));
	if (!raw_try_recv(fd, v, sizeof(v)))
		return -1;
	gd_auth_session_key(secret, ch, proof, key);
	return gd_auth_verdict(ch, proof, secret, v);
}

/* A hello: "GDR1", id, address length, address. */
static size_t hello(uint8_t *b, uint64_t id, unsigned len, const char *addr)
{
	memcpy(b, "GDR1", 4);
	for (int i = 0; i < 8; i++)
		b[4 + i] = (uint8_t)(id >> (56 - 8 * i));
	b[12] = (uint8_t)(len >> 8);
	b[13] = (uint8_t)len;
	memcpy(b + 14, addr, strlen(addr));
	return 14 + strlen(addr);
}

/* ---- tests ---------------------------------------------------------------------- */

/* The same key on both sides: the stream reaches raft with the connecting
 * node's id and address, and bytes raft writes right after the connect
 * callback all arrive (the handshake reads nothing past its own messages). */
static void test_same_key_connects(void **state)
{
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	char addr[32];
	int port = server_start(&srv, &key_a, false, 0, 0);
	uv_write_t w;
	uv_buf_t b = uv_buf_init((char *)"raft message bytes", 18);

	(void)state;
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	assert_int_equal(c.n, 0);   /* never from inside connect */
	pump(3000, &c.n);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(uv_write(&w, c.stream, &b, 1, NULL), 0);
	pump(3000, &acc.n);
	assert_int_equal(acc.n, 1);
	assert_int_equal(acc.id, 2);
	assert_string_equal(acc.address, "127.0.0.1:7002");
	for (int i = 0; i < 2000 && acc.got < 18; i++)
		pump(1, NULL);
	assert_int_equal(acc.got, 18);
	assert_memory_equal(acc.data, "raft message bytes", 18);
	uv_close((uv_handle_t *)c.stream, stream_free_cb);
	side_close(&cli);
	side_close(&srv);
	assert_int_equal(c.n, 1);
}

/* A server whose name must be resolved (localhost): same result. */
static void test_connect_by_name(void **state)
{
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	char addr[32];
	int port = server_start(&srv, &key_a, false, 0, 0);

	(void)state;
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "localhost:7002"), 0);
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &c.n);
	if (c.status != 0) {
		/* localhost may resolve to ::1 first where the server only has
		 * 127.0.0.1: a refusal, not a handshake failure. */
		assert_int_equal(c.status, RAFT_NOCONNECTION);
	} else {
		pump(3000, &acc.n);
		assert_int_equal(acc.n, 1);
		uv_close((uv_handle_t *)c.stream, stream_free_cb);
	}
	side_close(&cli);
	side_close(&srv);
}

/* A node with another key: its connect fails, raft never sees the stream,
 * and the server logs who and why. */
static void test_wrong_key_refused(void **state)
{
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	struct meta_raft_transport_stats st;
	char addr[32];
	int port = server_start(&srv, &key_a, false, 0, 0);

	(void)state;
	side_init(&cli, &key_b, false, &key_b, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &c.n);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.status, RAFT_NOCONNECTION);
	pump(50, NULL);
	assert_int_equal(acc.n, 0);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.accepted, 0);
	assert_non_null(strstr(log_text(), "raft port: refused 127.0.0.1:"));
	assert_non_null(strstr(log_text(), "connection to node 1 at 127.0.0.1:"));
	side_close(&cli);
	side_close(&srv);
	assert_int_equal(c.n, 1);
}

/* A node with no key at all: it does not even try (its log says why), and a
 * stranger that sends a credential-less proof by hand is refused. */
static void test_no_key_refused(void **state)
{
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	struct gd_cred none = { .kind = GD_AUTH_NONE };
	char addr[32];
	int port = server_start(&srv, &key_a, false, 0, 0), fd;

	(void)state;
	side_init(&cli, NULL, false, NULL, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &c.n);
	assert_int_equal(c.status, RAFT_NOCONNECTION);
	assert_non_null(strstr(log_text(), "this node has none"));

	fd = raw_connect(port);
	assert_int_not_equal(raw_auth(fd, &none, GD_ROLE_META), 0);
	assert_true(raw_closed(fd, 2000));
	close(fd);
	assert_int_equal(acc.n, 0);
	assert_non_null(strstr(log_text(), "no credential"));
	side_close(&cli);
	side_close(&srv);
}

/* --insecure: a node without a key gets in (GD_AUTH_NONE). */
static void test_insecure_lets_none_in(void **state)
{
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	char addr[32];
	int port = server_start(&srv, NULL, true, 0, 0);

	(void)state;
	side_init(&cli, NULL, true, NULL, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 3, "127.0.0.1:7003"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &c.n);
	assert_int_equal(c.status, 0);
	pump(3000, &acc.n);
	assert_int_equal(acc.n, 1);
	assert_int_equal(acc.id, 3);
	uv_close((uv_handle_t *)c.stream, stream_free_cb);
	side_close(&cli);
	side_close(&srv);
}

/* Garbage instead of a proof (here: libraft's own TCP preamble announcing an
 * address of 2^40 bytes), a good key with the wrong role, and, after a good
 * handshake, hellos with a huge or zero address length, id 0, no magic or a
 * NUL in the address: each is cut with a log line, nothing reaches raft. */
static void test_garbage_and_bad_hellos_cut(void **state)
{
	struct side srv;
	struct meta_raft_transport_stats st;
	struct gd_cred good = { .kind = GD_AUTH_CLUSTER, .keys = &key_a };
	uint8_t junk[GD_AUTH_PROOF_LEN], ch[GD_AUTH_CHALLENGE_LEN], h[300];
	int port = server_start(&srv, &key_a, false, 0, 0), fd;
	struct {
		uint64_t id;
		unsigned len;
		const char *addr;
		const char *log;
	} bad[] = {
		{ 2, 65535, "127.0.0.1:1", "address of 65535 bytes" },
		{ 2, 256, "127.0.0.1:1", "address of 256 bytes" },
		{ 2, 0, "", "address of 0 bytes" },
		{ 0, 11, "127.0.0.1:1", "raft id 0" },
	};

	(void)state;
	/* libraft 0.15's preamble: protocol 1, id 2, address length 2^40 */
	memset(junk, 0, sizeof(junk));
	junk[0] = 1;
	junk[8] = 2;
	junk[21] = 1;
	fd = raw_connect(port);
	raw_recv(fd, ch, sizeof(ch));
	raw_send(fd, junk, sizeof(junk));
	assert_true(raw_closed(fd, 2000));
	close(fd);
	assert_non_null(strstr(log_text(), "not a godfs handshake"));

	fd = raw_connect(port);
	assert_int_equal(raw_auth(fd, &good, GD_ROLE_CLIENT), -1); /* a good key, not a meta */
	assert_true(raw_closed(fd, 2000));
	close(fd);
	assert_non_null(strstr(log_text(), "role client may not use the Raft port"));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = raw_connect(port);
		assert_int_equal(raw_auth(fd, &good, GD_ROLE_META), 0);
		raw_send(fd, h, hello(h, bad[i].id, bad[i].len, bad[i].addr));
		assert_true(raw_closed(fd, 2000));
		close(fd);
		assert_non_null(strstr(log_text(), bad[i].log));
	}
	fd = raw_connect(port);
	assert_int_equal(raw_auth(fd, &good, GD_ROLE_META), 0);
	memcpy(h, "XXXX", 4);
	raw_send(fd, h, 14);
	assert_true(raw_closed(fd, 2000));
	close(fd);
	assert_non_null(strstr(log_text(), "not a godfs Raft hello"));

	fd = raw_connect(port);
	assert_int_equal(raw_auth(fd, &good, GD_ROLE_META), 0);
	hello(h, 2, 5, "ab");
	memcpy(h + 16, "\0cd", 3);
	raw_send(fd, h, 19);
	assert_true(raw_closed(fd, 2000));
	close(fd);
	assert_non_null(strstr(log_text(), "a NUL byte"));

	/* the same by hand with a good hello gets through */
	fd = raw_connect(port);
	assert_int_equal(raw_auth(fd, &good, GD_ROLE_META), 0);
	raw_send(fd, h, hello(h, 9, 11, "127.0.0.1:9"));
	pump(2000, &acc.n);
	assert_int_equal(acc.n, 1);
	assert_int_equal(acc.id, 9);
	assert_string_equal(acc.address, "127.0.0.1:9");
	close(fd);

	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.refused, 8);
	assert_int_equal(st.accepted, 1);
	side_close(&srv);
}

/* A peer that connects and sends nothing, or stops half way through its
 * proof, is cut at the deadline. */
static void test_silent_peer_cut_at_deadline(void **state)
{
	struct side srv;
	struct meta_raft_transport_stats st;
	uint8_t ch[GD_AUTH_CHALLENGE_LEN];
	int port = server_start(&srv, &key_a, false, 300, 0), fd1, fd2;
	uint64_t t0 = now_ms();

	(void)state;
	fd1 = raw_connect(port);
	fd2 = raw_connect(port);
	raw_recv(fd2, ch, sizeof(ch));
	raw_send(fd2, ch, 20);
	pump(100, NULL);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.in_handshake, 2);
	assert_true(raw_closed(fd1, 2000));
	assert_true(raw_closed(fd2, 2000));
	assert_true(now_ms() - t0 >= 290);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.timed_out, 2);
	assert_int_equal(st.in_handshake, 0);
	assert_non_null(strstr(log_text(), "no complete handshake within 300 ms"));
	close(fd1);
	close(fd2);
	assert_int_equal(acc.n, 0);
	side_close(&srv);
}

/* More connections than the bound: the extra ones are closed at once, the
 * others are cut at the deadline; a good peer gets in once they are gone. */
static void test_flood_is_bounded(void **state)
{
	struct side srv, cli;
	struct meta_raft_transport_stats st;
	struct connected c = { .req.data = &c };
	int port = server_start(&srv, &key_a, false, 300, 4), fd[10];
	char addr[32];

	(void)state;
	for (int i = 0; i < 10; i++)
		fd[i] = raw_connect(port);
	pump(150, NULL);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.in_handshake, 4);
	assert_int_equal(st.overflow, 6);
	assert_non_null(strstr(log_text(), "4 connections in handshake already"));
	for (int i = 0; i < 10; i++) {
		assert_true(raw_closed(fd[i], 2000));
		close(fd[i]);
	}
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &acc.n);
	assert_int_equal(acc.n, 1);
	assert_int_equal(c.status, 0);
	uv_close((uv_handle_t *)c.stream, stream_free_cb);
	side_close(&cli);
	side_close(&srv);
}

/* One address cannot take every place: five silent connections from
 * 127.0.0.2 against a bound of three per address leave three in handshake,
 * and a good peer from 127.0.0.1 still gets in at once. */
static void test_per_address_bound(void **state)
{
	struct side srv, cli;
	struct meta_raft_transport_stats st;
	struct connected c = { .req.data = &c };
	int port, fd[5];
	char addr[32];

	(void)state;
	max_per_address = 3;
	port = server_start(&srv, &key_a, false, 0, 8);
	max_per_address = 0;
	for (int i = 0; i < 5; i++)
		fd[i] = raw_connect_from(port, 2);
	pump(150, NULL);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.in_handshake, 3);
	assert_int_equal(st.overflow, 2);
	assert_non_null(strstr(log_text(), "3 connections from 127.0.0.2 in handshake already"));
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &acc.n);
	assert_int_equal(acc.n, 1);
	assert_int_equal(c.status, 0);
	uv_close((uv_handle_t *)c.stream, stream_free_cb);
	for (int i = 0; i < 5; i++)
		close(fd[i]);
	side_close(&cli);
	side_close(&srv);
}

/* Closing with handshakes in flight: outgoing requests (waiting for a
 * challenge, waiting for a name lookup) get RAFT_CANCELED exactly once,
 * incoming ones never reach raft, and each close callback fires once. */
static void test_close_with_handshakes_in_flight(void **state)
{
	struct side srv, cli;
	struct connected c1 = { .req.data = &c1 }, c2 = { .req.data = &c2 };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	char addr[32];
	int mute, fd, port;

	(void)state;
	/* a listener that never answers: the client waits for its challenge */
	mute = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(mute, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(mute, 4), 0);
	assert_int_equal(getsockname(mute, (struct sockaddr *)&a, &al), 0);
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
	assert_int_equal(cli.t.connect(&cli.t, &c1.req, 1, addr, connect_cb), 0);
	snprintf(addr, sizeof(addr), "localhost:%d", ntohs(a.sin_port));
	assert_int_equal(cli.t.connect(&cli.t, &c2.req, 3, addr, connect_cb), 0);
	pump(100, NULL);
	assert_int_equal(c1.n, 0);
	cli.t.close(&cli.t, side_closed_cb);
	assert_int_equal(c1.n, 0);      /* from the loop, not from inside close */
	assert_int_equal(cli.closed, 0);
	pump(2000, &cli.closed);
	assert_int_equal(cli.closed, 1);
	assert_int_equal(c1.n, 1);
	assert_int_equal(c1.status, RAFT_CANCELED);
	assert_int_equal(c2.n, 1);
	assert_true(c2.status == RAFT_CANCELED || c2.status == RAFT_NOCONNECTION);
	meta_raft_transport_release(&cli.t);
	close(mute);

	/* a server with strangers in handshake */
	port = server_start(&srv, &key_a, false, 0, 0);
	fd = raw_connect(port);
	pump(100, NULL);
	srv.t.close(&srv.t, side_closed_cb);
	pump(2000, &srv.closed);
	assert_int_equal(srv.closed, 1);
	assert_true(raw_closed(fd, 2000));
	close(fd);
	assert_int_equal(acc.n, 0);
	meta_raft_transport_release(&srv.t);
	pump(50, NULL);
	assert_int_equal(c1.n, 1);
	assert_int_equal(c2.n, 1);
}


/* ---- TLS ------------------------------------------------------------------------ */

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct reader {
	char data[(1 << 20) + 64];
	size_t got;
	bool eof;
};

static void reader_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct reader *r = h->data;

	(void)suggested;
	buf->base = r->data + r->got;
	buf->len = sizeof(r->data) - r->got;
}

static void reader_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct reader *r = s->data;

	(void)buf;
	if (n > 0)
		r->got += (size_t)n;
	else if (n < 0)
		r->eof = true;
}

/* One TLS connection from cli (node 2) to srv; both must run with TLS. */
static void tls_connect(struct side *srv, struct side *cli, int port, struct connected *c)
{
	char addr[32];

	assert_int_equal(cli->t.init(&cli->t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli->t.connect(&cli->t, &c->req, 1, addr, connect_cb), 0);
	assert_int_equal(c->n, 0);
	pump(3000, &c->n);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->status, 0);
	pump(3000, &acc.n);
	assert_int_equal(acc.n, 1);
	(void)srv;
}

/* Both with TLS: raft's streams are pipes that carry a megabyte from the
 * connecting side and an answer the other way, unchanged; the hello came
 * through TLS (id and address right). Then, over three more connections,
 * closing streams and transports leaves no thread and no fd behind. */
static void test_tls_carries_raft_bytes(void **state)
{
	static struct reader back;
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	struct meta_raft_transport_stats st;
	static char big[1 << 20];
	uv_write_t w, w2;
	uv_buf_t b, b2 = uv_buf_init((char *)"an answer", 9);
	int port, fds0 = 0, tasks0 = 0, tasks = count_dir("/proc/self/task");

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 4096);
	with_tls = true;
	for (int round = 0; round < 4; round++) {
		memset(&acc, 0, sizeof(acc));
		memset(&back, 0, sizeof(back));
		memset(&c, 0, sizeof(c));
		c.req.data = &c;
		port = server_start(&srv, &key_a, false, 0, 0);
		side_init(&cli, &key_a, false, &key_a, 0, 0);
		tls_connect(&srv, &cli, port, &c);
		assert_int_equal(acc.id, 2);
		assert_string_equal(acc.address, "127.0.0.1:7002");
		assert_int_equal(c.stream->type, UV_NAMED_PIPE);
		assert_int_equal(acc.stream->type, UV_NAMED_PIPE);
		b = uv_buf_init(big, sizeof(big));
		assert_int_equal(uv_write(&w, c.stream, &b, 1, NULL), 0);
		for (int i = 0; i < 5000 && acc.got < sizeof(big); i++)
			pump(1, NULL);
		assert_int_equal(acc.got, sizeof(big));
		assert_memory_equal(acc.data, big, sizeof(big));
		c.stream->data = &back;
		assert_int_equal(uv_read_start(c.stream, reader_alloc, reader_read), 0);
		assert_int_equal(uv_write(&w2, acc.stream, &b2, 1, NULL), 0);
		for (int i = 0; i < 3000 && back.got < 9; i++)
			pump(1, NULL);
		assert_int_equal(back.got, 9);
		assert_memory_equal(back.data, "an answer", 9);
		meta_raft_transport_stats(&srv.t, &st);
		assert_int_equal(st.accepted, 1);
		assert_int_equal(st.refused, 0);
		assert_int_equal(st.in_handshake, 0);
		/* raft closes the connecting side's stream: the other side reads
		 * the end, as it would of a TCP connection */
		uv_close((uv_handle_t *)c.stream, stream_free_cb);
		acc.stream->data = &back;
		back.eof = false;
		uv_read_stop(acc.stream);
		assert_int_equal(uv_read_start(acc.stream, reader_alloc, reader_read), 0);
		for (int i = 0; i < 3000 && !back.eof; i++)
			pump(1, NULL);
		assert_true(back.eof);
		uv_close((uv_handle_t *)acc.stream, stream_free_cb);
		acc.stream = NULL;
		side_close(&cli);
		side_close(&srv);
		pump(50, NULL);
		if (round == 0) {
			/* after one round: libuv's async eventfd and the like exist */
			fds0 = count_dir("/proc/self/fd");
			tasks0 = count_dir("/proc/self/task");
		} else {
			assert_int_equal(count_dir("/proc/self/fd"), fds0);
			assert_int_equal(count_dir("/proc/self/task"), tasks0);
		}
	}
	assert_int_equal(tasks0, tasks);   /* (libuv's thread pool may run too) */
	with_tls = false;
}

/* The transports are closed while raft still holds TLS streams: the close
 * callbacks wait for the pump threads, raft's streams read the end, and no
 * thread is left. */
static void test_tls_close_with_live_streams(void **state)
{
	static struct reader r;
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	int port, tasks = count_dir("/proc/self/task");

	(void)state;
	with_tls = true;
	port = server_start(&srv, &key_a, false, 0, 0);
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	tls_connect(&srv, &cli, port, &c);
	assert_int_equal(count_dir("/proc/self/task"), tasks + 4);   /* two pumps per side */
	memset(&r, 0, sizeof(r));
	c.stream->data = &r;
	assert_int_equal(uv_read_start(c.stream, reader_alloc, reader_read), 0);
	side_close(&srv);
	for (int i = 0; i < 3000 && !r.eof; i++)
		pump(1, NULL);
	assert_true(r.eof);
	side_close(&cli);
	assert_int_equal(count_dir("/proc/self/task"), tasks);
	uv_close((uv_handle_t *)c.stream, stream_free_cb);
	with_tls = false;
}

/* A TLS voter and a plain one refuse each other, both ways, with a log line
 * that says why; nothing reaches raft. */
static void test_tls_and_plain_refuse_each_other(void **state)
{
	struct side srv, cli;
	struct connected c = { .req.data = &c };
	struct meta_raft_transport_stats st;
	char addr[32];
	int port, tasks = count_dir("/proc/self/task");

	(void)state;
	/* a TLS server, a plain client */
	with_tls = true;
	port = server_start(&srv, &key_a, false, 0, 0);
	with_tls = false;
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &c.n);
	assert_int_equal(c.status, RAFT_NOCONNECTION);
	assert_non_null(strstr(log_text(), "it runs with --tls, and this node does not"));
	for (int i = 0; i < 3000 && strstr(log_text(), "TLS handshake failed") == NULL; i++)
		pump(1, NULL);
	assert_non_null(strstr(log_text(), "TLS handshake failed"));
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(acc.n, 0);
	side_close(&cli);
	side_close(&srv);

	/* a plain server, a TLS client */
	memset(&c, 0, sizeof(c));
	c.req.data = &c;
	port = server_start(&srv, &key_a, false, 0, 0);
	with_tls = true;
	side_init(&cli, &key_a, false, &key_a, 0, 0);
	with_tls = false;
	assert_int_equal(cli.t.init(&cli.t, 2, "127.0.0.1:7002"), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(cli.t.connect(&cli.t, &c.req, 1, addr, connect_cb), 0);
	pump(3000, &c.n);
	assert_int_equal(c.status, RAFT_NOCONNECTION);
	assert_non_null(strstr(log_text(), "it does not use TLS, and this node runs with --tls"));
	pump(100, NULL);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(acc.n, 0);
	side_close(&cli);
	side_close(&srv);
	assert_int_equal(count_dir("/proc/self/task"), tasks);
}

/* By hand against a TLS server: the challenge asks for TLS; after the
 * handshake a plaintext hello is cut (no TLS, no entry), a peer that goes
 * silent is cut at the deadline, and gd_tls with the session key and the
 * hello inside it gets through. */
static void test_tls_by_hand(void **state)
{
	struct side srv;
	struct meta_raft_transport_stats st;
	struct gd_cred good = { .kind = GD_AUTH_CLUSTER, .keys = &key_a };
	uint8_t key[GD_KEY_LEN], h[300];
	struct gd_tls *tls;
	struct iovec iov[2];
	uint32_t flags;
	uint64_t t0;
	int port, fd;

	(void)state;
	with_tls = true;
	port = server_start(&srv, &key_a, false, 400, 0);
	with_tls = false;

	fd = raw_connect(port);
	assert_int_equal(raw_auth_key(fd, &good, &flags, key), 0);
	assert_true(flags & GD_AUTH_F_TLS);
	raw_send(fd, h, hello(h, 9, 11, "127.0.0.1:9"));
	assert_true(raw_closed(fd, 2000));
	close(fd);
	pump(100, NULL);
	assert_non_null(strstr(log_text(), "TLS handshake failed"));
	assert_int_equal(acc.n, 0);

	fd = raw_connect(port);
	t0 = now_ms();
	assert_int_equal(raw_auth_key(fd, &good, &flags, key), 0);
	assert_true(raw_closed(fd, 2000));
	assert_true(now_ms() - t0 >= 300);
	close(fd);
	pump(100, NULL);
	meta_raft_transport_stats(&srv.t, &st);
	assert_int_equal(st.refused + st.timed_out, 2);
	assert_int_equal(st.in_handshake, 0);

	fd = raw_connect(port);
	assert_int_equal(raw_auth_key(fd, &good, &flags, key), 0);
	/* the server's TLS runs in its thread: no loop needed for this */
	assert_int_equal(gd_tls_start(fd, false, key, 2000, &tls), 0);
	iov[0].iov_base = h;
	iov[0].iov_len = hello(h, 9, 11, "127.0.0.1:9");
	iov[1].iov_base = (void *)"after the hello";
	iov[1].iov_len = 15;
	assert_int_equal(gd_tls_writev_full(tls, iov, 2), 0);
	pump(2000, &acc.n);
	assert_int_equal(acc.n, 1);
	assert_int_equal(acc.id, 9);
	assert_string_equal(acc.address, "127.0.0.1:9");
	for (int i = 0; i < 2000 && acc.got < 15; i++)
		pump(1, NULL);
	assert_int_equal(acc.got, 15);
	assert_memory_equal(acc.data, "after the hello", 15);
	gd_tls_free(tls);
	close(fd);
	side_close(&srv);
}

/* A transport that was initialised but never listened closes too. */
static void test_close_before_listen(void **state)
{
	struct side s;

	(void)state;
	side_init(&s, &key_a, false, &key_a, 0, 0);
	assert_int_equal(s.t.init(&s.t, 1, "127.0.0.1:0"), 0);
	assert_int_equal(meta_raft_transport_port(&s.t), -1);
	side_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_key_connects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insecure_lets_none_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_bad_hellos_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_peer_cut_at_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_address_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_handshakes_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_before_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_carries_raft_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_close_with_live_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_and_plain_refuse_each_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_by_hand, setup, teardown),
	};

	gd_log_init("test_meta_raft_transport", "info");
	signal(SIGPIPE, SIG_IGN);   /* as godfs-meta does: a closed pipe is an error, not a death */
	make_key(&key_a);
	make_key(&key_b);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
