/* TLS under one Raft connection: the handshake and two pump threads
 * (meta_raft_tls.h). */
#include "meta_raft_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "gd_tls.h"

#define PUMP_BUF 16384             /* one TLS record at most */

struct meta_raft_tls {
	/* Set before the rx thread starts, never changed after (fds are
	 * closed only by free, after the joins). */
	int fd;                        /* TCP */
	int sp[2];                     /* sp[0] raft's end (-1 once taken), sp[1] the pumps' */
	bool server;
	unsigned timeout_ms;
	meta_raft_tls_hello_fn hello_tail;
	size_t hello_hdr_len;
	void (*notify)(void *ctx);
	void *ctx;
	uint8_t key[GD_KEY_LEN];       /* zeroed by the rx thread once TLS is up */
	/* The rx thread writes these before it publishes result 0; the tx
	 * thread and the loop read them only after. */
	struct gd_tls *tls;
	uint8_t hello[META_RAFT_TLS_HELLO_MAX];
	size_t hello_len;
	pthread_t rx, tx;
	bool tx_started;               /* written by rx before result; read by free after joining rx */
	pthread_mutex_t lock;
	int result;                    /* lock: GD_EAGAIN, 0 or a GD_E* code */
	char why[160];                 /* lock: the reason of a failed result */
	int running;                   /* lock: threads that have not ended */
};

void meta_raft_tls_stop(struct meta_raft_tls *c)
{
	/* shutdown, not close: the fds stay valid until free, so a thread
	 * blocked on one wakes up with an error instead of racing a reuse. */
	(void)shutdown(c->fd, SHUT_RDWR);
	(void)shutdown(c->sp[1], SHUT_RDWR);
}

static void thread_ends(struct meta_raft_tls *c)
{
	meta_raft_tls_stop(c);
	pthread_mutex_lock(&c->lock);
	c->running--;
	pthread_mutex_unlock(&c->lock);
	c->notify(c->ctx);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return GD_ECONN;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int left_ms(uint64_t deadline)
{
	uint64_t now = gd_net_now_ms();

	return now < deadline ? (int)(deadline - now) : 1;
}

/* The accepting side reads the hello through TLS: its fixed part, then as
 * many bytes as that says (bounded by hello_tail), all before the deadline. */
static int read_hello(struct meta_raft_tls *c, uint64_t deadline, char *why, size_t whylen)
{
	size_t tail = 0, got = 0;
	int rc;

	gd_net_set_recv_timeout(c->fd, left_ms(deadline));
	rc = gd_tls_read_full(c->tls, c->hello, c->hello_hdr_len, &got);
	if (rc == 0) {
		rc = c->hello_tail(c->hello, &tail, why, whylen);
		if (rc < 0)
			return rc;
		if (tail > sizeof(c->hello) - c->hello_hdr_len) {
			snprintf(why, whylen, "bad hello: %zu bytes", tail);
			return GD_EPROTO;
		}
		gd_net_set_recv_timeout(c->fd, left_ms(deadline));
		rc = gd_tls_read_full(c->tls, c->hello + c->hello_hdr_len, tail, &got);
		got += c->hello_hdr_len;
	}
	if (rc < 0) {
		snprintf(why, whylen, "%s after %zu bytes of the hello (through TLS)",
			 rc == GD_ETIMEDOUT ? "no complete handshake in time" : "closed", got);
		return rc;
	}
	c->hello_len = c->hello_hdr_len + tail;
	return 0;
}

/* TLS, then the hello, within timeout_ms; the socket keeps no timeout after
 * (the pumps wait as long as raft keeps the connection). */
static int handshake(struct meta_raft_tls *c, char *why, size_t whylen)
{
	uint64_t deadline = gd_net_now_ms() + c->timeout_ms;
	int fl = fcntl(c->fd, F_GETFL);
	int rc;

	/* libuv made the socket non-blocking; GnuTLS here wants it blocking */
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		snprintf(why, whylen, "fcntl: %s", strerror(errno));
		return GD_EIO;
	}
	rc = gd_tls_start(c->fd, c->server, c->key, (int)c->timeout_ms, &c->tls);
	memset(c->key, 0, sizeof(c->key));
	if (rc < 0) {
		snprintf(why, whylen, "TLS handshake failed: %s (%s)", gd_strerror(rc),
			 rc == GD_EAUTH ? "not the key of this handshake"
					: "does the peer run without --tls?");
		return rc;
	}
	if (c->server) {
		rc = read_hello(c, deadline, why, whylen);
	} else {
		struct iovec iov = { c->hello, c->hello_len };

		gd_net_set_send_timeout(c->fd, left_ms(deadline));
		rc = gd_tls_writev_full(c->tls, &iov, 1);
		if (rc < 0)
			snprintf(why, whylen, "sending the hello through TLS: %s", gd_strerror(rc));
	}
	gd_net_set_recv_timeout(c->fd, 0);
	gd_net_set_send_timeout(c->fd, 0);
	return rc;
}

/* socketpair -> TLS: what raft writes goes to the peer. */
static void *tx_main(void *arg)
{
	struct meta_raft_tls *c = arg;
	uint8_t buf[PUMP_BUF];

	for (;;) {
		ssize_t n = recv(c->sp[1], buf, sizeof(buf), 0);
		struct iovec iov = { buf, (size_t)n };

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;          /* raft closed its end, or stop */
		if (gd_tls_writev_full(c->tls, &iov, 1) < 0)
			break;
	}
	thread_ends(c);
	return NULL;
}

/* The handshake, then TLS -> socketpair: what the peer sends goes to raft. */
static void *rx_main(void *arg)
{
	struct meta_raft_tls *c = arg;
	uint8_t buf[PUMP_BUF];
	char why[160] = "";
	int rc = handshake(c, why, sizeof(why));

	if (rc == 0) {
		pthread_mutex_lock(&c->lock);
		c->running++;
		pthread_mutex_unlock(&c->lock);
		if (pthread_create(&c->tx, NULL, tx_main, c) != 0) {
			pthread_mutex_lock(&c->lock);
			c->running--;
			pthread_mutex_unlock(&c->lock);
			snprintf(why, sizeof(why), "cannot start a thread");
			rc = GD_ENOMEM;
		} else {
			c->tx_started = true;
		}
	}
	pthread_mutex_lock(&c->lock);
	c->result = rc;
	snprintf(c->why, sizeof(c->why), "%s", why);
	pthread_mutex_unlock(&c->lock);
	c->notify(c->ctx);
	while (rc == 0) {
		long n = gd_tls_recv_some(c->tls, buf, sizeof(buf));

		if (n == GD_EAGAIN)
			continue;
		if (n < 0 || write_all(c->sp[1], buf, (size_t)n) < 0)
			break;          /* the peer went away, raft closed its end, or stop */
	}
	thread_ends(c);
	return NULL;
}

int meta_raft_tls_start(const struct meta_raft_tls_cfg *cfg, struct meta_raft_tls **out)
{
	struct meta_raft_tls *c;
	int rc = GD_ENOMEM;

	*out = NULL;
	if (cfg->hello_len > META_RAFT_TLS_HELLO_MAX || cfg->hello_hdr_len > META_RAFT_TLS_HELLO_MAX) {
		rc = GD_EINVAL;
		goto err_fd;
	}
	c = gd_calloc(1, sizeof(*c));
	if (c == NULL)
		goto err_fd;
	c->fd = cfg->fd;
	c->server = cfg->server;
	c->timeout_ms = cfg->timeout_ms;
	c->hello_tail = cfg->hello_tail;
	c->hello_hdr_len = cfg->hello_hdr_len;
	c->notify = cfg->notify;
	c->ctx = cfg->ctx;
	memcpy(c->key, cfg->key, sizeof(c->key));
	if (cfg->hello_len > 0)
		memcpy(c->hello, cfg->hello, cfg->hello_len);
	c->hello_len = cfg->hello_len;
	c->result = GD_EAGAIN;
	c->running = 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sp) < 0) {
		gd_warn("raft port: socketpair: %s", strerror(errno));
		rc = GD_EIO;
		goto err_alloc;
	}
	pthread_mutex_init(&c->lock, NULL);
	if (pthread_create(&c->rx, NULL, rx_main, c) != 0) {
		gd_warn("raft port: cannot start a TLS thread");
		goto err_socketpair;
	}
	*out = c;
	return 0;

err_socketpair:
	pthread_mutex_destroy(&c->lock);
	close(c->sp[0]);
	close(c->sp[1]);
err_alloc:
	memset(c->key, 0, sizeof(c->key));
	gd_free(c);
err_fd:
	close(cfg->fd);
	return rc;
}

int meta_raft_tls_result(struct meta_raft_tls *c, char *why, size_t whylen)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = c->result;
	if (rc < 0 && rc != GD_EAGAIN)
		snprintf(why, whylen, "%s", c->why);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

const uint8_t *meta_raft_tls_hello(const struct meta_raft_tls *c, size_t *len)
{
	*len = c->hello_len;
	return c->hello;
}

int meta_raft_tls_take_fd(struct meta_raft_tls *c)
{
	int fd = c->sp[0];

	c->sp[0] = -1;
	return fd;
}

bool meta_raft_tls_ended(struct meta_raft_tls *c)
{
	bool ended;

	pthread_mutex_lock(&c->lock);
	ended = c->running == 0;
	pthread_mutex_unlock(&c->lock);
	return ended;
}

void meta_raft_tls_free(struct meta_raft_tls *c)
{
	if (c == NULL)
		return;
	pthread_join(c->rx, NULL);
	if (c->tx_started)
		pthread_join(c->tx, NULL);
	gd_tls_free(c->tls);
	close(c->fd);
	if (c->sp[0] >= 0)
		close(c->sp[0]);
	close(c->sp[1]);
	pthread_mutex_destroy(&c->lock);
	gd_free(c);
}
