/* Threaded RPC server: an accept thread, a reader thread per connection, and
 * an optional worker pool fed through a bounded queue.
 *
 * Lifetime of a connection: the reader thread holds one reference, every
 * request handed to the handler holds one more. When the reader stops (peer
 * gone, bad frame, server stopping) the socket is shut down, so replies fail
 * with GD_ECONN, but the descriptor stays open (never reused under a late
 * reply) until the last reference goes; then the closed callback runs and the
 * connection is freed. */
#include "gd_server.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define DEFAULT_SEND_TIMEOUT_MS 10000
#define QUEUE_PER_WORKER 16
#define SMALL_PB 4096u
#define STOP_WAIT_MS 10000

struct gd_sconn {
	struct gd_server *s;
	int fd;                        /* closed when the last reference goes */
	char peer[GD_NET_ADDR_MAX];
	atomic_int refs;
	atomic_int dead;               /* no more replies: socket shut down */
	pthread_mutex_t send_lock;     /* one reply frame at a time */
	pthread_mutex_t ctx_lock;      /* guards ctx */
	void *ctx;
	struct gd_sconn *prev, *next;  /* in s->conns; guarded by s->lock */
};

/* What the handler sees is `pub`; `replied` catches a second reply. */
struct request_box {
	struct gd_request pub;
	atomic_int replied;
};

struct gd_server {
	struct gd_server_config cfg;   /* cfg.listen points into listen_copy */
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

	pthread_t *workers;
	int nworkers;
	pthread_mutex_t qlock;         /* guards the queue down to qstop */
	pthread_cond_t q_nonempty;
	pthread_cond_t q_nonfull;
	struct request_box **q;
	size_t qcap, qhead, qlen;
	int qstop;
};

static void sconn_get(struct gd_sconn *sc)
{
	atomic_fetch_add(&sc->refs, 1);
}

/* Drops a reference; the last one closes the socket and frees the connection. */
static void sconn_put(struct gd_sconn *sc)
{
	struct gd_server *s = sc->s;

	if (atomic_fetch_sub(&sc->refs, 1) != 1)
		return;
	if (s->cfg.closed)
		s->cfg.closed(s->cfg.ctx, sc->ctx);
	close(sc->fd);
	pthread_mutex_destroy(&sc->send_lock);
	pthread_mutex_destroy(&sc->ctx_lock);
	gd_free(sc);
	pthread_mutex_lock(&s->lock);
	s->nlive--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

/* Stops all traffic on a connection; replies from now on get GD_ECONN. */
static void sconn_kill(struct gd_sconn *sc)
{
	atomic_store(&sc->dead, 1);
	shutdown(sc->fd, SHUT_RDWR);
}

static void dispatch(struct gd_server *s, struct request_box *rb)
{
	if (s->nworkers == 0) {
		s->cfg.handler(s->cfg.ctx, &rb->pub);
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
		s->cfg.handler(s->cfg.ctx, &rb->pub);
	}
	return NULL;
}

/* Reads one request after its header; returns 0, or <0 with *why set to drop the connection. */
static int read_request(struct gd_sconn *sc, const struct gd_frame_hdr *hdr,
			const char **why, char *whybuf, size_t whylen)
{
	const ProtobufCMessageDescriptor *desc;
	struct request_box *rb;
	struct iovec iov[2];
	size_t total;
	uint8_t *pb;
	int rc;

	total = sizeof(*rb) + (size_t)hdr->pb_len + hdr->data_len;
	rb = gd_malloc(total);
	if (!rb) {
		*why = "out of memory for a request";
		return GD_ENOMEM;
	}
	memset(rb, 0, sizeof(*rb));
	pb = (uint8_t *)(rb + 1);
	iov[0].iov_base = pb;
	iov[0].iov_len = hdr->pb_len;
	iov[1].iov_base = pb + hdr->pb_len;
	iov[1].iov_len = hdr->data_len;
	rc = gd_net_readv_full(sc->fd, iov, 2, NULL);
	if (rc < 0) {
		*why = "connection lost inside a frame";
		goto err_after_alloc;
	}
	desc = gd_net_method_req_desc(hdr->method);
	if (desc) {
		ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, hdr->pb_len, pb);
		if (!m) {
			snprintf(whybuf, whylen, "protobuf part of method %u does not unpack as %s",
				 hdr->method, desc->name);
			*why = whybuf;
			rc = GD_EPROTO;
			goto err_after_alloc;
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	rb->pub.conn = sc;
	rb->pub.hdr = *hdr;
	rb->pub.pb = pb;
	rb->pub.data = hdr->data_len ? pb + hdr->pb_len : NULL;
	rb->pub.peer = sc->peer;
	pthread_mutex_lock(&sc->ctx_lock);
	rb->pub.conn_ctx = sc->ctx;
	pthread_mutex_unlock(&sc->ctx_lock);
	atomic_init(&rb->replied, 0);
	sconn_get(sc);
	dispatch(sc->s, rb);
	return 0;

err_after_alloc:
	gd_free(rb);
	return rc;
}

/* A connection's reader: frames until the peer leaves or breaks the protocol. */
static void *reader_main(void *arg)
{
	struct gd_sconn *sc = arg;
	struct gd_server *s = sc->s;
	char whybuf[160];

	for (;;) {
		uint8_t buf[GD_FRAME_HDR_LEN];
		struct gd_frame_hdr hdr;
		const char *why = NULL;
		size_t got = 0;
		int rc;

		rc = gd_net_read_full(sc->fd, buf, sizeof(buf), &got);
		if (rc < 0) {
			if (got > 0)
				gd_warn("%s: dropping connection: %s", sc->peer,
					"connection lost inside a frame header");
			else
				gd_debug("%s: connection closed", sc->peer);
			break;
		}
		rc = gd_frame_decode_hdr(buf, sizeof(buf), &hdr, &why);
		if (rc == 0 && hdr.kind != GD_KIND_REQUEST) {
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
	sconn_kill(sc);
	pthread_mutex_lock(&s->lock);
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->nreaders--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	sconn_put(sc);
	return NULL;
}

/* Sets up one accepted socket and starts its reader; closes fd on failure. */
static void accept_one(struct gd_server *s, int fd)
{
	struct gd_sconn *sc;
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	sc = gd_calloc(1, sizeof(*sc));
	if (!sc) {
		gd_warn("out of memory: refusing a connection");
		close(fd);
		return;
	}
	sc->s = s;
	sc->fd = fd;
	gd_net_peer_name(fd, sc->peer, sizeof(sc->peer));
	gd_net_tune(fd);
	(void)gd_net_set_send_timeout(fd, s->cfg.send_timeout_ms);
	atomic_init(&sc->refs, 1);
	atomic_init(&sc->dead, 0);
	pthread_mutex_init(&sc->send_lock, NULL);
	pthread_mutex_init(&sc->ctx_lock, NULL);

	pthread_mutex_lock(&s->lock);
	if (s->stopping || s->nreaders >= MAX_CONNS) {
		if (!s->stopping)
			gd_warn("%s: refusing connection: %d connections already", sc->peer,
				MAX_CONNS);
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
	close(fd);
}

static void *acceptor_main(void *arg)
{
	struct gd_server *s = arg;

	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		int stopping;

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
		accept_one(s, fd);
	}
	return NULL;
}

int gd_server_start(const struct gd_server_config *cfg, struct gd_server **out)
{
	struct gd_server *s;
	int rc;

	if (!cfg || !cfg->listen || !cfg->handler || !out || cfg->workers < 0)
		return GD_EINVAL;
	s = gd_calloc(1, sizeof(*s));
	if (!s)
		return GD_ENOMEM;
	s->cfg = *cfg;
	if (s->cfg.send_timeout_ms <= 0)
		s->cfg.send_timeout_ms = DEFAULT_SEND_TIMEOUT_MS;
	s->listen_copy = gd_strdup(cfg->listen);
	if (!s->listen_copy) {
		rc = GD_ENOMEM;
		goto err_after_alloc;
	}
	s->cfg.listen = s->listen_copy;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->q_nonempty, NULL);
	pthread_cond_init(&s->q_nonfull, NULL);

	rc = gd_net_listen(s->cfg.listen, 512, &s->lfd, &s->port);
	if (rc < 0) {
		rc = GD_ECONN;
		goto err_after_sync;
	}
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
	gd_info("listening on %s (port %d, %d workers)", s->cfg.listen, s->port,
		cfg->workers);
	*out = s;
	return 0;

err_after_workers:
	pthread_mutex_lock(&s->qlock);
	s->qstop = 1;
	pthread_cond_broadcast(&s->q_nonempty);
	pthread_mutex_unlock(&s->qlock);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	gd_free(s->workers);
	gd_free(s->q);
	close(s->lfd);
err_after_sync:
	pthread_cond_destroy(&s->q_nonfull);
	pthread_cond_destroy(&s->q_nonempty);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
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

	/* Requests the handler still holds keep their connection alive. */
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

	gd_free(s->workers);
	gd_free(s->q);
	pthread_cond_destroy(&s->q_nonfull);
	pthread_cond_destroy(&s->q_nonempty);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
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
	if (atomic_load(&sc->dead)) {
		rc = GD_ECONN;
	} else {
		rc = gd_net_writev_full(sc->fd, iov, 3);
		if (rc < 0) {
			gd_warn("%s: dropping connection: %s", req->peer,
				rc == GD_ETIMEDOUT ? "peer does not read its replies"
						   : "reply could not be sent");
			sconn_kill(sc);
			rc = GD_ECONN;
		}
	}
	pthread_mutex_unlock(&sc->send_lock);
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

	r.has_status = 1;
	r.status = status;
	return gd_reply(req, &r.base, NULL, 0);
}

void gd_request_free(struct gd_request *req)
{
	struct gd_sconn *sc;

	if (!req)
		return;
	sc = req->conn;
	gd_free((struct request_box *)req);
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
