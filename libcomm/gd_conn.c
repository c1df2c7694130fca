/* Client connection: calls multiplexed by request id over one TCP socket.
 *
 * A call lives in the pending table (hash by request id) from just before its
 * request is sent until either the reader thread claims it (a response with
 * its id arrived) or its waiter gives up at the deadline. Whoever removes it
 * from the table decides its fate, so a late response finds nothing and is
 * drained and dropped. A claimed call is finished by the reader (which may be
 * writing into the caller's rbuf) and only then freed by its waiter. */
#include "gd_time.h"
#include "gd_conn.h"
#include "gd_alloc.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "gd_tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 256u
#define DEFAULT_TIMEOUT_MS 30000
#define DRAIN_BUF (16u << 10)
#define SEND_MIN_MS 1000
#define SMALL_PB 4096u

struct gd_call {
	struct gd_conn *c;
	uint64_t id;
	uint16_t method;
	struct gd_call *next;        /* hash chain; guarded by c->lock */
	int in_table;                /* guarded by c->lock */
	int claimed;                 /* reader took it; guarded by c->lock */
	int done;                    /* guarded by c->lock */
	int status;                  /* result; written before done */
	pthread_cond_t cv;           /* signalled when done */
	struct timespec deadline;    /* CLOCK_MONOTONIC */
	const ProtobufCMessageDescriptor *resp_desc;
	void *rbuf;
	size_t rbuf_len;
	ProtobufCMessage *resp;      /* written by the reader before done */
	size_t data_len;
};

struct gd_conn {
	int fd;
	/* TLS when the server asked for it (or gd_cred_tls()); set before the
	 * reader starts; the reader receives, senders send under send_lock */
	struct gd_tls *tls;
	char peer[GD_NET_ADDR_MAX];
	pthread_t reader;
	atomic_uint_fast64_t next_id;
	atomic_int failed;
	atomic_int aborted;          /* gd_conn_abort: reset, never a FIN */
	atomic_int default_timeout_ms;
	pthread_mutex_t send_lock;   /* one frame at a time on the socket */
	int send_timeout_ms;         /* SO_SNDTIMEO last set; guarded by send_lock */
	pthread_mutex_t lock;        /* guards the table, every call's state, push, push_ctx */
	gd_conn_push_fn push;
	void *push_ctx;
	struct gd_call *table[NBUCKETS];
};

static unsigned bucket(uint64_t id)
{
	return (unsigned)(id ^ (id >> 17)) % NBUCKETS;
}

/* Takes a call out of the table; returns it, or NULL. Caller holds c->lock. */
static struct gd_call *table_take(struct gd_conn *c, uint64_t id)
{
	struct gd_call **pp = &c->table[bucket(id)];

	for (; *pp; pp = &(*pp)->next) {
		struct gd_call *call = *pp;
		if (call->id == id) {
			*pp = call->next;
			call->next = NULL;
			call->in_table = 0;
			return call;
		}
	}
	return NULL;
}

/* Finishes a call and wakes its waiter. Caller holds c->lock. */
static void call_finish(struct gd_call *call, int status)
{
	call->status = status;
	call->done = 1;
	pthread_cond_signal(&call->cv);
}

/* Marks the connection failed and fails every call still in the table. */
static void conn_fail(struct gd_conn *c)
{
	pthread_mutex_lock(&c->lock);
	atomic_store(&c->failed, 1);
	for (unsigned b = 0; b < NBUCKETS; b++) {
		while (c->table[b]) {
			struct gd_call *call = c->table[b];
			c->table[b] = call->next;
			call->next = NULL;
			call->in_table = 0;
			call_finish(call, GD_ECONN);
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* Wakes the reader if it is the sender who saw the failure. Once
	 * given up, only the reader: a FIN would go out behind the requests
	 * that the reset (gd_conn_abort) is to throw away. */
	shutdown(c->fd, atomic_load(&c->aborted) ? SHUT_RD : SHUT_RDWR);
}

/* Milliseconds from now to deadline, at least 1. */
static int send_budget_ms(const struct timespec *deadline)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	/* A call that queued on send_lock past its deadline still gets a sane
	 * budget: a budget of a few ms would fail a healthy connection (and
	 * every call on it) on a momentarily full socket buffer. */
	return ms < SEND_MIN_MS ? SEND_MIN_MS : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Reads from the socket, through TLS when the connection uses it. */
static int conn_readv_full(struct gd_conn *c, struct iovec *iov, int iovcnt, size_t *got)
{
	return c->tls ? gd_tls_readv_full(c->tls, iov, iovcnt, got)
		      : gd_net_readv_full(c->fd, iov, iovcnt, got);
}

static int conn_read_full(struct gd_conn *c, void *buf, size_t len, size_t *got)
{
	return c->tls ? gd_tls_read_full(c->tls, buf, len, got)
		      : gd_net_read_full(c->fd, buf, len, got);
}

/* Reads and throws away n bytes (a response nobody waits for any more). */
static int drain(struct gd_conn *c, size_t n)
{
	uint8_t sink[DRAIN_BUF]; /* contents never looked at */

	while (n > 0) {
		size_t k = n < sizeof(sink) ? n : sizeof(sink);
		int rc = conn_read_full(c, sink, k, NULL);
		if (rc < 0)
			return rc;
		n -= k;
	}
	return 0;
}

/* Reads one response frame whose header is hdr; returns 0 to go on, <0 to stop. */
static int read_response(struct gd_conn *c, const struct gd_frame_hdr *hdr)
{
	struct gd_call *call;
	uint8_t small[SMALL_PB];
	uint8_t *pb = small;
	struct iovec iov[2];
	int rc = 0, st;

	pthread_mutex_lock(&c->lock);
	call = table_take(c, hdr->request_id);
	if (call)
		call->claimed = 1;
	pthread_mutex_unlock(&c->lock);

	if (!call) {
		gd_debug("%s: dropping late response %llu", c->peer,
			 (unsigned long long)hdr->request_id);
		return drain(c, (size_t)hdr->pb_len + hdr->data_len);
	}
	if (hdr->data_len > call->rbuf_len) {
		gd_warn("%s: response %llu carries %u data bytes, the caller has room for %zu",
			c->peer, (unsigned long long)hdr->request_id, hdr->data_len,
			call->rbuf_len);
		st = GD_EPROTO;
		rc = GD_EPROTO;
		goto out;
	}
	if (hdr->pb_len > sizeof(small)) {
		pb = gd_malloc(hdr->pb_len);
		if (!pb) {
			st = GD_ENOMEM;
			rc = GD_ENOMEM;
			goto out;
		}
	}
	iov[0].iov_base = pb;
	iov[0].iov_len = hdr->pb_len;
	iov[1].iov_base = call->rbuf;
	iov[1].iov_len = hdr->data_len;
	rc = conn_readv_full(c, iov, 2, NULL);
	if (rc < 0) {
		st = GD_ECONN;
		goto out_after_pb;
	}
	call->resp = protobuf_c_message_unpack(call->resp_desc, NULL, hdr->pb_len, pb);
	if (!call->resp) {
		gd_warn("%s: response %llu to method %u does not unpack as %s", c->peer,
			(unsigned long long)hdr->request_id, hdr->method, call->resp_desc->name);
		st = GD_EPROTO;
		goto out_after_pb;
	}
	call->data_len = hdr->data_len;
	st = gd_msg_status(call->resp);
	if (st > 0 || !gd_status_valid(st)) {
		gd_warn("%s: response %llu carries unknown status %d", c->peer,
			(unsigned long long)hdr->request_id, st);
		st = GD_EIO;
	}

out_after_pb:
	if (pb != small)
		gd_free(pb);
out:
	pthread_mutex_lock(&c->lock);
	/* The stream is lost: say so before the caller hears about it. */
	if (rc < 0)
		atomic_store(&c->failed, 1);
	call_finish(call, st);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Reads one PUSH frame and hands its protobuf part to the push handler
 * (none: dropped); bulk data of a push is read and dropped. */
static int read_push(struct gd_conn *c, const struct gd_frame_hdr *hdr)
{
	uint8_t small[SMALL_PB], *pb = small;
	gd_conn_push_fn fn;
	void *ctx;
	int rc;

	pthread_mutex_lock(&c->lock);
	fn = c->push;
	ctx = c->push_ctx;
	pthread_mutex_unlock(&c->lock);
	if (!fn)
		return drain(c, (size_t)hdr->pb_len + hdr->data_len);
	/* pb_len is bounded by the frame decoder (GD_FRAME_MAX_PB) */
	if (hdr->pb_len > sizeof(small)) {
		pb = gd_malloc(hdr->pb_len);
		if (!pb)
			return drain(c, (size_t)hdr->pb_len + hdr->data_len);
	}
	rc = conn_read_full(c, pb, hdr->pb_len, NULL);
	if (rc == 0)
		rc = drain(c, hdr->data_len);
	if (rc == 0)
		fn(ctx, hdr->method, pb, hdr->pb_len);
	if (pb != small)
		gd_free(pb);
	return rc;
}

/* The reader thread: one frame after another until the socket fails. */
static void *reader_main(void *arg)
{
	struct gd_conn *c = arg;

	for (;;) {
		uint8_t buf[GD_FRAME_HDR_LEN];
		struct gd_frame_hdr hdr;
		const char *why = NULL;
		size_t got = 0;
		int rc;

		rc = conn_read_full(c, buf, sizeof(buf), &got);
		if (rc < 0) {
			if (got > 0 || !atomic_load(&c->failed))
				gd_debug("%s: connection closed", c->peer);
			break;
		}
		rc = gd_frame_decode_hdr(buf, sizeof(buf), &hdr, &why);
		if (rc < 0) {
			gd_warn("%s: dropping connection: %s", c->peer, why);
			break;
		}
		if (gd_frame_kind(&hdr) == GD_KIND_REQUEST) {
			gd_warn("%s: dropping connection: a request on a client connection",
				c->peer);
			break;
		}
		if (gd_frame_kind(&hdr) == GD_KIND_PUSH) {
			if (read_push(c, &hdr) < 0)
				break;
			continue;
		}
		if (read_response(c, &hdr) < 0)
			break;
	}
	conn_fail(c);
	return NULL;
}

int gd_conn_open(const char *hostport, int timeout_ms, enum gd_role role,
		 struct gd_conn **out)
{
	return gd_conn_open_cred(hostport, timeout_ms, NULL, role, out);
}

int gd_conn_open_cred(const char *hostport, int timeout_ms, const struct gd_cred *cred,
		      enum gd_role role, struct gd_conn **out)
{
	int budget = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	uint64_t deadline = gd_net_now_ms() + (uint64_t)budget, now;
	struct gd_auth_result res;
	struct gd_conn *c;
	int rc;

	if (!hostport || !out)
		return GD_EINVAL;
	c = gd_calloc(1, sizeof(*c));
	if (!c)
		return GD_ENOMEM;
	rc = gd_net_connect(hostport, timeout_ms, &c->fd);
	if (rc < 0)
		goto err_after_alloc;
	/* The handshake gets what the connect left of the deadline. */
	now = gd_net_now_ms();
	rc = gd_auth_client_ex(c->fd, cred ? cred : gd_cred_self(), role,
			       now < deadline ? (int)(deadline - now) : 1, &res);
	if (rc == 0 && gd_cred_tls() && !(res.flags & GD_AUTH_F_TLS)) {
		/* The handshake's MAC covers the flags: this is the daemon's
		 * own word that it runs without TLS, not an attacker's edit. */
		gd_error("%s does not use TLS, and this program runs with --tls: refused",
			 hostport);
		rc = GD_EAUTH;
	}
	if (rc == 0 && (res.flags & GD_AUTH_F_TLS)) {
		now = gd_net_now_ms();
		rc = gd_tls_start(c->fd, false, res.session_key,
				  now < deadline ? (int)(deadline - now) : 1, &c->tls);
		if (rc < 0)
			gd_warn("%s: TLS handshake failed: %s", hostport, gd_strerror(rc));
	}
	memset(res.session_key, 0, sizeof(res.session_key));
	if (rc < 0) {
		gd_debug("%s: handshake: %s", hostport, gd_strerror(rc));
		close(c->fd);
		goto err_after_alloc;
	}
	gd_net_peer_name(c->fd, c->peer, sizeof(c->peer));
	atomic_init(&c->next_id, 1);
	atomic_init(&c->failed, 0);
	atomic_init(&c->aborted, 0);
	atomic_init(&c->default_timeout_ms, DEFAULT_TIMEOUT_MS);
	/* A server that stops reading cannot hold a sender forever. */
	(void)gd_net_set_send_timeout(c->fd, DEFAULT_TIMEOUT_MS);
	c->send_timeout_ms = DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	if (pthread_create(&c->reader, NULL, reader_main, c) != 0) {
		rc = GD_ENOMEM;
		goto err_after_socket;
	}
	*out = c;
	return 0;

err_after_socket:
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	gd_tls_free(c->tls);
	close(c->fd);
err_after_alloc:
	gd_free(c);
	return rc;
}

/* Resets a TCP connection now, keeping the descriptor: connect() to
 * AF_UNSPEC disconnects the socket (tcp_disconnect), which sends a RST,
 * purges both queues and wakes whoever is blocked in recv or send on it
 * with an error. 0, or -errno (EBUSY from the few kernels that refused
 * it while a thread was blocked on the socket). */
static int conn_reset_now(int fd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	return connect(fd, &sa, sizeof(sa)) < 0 ? -errno : 0;
}

void gd_conn_abort(struct gd_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int rc;

	if (!c || atomic_exchange(&c->aborted, 1))
		return;
	atomic_store(&c->failed, 1);
	/* Should the reset below fail, close() then sends RST and drops what
	 * is queued, in any state: later, but still never delivered. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		gd_warn("%s: SO_LINGER 0: %s", c->peer, strerror(errno));
	/* The fd itself stays open until gd_conn_close (others may be in
	 * send or recv on it: closing it here would let the number be reused
	 * under them). Before conn_fail, whose shutdown would queue a FIN. */
	rc = conn_reset_now(c->fd);
	if (rc < 0)
		gd_warn("%s: reset: %s (what is queued goes at close)", c->peer,
			strerror(-rc));
	/* Every call in flight fails now, not at its deadline (a call the
	 * reader has claimed fails there: its read sees the reset). */
	conn_fail(c);
	gd_debug("%s: connection given up (no answer in time)", c->peer);
}

void gd_conn_close(struct gd_conn *c)
{
	if (!c)
		return;
	atomic_store(&c->failed, 1);
	/* SHUT_WR would queue a FIN behind the requests still unsent, which a
	 * reset (gd_conn_abort) throws away: only the reader is woken then */
	shutdown(c->fd, atomic_load(&c->aborted) ? SHUT_RD : SHUT_RDWR);
	pthread_join(c->reader, NULL);
	gd_tls_free(c->tls);
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	gd_free(c);
}

int gd_conn_failed(const struct gd_conn *c)
{
	return atomic_load(&((struct gd_conn *)c)->failed);
}

const char *gd_conn_peer(const struct gd_conn *c)
{
	return c->peer;
}

void gd_conn_set_push(struct gd_conn *c, gd_conn_push_fn fn, void *ctx)
{
	pthread_mutex_lock(&c->lock);
	c->push = fn;
	c->push_ctx = ctx;
	pthread_mutex_unlock(&c->lock);
}

void gd_conn_set_default_timeout(struct gd_conn *c, int timeout_ms)
{
	atomic_store(&c->default_timeout_ms, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
}

static void call_free(struct gd_call *call)
{
	pthread_cond_destroy(&call->cv);
	gd_free(call);
}

int gd_call_start(struct gd_conn *c, const struct gd_call_args *a, struct gd_call **out)
{
	struct gd_call *call;
	pthread_condattr_t ca;
	uint8_t hdrbuf[GD_FRAME_HDR_LEN];
	uint8_t small[SMALL_PB];
	uint8_t *pb = small;
	uint8_t trace[GD_FRAME_TRACE_MAX];
	struct gd_frame_hdr hdr;
	struct iovec iov[4];
	size_t pb_len, trace_len;
	int timeout, rc;

	if (!c || !a || !a->req || !a->resp_desc || !out ||
	    !gd_frame_method_known(a->method) || a->data_len > GD_FRAME_MAX_DATA ||
	    (a->data_len > 0 && !a->data) || (a->rbuf_len > 0 && !a->rbuf))
		return GD_EINVAL;
	if (atomic_load(&c->failed))
		return GD_ECONN;
	pb_len = protobuf_c_message_get_packed_size(a->req);
	if (pb_len > GD_FRAME_MAX_PB)
		return GD_EINVAL;
	/* The calling thread's request id goes with the request (gd_trace.h);
	 * a message at the very limit goes without it rather than not at all. */
	trace_len = gd_frame_trace_put(gd_trace_get(), trace);
	if (pb_len + trace_len > GD_FRAME_MAX_PB)
		trace_len = 0;

	call = gd_calloc(1, sizeof(*call));
	if (!call)
		return GD_ENOMEM;
	if (pb_len > sizeof(small)) {
		pb = gd_malloc(pb_len);
		if (!pb) {
			rc = GD_ENOMEM;
			goto err_after_call;
		}
	}
	protobuf_c_message_pack(a->req, pb);

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&call->cv, &ca);
	pthread_condattr_destroy(&ca);
	call->c = c;
	call->method = a->method;
	call->resp_desc = a->resp_desc;
	call->rbuf = a->rbuf;
	call->rbuf_len = a->rbuf ? a->rbuf_len : 0;
	call->id = atomic_fetch_add(&c->next_id, 1);
	timeout = a->timeout_ms > 0 ? a->timeout_ms : atomic_load(&c->default_timeout_ms);
	gd_time_deadline(&call->deadline, (uint64_t)timeout);

	/* Into the table before sending: the answer may beat the return of writev. */
	pthread_mutex_lock(&c->lock);
	if (atomic_load(&c->failed)) {
		pthread_mutex_unlock(&c->lock);
		rc = GD_ECONN;
		goto err_after_cond;
	}
	call->next = c->table[bucket(call->id)];
	c->table[bucket(call->id)] = call;
	call->in_table = 1;
	pthread_mutex_unlock(&c->lock);

	hdr.magic_version = GD_FRAME_MAGIC_VERSION;
	hdr.kind = GD_KIND_REQUEST | (trace_len ? GD_FRAME_F_TRACE : 0);
	hdr.method = a->method;
	hdr.request_id = call->id;
	hdr.pb_len = (uint32_t)(trace_len + pb_len);
	hdr.data_len = (uint32_t)a->data_len;
	gd_frame_encode_hdr(&hdr, hdrbuf);
	iov[0].iov_base = hdrbuf;
	iov[0].iov_len = sizeof(hdrbuf);
	iov[1].iov_base = trace;
	iov[1].iov_len = trace_len;
	iov[2].iov_base = pb;
	iov[2].iov_len = pb_len;
	iov[3].iov_base = (void *)a->data;
	iov[3].iov_len = a->data_len;
	pthread_mutex_lock(&c->send_lock);
	/* A peer that stopped reading (SIGSTOP, a partition) fills the socket
	 * buffer: the send gives up by the call's deadline too, not by the
	 * connection's default (30 s). */
	int budget = send_budget_ms(&call->deadline);
	/* Budgets within a second of the last one set change nothing that
	 * matters: spare the system call on every request. */
	if (budget < c->send_timeout_ms - 1000 || budget > c->send_timeout_ms + 1000) {
		(void)gd_net_set_send_timeout(c->fd, budget);
		c->send_timeout_ms = budget;
	}
	rc = c->tls ? gd_tls_writev_full(c->tls, iov, 4) : gd_net_writev_full(c->fd, iov, 4);
	pthread_mutex_unlock(&c->send_lock);
	if (rc < 0) {
		/* A frame may be half out: the stream cannot be trusted any more. */
		gd_warn("%s: send failed: %s", c->peer, gd_strerror(rc));
		conn_fail(c);
		/* conn_fail finished the call unless the reader had claimed it. */
	}
	if (pb != small)
		gd_free(pb);
	*out = call;
	return 0;

err_after_cond:
	pthread_cond_destroy(&call->cv);
	if (pb != small)
		gd_free(pb);
err_after_call:
	gd_free(call);
	return rc;
}

int gd_call_wait(struct gd_call *call, struct gd_call_result *res)
{
	struct gd_conn *c = call->c;
	int rc;

	pthread_mutex_lock(&c->lock);
	bool cut = false;
	while (!call->done) {
		if (cut) {
			pthread_cond_wait(&call->cv, &c->lock);
			continue;
		}
		int w = pthread_cond_timedwait(&call->cv, &c->lock, &call->deadline);
		if (w != ETIMEDOUT || call->done)
			continue;
		if (call->in_table) {
			/* Not claimed: take it out, a late answer gets dropped. */
			table_take(c, call->id);
			call->status = GD_ETIMEDOUT;
			call->done = 1;
			continue;
		}
		/* Claimed by the reader, which is filling rbuf and still has
		 * not finished at the deadline: the peer stopped in the middle
		 * of the body (a hung process keeps its socket open). The
		 * stream cannot be resynchronised: cut it, so that the reader
		 * fails at once and finishes this call (and every other). */
		gd_warn("%s: response %llu stalled in its body past the deadline: dropping the connection",
			c->peer, (unsigned long long)call->id);
		atomic_store(&c->failed, 1);
		shutdown(c->fd, SHUT_RDWR);
		cut = true;
	}
	pthread_mutex_unlock(&c->lock);

	rc = call->status;
	if (res) {
		/* With a response, rc is its own status (transport errors never
		 * leave one behind). */
		if (call->resp) {
			res->resp = call->resp;
			res->data_len = call->data_len;
			call->resp = NULL;
		} else {
			res->resp = NULL;
			res->data_len = 0;
		}
	}
	if (call->resp)
		protobuf_c_message_free_unpacked(call->resp, NULL);
	call_free(call);
	return rc;
}

int gd_call(struct gd_conn *c, const struct gd_call_args *a, struct gd_call_result *res)
{
	struct gd_call *call;
	int rc;

	if (res) {
		res->resp = NULL;
		res->data_len = 0;
	}
	rc = gd_call_start(c, a, &call);
	if (rc < 0)
		return rc;
	return gd_call_wait(call, res);
}

void gd_call_result_release(struct gd_call_result *res)
{
	if (!res)
		return;
	if (res->resp)
		protobuf_c_message_free_unpacked(res->resp, NULL);
	res->resp = NULL;
	res->data_len = 0;
}

int gd_msg_status(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f;

	if (!m)
		return GD_EPROTO;
	f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "status");
	if (!f || f->type != PROTOBUF_C_TYPE_INT32 || f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	return *(const int32_t *)((const char *)m + f->offset);
}

const char *gd_msg_leader(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f;
	const char *s;

	if (!m)
		return NULL;
	f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "leader");
	if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	s = *(const char *const *)((const char *)m + f->offset);
	return (s && s[0]) ? s : NULL;
}
