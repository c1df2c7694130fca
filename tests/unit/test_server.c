/* gd_server against hostile peers, over loopback: a peer that never reads its
 * replies does not delay anybody else's and is cut at the send deadline or
 * the output bound; the per-address limit refuses the connection past it
 * (logged once, not once per connection) while another address connects; a
 * slow frame sender and an idle connection are cut, a pinging one is not;
 * requests not yet answered are bounded per connection (back-pressure).
 *
 * Every connection, raw ones included, passes the cluster-key handshake first
 * (the process's credential, set in main), as on a real daemon.
 *
 * The handler answers from one "loop" thread, like godfs-meta's libuv loop:
 * a blocking send there would stall every client. Log lines are checked in
 * stderr, which each test sends to a file. */
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
#include "gd_tls.h"
#include "proto/wire.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIG (1u << 20)
#define BIG_FLAG (1ull << 40)   /* a ping with this nonce gets BIG bytes of data */
#define QMAX 4096

struct loop {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct gd_request *q[QMAX];   /* guarded by lock */
	int qlen;
	int hold;                     /* loop does not answer while set */
	int seen;                     /* requests handed to the handler */
	int closed;                   /* closed callbacks */
	int stop;
	pthread_t th;
	uint8_t *big;
};

struct fixture {
	struct loop l;
	struct gd_server *s;
	char addr[64];
	int port;
	char logpath[64];
};

/* stderr goes to a file during a test; -1 when it is not redirected. */
static int saved_stderr = -1;
static char g_logpath[64];

/* Puts stderr back and copies what the test logged (and cmocka's failure
 * message, when a failed test never reached stop()) to it. */
static void log_restore(void)
{
	char buf[4096];
	ssize_t n;
	int fd;

	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	fd = open(g_logpath, O_RDONLY);
	if (fd >= 0) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			(void)!write(2, buf, (size_t)n);
		close(fd);
	}
	unlink(g_logpath);
}

static uint64_t now_ms(void)
{
	return gd_net_now_ms();
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void answer(struct loop *l, struct gd_request *req)
{
	Godfs__Ping *in = godfs__ping__unpack(NULL, req->hdr.pb_len, req->pb);
	Godfs__Ping out = GODFS__PING__INIT;
	int big = in && (in->nonce & BIG_FLAG);

	out.has_nonce = 1;
	out.nonce = in ? in->nonce : 0;
	out.has_status = 1;
	gd_reply(req, &out.base, big ? l->big : NULL, big ? BIG : 0);
	if (in)
		godfs__ping__free_unpacked(in, NULL);
	gd_request_free(req);
}

/* The single thread that answers every request in arrival order. */
static void *loop_main(void *arg)
{
	struct loop *l = arg;

	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->stop && (l->qlen == 0 || l->hold))
			pthread_cond_wait(&l->cv, &l->lock);
		if (l->stop)
			break;
		struct gd_request *req = l->q[0];
		memmove(l->q, l->q + 1, (size_t)(l->qlen - 1) * sizeof(l->q[0]));
		l->qlen--;
		pthread_mutex_unlock(&l->lock);
		answer(l, req);
		pthread_mutex_lock(&l->lock);
	}
	/* Freed without the lock: the last request of a connection runs its
	 * closed callback (on_closed), which takes the lock. */
	while (l->qlen > 0) {
		struct gd_request *req = l->q[--l->qlen];
		pthread_mutex_unlock(&l->lock);
		gd_request_free(req);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void on_request(void *ctx, struct gd_request *req)
{
	struct loop *l = ctx;

	pthread_mutex_lock(&l->lock);
	l->seen++;
	if (l->qlen == QMAX) {
		pthread_mutex_unlock(&l->lock);
		gd_request_free(req);
		return;
	}
	l->q[l->qlen++] = req;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->lock);
}

static void on_closed(void *ctx, void *conn_ctx)
{
	struct loop *l = ctx;

	(void)conn_ctx;
	pthread_mutex_lock(&l->lock);
	l->closed++;
	pthread_mutex_unlock(&l->lock);
}

static int loop_get(struct loop *l, int *field)
{
	int v;

	pthread_mutex_lock(&l->lock);
	v = *field;
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* The handshake policy of the next start() (NULL: the process's). */
static const struct gd_auth_policy *g_policy;

static struct fixture *start(const struct gd_server_limits *lim)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gd_server_config cfg = {
		.listen = "127.0.0.1:0",
		.handler = on_request,
		.closed = on_closed,
		.workers = 0,
	};
	int fd;

	assert_non_null(f);
	log_restore();
	/* stderr into a file, read back by log_count() */
	snprintf(f->logpath, sizeof(f->logpath), "/tmp/test_server.%d.log", (int)getpid());
	snprintf(g_logpath, sizeof(g_logpath), "%s", f->logpath);
	fd = open(f->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);

	pthread_mutex_init(&f->l.lock, NULL);
	pthread_cond_init(&f->l.cv, NULL);
	f->l.big = calloc(1, BIG);
	assert_non_null(f->l.big);
	assert_int_equal(pthread_create(&f->l.th, NULL, loop_main, &f->l), 0);
	cfg.ctx = &f->l;
	cfg.limits = *lim;
	cfg.auth = g_policy;
	assert_int_equal(gd_server_start(&cfg, &f->s), 0);
	f->port = gd_server_port(f->s);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
	return f;
}

static void stop(struct fixture *f)
{
	pthread_mutex_lock(&f->l.lock);
	f->l.stop = 1;
	pthread_cond_broadcast(&f->l.cv);
	pthread_mutex_unlock(&f->l.lock);
	pthread_join(f->l.th, NULL);
	gd_server_stop(f->s);
	log_restore();
	free(f->l.big);
	pthread_cond_destroy(&f->l.cv);
	pthread_mutex_destroy(&f->l.lock);
	free(f);
}

/* Lines of the log so far that contain every one of the (NULL-ended) words. */
static int log_count(struct fixture *f, ...)
{
	char line[1024];
	int n = 0;
	FILE *in;

	fflush(stderr);
	in = fopen(f->logpath, "r");
	if (!in)
		return 0;
	while (fgets(line, sizeof(line), in)) {
		va_list ap;
		const char *w;
		int all = 1;

		va_start(ap, f);
		while ((w = va_arg(ap, const char *)) != NULL)
			if (!strstr(line, w))
				all = 0;
		va_end(ap);
		n += all;
	}
	fclose(in);
	return n;
}

/* A raw TCP connection to the server from source address src (NULL: any),
 * past the handshake (which fails when the server refuses the connection: a
 * limit; the caller then sees it closed). */
static int raw_connect(struct fixture *f, const char *src, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (src) {
		struct sockaddr_in b = { .sin_family = AF_INET };
		inet_pton(AF_INET, src, &b.sin_addr);
		assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
	}
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	(void)gd_auth_client(fd, gd_cred_self(), GD_ROLE_CLIENT, 2000);
	return fd;
}

/* Encodes a ping request frame into buf; returns its length. */
static size_t ping_frame(uint8_t *buf, uint64_t id, uint64_t nonce)
{
	Godfs__Ping p = GODFS__PING__INIT;
	struct gd_frame_hdr h = {
		.magic_version = GD_FRAME_MAGIC_VERSION,
		.kind = GD_KIND_REQUEST,
		.method = GODFS__METHOD__M_PING,
		.request_id = id,
	};

	p.has_nonce = 1;
	p.nonce = nonce;
	h.pb_len = (uint32_t)godfs__ping__pack(&p, buf + GD_FRAME_HDR_LEN);
	gd_frame_encode_hdr(&h, buf);
	return GD_FRAME_HDR_LEN + h.pb_len;
}

static void raw_send_pings(int fd, int n, uint64_t flag)
{
	for (int i = 0; i < n; i++) {
		uint8_t buf[64];
		size_t len = ping_frame(buf, (uint64_t)i + 1, flag | (uint64_t)i);
		assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	}
}

/* The same, for a peer the server is about to cut: sending stops quietly
 * when the connection is gone (on a loaded machine the cut can come before
 * the last ping is out). */
static void raw_send_pings_until_cut(int fd, int n, uint64_t flag)
{
	for (int i = 0; i < n; i++) {
		uint8_t buf[64];
		size_t len = ping_frame(buf, (uint64_t)i + 1, flag | (uint64_t)i);
		if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
			return;
	}
}

/* Whether the server closed fd within ms (reads and throws away data). */
static int closed_within(int fd, int ms)
{
	uint64_t until = now_ms() + (uint64_t)ms;
	static uint8_t sink[1 << 16];

	while (now_ms() < until) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(until - now_ms())) <= 0)
			continue;
		ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
	return 0;
}

/* One ping over c; returns how long it took in ms. */
static uint64_t timed_ping(struct gd_conn *c, uint64_t nonce)
{
	Godfs__Ping p = GODFS__PING__INIT;
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_PING,
		.req = &p.base,
		.resp_desc = &godfs__ping__descriptor,
		.timeout_ms = 5000,
	};
	struct gd_call_result r = { 0 };
	uint64_t t0 = now_ms();

	p.has_nonce = 1;
	p.nonce = nonce;
	assert_int_equal(gd_call(c, &a, &r), 0);
	assert_int_equal(((Godfs__Ping *)r.resp)->nonce, nonce);
	gd_call_result_release(&r);
	return now_ms() - t0;
}

static void local_name(int fd, char *buf, size_t len)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	char ip[INET_ADDRSTRLEN];

	getsockname(fd, (struct sockaddr *)&a, &sl);
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(a.sin_port));
}

/* A peer that asks for 1 MiB replies and never reads them: the loop thread
 * goes on answering the others at once, and the peer is cut by the send
 * deadline with one line naming it. */
static void test_non_reader_does_not_stall_others(void **state)
{
	struct gd_server_limits lim = { .send_timeout_ms = 1500 };
	struct fixture *f = start(&lim);
	struct gd_conn *c;
	char name[64];
	uint64_t worst = 0, t0;
	int fd;

	(void)state;
	fd = raw_connect(f, NULL, 64 << 10);
	local_name(fd, name, sizeof(name));
	raw_send_pings(fd, 24, BIG_FLAG);
	msleep(300); /* the loop has tried to answer them: the socket is full */
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	t0 = now_ms();
	for (int i = 0; i < 50; i++) {
		uint64_t ms = timed_ping(c, 1000 + (uint64_t)i);
		if (ms > worst)
			worst = ms;
	}
	print_message("another client's pings: worst %llu ms, 50 in %llu ms\n",
		      (unsigned long long)worst, (unsigned long long)(now_ms() - t0));
	assert_true(worst < 200);
	/* cut at the deadline (1.5 s from its first queued reply), not before;
	 * no read here: reading would make it a well-behaved peer */
	assert_int_equal(loop_get(&f->l, &f->l.closed), 0);
	for (int i = 0; i < 40 && loop_get(&f->l, &f->l.closed) == 0; i++)
		msleep(100);
	assert_int_equal(loop_get(&f->l, &f->l.closed), 1);
	assert_true(now_ms() - t0 >= 1000);
	assert_int_equal(log_count(f, name, "has not read its replies for 1500 ms", NULL), 1);
	assert_true(closed_within(fd, 1000));
	assert_true(timed_ping(c, 7) < 200);
	gd_conn_close(c);
	close(fd);
	stop(f);
}

/* Over the output bound, the peer is cut at once, before its deadline. */
static void test_output_bound_cuts(void **state)
{
	struct gd_server_limits lim = { .send_timeout_ms = 30000,
					.max_conn_output = 4u << 20 };
	struct fixture *f = start(&lim);
	uint64_t t0 = now_ms();
	int fd, cut = 0;

	(void)state;
	fd = raw_connect(f, NULL, 64 << 10);
	raw_send_pings_until_cut(fd, 40, BIG_FLAG);
	/* by the bound, well before the 30 s send deadline; waited for in the
	 * log, without reading (reading would drain the queue) */
	while (!cut && now_ms() - t0 < 15000) {
		cut = log_count(f, "bytes of replies queued, limit 4194304", NULL);
		if (!cut)
			msleep(100);
	}
	assert_int_equal(cut, 1);
	assert_true(closed_within(fd, 5000));
	close(fd);
	stop(f);
}

/* The (limit+1)th connection from one address is closed at once and logged;
 * a burst of refusals makes one line a second, not one per connection;
 * another address still gets in. */
static void test_per_address_limit(void **state)
{
	struct gd_server_limits lim = { .max_conns_per_addr = 3 };
	struct fixture *f = start(&lim);
	struct gd_conn *c;
	int fds[3], extra[40];

	(void)state;
	for (int i = 0; i < 3; i++)
		fds[i] = raw_connect(f, "127.0.0.2", 0);
	extra[0] = raw_connect(f, "127.0.0.2", 0);
	assert_true(closed_within(extra[0], 2000));
	for (int i = 0; i < 3; i++)
		assert_false(closed_within(fds[i], 50));
	/* another address is not affected */
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_true(timed_ping(c, 1) < 200);
	/* a burst: counted, logged about once a second */
	for (int i = 1; i < 40; i++)
		extra[i] = raw_connect(f, "127.0.0.2", 0);
	for (int i = 1; i < 40; i++)
		assert_true(closed_within(extra[i], 2000));
	msleep(1300);
	int lines = log_count(f, "refused", "127.0.0.2", "per-address limit 3", NULL);
	print_message("40 refused connections: %d log lines\n", lines);
	assert_true(lines >= 1 && lines <= 4);
	assert_int_equal(log_count(f, "refused", "127.0.0.1", NULL), 0);
	/* a slot freed is a slot again */
	close(fds[0]);
	msleep(200);
	fds[0] = raw_connect(f, "127.0.0.2", 0);
	assert_false(closed_within(fds[0], 300));
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	for (int i = 0; i < 40; i++)
		close(extra[i]);
	gd_conn_close(c);
	stop(f);
}

/* The total limit, the same way. */
static void test_total_limit(void **state)
{
	struct gd_server_limits lim = { .max_conns = 2 };
	struct fixture *f = start(&lim);
	int a, b, x;

	(void)state;
	a = raw_connect(f, NULL, 0);
	b = raw_connect(f, "127.0.0.2", 0);
	x = raw_connect(f, "127.0.0.3", 0);
	assert_true(closed_within(x, 2000));
	assert_false(closed_within(a, 50));
	assert_false(closed_within(b, 50));
	msleep(1200);
	assert_int_equal(log_count(f, "refused 1 connection", "127.0.0.3",
				   "connection limit 2", NULL), 1);
	close(a);
	close(b);
	close(x);
	stop(f);
}

/* A frame trickling in is cut at the frame deadline even though bytes keep
 * coming (header one byte every 100 ms); so is a body that stops. */
static void test_slow_frame_sender_cut(void **state)
{
	struct gd_server_limits lim = { .frame_timeout_ms = 600 };
	struct fixture *f = start(&lim);
	uint8_t buf[64];
	size_t len = ping_frame(buf, 1, 5);
	int hdr_fd, body_fd, cut = 0;
	uint64_t t0 = now_ms();

	(void)state;
	assert_true(len > GD_FRAME_HDR_LEN + 1);
	hdr_fd = raw_connect(f, NULL, 0);
	body_fd = raw_connect(f, NULL, 0);
	assert_int_equal(send(body_fd, buf, GD_FRAME_HDR_LEN + 1, MSG_NOSIGNAL),
			 GD_FRAME_HDR_LEN + 1);
	for (size_t i = 0; i < GD_FRAME_HDR_LEN && !cut; i++) {
		if (send(hdr_fd, buf + i, 1, MSG_NOSIGNAL) != 1 || closed_within(hdr_fd, 100))
			cut = 1;
	}
	assert_true(cut);
	assert_true(now_ms() - t0 < 1500);
	assert_true(closed_within(body_fd, 500));
	assert_int_equal(log_count(f, "frame header did not arrive whole within 600 ms", NULL), 1);
	assert_int_equal(log_count(f, "did not arrive whole within 600 ms (1 came)", NULL), 1);
	close(hdr_fd);
	close(body_fd);
	stop(f);
}

/* An idle connection is cut at the idle timeout; one that keeps sending
 * requests (a mount's renewals) is not. */
static void test_idle_timeout(void **state)
{
	struct gd_server_limits lim = { .idle_timeout_ms = 700 };
	struct fixture *f = start(&lim);
	struct gd_conn *c;
	int fd;

	(void)state;
	fd = raw_connect(f, NULL, 0);
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	for (int i = 0; i < 8; i++) {
		msleep(250);
		timed_ping(c, (uint64_t)i);
	}
	assert_true(closed_within(fd, 100));
	assert_false(gd_conn_failed(c));
	assert_int_equal(log_count(f, "no request for 700 ms (idle timeout)", NULL), 1);
	gd_conn_close(c);
	close(fd);
	stop(f);
}

/* With the loop holding every request, a connection hands at most
 * max_conn_requests to the handler; the rest wait in its socket and come
 * once answers go out. */
static void test_requests_per_connection_bounded(void **state)
{
	struct gd_server_limits lim = { .max_conn_requests = 3 };
	struct fixture *f = start(&lim);
	int fd;

	(void)state;
	pthread_mutex_lock(&f->l.lock);
	f->l.hold = 1;
	pthread_mutex_unlock(&f->l.lock);
	fd = raw_connect(f, NULL, 0);
	raw_send_pings(fd, 10, 0);
	msleep(300);
	assert_int_equal(loop_get(&f->l, &f->l.seen), 3);
	pthread_mutex_lock(&f->l.lock);
	f->l.hold = 0;
	pthread_cond_broadcast(&f->l.cv);
	pthread_mutex_unlock(&f->l.lock);
	for (int i = 0; i < 30 && loop_get(&f->l, &f->l.seen) < 10; i++)
		msleep(50);
	assert_int_equal(loop_get(&f->l, &f->l.seen), 10);
	assert_false(closed_within(fd, 50));
	close(fd);
	stop(f);
}

/* The bytes queued that the "has not read its replies" line reports (the
 * largest, if several), or 0. */
static size_t logged_queued(struct fixture *f)
{
	char line[1024];
	size_t most = 0;
	FILE *in;

	fflush(stderr);
	in = fopen(f->logpath, "r");
	if (!in)
		return 0;
	while (fgets(line, sizeof(line), in)) {
		const char *p = strstr(line, "it has not read its replies");
		size_t n;
		if (p && (p = strchr(p, '(')) && sscanf(p, "(%zu bytes queued)", &n) == 1 && n > most)
			most = n;
	}
	fclose(in);
	return most;
}

/* The server-wide output bound holds where the connection's own would not:
 * with room for 64 MiB per connection and 18 MiB in all, a peer asking for
 * 40 MiB of replies and reading none never has more than 18 MiB queued: past
 * half of it no reader takes a new request, and a reply that would pass it
 * cuts the connection; a peer that stalls under it goes at its send
 * deadline. Then the server serves again. */
static void test_total_output_bound(void **state)
{
	struct gd_server_limits lim = { .send_timeout_ms = 3000,
					.max_conn_output = 64u << 20,
					.max_total_output = 18u << 20 };
	struct fixture *f = start(&lim);
	struct gd_conn *c;
	int fd, by_total = 0;
	size_t queued = 0;

	(void)state;
	fd = raw_connect(f, NULL, 64 << 10);
	raw_send_pings_until_cut(fd, 40, BIG_FLAG);
	/* wait for the cut without reading (reading would end the stall) */
	for (int i = 0; i < 200; i++) {
		by_total = log_count(f, "replies queued on all connections would pass", NULL);
		queued = logged_queued(f);
		if (by_total || queued)
			break;
		msleep(100);
	}
	print_message("cut by the total bound: %d; queued at the send deadline: %zu\n",
		      by_total, queued);
	/* never the connection's own bound (64 MiB) */
	assert_int_equal(log_count(f, "bytes of replies queued, limit", NULL), 0);
	assert_true(by_total >= 1 || (queued > 0 && queued <= (18u << 20)));
	assert_int_equal(gd_conn_open(f->addr, 2000, GD_ROLE_CLIENT, &c), 0);
	assert_true(timed_ping(c, 7) < 2000);
	gd_conn_close(c);
	close(fd);
	stop(f);
}

/* With TLS, a peer that trickles one record a byte at a time is cut at its
 * deadline (here the idle one), not held for as long as it keeps trickling. */
static void test_tls_trickle_cut(void **state)
{
	struct gd_server_limits lim = { .idle_timeout_ms = 1000 };
	struct gd_auth_policy pol = *gd_cred_policy();
	struct gd_auth_result res;
	struct gd_tls *t;
	struct fixture *f;
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint64_t t0;
	int fd, cut = 0;

	(void)state;
	pol.tls = true;
	g_policy = &pol;
	f = start(&lim);
	g_policy = NULL;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons((uint16_t)f->port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(gd_auth_client_ex(fd, gd_cred_self(), GD_ROLE_CLIENT, 2000, &res), 0);
	assert_true(res.flags & GD_AUTH_F_TLS);
	assert_int_equal(gd_tls_start(fd, false, res.session_key, 2000, &t), 0);
	/* a TLS 1.3 application-data record header claiming 16 KiB, then a byte
	 * every 200 ms */
	{
		uint8_t hdr[5] = { 23, 3, 3, 0x40, 0x00 };
		assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), 5);
	}
	t0 = now_ms();
	while (now_ms() - t0 < 6000) {
		uint8_t b = 0;
		if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || closed_within(fd, 200)) {
			cut = 1;
			break;
		}
	}
	assert_true(cut);
	assert_true(now_ms() - t0 < 4000);
	gd_tls_free(t);
	close(fd);
	stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_non_reader_does_not_stall_others),
		cmocka_unit_test(test_output_bound_cuts),
		cmocka_unit_test(test_per_address_limit),
		cmocka_unit_test(test_total_limit),
		cmocka_unit_test(test_slow_frame_sender_cut),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_requests_per_connection_bounded),
		cmocka_unit_test(test_total_output_bound),
		cmocka_unit_test(test_tls_trickle_cut),
	};

	int rc;

	gd_log_init("test_server", "info");
	static struct gd_keyring keys = { .n = 1 };
	if (gd_random(keys.key[0].key, GD_KEY_LEN) != 0)
		return 1;
	gd_key_set_id(&keys.key[0]);
	gd_cred_set(&keys, NULL, false);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	log_restore();
	return rc;
}
