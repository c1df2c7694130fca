/* The godfs Raft transport: libraft's voter connections behind the godfs
 * handshake (meta_raft_transport.h).
 *
 * Each connection in handshake is a struct hs with two libuv handles of its
 * own: the TCP handle (allocated with raft_malloc, because raft frees the
 * streams it is given with raft_free) and a deadline timer. A handshake ends
 * in one of two ways:
 *   - success: the TCP handle goes to raft (accept or connect callback), the
 *     timer is closed, and the hs is freed in the timer's close callback;
 *   - failure (bad proof, garbage, deadline, transport closing): both handles
 *     are closed, and once both close callbacks (and a pending name lookup)
 *     have run, an outgoing request's callback fires with its status and the
 *     hs is freed.
 * So every callback of raft fires exactly once, after the last use of the hs,
 * and the transport's close callback fires once the listener and every hs are
 * gone.
 *
 * With TLS (the policy's tls flag), a handshake that passed the verdict goes
 * on in a thread (meta_raft_tls.h): the socket leaves libuv (dup, then the
 * TCP handle is closed), TLS and the hello run there, and raft is handed a
 * uv_pipe_t on one end of a socketpair that the thread pumps. The hs (with
 * its deadline, and counted in the bounds) waits for the thread's result,
 * which comes through the transport's async handle; the connection object
 * (struct tl) lives on until its threads have ended, so the transport's close
 * callback also waits for every TLS thread. */
#include "meta_raft_transport.h"
#include "meta_raft_addr.h"
#include "meta_raft_hello.h"

#include <stdarg.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gd_alloc.h"
#include "gd_config.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "meta_raft_tls.h"

#define HELLO_HDR_LEN META_RAFT_HELLO_HDR_LEN
#define LISTEN_BACKLOG 128
/* At most LOG_BURST lines about refused or failed connections per window:
 * a flood of strangers must not flood the log too. */
#define LOG_BURST 20u
#define LOG_WINDOW_MS 10000u
/* raft retries a failed connection every second: the same failure to the
 * same node is logged again only after OUT_REPEAT_MS. */
#define OUT_MEMO 16
#define OUT_REPEAT_MS 60000u

enum hs_state {
	HS_IN_MAGIC,        /* challenge sent, reading the proof's first 4 bytes */
	HS_IN_PROOF,        /* reading the rest of the proof */
	HS_IN_HELLO_HDR,    /* verdict sent, reading the hello's fixed part */
	HS_IN_HELLO_ADDR,   /* reading the hello's address */
	HS_IN_READY,        /* hello read; waiting for our verdict write to end */
	HS_IN_REFUSING,     /* writing a refusal verdict, then close */
	HS_OUT_RESOLVE,     /* uv_getaddrinfo of the peer's host */
	HS_OUT_CONNECT,     /* TCP connect */
	HS_OUT_CHALLENGE,   /* reading the challenge */
	HS_OUT_VERDICT,     /* proof sent, reading the verdict */
	HS_OUT_HELLO,       /* writing the hello */
	HS_IN_TLS,          /* TLS: writing the verdict, then TLS */
	HS_OUT_TLS,         /* TLS: waiting for the proof's write to end, then TLS */
	HS_TLS,             /* TLS and the hello run in a thread (hs->tl) */
	HS_DONE,            /* handed over or failing: handles closing */
};

struct rt;
struct hs;

/* A connection under TLS, from the start of its TLS handshake until its
 * threads have ended; in the transport's list, on the loop thread. */
struct tl {
	struct tl *next;
	struct meta_raft_tls *c;
	struct hs *hs;              /* the handshake waiting for the result, or NULL */
	bool reported;              /* the result was seen */
};

/* One connection in handshake; owned by the transport's list until freed. */
struct hs {
	struct rt *rt;
	struct hs *prev, *next;
	bool outgoing;
	enum hs_state state;
	uv_tcp_t *tcp;              /* NULL once handed to raft or closing */
	uv_timer_t timer;           /* the deadline of the whole handshake */
	uv_connect_t conn_req;
	uv_getaddrinfo_t gai;
	uv_write_t wreq[2];         /* at most two writes per side */
	int n_writes;               /* writes started */
	int writes_pending;
	bool gai_pending;
	int open_handles;           /* handles whose close callback has not run */
	/* The next read fills rbuf[have..want), and never more: bytes after the
	 * handshake belong to raft and stay in the socket. */
	uint8_t *rbuf;
	size_t want, have;
	uint8_t ch[GD_AUTH_CHALLENGE_LEN];
	uint8_t proof[GD_AUTH_PROOF_LEN];
	uint8_t verdict[GD_AUTH_VERDICT_LEN];
	uint8_t secret[GD_KEY_LEN];
	uint8_t key[GD_KEY_LEN];    /* TLS: the session key, until the thread has it */
	uint8_t hello[HELLO_HDR_LEN + META_RAFT_ADDR_MAX + 1];
	size_t hello_len;           /* outgoing: the hello to send */
	uint64_t t0;                /* uv_now() when the handshake began */
	struct tl *tl;              /* HS_TLS: the thread's connection */
	/* outgoing */
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;      /* NULL once fired */
	int status;                 /* what cb gets when the handshake fails */
	raft_id peer_id;
	char who[GD_NET_ADDR_MAX + META_RAFT_ADDR_MAX + 32]; /* for log lines */
	char host[GD_NET_ADDR_MAX];  /* incoming: the peer's address without the port */
};

/* The transport (raft_uv_transport.impl); everything on the loop thread. */
struct rt {
	struct raft_uv_transport *t;
	uv_loop_t *loop;
	struct gd_auth_policy policy;
	const struct gd_cred *cred;
	unsigned handshake_ms;
	unsigned max_hs;
	unsigned max_per_host;
	raft_id id;
	char *address;
	uv_tcp_t listener;
	bool listener_open;         /* initialised, close callback not run yet */
	bool listener_closing;
	int port;
	raft_uv_accept_cb accept_cb;
	struct hs *hs;              /* every connection in handshake */
	struct tl *tls;             /* every connection under TLS */
	uv_async_t async;           /* TLS threads say that a result or an end is there */
	bool async_open;            /* initialised, close callback not run yet */
	bool async_closing;
	unsigned n_in, n_out;
	bool closing;
	raft_uv_transport_close_cb close_cb;
	struct meta_raft_transport_stats stats;
	uint64_t log_window;        /* uv_now() when the log window began */
	unsigned log_count, log_dropped;
	struct {                    /* the last failure logged per node (id 0 = free) */
		raft_id id;
		uint64_t at;
		char why[128];
	} memo[OUT_MEMO];
};

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- log lines, rate-limited ------------------------------------------------ */

static void rt_log(struct rt *rt, enum gd_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One line about a refused or failed connection, unless LOG_BURST lines were
 * written in this window already (then they are counted, and the count is
 * logged when the next window begins). */
static void rt_log(struct rt *rt, enum gd_log_level level, const char *fmt, ...)
{
	uint64_t now = uv_now(rt->loop);
	char line[512];
	va_list ap;

	if ((int)level > gd_log_level_current)
		return;
	if (now - rt->log_window >= LOG_WINDOW_MS) {
		if (rt->log_dropped > 0)
			gd_warn("raft port: %u more lines about refused connections were not "
				"logged in %u s", rt->log_dropped, LOG_WINDOW_MS / 1000);
		rt->log_window = now;
		rt->log_count = 0;
		rt->log_dropped = 0;
	}
	if (rt->log_count >= LOG_BURST) {
		rt->log_dropped++;
		return;
	}
	rt->log_count++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	gd_log(level, "raft port: %s", line);
}

/* ---- the life of a handshake ------------------------------------------------ */

static void rt_maybe_closed(struct rt *rt);

static void async_closed_cb(uv_handle_t *h)
{
	struct rt *rt = h->data;

	rt->async_open = false;
	rt_maybe_closed(rt);
}

static void rt_maybe_closed(struct rt *rt)
{
	raft_uv_transport_close_cb cb = rt->close_cb;

	if (!rt->closing || rt->hs != NULL || rt->tls != NULL)
		return;
	/* the async handle goes last: TLS threads signal it until they end */
	if (rt->async_open && !rt->async_closing) {
		rt->async_closing = true;
		uv_close((uv_handle_t *)&rt->async, async_closed_cb);
	}
	if (rt->listener_open || rt->async_open || cb == NULL)
		return;
	rt->close_cb = NULL;
	cb(rt->t);
}

/* Frees hs once nothing of libuv refers to it any more; fires an outgoing
 * request's callback if it has not fired. */
static void hs_maybe_free(struct hs *hs)
{
	struct rt *rt = hs->rt;
	struct raft_uv_connect *req = hs->req;
	raft_uv_connect_cb cb = hs->cb;
	int status = hs->status;

	if (hs->open_handles > 0 || hs->gai_pending || hs->writes_pending > 0)
		return;
	if (hs->prev != NULL)
		hs->prev->next = hs->next;
	else
		rt->hs = hs->next;
	if (hs->next != NULL)
		hs->next->prev = hs->prev;
	if (hs->outgoing)
		rt->n_out--;
	else
		rt->n_in--;
	memset(hs->secret, 0, sizeof(hs->secret));
	memset(hs->key, 0, sizeof(hs->key));
	gd_free(hs);
	if (cb != NULL)
		cb(req, NULL, status);
	rt_maybe_closed(rt);
}

static void hs_timer_closed(uv_handle_t *h)
{
	struct hs *hs = h->data;

	hs->open_handles--;
	hs_maybe_free(hs);
}

static void hs_tcp_closed(uv_handle_t *h)
{
	struct hs *hs = h->data;

	raft_free(h);
	hs->open_handles--;
	hs_maybe_free(hs);
}

/* Ends a handshake that failed (or is cancelled): closes what is open.
 * status is what an outgoing request's callback gets. */
static void hs_close(struct hs *hs, int status)
{
	if (hs->state == HS_DONE)
		return;
	hs->state = HS_DONE;
	hs->status = status;
	if (hs->gai_pending)
		(void)uv_cancel((uv_req_t *)&hs->gai);   /* UV_EBUSY: its callback comes anyway */
	if (hs->tcp != NULL) {
		uv_close((uv_handle_t *)hs->tcp, hs_tcp_closed);
		hs->tcp = NULL;
	}
	if (hs->tl != NULL) {
		/* its threads end soon; the async callback frees it */
		meta_raft_tls_stop(hs->tl->c);
		hs->tl->hs = NULL;
		hs->tl = NULL;
	}
	uv_close((uv_handle_t *)&hs->timer, hs_timer_closed);
}

/* An incoming connection is refused: one log line, then closed. */
static void hs_refuse(struct hs *hs, const char *why)
{
	hs->rt->stats.refused++;
	rt_log(hs->rt, GD_LOG_WARN, "refused %s: %s", hs->who, why);
	hs_close(hs, RAFT_NOCONNECTION);
}

/* Whether a warning about connecting to node id is news: not when the same
 * reason was logged less than OUT_REPEAT_MS ago. Remembers it if so. */
static bool out_memo_news(struct rt *rt, raft_id id, const char *why)
{
	uint64_t now = uv_now(rt->loop);
	int slot = 0;

	for (int i = 0; i < OUT_MEMO; i++) {
		if (rt->memo[i].id == id) {
			if (strcmp(rt->memo[i].why, why) == 0 && now - rt->memo[i].at < OUT_REPEAT_MS)
				return false;
			slot = i;
			break;
		}
		if (rt->memo[i].at < rt->memo[slot].at)
			slot = i;   /* the oldest, or a free one (at 0) */
	}
	rt->memo[slot].id = id;
	rt->memo[slot].at = now;
	snprintf(rt->memo[slot].why, sizeof(rt->memo[slot].why), "%s", why);
	return true;
}

/* An outgoing connection failed; raft retries it after its retry delay.
 * Authentication failures are warnings (once a minute per node and reason),
 * a peer that is down is not news. */
static void hs_out_fail(struct hs *hs, enum gd_log_level level, const char *why)
{
	if (level < GD_LOG_DEBUG && !out_memo_news(hs->rt, hs->peer_id, why))
		level = GD_LOG_DEBUG;
	rt_log(hs->rt, level, "connection to %s failed: %s", hs->who, why);
	hs_close(hs, RAFT_NOCONNECTION);
}

static void hs_fail(struct hs *hs, const char *why)
{
	if (hs->outgoing)
		hs_out_fail(hs, GD_LOG_DEBUG, why);
	else
		hs_refuse(hs, why);
}

static void hs_timeout_cb(uv_timer_t *t)
{
	struct hs *hs = t->data;
	char why[64];

	snprintf(why, sizeof(why), "no complete handshake within %u ms", hs->rt->handshake_ms);
	if (hs->outgoing) {
		hs_out_fail(hs, GD_LOG_WARN, why);
	} else {
		hs->rt->stats.timed_out++;
		rt_log(hs->rt, GD_LOG_WARN, "cut %s: %s", hs->who, why);
		hs_close(hs, RAFT_NOCONNECTION);
	}
}

/* A new hs with its timer running (tcp is attached by the caller), or NULL. */
static struct hs *hs_new(struct rt *rt, bool outgoing, uv_tcp_t *tcp)
{
	struct hs *hs = gd_calloc(1, sizeof(*hs));

	if (hs == NULL)
		return NULL;
	hs->rt = rt;
	hs->outgoing = outgoing;
	hs->status = RAFT_NOCONNECTION;
	hs->tcp = tcp;
	tcp->data = hs;
	uv_timer_init(rt->loop, &hs->timer);
	hs->timer.data = hs;
	hs->open_handles = 2;
	hs->t0 = uv_now(rt->loop);
	uv_timer_start(&hs->timer, hs_timeout_cb, rt->handshake_ms, 0);
	hs->next = rt->hs;
	if (rt->hs != NULL)
		rt->hs->prev = hs;
	rt->hs = hs;
	if (outgoing)
		rt->n_out++;
	else
		rt->n_in++;
	return hs;
}

/* The handshake succeeded: the hs is done (and freed once its timer has
 * closed); the stream for raft is the TCP handle (returned), or with TLS the
 * pipe the caller made (hs->tcp is closed already then). */
static uv_stream_t *hs_hand_over(struct hs *hs)
{
	uv_stream_t *s = (uv_stream_t *)hs->tcp;

	if (s != NULL) {
		hs->tcp = NULL;
		hs->open_handles--;
		s->data = NULL;
	}
	hs->cb = NULL;
	hs->state = HS_DONE;
	uv_timer_stop(&hs->timer);
	uv_close((uv_handle_t *)&hs->timer, hs_timer_closed);
	return s;
}

/* ---- reads and writes of fixed size ------------------------------------------ */

static void hs_step(struct hs *hs);
static void hs_wrote(struct hs *hs);
static void tls_begin(struct hs *hs);

static void hs_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hs *hs = h->data;

	(void)suggested;
	/* len 0 (nothing expected) makes libuv report UV_ENOBUFS */
	buf->base = (char *)hs->rbuf + hs->have;
	buf->len = hs->want - hs->have;
}

static void hs_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct hs *hs = s->data;
	char why[96];

	(void)buf;
	if (n == 0 || hs->state == HS_DONE)
		return;
	if (n < 0) {
		snprintf(why, sizeof(why), "%s after %zu of %zu bytes",
			 n == UV_EOF ? "closed" : uv_strerror((int)n), hs->have, hs->want);
		hs_fail(hs, why);
		return;
	}
	hs->have += (size_t)n;
	if (hs->have < hs->want)
		return;
	uv_read_stop(s);
	hs_step(hs);
}

/* Reads exactly len bytes into buf, then hs_step runs. */
static void hs_read(struct hs *hs, uint8_t *buf, size_t len)
{
	int rc;

	hs->rbuf = buf;
	hs->want = len;
	hs->have = 0;
	rc = uv_read_start((uv_stream_t *)hs->tcp, hs_alloc_cb, hs_read_cb);
	if (rc < 0)
		hs_fail(hs, uv_strerror(rc));
}

static void hs_write_cb(uv_write_t *w, int status)
{
	struct hs *hs = w->data;

	hs->writes_pending--;
	if (hs->state == HS_DONE) {
		hs_maybe_free(hs);
		return;
	}
	if (status < 0) {
		hs_fail(hs, uv_strerror(status));
		return;
	}
	if (hs->writes_pending == 0)
		hs_wrote(hs);
}

/* Writes len bytes of buf (which lives in hs); hs_wrote runs once every
 * write started so far has ended. */
static void hs_write(struct hs *hs, uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	uv_write_t *w;
	int rc;

	if (hs->n_writes >= 2) {       /* a bug, not input: each side writes twice */
		hs_fail(hs, "internal error: a third write");
		return;
	}
	w = &hs->wreq[hs->n_writes++];
	w->data = hs;
	rc = uv_write(w, (uv_stream_t *)hs->tcp, &b, 1, hs_write_cb);
	if (rc < 0) {
		hs_fail(hs, uv_strerror(rc));
		return;
	}
	hs->writes_pending++;
}

/* ---- TLS (meta_raft_tls.h) --------------------------------------------------------- */

static void in_finish(struct hs *hs, uv_stream_t *pipe);
static void out_finish(struct hs *hs, uv_stream_t *pipe);
static int hello_hdr_check(const uint8_t *h, size_t *len, char *why, size_t whylen);
static int hello_addr_check(uint8_t *h, size_t len, char *why, size_t whylen);

/* From a TLS thread: the async callback looks at every connection. */
static void tls_notify(void *ctx)
{
	struct rt *rt = ctx;

	uv_async_send(&rt->async);
}

/* The verdict went through and TLS follows: the socket leaves libuv (a dup
 * goes to the TLS thread, the TCP handle is closed: nothing of it was read
 * past the handshake), and the thread runs TLS and the hello within what is
 * left of the deadline. The hs's timer keeps running meanwhile. */
static void tls_begin(struct hs *hs)
{
	struct rt *rt = hs->rt;
	struct meta_raft_tls_cfg cfg = { 0 };
	uint64_t spent = uv_now(rt->loop) - hs->t0;
	uv_os_fd_t fd;
	struct tl *tl;
	char why[96];
	int rc;

	tl = gd_calloc(1, sizeof(*tl));
	if (tl == NULL) {
		hs_fail(hs, "out of memory");
		return;
	}
	if (uv_fileno((uv_handle_t *)hs->tcp, &fd) != 0 ||
	    (cfg.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		snprintf(why, sizeof(why), "cannot take the socket for TLS: %s", strerror(errno));
		gd_free(tl);
		hs_fail(hs, why);
		return;
	}
	uv_close((uv_handle_t *)hs->tcp, hs_tcp_closed);
	hs->tcp = NULL;
	cfg.server = !hs->outgoing;
	memcpy(cfg.key, hs->key, sizeof(cfg.key));
	memset(hs->key, 0, sizeof(hs->key));
	cfg.timeout_ms = spent < rt->handshake_ms ? rt->handshake_ms - (unsigned)spent : 1;
	if (hs->outgoing) {
		cfg.hello = hs->hello;
		cfg.hello_len = hs->hello_len;
	}
	cfg.hello_hdr_len = HELLO_HDR_LEN;
	cfg.hello_tail = hello_hdr_check;
	cfg.notify = tls_notify;
	cfg.ctx = rt;
	rc = meta_raft_tls_start(&cfg, &tl->c);   /* owns cfg.fd from here */
	memset(cfg.key, 0, sizeof(cfg.key));
	if (rc < 0) {
		gd_free(tl);
		hs_fail(hs, "cannot start TLS");
		return;
	}
	tl->hs = hs;
	hs->tl = tl;
	tl->next = rt->tls;
	rt->tls = tl;
	hs->state = HS_TLS;
}

/* The TLS thread of hs has its result: raft gets a pipe on the socketpair
 * (the hs is done), or the handshake fails with the thread's reason. */
static void tls_done(struct hs *hs, struct tl *tl, int rc, const char *why)
{
	struct rt *rt = hs->rt;
	const uint8_t *h;
	uv_pipe_t *pipe;
	char w[96];
	size_t len;
	int fd;

	hs->tl = NULL;
	tl->hs = NULL;
	if (rc < 0) {
		meta_raft_tls_stop(tl->c);
		if (hs->outgoing)
			hs_out_fail(hs, GD_LOG_WARN, why);
		else
			hs_refuse(hs, why);
		return;
	}
	if (!hs->outgoing) {
		/* hello_hdr_check passed in the thread; len <= HELLO_HDR_LEN + ADDR_MAX */
		h = meta_raft_tls_hello(tl->c, &len);
		memcpy(hs->hello, h, len);
		if (hello_addr_check(hs->hello, len - HELLO_HDR_LEN, w, sizeof(w)) < 0) {
			meta_raft_tls_stop(tl->c);
			hs_refuse(hs, w);
			return;
		}
	}
	pipe = raft_malloc(sizeof(*pipe));
	if (pipe == NULL) {
		meta_raft_tls_stop(tl->c);
		hs_fail(hs, "out of memory");
		return;
	}
	uv_pipe_init(rt->loop, pipe, 0);
	pipe->data = NULL;
	fd = meta_raft_tls_take_fd(tl->c);
	rc = uv_pipe_open(pipe, fd);
	if (rc != 0) {
		snprintf(w, sizeof(w), "uv_pipe_open: %s", uv_strerror(rc));
		close(fd);
		uv_close((uv_handle_t *)pipe, (uv_close_cb)raft_free);
		meta_raft_tls_stop(tl->c);
		hs_fail(hs, w);
		return;
	}
	if (hs->outgoing)
		out_finish(hs, (uv_stream_t *)pipe);
	else
		in_finish(hs, (uv_stream_t *)pipe);
}

/* TLS threads have news: hand over or fail the handshakes whose result came,
 * free the connections whose threads have all ended. */
static void tls_async_cb(uv_async_t *a)
{
	struct rt *rt = a->data;
	struct tl **pp = &rt->tls, *tl;
	char why[160];
	int rc;

	while ((tl = *pp) != NULL) {
		if (!tl->reported) {
			rc = meta_raft_tls_result(tl->c, why, sizeof(why));
			if (rc != GD_EAGAIN) {
				tl->reported = true;
				if (tl->hs != NULL)
					tls_done(tl->hs, tl, rc, why);
			}
		}
		/* (raft's callbacks above never add to this list synchronously:
		 * tls_begin runs from libuv callbacks only) */
		if (tl->reported && meta_raft_tls_ended(tl->c)) {
			*pp = tl->next;
			meta_raft_tls_free(tl->c);
			gd_free(tl);
			continue;
		}
		pp = &tl->next;
	}
	rt_maybe_closed(rt);
}

/* ---- the accepting side ---------------------------------------------------------- */

/* pipe: the TLS stream for raft, or NULL (the TCP handle goes to raft). */
static void in_finish(struct hs *hs, uv_stream_t *pipe)
{
	struct rt *rt = hs->rt;
	raft_id id = get64(hs->hello + 4);
	const char *addr = (const char *)hs->hello + HELLO_HDR_LEN;
	uv_stream_t *s;

	rt->stats.accepted++;
	gd_debug("raft port: %s is node %llu at %s%s", hs->who, (unsigned long long)id, addr,
		 pipe != NULL ? " (TLS)" : "");
	s = hs_hand_over(hs);   /* hs (and addr) stay until the timer's close callback */
	rt->accept_cb(rt->t, id, addr, pipe != NULL ? pipe : s);
}

static void in_proof(struct hs *hs)
{
	struct rt *rt = hs->rt;
	struct gd_peer_auth peer;
	char why[160];
	int rc;

	rc = gd_auth_check(&rt->policy, hs->ch, hs->proof, &peer, hs->verdict, why, sizeof(why));
	if (rc == 0 && rt->policy.tls)
		memcpy(hs->key, peer.session_key, sizeof(hs->key));   /* zeroed when hs is freed */
	memset(peer.session_key, 0, sizeof(peer.session_key));
	if (rc == 0 && peer.role != GD_ROLE_META) {
		/* A good key, but not a meta: close without a verdict. */
		snprintf(why, sizeof(why), "role %s may not use the Raft port", gd_role_name(peer.role));
		hs_refuse(hs, why);
		return;
	}
	if (rc != 0) {
		/* Tell the peer (its log then says why), close once written. */
		rt->stats.refused++;
		rt_log(rt, GD_LOG_WARN, "refused %s: %s", hs->who, why);
		hs->state = HS_IN_REFUSING;
		hs_write(hs, hs->verdict, sizeof(hs->verdict));
		return;
	}
	if (rt->policy.tls) {
		/* TLS starts once the verdict is written (hs_wrote), and the
		 * hello travels inside it. Its key needs the cluster key's
		 * secret: an --insecure peer without one cannot have TLS. */
		if (peer.kind == GD_AUTH_NONE) {
			hs_refuse(hs, "no credential, and TLS (--tls) needs the cluster key");
			return;
		}
		hs->state = HS_IN_TLS;
		hs_write(hs, hs->verdict, sizeof(hs->verdict));
		return;
	}
	hs->state = HS_IN_HELLO_HDR;
	hs_write(hs, hs->verdict, sizeof(hs->verdict));
	if (hs->state == HS_IN_HELLO_HDR)
		hs_read(hs, hs->hello, HELLO_HDR_LEN);
}

/* The proof starts with the same magic as our challenge (gd_auth.c): a
 * stranger speaking another protocol is cut at once, not at the deadline. */
static void in_magic(struct hs *hs)
{
	if (memcmp(hs->proof, hs->ch, 4) != 0) {
		hs_refuse(hs, "not a godfs handshake");
		return;
	}
	hs->state = HS_IN_PROOF;
	hs_read(hs, hs->proof + 4, sizeof(hs->proof) - 4);
}

/* The hello's fixed part for the TLS thread (meta_raft_tls_hello_fn): 0 and
 * *len (the address's length), or GD_EPROTO with why. */
static int hello_hdr_check(const uint8_t *h, size_t *len, char *why, size_t whylen)
{
	uint64_t id;

	return meta_raft_hello_hdr(h, &id, len, why, whylen);
}

static int hello_addr_check(uint8_t *h, size_t len, char *why, size_t whylen)
{
	return meta_raft_hello_addr(h, len, why, whylen);
}

static void in_hello_hdr(struct hs *hs)
{
	char why[96];
	size_t len;

	if (hello_hdr_check(hs->hello, &len, why, sizeof(why)) < 0) {
		hs_refuse(hs, why);
		return;
	}
	hs->state = HS_IN_HELLO_ADDR;
	hs_read(hs, hs->hello + HELLO_HDR_LEN, len);
}

static void in_hello_addr(struct hs *hs)
{
	char why[96];

	if (hello_addr_check(hs->hello, hs->want, why, sizeof(why)) < 0) {
		hs_refuse(hs, why);
		return;
	}
	hs->state = HS_IN_READY;
	if (hs->writes_pending == 0)
		in_finish(hs, NULL);
}

/* A connection arrived on the Raft port. */
static void listen_cb(uv_stream_t *l, int status)
{
	struct rt *rt = l->data;
	char who[GD_NET_ADDR_MAX], host[GD_NET_ADDR_MAX];
	unsigned same = 0;
	uv_os_fd_t fd;
	uv_tcp_t *tcp;
	struct hs *hs;

	if (status < 0) {
		rt_log(rt, GD_LOG_WARN, "accept: %s", uv_strerror(status));
		return;
	}
	tcp = raft_malloc(sizeof(*tcp));
	if (tcp == NULL) {
		/* The connection stays in the backlog until memory comes back. */
		rt_log(rt, GD_LOG_ERROR, "accept: out of memory");
		return;
	}
	uv_tcp_init(rt->loop, tcp);
	if (uv_accept(l, (uv_stream_t *)tcp) != 0) {
		uv_close((uv_handle_t *)tcp, (uv_close_cb)raft_free);
		return;
	}
	snprintf(who, sizeof(who), "?");
	if (uv_fileno((uv_handle_t *)tcp, &fd) == 0)
		gd_net_peer_name(fd, who, sizeof(who));
	snprintf(host, sizeof(host), "%s", who);
	if (strrchr(host, ':') != NULL)
		*strrchr(host, ':') = '\0';
	for (hs = rt->hs; hs != NULL; hs = hs->next)
		same += !hs->outgoing && strcmp(hs->host, host) == 0;
	/* Both bounds keep memory bounded; the one per address also keeps one
	 * stranger from taking every place while the voters wait. */
	if (rt->n_in >= rt->max_hs || same >= rt->max_per_host ||
	    (hs = hs_new(rt, false, tcp)) == NULL) {
		rt->stats.overflow++;
		if (same >= rt->max_per_host)
			rt_log(rt, GD_LOG_WARN, "refused %s: %u connections from %s in handshake "
			       "already", who, same, host);
		else
			rt_log(rt, GD_LOG_WARN, "refused %s: %u connections in handshake already",
			       who, rt->n_in);
		uv_close((uv_handle_t *)tcp, (uv_close_cb)raft_free);
		return;
	}
	snprintf(hs->who, sizeof(hs->who), "%s", who);
	snprintf(hs->host, sizeof(hs->host), "%s", host);
	uv_tcp_nodelay(tcp, 1);
	gd_auth_challenge(hs->ch, (rt->policy.insecure ? GD_AUTH_F_INSECURE : 0) |
				  (rt->policy.tls ? GD_AUTH_F_TLS : 0));
	hs->state = HS_IN_MAGIC;
	hs_write(hs, hs->ch, sizeof(hs->ch));
	if (hs->state == HS_IN_MAGIC)
		hs_read(hs, hs->proof, 4);
}

/* ---- the connecting side --------------------------------------------------------- */

static void out_challenge(struct hs *hs)
{
	struct rt *rt = hs->rt;
	int rc = gd_auth_prove(hs->ch, rt->cred, GD_ROLE_META, hs->proof, hs->secret);

	if (rc == GD_EAUTH) {
		hs_out_fail(hs, GD_LOG_WARN, "it needs the cluster key and this node has none "
			    "(--key-file)");
		return;
	}
	if (rc != 0) {
		hs_out_fail(hs, GD_LOG_WARN, rc == GD_EPROTO ? "not a godfs Raft port"
							       : gd_strerror(rc));
		return;
	}
	hs->state = HS_OUT_VERDICT;
	hs_write(hs, hs->proof, sizeof(hs->proof));
	if (hs->state == HS_OUT_VERDICT)
		hs_read(hs, hs->verdict, sizeof(hs->verdict));
}

static void out_verdict(struct hs *hs)
{
	struct rt *rt = hs->rt;
	int rc = gd_auth_verdict(hs->ch, hs->proof, hs->secret, hs->verdict);
	bool wants_tls = get32(hs->ch + 4) & GD_AUTH_F_TLS;

	if (rc == 0 && rt->policy.tls)
		gd_auth_session_key(hs->secret, hs->ch, hs->proof, hs->key);
	memset(hs->secret, 0, sizeof(hs->secret));
	if (rc != 0) {
		hs_out_fail(hs, GD_LOG_WARN, "it refused our handshake, or answered without our "
			    "cluster key (a different key?)");
		return;
	}
	/* The verdict's MAC covers the challenge's flags: this is the peer's own
	 * word about TLS, not a man in the middle's edit. Every voter must run
	 * with the same tls setting: a connection of the other kind is refused
	 * both ways, so that a node with --tls never sends Raft in the clear. */
	if (rt->policy.tls && !wants_tls) {
		hs_out_fail(hs, GD_LOG_WARN, "it does not use TLS, and this node runs with --tls: "
			    "refused");
		return;
	}
	if (!rt->policy.tls && wants_tls) {
		hs_out_fail(hs, GD_LOG_WARN, "it runs with --tls, and this node does not: refused "
			    "(every voter needs the same tls setting)");
		return;
	}
	if (rt->policy.tls && hs->proof[4] == GD_AUTH_NONE) {
		hs_out_fail(hs, GD_LOG_WARN, "TLS (--tls) needs the cluster key, and this node "
			    "has none");
		return;
	}
	hs->hello_len = meta_raft_hello_encode(hs->hello, rt->id, rt->address);
	if (rt->policy.tls) {
		/* the hello goes inside TLS, once the proof's write has ended */
		hs->state = HS_OUT_TLS;
		if (hs->writes_pending == 0)
			tls_begin(hs);
		return;
	}
	hs->state = HS_OUT_HELLO;
	hs_write(hs, hs->hello, hs->hello_len);
}

/* pipe: the TLS stream for raft, or NULL (the TCP handle goes to raft). */
static void out_finish(struct hs *hs, uv_stream_t *pipe)
{
	struct rt *rt = hs->rt;
	struct raft_uv_connect *req = hs->req;
	raft_uv_connect_cb cb = hs->cb;
	uv_stream_t *s;

	rt->stats.connected++;
	for (int i = 0; i < OUT_MEMO; i++) {
		if (rt->memo[i].id == hs->peer_id) {   /* say that it works now */
			rt->memo[i].id = 0;
			rt->memo[i].at = 0;
			gd_info("raft port: connected to %s%s", hs->who,
				pipe != NULL ? " (TLS)" : "");
		}
	}
	s = hs_hand_over(hs);
	cb(req, pipe != NULL ? pipe : s, 0);
}

static void out_connect_cb(uv_connect_t *req, int status)
{
	struct hs *hs = req->data;
	char why[96];

	if (hs->state == HS_DONE)
		return;   /* UV_ECANCELED: the handle is closing */
	if (status < 0) {
		snprintf(why, sizeof(why), "connect: %s", uv_strerror(status));
		hs_fail(hs, why);
		return;
	}
	uv_tcp_nodelay(hs->tcp, 1);
	hs->state = HS_OUT_CHALLENGE;
	hs_read(hs, hs->ch, sizeof(hs->ch));
}

static void out_connect(struct hs *hs, const struct sockaddr *sa)
{
	int rc;

	hs->state = HS_OUT_CONNECT;
	hs->conn_req.data = hs;
	rc = uv_tcp_connect(&hs->conn_req, hs->tcp, sa, out_connect_cb);
	if (rc < 0) {
		char why[96];

		snprintf(why, sizeof(why), "connect: %s", uv_strerror(rc));
		hs_fail(hs, why);
	}
}

static void out_resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct hs *hs = req->data;
	char why[96];

	hs->gai_pending = false;
	if (hs->state == HS_DONE) {
		uv_freeaddrinfo(res);
		hs_maybe_free(hs);
		return;
	}
	if (status < 0 || res == NULL) {
		snprintf(why, sizeof(why), "cannot resolve: %s", uv_strerror(status));
		hs_out_fail(hs, GD_LOG_WARN, why);
	} else {
		out_connect(hs, res->ai_addr);
	}
	uv_freeaddrinfo(res);
}

/* ---- raft_uv_transport ------------------------------------------------------------ */

static int rt_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct rt *rt = t->impl;

	if (strlen(address) > META_RAFT_ADDR_MAX) {
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "address longer than %d bytes",
			 META_RAFT_ADDR_MAX);
		return RAFT_INVALID;
	}
	rt->address = gd_strdup(address);
	if (rt->address == NULL)
		return RAFT_NOMEM;
	rt->id = id;
	/* Initialised now so that close always has a handle to close, and so
	 * always calls back from the loop, never from inside close. */
	uv_tcp_init(rt->loop, &rt->listener);
	rt->listener.data = rt;
	rt->listener_open = true;
	uv_async_init(rt->loop, &rt->async, tls_async_cb);
	rt->async.data = rt;
	rt->async_open = true;
	return 0;
}

static int rt_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct rt *rt = t->impl;
	char raft[META_RAFT_CONF_ADDR_MAX + 1], client[META_RAFT_CONF_ADDR_MAX + 1];
	int fd, rc;

	rt->accept_cb = cb;
	/* A configuration address may carry the client address after '@'
	 * (meta_raft_addr.h): the port listens on the Raft part only. */
	if (meta_raft_addr_split(rt->address, raft, sizeof(raft), client, sizeof(client)) < 0) {
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "bad address %.200s", rt->address);
		return RAFT_INVALID;
	}
	if (gd_net_listen(raft, LISTEN_BACKLOG, &fd, &rt->port) < 0) {
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "cannot listen on %s", rt->address);
		return RAFT_IOERR;
	}
	rc = uv_tcp_open(&rt->listener, fd);
	if (rc != 0)
		close(fd);
	else
		rc = uv_listen((uv_stream_t *)&rt->listener, LISTEN_BACKLOG, listen_cb);
	if (rc != 0) {
		/* after uv_tcp_open, fd is closed with the listener */
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "listen on %s: %s", rt->address,
			 uv_strerror(rc));
		rt->port = -1;
		return RAFT_IOERR;
	}
	gd_info("raft port: listening on %s (%s%s)", rt->address,
		rt->policy.insecure ? "INSECURE: peers without the cluster key get in"
				    : "peers must hold the cluster key",
		rt->policy.tls ? ", TLS" : "");
	return 0;
}

static int rt_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	struct rt *rt = t->impl;
	struct sockaddr_storage ss;
	struct addrinfo hints;
	char host[256], port_s[8];
	char raft[META_RAFT_CONF_ADDR_MAX + 1], client[META_RAFT_CONF_ADDR_MAX + 1];
	uv_tcp_t *tcp;
	struct hs *hs;
	int port, rc;

	if (rt->closing)
		return RAFT_CANCELED;
	if (rt->n_out >= rt->max_hs) {
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "%u connections in handshake", rt->n_out);
		return RAFT_NOCONNECTION;
	}
	if (meta_raft_addr_split(address, raft, sizeof(raft), client, sizeof(client)) < 0 ||
	    gd_parse_hostport(raft, -1, host, sizeof(host), &port) < 0 || port <= 0) {
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "bad address %.200s", address);
		return RAFT_NOCONNECTION;
	}
	tcp = raft_malloc(sizeof(*tcp));
	if (tcp == NULL)
		return RAFT_NOMEM;
	uv_tcp_init(rt->loop, tcp);
	hs = hs_new(rt, true, tcp);
	if (hs == NULL) {
		uv_close((uv_handle_t *)tcp, (uv_close_cb)raft_free);
		return RAFT_NOMEM;
	}
	hs->req = req;
	hs->cb = cb;
	hs->peer_id = id;
	req->cb = cb;
	snprintf(hs->who, sizeof(hs->who), "node %llu at %s", (unsigned long long)id, address);
	/* From here on every failure goes through cb, from the loop. */
	memset(&ss, 0, sizeof(ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
		out_connect(hs, (const struct sockaddr *)&ss);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port_s, sizeof(port_s), "%d", port);
	hs->state = HS_OUT_RESOLVE;
	hs->gai.data = hs;
	rc = uv_getaddrinfo(rt->loop, &hs->gai, out_resolved_cb, host, port_s, &hints);
	if (rc < 0) {
		char why[96];

		snprintf(why, sizeof(why), "cannot resolve: %s", uv_strerror(rc));
		hs_out_fail(hs, GD_LOG_WARN, why);
	} else {
		hs->gai_pending = true;
	}
	return 0;
}

static void listener_closed_cb(uv_handle_t *h)
{
	struct rt *rt = h->data;

	rt->listener_open = false;
	rt_maybe_closed(rt);
}

/* Stops accepting, cancels every handshake (outgoing requests get
 * RAFT_CANCELED), and calls cb from the loop once all is closed. */
static void rt_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct rt *rt = t->impl;
	struct hs *hs;
	struct tl *tl;

	if (rt->closing)
		return;
	rt->closing = true;
	rt->close_cb = cb;
	if (rt->listener_open && !rt->listener_closing) {
		rt->listener_closing = true;
		uv_close((uv_handle_t *)&rt->listener, listener_closed_cb);
	}
	/* hs_close frees nothing itself (only close callbacks do), so the list
	 * stays walkable. */
	for (hs = rt->hs; hs != NULL; hs = hs->next)
		hs_close(hs, RAFT_CANCELED);
	/* TLS connections raft holds end too (raft reads the end of its
	 * stream); the close callback waits for their threads. */
	for (tl = rt->tls; tl != NULL; tl = tl->next)
		meta_raft_tls_stop(tl->c);
	rt_maybe_closed(rt);
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void hs_step(struct hs *hs)
{
	switch (hs->state) {
	case HS_IN_MAGIC:
		in_magic(hs);
		break;
	case HS_IN_PROOF:
		in_proof(hs);
		break;
	case HS_IN_HELLO_HDR:
		in_hello_hdr(hs);
		break;
	case HS_IN_HELLO_ADDR:
		in_hello_addr(hs);
		break;
	case HS_OUT_CHALLENGE:
		out_challenge(hs);
		break;
	case HS_OUT_VERDICT:
		out_verdict(hs);
		break;
	default:
		hs_fail(hs, "internal error: a read in the wrong state");
		break;
	}
}

static void hs_wrote(struct hs *hs)
{
	switch (hs->state) {
	case HS_IN_REFUSING:
		hs_close(hs, RAFT_NOCONNECTION);
		break;
	case HS_IN_READY:
		in_finish(hs, NULL);
		break;
	case HS_OUT_HELLO:
		out_finish(hs, NULL);
		break;
	case HS_IN_TLS:
	case HS_OUT_TLS:
		tls_begin(hs);
		break;
	default:
		break;   /* a read is under way */
	}
}

/* ---- public ------------------------------------------------------------------------- */

int meta_raft_transport_init(struct raft_uv_transport *t, uv_loop_t *loop,
			     const struct meta_raft_transport_opts *opts)
{
	void *data = t->data;
	struct rt *rt;

	memset(t, 0, sizeof(*t));
	t->data = data;
	rt = gd_calloc(1, sizeof(*rt));
	if (rt == NULL) {
		snprintf(t->errmsg, RAFT_ERRMSG_BUF_SIZE, "out of memory");
		return RAFT_NOMEM;
	}
	rt->t = t;
	rt->loop = loop;
	rt->policy = *opts->policy;
	rt->policy.tokens = false;         /* a token never opens the Raft port */
	rt->policy.token_check = NULL;
	rt->cred = opts->cred;
	rt->handshake_ms = opts->handshake_ms ? opts->handshake_ms : META_RAFT_HANDSHAKE_MS;
	rt->max_hs = opts->max_handshakes ? opts->max_handshakes : META_RAFT_MAX_HANDSHAKES;
	rt->max_per_host = opts->max_per_address ? opts->max_per_address : META_RAFT_MAX_PER_ADDRESS;
	rt->port = -1;
	rt->log_window = uv_now(loop);
	t->impl = rt;
	t->init = rt_init;
	t->listen = rt_listen;
	t->connect = rt_connect;
	t->close = rt_close;
	return 0;
}

void meta_raft_transport_release(struct raft_uv_transport *t)
{
	struct rt *rt = t->impl;

	if (rt == NULL)
		return;
	gd_free(rt->address);
	gd_free(rt);
	t->impl = NULL;
}

int meta_raft_transport_port(const struct raft_uv_transport *t)
{
	const struct rt *rt = t->impl;

	return rt->port;
}

void meta_raft_transport_stats(const struct raft_uv_transport *t,
			       struct meta_raft_transport_stats *out)
{
	const struct rt *rt = t->impl;

	*out = rt->stats;
	out->in_handshake = rt->n_in;
}
