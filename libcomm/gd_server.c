/* Threaded RPC server: an accept thread, a reader thread per connection, an
 * optional worker pool fed through a bounded queue, and one flusher thread
 * that sends the replies that did not fit into a socket at once.
 *
 * Lifetime of a connection: the reader thread holds one reference, every
 * request handed to the handler holds one more, and so does the flusher while
 * the connection has queued output. When the reader stops (peer gone, bad
 * frame, timeout, server stopping) the socket is shut down, so replies fail
 * with GD_ECONN, but the descriptor stays open (never reused under a late
 * reply) until the last reference goes; then the closed callback runs and the
 * connection is freed.
 *
 * Lock order: send_lock -> flock; s->lock and rq_lock are taken alone. */
#include "gd_server.h"
#include "gd_alloc.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_server_metrics.h"
#include "gd_status.h"
#include "gd_tls.h"
#include "gd_trace.h"
#include "proto/wire.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_PER_WORKER 16
#define SMALL_PB 4096u
#define STOP_WAIT_MS 10000
/* The flusher looks at output deadlines this often. */
#define FLUSH_TICK_MS 100
#define FLUSH_EVENTS 64
/* A reader wakes at least this often to look at its deadlines (blocking reads
 * with SO_RCVTIMEO: no extra system call per frame). */
#define RECV_SLICE_MAX_MS 5000
#define RECV_SLICE_MIN_MS 20
/* Refused connections are logged at most once per this. */
#define REFUSE_LOG_MS 1000
#define ADDR_BUCKETS 256u
#define IP_MAX 46 /* INET6_ADDRSTRLEN */

/* A piece of a reply frame that did not fit into the socket. */
struct outbuf {
	struct outbuf *next;
	size_t len, off;               /* data[off..len) still to send */
	uint64_t queued_ms;            /* must be out by queued_ms + send_timeout */
	uint8_t data[];
};

/* Open connections from one peer IP address. */
struct addr_count {
	struct addr_count *next;
	int n;
	char ip[IP_MAX];
};
#define AUTH_LOG_PER_SEC 5   /* refusal lines per second before counting instead */
#define AUTH_LAST_MAX (GD_NET_ADDR_MAX + 200)

struct gd_sconn {
	struct gd_server *s;
	int fd;                        /* closed when the last reference goes */
	char peer[GD_NET_ADDR_MAX];
	char ip[IP_MAX];               /* key of s->addrs */
	atomic_int refs;
	atomic_int dead;               /* no more replies: socket shut down */
	pthread_mutex_t send_lock;     /* guards the output queue down to fnext */
	struct outbuf *out_head, *out_tail;
	atomic_size_t out_bytes;       /* written under send_lock, read by the reader */
	int in_flusher;                /* holds a reference, registered in epoll */
	struct gd_sconn *newnext;      /* in s->fnew; guarded by s->flock */
	struct gd_sconn *fprev, *fnext; /* in the flusher's own list; flusher thread only */
	int nreq;                      /* requests not freed; guarded by s->rq_lock */
	pthread_mutex_t ctx_lock;      /* guards ctx */
	void *ctx;
	struct gd_peer_auth auth;      /* written by the reader before its first request */
	/* TLS (auth.tls): set by the reader before its first request; records
	 * are received by the reader only and made under send_lock only */
	struct gd_tls *tls;
	struct gd_sconn *prev, *next;  /* in s->conns; guarded by s->lock */
};

/* What the handler sees is `pub`; `replied` catches a second reply. */
struct request_box {
	struct gd_request pub;
	atomic_int replied;
	size_t bytes;                  /* counted in s->req_bytes */
	uint64_t t0_ns;                /* read whole (gd_server_metrics.h) */
};

struct gd_server {
	struct gd_server_config cfg;   /* cfg.listen points into listen_copy */
	struct gd_server_limits lim;   /* cfg.limits with the defaults filled in */
	char *listen_copy;
	int lfd;
	int port;
	pthread_t acceptor;

	pthread_mutex_t lock;          /* guards everything down to cv */
	pthread_cond_t cv;             /* nreaders or nlive went down */
	struct gd_sconn *conns;        /* connections whose reader runs */
	int nreaders;
	int nlive;                     /* connections not yet freed */
	int stopping;
	struct addr_count *addrs[ADDR_BUCKETS]; /* readers per peer address */

	/* Refusals not logged yet: accept thread only. */
	int refused;
	char refused_ip[IP_MAX];
	const char *refused_why;
	int refused_limit;
	uint64_t refused_log_ms;

	pthread_mutex_t rq_lock;       /* guards nreq, req_bytes, nwaiting, conn nreq */
	pthread_cond_t rq_cv;          /* a request was freed, output drained, or a kill */
	int nreq;
	uint64_t req_bytes;
	atomic_int nwaiting;           /* readers waiting on a bound */
	/* Reply bytes queued on every connection: many connections that each
	 * stay under max_conn_output must not add up to all of memory. */
	atomic_uint_fast64_t out_total;

	pthread_t flusher;
	int flusher_started;
	int epfd;
	int evfd;                      /* wakes the flusher to stop */
	pthread_mutex_t flock;         /* guards fnew and fstop */
	struct gd_sconn *fnew;         /* connections newly given to the flusher */
	int fstop;

	pthread_t *workers;
	int nworkers;
	pthread_mutex_t qlock;         /* guards the queue down to qstop */
	pthread_cond_t q_nonempty;
	pthread_cond_t q_nonfull;
	struct request_box **q;
	size_t qcap, qhead, qlen;
	int qstop;

	/* Handshake refusals, for a log that stays readable under a flood. */
	pthread_mutex_t auth_lock;     /* guards everything down to auth_last */
	uint64_t auth_window_ms;       /* start of the current one-second window */
	int auth_logged;               /* lines logged in that window */
	int auth_quiet;                /* refusals counted, not logged, since the last count */
	char auth_last[AUTH_LAST_MAX]; /* the last of those: "peer: reason" */

	struct gd_log_limit refusals;  /* log lines of refused requests */
};

static void sconn_get(struct gd_sconn *sc)
{
	atomic_fetch_add(&sc->refs, 1);
}

/* Frees the output queue. Caller holds send_lock (or the last reference). */
static void out_drop(struct gd_sconn *sc)
{
	while (sc->out_head) {
		struct outbuf *b = sc->out_head;
		sc->out_head = b->next;
		gd_free(b);
	}
	sc->out_tail = NULL;
	atomic_fetch_sub(&sc->s->out_total, atomic_exchange(&sc->out_bytes, 0));
}

/* Drops a reference; the last one closes the socket and frees the connection. */
static void sconn_put(struct gd_sconn *sc)
{
	struct gd_server *s = sc->s;

	if (atomic_fetch_sub(&sc->refs, 1) != 1)
		return;
	if (s->cfg.closed)
		s->cfg.closed(s->cfg.ctx, sc->ctx);
	out_drop(sc);
	gd_tls_free(sc->tls);
	close(sc->fd);
	pthread_mutex_destroy(&sc->send_lock);
	pthread_mutex_destroy(&sc->ctx_lock);
	gd_free(sc);
	pthread_mutex_lock(&s->lock);
	s->nlive--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

/* Wakes every reader waiting on a bound (they look again). */
static void wake_waiters(struct gd_server *s)
{
	if (atomic_load(&s->nwaiting) == 0)
		return;
	pthread_mutex_lock(&s->rq_lock);
	pthread_cond_broadcast(&s->rq_cv);
	pthread_mutex_unlock(&s->rq_lock);
}

/* Stops all traffic on a connection; replies from now on get GD_ECONN. */
static void sconn_kill(struct gd_sconn *sc)
{
	atomic_store(&sc->dead, 1);
	shutdown(sc->fd, SHUT_RDWR);
	wake_waiters(sc->s);
}

/* ---- peer addresses ---- */

static unsigned addr_bucket(const char *ip)
{
	unsigned h = 2166136261u;

	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % ADDR_BUCKETS;
}

/* The count for ip, created at 0 when create; NULL when absent or out of
 * memory. Caller holds s->lock. */
static struct addr_count *addr_find(struct gd_server *s, const char *ip, int create)
{
	struct addr_count **pp = &s->addrs[addr_bucket(ip)];

	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->ip, ip) == 0)
			return *pp;
	if (!create)
		return NULL;
	*pp = gd_calloc(1, sizeof(**pp));
	if (*pp)
		snprintf((*pp)->ip, sizeof((*pp)->ip), "%s", ip);
	return *pp;
}

/* One reader of ip left. Caller holds s->lock. */
static void addr_release(struct gd_server *s, const char *ip)
{
	struct addr_count **pp = &s->addrs[addr_bucket(ip)];

	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->ip, ip) == 0) {
			struct addr_count *a = *pp;
			if (--a->n == 0) {
				*pp = a->next;
				gd_free(a);
			}
			return;
		}
	}
}

static void sockaddr_ip(const struct sockaddr_storage *ss, char *ip, size_t len)
{
	const void *a = NULL;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (!a || !inet_ntop(ss->ss_family, a, ip, (socklen_t)len))
		snprintf(ip, len, "?");
}

/* ---- requests: bounds and dispatch ---- */

/* Whether sc may take one more request of `bytes`. Caller holds rq_lock. */
static int may_admit(struct gd_sconn *sc, size_t bytes)
{
	struct gd_server *s = sc->s;

	return sc->nreq < s->lim.max_conn_requests && s->nreq < s->lim.max_requests &&
	       (s->req_bytes == 0 || s->req_bytes + bytes <= s->lim.max_request_bytes) &&
	       atomic_load(&sc->out_bytes) < s->lim.max_conn_output / 2 &&
	       atomic_load(&s->out_total) < s->lim.max_total_output / 2;
}

/* Back-pressure: waits until the bounds let sc hand one more request of
 * `bytes` to the handler, then counts it. The frame stays in the socket
 * meanwhile. Returns 0, or GD_ECONN when the connection was killed. */
static int admit(struct gd_sconn *sc, size_t bytes)
{
	struct gd_server *s = sc->s;
	int rc = 0;

	pthread_mutex_lock(&s->rq_lock);
	if (!may_admit(sc, bytes)) {
		atomic_fetch_add(&s->nwaiting, 1);
		while (!atomic_load(&sc->dead) && !may_admit(sc, bytes)) {
			/* A timed wait: a drained output queue wakes us, but a
			 * missed wake-up must never stop a reader for good. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->rq_cv, &s->rq_lock, &ts);
		}
		atomic_fetch_sub(&s->nwaiting, 1);
	}
	if (atomic_load(&sc->dead)) {
		rc = GD_ECONN;
	} else {
		sc->nreq++;
		s->nreq++;
		s->req_bytes += bytes;
	}
	pthread_mutex_unlock(&s->rq_lock);
	return rc;
}

/* Uncounts a request (freed, or never handed over). */
static void unadmit(struct gd_sconn *sc, size_t bytes)
{
	struct gd_server *s = sc->s;

	pthread_mutex_lock(&s->rq_lock);
	sc->nreq--;
	s->nreq--;
	s->req_bytes -= bytes;
	if (atomic_load(&s->nwaiting) > 0)
		pthread_cond_broadcast(&s->rq_cv);
	pthread_mutex_unlock(&s->rq_lock);
}

/* Runs the handler with the request's trace id as the thread's. */
static void handle(struct gd_server *s, struct request_box *rb)
{
	gd_trace_set(rb->pub.trace);
	s->cfg.handler(s->cfg.ctx, &rb->pub);
	gd_trace_set(NULL);
}

static void dispatch(struct gd_server *s, struct request_box *rb)
{
	if (s->nworkers == 0) {
		handle(s, rb);
		return;
	}
	pthread_mutex_lock(&s->qlock);
	/* Back-pressure: a full queue stops this reader, so this peer's
	 * requests wait in its socket rather than in our memory. */
	while (s->qlen == s->qcap)
		pthread_cond_wait(&s->q_nonfull, &s->qlock);
	s->q[(s->qhead + s->qlen) % s->qcap] = rb;
	s->qlen++;
	pthread_cond_signal(&s->q_nonempty);
	pthread_mutex_unlock(&s->qlock);
}

static void *worker_main(void *arg)
{
	struct gd_server *s = arg;

	for (;;) {
		struct request_box *rb;

		pthread_mutex_lock(&s->qlock);
		while (s->qlen == 0 && !s->qstop)
			pthread_cond_wait(&s->q_nonempty, &s->qlock);
		if (s->qlen == 0) {
			pthread_mutex_unlock(&s->qlock);
			break;
		}
		rb = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qlen--;
		pthread_cond_signal(&s->q_nonfull);
		pthread_mutex_unlock(&s->qlock);
		handle(s, rb);
	}
	return NULL;
}

/* ---- the reader ---- */

/* Reads iov whole with blocking reads (SO_RCVTIMEO wakes us every slice) by
 * *deadline (monotonic ms). While nothing has come yet (*got == 0) the wait
 * is for a frame to start; when its first byte comes, *deadline becomes
 * now + frame_ms (frame_ms 0: unchanged). Returns 0, GD_ECONN (error or end
 * of stream), or GD_ETIMEDOUT. */
static int recv_by(struct gd_sconn *sc, struct iovec *iov, int iovcnt, size_t *got,
		   uint64_t *deadline, uint64_t frame_ms)
{
	while (iovcnt > 0) {
		ssize_t n;

		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		if (sc->tls) {
			long r;

			gd_tls_set_recv_deadline(sc->tls, *deadline);
			r = gd_tls_recv_some(sc->tls, iov->iov_base, iov->iov_len);
			n = r > 0 ? r : r == GD_EAGAIN ? -1 : 0;
			if (r == GD_EAGAIN)
				errno = EAGAIN;
		} else {
			n = readv(sc->fd, iov, iovcnt);
		}
		if (n > 0) {
			if (*got == 0 && frame_ms)
				*deadline = gd_net_now_ms() + frame_ms;
			*got += (size_t)n;
			{
				int done = gd_net_iov_advance(iov, iovcnt, 0, (size_t)n);
				iov += done;
				iovcnt -= done;
			}
			/* A trickle of bytes never resets the deadline. */
			if (iovcnt > 0 && gd_net_now_ms() >= *deadline)
				return GD_ETIMEDOUT;
			continue;
		}
		if (n == 0)
			return GD_ECONN;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return GD_ECONN;
		if (atomic_load(&sc->dead))
			return GD_ECONN;
		if (gd_net_now_ms() >= *deadline)
			return GD_ETIMEDOUT;
	}
	return 0;
}

/* ---- decoding and vetting ---- */

/* protobuf-c allocations of decoded requests go through gd_malloc (tests make
 * it fail); allocator_data, when set, points to a flag raised on failure. */

/* Whether this server hands req to its handler: the method is served here
 * and carries bulk data only when it may (gd_method_check), and the role the
 * connection's handshake proved (req->auth) may call it (gd_method_allowed).
 * Returns 0, or the status to answer with (why says it for the log). */
static int vet(const struct gd_server *s, const struct gd_request *req, const char **why)
{
	unsigned serves = s->cfg.serves ? s->cfg.serves : GD_SERVE_ANY;
	int rc = gd_method_check(req->method, serves, req->hdr.data_len, why);

	if (rc == 0 && (!req->auth || !gd_method_allowed(req->method, req->auth->role))) {
		*why = "its role may not call it";
		rc = GD_EPERM;
	}
	return rc;
}

/* Answers a request the handler will not see, logs why (rate-limited) and frees it. */
static void refuse(struct gd_server *s, struct gd_request *req, int status, const char *why)
{
	unsigned dropped;

	if (gd_log_limit_allow(&s->refusals, &dropped))
		gd_warn("%s: refused %s (method %u) from role %s: %s%s", req->peer,
			req->method->name, req->hdr.method,
			req->auth ? gd_role_name(req->auth->role) : "?", why,
			dropped ? " (and earlier refusals not logged)" : "");
	(void)gd_reply_status(req, status);
	gd_request_free(req);
}

/* Reads one request after its header; returns 0, or <0 with *why set to drop the connection. */
static int read_request(struct gd_sconn *sc, const struct gd_frame_hdr *hdr,
			const char **why, char *whybuf, size_t whylen)
{
	struct gd_server *s = sc->s;
	const struct gd_method *m;
	ProtobufCMessage *msg;
	const char *refused = NULL;
	bool alloc_failed = false;
	ProtobufCAllocator alloc = gd_pb_allocator_flag(&alloc_failed);
	struct request_box *rb;
	struct iovec iov[2];
	uint64_t deadline;
	size_t total, got = 0, skip;
	uint8_t *pb;
	int rc;

	total = sizeof(*rb) + (size_t)hdr->pb_len + hdr->data_len;
	rc = admit(sc, total);
	if (rc < 0) {
		*why = "closed while waiting for its earlier requests";
		return rc;
	}
	rb = gd_malloc(total);
	if (!rb) {
		*why = "out of memory for a request";
		rc = GD_ENOMEM;
		goto err_after_admit;
	}
	memset(rb, 0, sizeof(*rb));
	rb->bytes = total;
	pb = (uint8_t *)(rb + 1);
	iov[0].iov_base = pb;
	iov[0].iov_len = hdr->pb_len;
	iov[1].iov_base = pb + hdr->pb_len;
	iov[1].iov_len = hdr->data_len;
	/* The body's own time starts now: waiting in admit() was ours. */
	deadline = gd_net_now_ms() + (uint64_t)s->lim.frame_timeout_ms;
	rc = recv_by(sc, iov, 2, &got, &deadline, 0);
	if (rc < 0) {
		if (rc == GD_ETIMEDOUT) {
			snprintf(whybuf, whylen,
				 "a frame of %u bytes did not arrive whole within %d ms (%zu came)",
				 hdr->pb_len + hdr->data_len, s->lim.frame_timeout_ms, got);
			*why = whybuf;
		} else {
			*why = "connection lost inside a frame";
		}
		goto err_after_alloc;
	}
	/* gd_frame_decode_hdr let through only methods of wire.proto, and
	 * test_methods checks that each has a row; a missing one is still only
	 * this connection's end. */
	m = gd_method_get(hdr->method);
	if (!m) {
		snprintf(whybuf, whylen, "method %u has no row in the method table", hdr->method);
		*why = whybuf;
		rc = GD_EPROTO;
		goto err_after_alloc;
	}
	rc = gd_frame_trace_take(hdr, pb, rb->pub.trace, &skip, why);
	if (rc < 0)
		goto err_after_alloc;
	msg = protobuf_c_message_unpack(m->req, &alloc, hdr->pb_len - skip, pb + skip);
	if (!msg) {
		if (alloc_failed)
			snprintf(whybuf, whylen, "out of memory decoding %s", m->name);
		else
			snprintf(whybuf, whylen, "protobuf part of %s does not unpack as %s",
				 m->name, m->req->name);
		*why = whybuf;
		rc = alloc_failed ? GD_ENOMEM : GD_EPROTO;
		goto err_after_alloc;
	}
	gd_server_metrics_received(GD_FRAME_HDR_LEN + (size_t)hdr->pb_len + hdr->data_len);
	rb->t0_ns = gd_server_metrics_now_ns();
	rb->pub.method = m;
	rb->pub.msg = msg;
	rb->pub.conn = sc;
	rb->pub.hdr = *hdr;
	rb->pub.hdr.kind = gd_frame_kind(hdr);
	rb->pub.hdr.pb_len = hdr->pb_len - (uint32_t)skip;
	rb->pub.pb = pb + skip;
	rb->pub.data = hdr->data_len ? pb + hdr->pb_len : NULL;
	rb->pub.peer = sc->peer;
	rb->pub.auth = &sc->auth;
	pthread_mutex_lock(&sc->ctx_lock);
	rb->pub.conn_ctx = sc->ctx;
	pthread_mutex_unlock(&sc->ctx_lock);
	atomic_init(&rb->replied, 0);
	sconn_get(sc);
	/* The reader's own lines about this request carry its id too. */
	if (rb->pub.trace[0]) {
		gd_trace_set(rb->pub.trace);
		gd_debug("%s: %s request %" PRIu64 " (%u + %u bytes)", sc->peer, m->name,
			 hdr->request_id, rb->pub.hdr.pb_len, hdr->data_len);
	}
	rc = vet(s, &rb->pub, &refused);
	if (rc)
		refuse(s, &rb->pub, rc, refused);
	else
		dispatch(s, rb);
	gd_trace_set(NULL);
	return 0;

err_after_alloc:
	gd_free(rb);
err_after_admit:
	unadmit(sc, total);
	return rc;
}

/* Logs the refusals counted and not yet logged; caller holds auth_lock.
 * Copies the line out so that it is logged after the lock is dropped. */
static void auth_count_line(struct gd_server *s, uint64_t now, char *line, size_t len)
{
	line[0] = '\0';
	if (s->auth_quiet > 0)
		snprintf(line, len, "%d more connections refused in the last %.1f s (the last: %s)",
			 s->auth_quiet, (double)(now - s->auth_window_ms) / 1000.0, s->auth_last);
	s->auth_quiet = 0;
}

/* One line per refused or timed-out handshake, at most AUTH_LOG_PER_SEC a
 * second; past that they are counted and the count is logged with the next
 * refusal after the second is over (or when the server stops). */
static void auth_refused(struct gd_server *s, const char *peer, const char *why)
{
	char line[AUTH_LAST_MAX + 96];
	uint64_t now = gd_net_now_ms();
	int quiet = 0;

	pthread_mutex_lock(&s->auth_lock);
	line[0] = '\0';
	if (now - s->auth_window_ms >= 1000) {
		auth_count_line(s, now, line, sizeof(line));
		s->auth_window_ms = now;
		s->auth_logged = 0;
	}
	if (s->auth_logged < AUTH_LOG_PER_SEC) {
		s->auth_logged++;
	} else {
		s->auth_quiet++;
		snprintf(s->auth_last, sizeof(s->auth_last), "%s: %s", peer, why);
		quiet = 1;
	}
	pthread_mutex_unlock(&s->auth_lock);
	if (line[0])
		gd_warn("%s", line);
	if (!quiet)
		gd_warn("%s: connection refused: %s", peer, why);
}

static int tls_output(void *ctx, const void *buf, size_t len);

/* The handshake of a new connection (gd_auth.h); 0 when the peer may go on.
 * A peer that closes before it sent its proof (a port probe, a client that
 * gave up) is only a debug line: it was not refused. */
static int reader_auth(struct gd_sconn *sc)
{
	struct gd_server *s = sc->s;
	const struct gd_auth_policy *pol = s->cfg.auth ? s->cfg.auth : gd_cred_policy();
	char why[160];
	int rc;

	rc = gd_auth_server(sc->fd, pol, s->cfg.auth_timeout_ms, &sc->auth, why, sizeof(why));
	if (rc == 0 && sc->auth.tls) {
		rc = gd_tls_start(sc->fd, true, sc->auth.session_key, s->cfg.auth_timeout_ms, &sc->tls);
		if (rc < 0)
			snprintf(why, sizeof(why), "TLS handshake failed: %s", gd_strerror(rc));
		else
			gd_tls_set_output(sc->tls, tls_output, sc);
	}
	memset(sc->auth.session_key, 0, sizeof(sc->auth.session_key));
	if (rc == 0) {
		gd_debug("%s: authenticated as %s%s", sc->peer, gd_role_name(sc->auth.role),
			 sc->tls ? ", TLS" : "");
		return 0;
	}
	if (atomic_load(&sc->dead))
		return rc;   /* the server is stopping */
	if (rc == GD_ECONN)
		gd_debug("%s: closed during the handshake (%s)", sc->peer, why);
	else
		auth_refused(s, sc->peer, why);
	return rc;
}

/* A connection's reader: the handshake, then frames until the peer leaves,
 * breaks the protocol or runs out of time. */
static void *reader_main(void *arg)
{
	struct gd_sconn *sc = arg;
	struct gd_server *s = sc->s;
	char whybuf[160];

	if (reader_auth(sc) < 0)
		goto out_closed;
	for (;;) {
		uint8_t buf[GD_FRAME_HDR_LEN];
		struct iovec iov = { buf, sizeof(buf) };
		struct gd_frame_hdr hdr;
		const char *why = NULL;
		uint64_t deadline = gd_net_now_ms() + (uint64_t)s->lim.idle_timeout_ms;
		size_t got = 0;
		int rc;

		rc = recv_by(sc, &iov, 1, &got, &deadline, (uint64_t)s->lim.frame_timeout_ms);
		if (rc == GD_ETIMEDOUT && got == 0) {
			gd_info("%s: dropping connection: no request for %d ms (idle timeout)",
				sc->peer, s->lim.idle_timeout_ms);
			break;
		}
		if (rc == GD_ETIMEDOUT) {
			gd_warn("%s: dropping connection: a frame header did not arrive whole "
				"within %d ms", sc->peer, s->lim.frame_timeout_ms);
			break;
		}
		if (rc < 0) {
			if (got > 0)
				gd_warn("%s: dropping connection: %s", sc->peer,
					"connection lost inside a frame header");
			else
				gd_debug("%s: connection closed", sc->peer);
			break;
		}
		rc = gd_frame_decode_hdr(buf, sizeof(buf), &hdr, &why);
		if (rc == 0 && gd_frame_kind(&hdr) != GD_KIND_REQUEST) {
			why = "frame is not a request";
			rc = GD_EPROTO;
		}
		if (rc == 0)
			rc = read_request(sc, &hdr, &why, whybuf, sizeof(whybuf));
		if (rc < 0) {
			if (!atomic_load(&sc->dead))
				gd_warn("%s: dropping connection: %s", sc->peer, why);
			break;
		}
	}
out_closed:
	sconn_kill(sc);
	pthread_mutex_lock(&s->lock);
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	addr_release(s, sc->ip);
	s->nreaders--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	sconn_put(sc);
	return NULL;
}

/* ---- accepting ---- */

/* Logs the refusals counted since the last line (at most once per
 * REFUSE_LOG_MS, or at once with force). Accept thread only. */
static void refusals_log(struct gd_server *s, int force)
{
	uint64_t now = gd_net_now_ms();

	if (s->refused == 0 || (!force && now - s->refused_log_ms < REFUSE_LOG_MS))
		return;
	gd_warn("refused %d connection%s (the last from %s): %s %d reached", s->refused,
		s->refused == 1 ? "" : "s", s->refused_ip, s->refused_why, s->refused_limit);
	s->refused = 0;
	s->refused_log_ms = now;
}

static void refusal_count(struct gd_server *s, const char *ip, const char *why, int limit)
{
	s->refused++;
	snprintf(s->refused_ip, sizeof(s->refused_ip), "%s", ip);
	s->refused_why = why;
	s->refused_limit = limit;
	refusals_log(s, 0);
}

/* Sets up one accepted socket and starts its reader; closes fd on failure.
 * The limits are checked first, before anything is allocated or started. */
static void accept_one(struct gd_server *s, int fd, const struct sockaddr_storage *ss)
{
	struct gd_sconn *sc = NULL;
	struct addr_count *ac;
	char ip[IP_MAX];
	pthread_attr_t attr;
	pthread_t th;
	int rc, slice;

	sockaddr_ip(ss, ip, sizeof(ip));
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		return;
	}
	if (s->nreaders >= s->lim.max_conns) {
		pthread_mutex_unlock(&s->lock);
		refusal_count(s, ip, "connection limit", s->lim.max_conns);
		close(fd);
		return;
	}
	ac = addr_find(s, ip, 1);
	if (ac && ac->n >= s->lim.max_conns_per_addr) {
		pthread_mutex_unlock(&s->lock);
		refusal_count(s, ip, "per-address limit", s->lim.max_conns_per_addr);
		close(fd);
		return;
	}
	if (!ac) {
		pthread_mutex_unlock(&s->lock);
		gd_warn("out of memory: refusing a connection from %s", ip);
		close(fd);
		return;
	}
	ac->n++;    /* taken now: released below if the reader does not start */
	pthread_mutex_unlock(&s->lock);

	sc = gd_calloc(1, sizeof(*sc));
	if (!sc) {
		gd_warn("out of memory: refusing a connection from %s", ip);
		goto err_after_count;
	}
	sc->s = s;
	sc->fd = fd;
	snprintf(sc->ip, sizeof(sc->ip), "%s", ip);
	gd_net_peer_name(fd, sc->peer, sizeof(sc->peer));
	gd_net_tune(fd);
	/* Reads wake every slice to look at the idle and frame deadlines. */
	slice = s->lim.frame_timeout_ms < s->lim.idle_timeout_ms ? s->lim.frame_timeout_ms
								 : s->lim.idle_timeout_ms;
	slice /= 4;
	slice = slice < RECV_SLICE_MIN_MS ? RECV_SLICE_MIN_MS
		: slice > RECV_SLICE_MAX_MS ? RECV_SLICE_MAX_MS : slice;
	(void)gd_net_set_recv_timeout(fd, slice);
	atomic_init(&sc->refs, 1);
	atomic_init(&sc->dead, 0);
	atomic_init(&sc->out_bytes, 0);
	pthread_mutex_init(&sc->send_lock, NULL);
	pthread_mutex_init(&sc->ctx_lock, NULL);

	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		goto err_after_alloc;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, reader_main, sc);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		gd_warn("%s: refusing connection: cannot start a thread: %s", sc->peer,
			strerror(rc));
		pthread_mutex_unlock(&s->lock);
		goto err_after_alloc;
	}
	/* The reader needs s->lock to leave the list, so it cannot run ahead of this. */
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	s->nreaders++;
	s->nlive++;
	pthread_mutex_unlock(&s->lock);
	gd_debug("%s: connected", sc->peer);
	return;

err_after_alloc:
	pthread_mutex_destroy(&sc->send_lock);
	pthread_mutex_destroy(&sc->ctx_lock);
	gd_free(sc);
err_after_count:
	pthread_mutex_lock(&s->lock);
	addr_release(s, ip);
	pthread_mutex_unlock(&s->lock);
	close(fd);
}

static void *acceptor_main(void *arg)
{
	struct gd_server *s = arg;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
		int fd, stopping;

		/* With refusals not logged yet, wake to log them. */
		if (s->refused > 0 && poll(&pfd, 1, REFUSE_LOG_MS) == 0) {
			refusals_log(s, 1);
			continue;
		}
		memset(&ss, 0, sizeof(ss));
		fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		pthread_mutex_lock(&s->lock);
		stopping = s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (fd < 0) {
			if (stopping)
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timespec ts = { 0, 100 * 1000 * 1000 };
				gd_warn("accept: %s", strerror(errno));
				nanosleep(&ts, NULL);
				continue;
			}
			gd_error("accept: %s: no more connections", strerror(errno));
			break;
		}
		if (stopping) {
			close(fd);
			break;
		}
		accept_one(s, fd, &ss);
	}
	refusals_log(s, 1);
	return NULL;
}

/* ---- sending ---- */

/* Sends what it can of iov without blocking (iov is advanced). Returns the
 * bytes left, or GD_ECONN when the socket failed. */
static ssize_t send_some(int fd, struct iovec *iov, int iovcnt, size_t left)
{
	while (left > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
		ssize_t n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return GD_ECONN;
		}
		left -= (size_t)n;
		{
			int done = gd_net_iov_advance(iov, iovcnt, 0, (size_t)n);
			iov += done;
			iovcnt -= done;
		}
	}
	return (ssize_t)left;
}

/* Sends queued output until the queue is empty or the socket is full.
 * Returns 0 or GD_ECONN. Caller holds send_lock. */
static int out_flush(struct gd_sconn *sc)
{
	while (sc->out_head) {
		struct outbuf *b = sc->out_head;
		struct iovec iov = { b->data + b->off, b->len - b->off };
		ssize_t left = send_some(sc->fd, &iov, 1, b->len - b->off);

		if (left < 0)
			return (int)left;
		atomic_fetch_sub(&sc->out_bytes, (b->len - b->off) - (size_t)left);
		atomic_fetch_sub(&sc->s->out_total, (b->len - b->off) - (size_t)left);
		b->off = b->len - (size_t)left;
		if (left > 0)
			return 0;
		sc->out_head = b->next;
		if (!sc->out_head)
			sc->out_tail = NULL;
		gd_free(b);
	}
	return 0;
}

/* Gives sc (with output just queued) to the flusher. Caller holds send_lock. */
static void flusher_take(struct gd_sconn *sc)
{
	struct gd_server *s = sc->s;
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = sc };

	if (sc->in_flusher)
		return;
	sc->in_flusher = 1;
	sconn_get(sc);
	pthread_mutex_lock(&s->flock);
	sc->newnext = s->fnew;
	s->fnew = sc;
	pthread_mutex_unlock(&s->flock);
	/* Added after the push: the flusher sees sc in fnew before its event. */
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, sc->fd, &ev) < 0) {
		gd_warn("%s: cannot watch the socket for output: %s", sc->peer,
			strerror(errno));
		sconn_kill(sc); /* the flusher's deadline scan lets go of it */
	}
}

/* Sends the bytes in iov (total) or queues what does not fit: the frame
 * itself, or the TLS records made of it. Caller holds send_lock; returns 0 or
 * GD_ECONN. */
static int send_raw(struct gd_sconn *sc, struct iovec *iov, int iovcnt, size_t total,
		    const char *peer)
{
	struct gd_server *s = sc->s;
	ssize_t left = (ssize_t)total;
	struct outbuf *b;
	size_t queued;

	if (!sc->out_head) {
		left = send_some(sc->fd, iov, iovcnt, total);
		if (left < 0) {
			gd_warn("%s: dropping connection: reply could not be sent", peer);
			sconn_kill(sc);
			return GD_ECONN;
		}
		if (left == 0)
			return 0;
	}
	queued = atomic_load(&sc->out_bytes);
	if (queued + (size_t)left > s->lim.max_conn_output) {
		gd_warn("%s: dropping connection: %zu bytes of replies queued, limit %llu "
			"(the peer does not read its replies)", peer, queued + (size_t)left,
			(unsigned long long)s->lim.max_conn_output);
		sconn_kill(sc);
		return GD_ECONN;
	}
	if (atomic_load(&s->out_total) + (size_t)left > s->lim.max_total_output) {
		gd_warn("%s: dropping connection: replies queued on all connections would pass "
			"%llu bytes (--max-total-output; peers do not read their replies)", peer,
			(unsigned long long)s->lim.max_total_output);
		sconn_kill(sc);
		return GD_ECONN;
	}
	b = gd_malloc(sizeof(*b) + (size_t)left);
	if (!b) {
		/* Part of the frame may be out already: the stream is lost. */
		gd_warn("%s: dropping connection: out of memory for a reply", peer);
		sconn_kill(sc);
		return GD_ECONN;
	}
	b->next = NULL;
	b->len = (size_t)left;
	b->off = 0;
	b->queued_ms = gd_net_now_ms();
	for (size_t at = 0; iovcnt > 0; iov++, iovcnt--) {
		if (iov->iov_len == 0)
			continue;   /* a frame without bulk data: iov_base may be NULL */
		memcpy(b->data + at, iov->iov_base, iov->iov_len);
		at += iov->iov_len;
	}
	if (sc->out_tail)
		sc->out_tail->next = b;
	else
		sc->out_head = b;
	sc->out_tail = b;
	atomic_fetch_add(&sc->out_bytes, (size_t)left);
	atomic_fetch_add(&s->out_total, (size_t)left);
	flusher_take(sc);
	return 0;
}

/* Where gd_tls puts the records of a reply (gd_tls_set_output): the same
 * non-blocking send or queue as a plain frame, so TLS never waits either. */
static int tls_output(void *ctx, const void *buf, size_t len)
{
	struct gd_sconn *sc = ctx;
	struct iovec iov = { (void *)buf, len };

	return send_raw(sc, &iov, 1, len, sc->peer);
}

/* Sends the frame in iov (total bytes), encrypted when the connection uses
 * TLS, or queues what does not fit. Caller holds send_lock; 0 or GD_ECONN. */
static int send_or_queue(struct gd_sconn *sc, struct iovec *iov, int iovcnt, size_t total,
			 const char *peer)
{
	if (!sc->tls)
		return send_raw(sc, iov, iovcnt, total, peer);
	if (atomic_load(&sc->dead))
		return GD_ECONN;
	return gd_tls_encrypt(sc->tls, iov, iovcnt) < 0 ? GD_ECONN : 0;
}

/* ---- the flusher ---- */

/* Lets go of sc: out of epoll and the flusher's list, reference dropped.
 * Caller holds send_lock (released here); *head is the flusher's list. */
static void flusher_release(struct gd_sconn *sc, struct gd_sconn **head)
{
	(void)epoll_ctl(sc->s->epfd, EPOLL_CTL_DEL, sc->fd, NULL);
	if (sc->fprev)
		sc->fprev->fnext = sc->fnext;
	else
		*head = sc->fnext;
	if (sc->fnext)
		sc->fnext->fprev = sc->fprev;
	sc->fprev = sc->fnext = NULL;
	sc->in_flusher = 0;
	pthread_mutex_unlock(&sc->send_lock);
	sconn_put(sc);
}

/* Sends what sc's socket takes; cuts a peer past its deadline. */
static void flusher_service(struct gd_server *s, struct gd_sconn *sc, struct gd_sconn **head,
			    uint64_t now)
{
	int rc = 0;

	pthread_mutex_lock(&sc->send_lock);
	if (!atomic_load(&sc->dead))
		rc = out_flush(sc);
	if (rc < 0 && !atomic_load(&sc->dead)) {
		gd_warn("%s: dropping connection: reply could not be sent", sc->peer);
		sconn_kill(sc);
	}
	if (!atomic_load(&sc->dead) && sc->out_head &&
	    now >= sc->out_head->queued_ms + (uint64_t)s->lim.send_timeout_ms) {
		gd_warn("%s: dropping connection: it has not read its replies for %d ms "
			"(%zu bytes queued)", sc->peer, s->lim.send_timeout_ms,
			atomic_load(&sc->out_bytes));
		sconn_kill(sc);
	}
	if (atomic_load(&sc->dead))
		out_drop(sc);
	if (!sc->out_head) {
		flusher_release(sc, head);
		wake_waiters(s);
		return;
	}
	pthread_mutex_unlock(&sc->send_lock);
	if (atomic_load(&sc->out_bytes) < s->lim.max_conn_output / 2 ||
	    atomic_load(&s->out_total) < s->lim.max_total_output / 2)
		wake_waiters(s);
}

static void *flusher_main(void *arg)
{
	struct gd_server *s = arg;
	struct gd_sconn *head = NULL;  /* connections this thread holds */
	uint64_t last_scan = gd_net_now_ms();

	for (;;) {
		struct epoll_event evs[FLUSH_EVENTS];
		struct gd_sconn *fresh;
		uint64_t now;
		int n, stop;

		n = epoll_wait(s->epfd, evs, FLUSH_EVENTS, FLUSH_TICK_MS);
		pthread_mutex_lock(&s->flock);
		fresh = s->fnew;
		s->fnew = NULL;
		stop = s->fstop;
		pthread_mutex_unlock(&s->flock);
		while (fresh) {
			struct gd_sconn *next = fresh->newnext;
			fresh->newnext = NULL;
			fresh->fprev = NULL;
			fresh->fnext = head;
			if (head)
				head->fprev = fresh;
			head = fresh;
			fresh = next;
		}
		now = gd_net_now_ms();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t v;
				(void)!read(s->evfd, &v, sizeof(v));
				continue;
			}
			flusher_service(s, evs[i].data.ptr, &head, now);
		}
		if (now - last_scan >= FLUSH_TICK_MS) {
			struct gd_sconn *sc = head;
			last_scan = now;
			while (sc) {
				struct gd_sconn *next = sc->fnext;
				flusher_service(s, sc, &head, now);
				sc = next;
			}
		}
		if (stop && !head)
			break;
	}
	return NULL;
}

/* ---- start and stop ---- */

static void limits_fill(struct gd_server_limits *l)
{
#define DEF(field, value) if (l->field <= 0) l->field = (value)
	DEF(send_timeout_ms, GD_SERVER_DEFAULT_SEND_TIMEOUT_MS);
	DEF(idle_timeout_ms, GD_SERVER_DEFAULT_IDLE_TIMEOUT_MS);
	DEF(frame_timeout_ms, GD_SERVER_DEFAULT_FRAME_TIMEOUT_MS);
	DEF(max_conns, GD_SERVER_DEFAULT_MAX_CONNS);
	DEF(max_conns_per_addr, GD_SERVER_DEFAULT_MAX_CONNS_PER_ADDR);
	DEF(max_conn_requests, GD_SERVER_DEFAULT_MAX_CONN_REQUESTS);
	DEF(max_requests, GD_SERVER_DEFAULT_MAX_REQUESTS);
	DEF(max_request_bytes, GD_SERVER_DEFAULT_MAX_REQUEST_BYTES);
	DEF(max_conn_output, GD_SERVER_DEFAULT_MAX_CONN_OUTPUT);
	DEF(max_total_output, GD_SERVER_DEFAULT_MAX_TOTAL_OUTPUT);
#undef DEF
}

int gd_server_start(const struct gd_server_config *cfg, struct gd_server **out)
{
	struct gd_server *s;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int rc;

	if (!cfg || !cfg->listen || !cfg->handler || !out || cfg->workers < 0)
		return GD_EINVAL;
	s = gd_calloc(1, sizeof(*s));
	if (!s)
		return GD_ENOMEM;
	s->cfg = *cfg;
	s->lim = cfg->limits;
	limits_fill(&s->lim);
	s->epfd = -1;
	s->evfd = -1;
	if (s->cfg.auth_timeout_ms <= 0)
		s->cfg.auth_timeout_ms = GD_CRED_DEFAULT_AUTH_TIMEOUT_MS;
	s->listen_copy = gd_strdup(cfg->listen);
	if (!s->listen_copy) {
		rc = GD_ENOMEM;
		goto err_after_alloc;
	}
	s->cfg.listen = s->listen_copy;
	pthread_mutex_init(&s->refusals.lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->q_nonempty, NULL);
	pthread_cond_init(&s->q_nonfull, NULL);
	pthread_mutex_init(&s->rq_lock, NULL);
	pthread_cond_init(&s->rq_cv, NULL);
	pthread_mutex_init(&s->flock, NULL);
	atomic_init(&s->nwaiting, 0);
	pthread_mutex_init(&s->auth_lock, NULL);

	rc = gd_net_listen(s->cfg.listen, 512, &s->lfd, &s->port);
	if (rc < 0) {
		rc = GD_ECONN;
		goto err_after_sync;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epfd < 0 || s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) < 0) {
		gd_error("cannot set up the output flusher: %s", strerror(errno));
		rc = GD_ENOMEM;
		goto err_after_workers;
	}
	if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
		gd_error("cannot start the output flusher");
		rc = GD_ENOMEM;
		goto err_after_workers;
	}
	s->flusher_started = 1;
	if (cfg->workers > 0) {
		s->qcap = (size_t)cfg->workers * QUEUE_PER_WORKER;
		s->q = gd_calloc(s->qcap, sizeof(*s->q));
		s->workers = gd_calloc((size_t)cfg->workers, sizeof(*s->workers));
		if (!s->q || !s->workers) {
			rc = GD_ENOMEM;
			goto err_after_workers;
		}
		for (; s->nworkers < cfg->workers; s->nworkers++) {
			if (pthread_create(&s->workers[s->nworkers], NULL, worker_main, s) != 0) {
				gd_error("cannot start worker threads");
				rc = GD_ENOMEM;
				goto err_after_workers;
			}
		}
	}
	if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
		gd_error("cannot start the accept thread");
		rc = GD_ENOMEM;
		goto err_after_workers;
	}
	gd_info("listening on %s (port %d, %d workers, at most %d connections, %d per address)",
		s->cfg.listen, s->port, cfg->workers, s->lim.max_conns,
		s->lim.max_conns_per_addr);
	*out = s;
	return 0;

err_after_workers:
	pthread_mutex_lock(&s->qlock);
	s->qstop = 1;
	pthread_cond_broadcast(&s->q_nonempty);
	pthread_mutex_unlock(&s->qlock);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	if (s->flusher_started) {
		uint64_t one = 1;
		pthread_mutex_lock(&s->flock);
		s->fstop = 1;
		pthread_mutex_unlock(&s->flock);
		(void)!write(s->evfd, &one, sizeof(one));
		pthread_join(s->flusher, NULL);
	}
	if (s->evfd >= 0)
		close(s->evfd);
	if (s->epfd >= 0)
		close(s->epfd);
	gd_free(s->workers);
	gd_free(s->q);
	close(s->lfd);
err_after_sync:
	pthread_mutex_destroy(&s->auth_lock);
	pthread_mutex_destroy(&s->flock);
	pthread_cond_destroy(&s->rq_cv);
	pthread_mutex_destroy(&s->rq_lock);
	pthread_cond_destroy(&s->q_nonfull);
	pthread_cond_destroy(&s->q_nonempty);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->refusals.lock);
	gd_free(s->listen_copy);
err_after_alloc:
	gd_free(s);
	return rc;
}

int gd_server_port(const struct gd_server *s)
{
	return s->port;
}

void gd_server_stop(struct gd_server *s)
{
	struct timespec until;
	uint64_t one = 1;
	int leaked = 0;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_mutex_unlock(&s->lock);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->acceptor, NULL);
	close(s->lfd);

	pthread_mutex_lock(&s->lock);
	for (struct gd_sconn *sc = s->conns; sc; sc = sc->next)
		sconn_kill(sc);
	while (s->nreaders > 0)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);

	/* Workers finish what is queued (replies fail with GD_ECONN), then leave. */
	pthread_mutex_lock(&s->qlock);
	s->qstop = 1;
	pthread_cond_broadcast(&s->q_nonempty);
	pthread_mutex_unlock(&s->qlock);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);

	/* Requests the handler still holds keep their connection alive (the
	 * flusher lets go of the dead ones on its next scan). */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_MS / 1000;
	pthread_mutex_lock(&s->lock);
	while (s->nlive > 0) {
		if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT &&
		    s->nlive > 0) {
			gd_error("server stop: %d connections still held by unfinished requests; "
				 "leaving them", s->nlive);
			leaked = 1;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (leaked)
		return; /* the late requests still point at s */

	pthread_mutex_lock(&s->flock);
	s->fstop = 1;
	pthread_mutex_unlock(&s->flock);
	(void)!write(s->evfd, &one, sizeof(one));
	pthread_join(s->flusher, NULL);
	close(s->evfd);
	close(s->epfd);
	for (unsigned b = 0; b < ADDR_BUCKETS; b++) {
		while (s->addrs[b]) {
			struct addr_count *a = s->addrs[b];
			s->addrs[b] = a->next;
			gd_free(a);
		}
	}
	pthread_mutex_lock(&s->auth_lock);
	char line[AUTH_LAST_MAX + 96];
	auth_count_line(s, gd_net_now_ms(), line, sizeof(line));
	pthread_mutex_unlock(&s->auth_lock);
	if (line[0])
		gd_warn("%s", line);
	pthread_mutex_destroy(&s->auth_lock);
	gd_free(s->workers);
	gd_free(s->q);
	pthread_mutex_destroy(&s->flock);
	pthread_cond_destroy(&s->rq_cv);
	pthread_mutex_destroy(&s->rq_lock);
	pthread_cond_destroy(&s->q_nonfull);
	pthread_cond_destroy(&s->q_nonempty);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->refusals.lock);
	gd_free(s->listen_copy);
	gd_free(s);
}

int gd_reply_packed(struct gd_request *req, const uint8_t *pb, size_t pb_len,
		    const void *data, size_t data_len)
{
	struct request_box *rb = (struct request_box *)req;
	struct gd_sconn *sc = req->conn;
	uint8_t hdrbuf[GD_FRAME_HDR_LEN];
	struct gd_frame_hdr hdr;
	struct iovec iov[3];
	int rc;

	if (pb_len > GD_FRAME_MAX_PB || data_len > GD_FRAME_MAX_DATA ||
	    (pb_len && !pb) || (data_len && !data)) {
		gd_error("%s: reply to method %u too long (pb %zu, data %zu)", req->peer,
			 req->hdr.method, pb_len, data_len);
		return GD_EINVAL;
	}
	if (atomic_exchange(&rb->replied, 1)) {
		gd_error("%s: second reply to request %llu (method %u) dropped", req->peer,
			 (unsigned long long)req->hdr.request_id, req->hdr.method);
		return GD_EINVAL;
	}
	if (atomic_load(&sc->dead))
		return GD_ECONN;
	hdr.magic_version = GD_FRAME_MAGIC_VERSION;
	hdr.kind = GD_KIND_RESPONSE;
	hdr.method = req->hdr.method;
	hdr.request_id = req->hdr.request_id;
	hdr.pb_len = (uint32_t)pb_len;
	hdr.data_len = (uint32_t)data_len;
	gd_frame_encode_hdr(&hdr, hdrbuf);
	iov[0].iov_base = hdrbuf;
	iov[0].iov_len = sizeof(hdrbuf);
	iov[1].iov_base = (void *)pb;
	iov[1].iov_len = pb_len;
	iov[2].iov_base = (void *)data;
	iov[2].iov_len = data_len;

	pthread_mutex_lock(&sc->send_lock);
	if (atomic_load(&sc->dead))
		rc = GD_ECONN;
	else
		rc = send_or_queue(sc, iov, 3, sizeof(hdrbuf) + pb_len + data_len, req->peer);
	pthread_mutex_unlock(&sc->send_lock);
	if (rc == 0)
		gd_server_metrics_replied(req->hdr.method, pb, pb_len,
					  sizeof(hdrbuf) + pb_len + data_len, rb->t0_ns);
	return rc;
}

int gd_reply(struct gd_request *req, const ProtobufCMessage *resp,
	     const void *data, size_t data_len)
{
	uint8_t small[SMALL_PB];
	uint8_t *pb = small;
	size_t len;
	int rc;

	if (!resp)
		return gd_reply_packed(req, NULL, 0, data, data_len);
	len = protobuf_c_message_get_packed_size(resp);
	if (len > GD_FRAME_MAX_PB) {
		gd_error("%s: reply %s of %zu bytes is longer than the protocol allows",
			 req->peer, resp->descriptor->name, len);
		return GD_EINVAL;
	}
	if (len > sizeof(small)) {
		pb = gd_malloc(len);
		if (!pb)
			return GD_ENOMEM;
	}
	protobuf_c_message_pack(resp, pb);
	rc = gd_reply_packed(req, pb, len, data, data_len);
	if (pb != small)
		gd_free(pb);
	return rc;
}

int gd_reply_status(struct gd_request *req, int status)
{
	Godfs__StatusResp r = GODFS__STATUS_RESP__INIT;

	if (req->hdr.method == GODFS__METHOD__M_PING) {
		Godfs__Ping p = GODFS__PING__INIT;

		p.has_status = 1;
		p.status = status;
		return gd_reply(req, &p.base, NULL, 0);
	}
	r.has_status = 1;
	r.status = status;
	return gd_reply(req, &r.base, NULL, 0);
}

void gd_request_free(struct gd_request *req)
{
	struct request_box *rb = (struct request_box *)req;
	struct gd_sconn *sc;

	if (!req)
		return;
	sc = req->conn;
	unadmit(sc, rb->bytes);
	if (req->msg)
		protobuf_c_message_free_unpacked(req->msg, &gd_pb_allocator);
	gd_free(rb);
	sconn_put(sc);
}

void gd_sconn_set_ctx(struct gd_sconn *c, void *conn_ctx)
{
	pthread_mutex_lock(&c->ctx_lock);
	c->ctx = conn_ctx;
	pthread_mutex_unlock(&c->ctx_lock);
}

void *gd_sconn_get_ctx(struct gd_sconn *c)
{
	void *ctx;

	pthread_mutex_lock(&c->ctx_lock);
	ctx = c->ctx;
	pthread_mutex_unlock(&c->ctx_lock);
	return ctx;
}

void gd_sconn_hold(struct gd_sconn *c)
{
	sconn_get(c);
}

void gd_sconn_release(struct gd_sconn *c)
{
	if (c)
		sconn_put(c);
}

int gd_sconn_alive(struct gd_sconn *c)
{
	return !atomic_load(&c->dead);
}

int gd_push(struct gd_sconn *c, uint16_t push, const ProtobufCMessage *msg)
{
	uint8_t pb[SMALL_PB], hdrbuf[GD_FRAME_HDR_LEN];
	struct gd_frame_hdr hdr;
	struct iovec iov[2];
	size_t len = protobuf_c_message_get_packed_size(msg);
	int rc;

	/* pushes are small notices: one stack buffer */
	if (len > sizeof(pb))
		return GD_EINVAL;
	if (atomic_load(&c->dead))
		return GD_ECONN;
	protobuf_c_message_pack(msg, pb);
	hdr.magic_version = GD_FRAME_MAGIC_VERSION;
	hdr.kind = GD_KIND_PUSH;
	hdr.method = push;
	hdr.request_id = 0;
	hdr.pb_len = (uint32_t)len;
	hdr.data_len = 0;
	gd_frame_encode_hdr(&hdr, hdrbuf);
	iov[0].iov_base = hdrbuf;
	iov[0].iov_len = sizeof(hdrbuf);
	iov[1].iov_base = pb;
	iov[1].iov_len = len;
	pthread_mutex_lock(&c->send_lock);
	if (atomic_load(&c->dead))
		rc = GD_ECONN;
	else
		rc = send_or_queue(c, iov, 2, sizeof(hdrbuf) + len, c->peer);
	pthread_mutex_unlock(&c->send_lock);
	return rc;
}
