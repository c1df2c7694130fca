/* The client side of the meta: one connection to the leader shared by every
 * thread, HELLO and the session, leader following and reconnects.
 *
 * The current connection lives in a small reference-counted holder so that a
 * thread can keep calling on it while another thread replaces it; the last
 * reference closes it. Replacing the connection (reconnect, leader change,
 * new session) happens under reconnect_mu, one thread at a time, and bumps a
 * generation counter: a thread that saw a failure on generation g and finds
 * the counter past g knows somebody else already reconnected.
 *
 * Exactly-once: a request whose message has a req_seq field (every mutating
 * namespace request, wire.proto) gets the next sequence number of this client
 * and keeps it in every resend (timeout, lost connection, leader change), so
 * that the meta answers a resend of an applied request from its record
 * instead of applying it again; req_ack tells the meta which records it may
 * drop (every seq below the lowest one still in flight). */
#include "gd_time.h"
#include "gd_meta_client.h"
#include "gd_alloc.h"
#include "gd_config.h"
#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_methods.h"
#include "gd_net.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_META_PORT 9090
#define CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
/* A chunkd retries sooner: every placement on a new leader waits for the
 * chunkds to register (a follower that still names the dead leader sends
 * them there, a deposed leader sends them away at once), and there are few
 * chunkds. */
#define BACKOFF_MAX_CHUNKD_MS 200
#define MAX_LEADER_HOPS 4
/* Bounded so that a Hello always fits in GD_FRAME_MAX_PB (<= 11 bytes each). */
#define MAX_OPEN_INODES 65536u
#define DEFAULT_SESSION_TIMEOUT_MS 30000u
#define MIN_ATTEMPT_MS 2000
#define RENEW_CALL_MAX_MS 5000
#define ADDR_MAX 300
#define MAX_ADDRS 32            /* configured + learnt meta addresses */

/* One connection with its reference count (the client holds one while it is
 * current, every call in flight holds one). */
struct mconn {
	struct gd_conn *conn;
	atomic_int refs;
	char addr[ADDR_MAX];
};

struct gd_meta_client {
	char **addrs;                 /* normalised "host:port": the configured ones, then
				       * those learnt from the last HELLO answer; guarded
				       * by reconnect_mu once open starts */
	size_t naddrs;
	size_t nconf;                 /* addrs[0..nconf) are the configured ones */
	int role;
	struct gd_cred cred;          /* what connections present (set at open) */
	bool own_cred;                /* cred was given: else gd_cred_self() */
	char *host;
	char *mountpoint;
	int timeout_ms;
	gd_open_inodes_fn open_inodes;
	void *open_inodes_ctx;
	gd_conn_push_fn push;         /* set at open, then read-only */
	void *push_ctx;
	void (*connected)(void *ctx);

	pthread_mutex_t reconnect_mu; /* one thread replaces the connection at a time */
	size_t next_addr;             /* where a reconnect starts; guarded by reconnect_mu */
	int opened;                   /* the first connect is done; guarded by reconnect_mu */
	int auth_refused;             /* a refusal of our credential was logged and no
				       * connect has worked since; guarded by reconnect_mu */

	pthread_mutex_t mu;           /* guards cur and gen */
	struct mconn *cur;            /* may be NULL before the first connect */
	uint64_t gen;                 /* bumped on every replacement */

	pthread_mutex_t seq_mu;       /* guards next_seq and the in-flight seqs */
	uint64_t next_seq;            /* the last seq handed out */
	uint64_t *inflight;           /* seqs of the calls in flight, unordered */
	size_t n_inflight;
	size_t cap_inflight;

	atomic_uint_fast64_t session_id;
	atomic_uint_fast64_t chunk_size;
	atomic_uint session_timeout_ms;
	atomic_uint features;          /* GD_META_FEATURE_* of the last HELLO */

	pthread_mutex_t stop_mu;      /* guards stopping, with stop_cv */
	pthread_cond_t stop_cv;
	atomic_int stopping;
	pthread_t renew;
	int renew_started;
};

/* ---- small helpers ---- */

static uint64_t ms_left(uint64_t deadline)
{
	uint64_t now = gd_net_now_ms();
	return deadline > now ? deadline - now : 0;
}

/* Sleeps ms or until close() starts. */
static void pause_ms(struct gd_meta_client *m, uint64_t ms)
{
	struct timespec ts;

	gd_time_deadline(&ts, ms);
	pthread_mutex_lock(&m->stop_mu);
	while (!atomic_load(&m->stopping)) {
		if (pthread_cond_timedwait(&m->stop_cv, &m->stop_mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&m->stop_mu);
}

/* Takes reconnect_mu, giving up at the (monotonic) deadline. */
static int reconnect_lock(struct gd_meta_client *m, uint64_t deadline)
{
	struct timespec ts;
	uint64_t left = ms_left(deadline);

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&m->reconnect_mu, &ts) == 0 ? 0 : GD_ETIMEDOUT;
}

static struct mconn *conn_get(struct gd_meta_client *m, uint64_t *gen)
{
	struct mconn *mc;

	pthread_mutex_lock(&m->mu);
	mc = m->cur;
	if (mc)
		atomic_fetch_add(&mc->refs, 1);
	*gen = m->gen;
	pthread_mutex_unlock(&m->mu);
	return mc;
}

static void conn_put(struct mconn *mc)
{
	if (mc && atomic_fetch_sub(&mc->refs, 1) == 1) {
		gd_conn_close(mc->conn);
		gd_free(mc);
	}
}

/* A call on mc got no answer in time: mc is given up (gd_conn_abort: the
 * requests still queued on it are thrown away, never delivered once the
 * meta is reachable again) and stops being the current connection, so that
 * the retry goes on a new one. Without this, every retry during a partition
 * queued one more copy on the old connection, and after the heal the meta
 * got them all at once: a chunkd registered a dozen times, and a stale
 * heartbeat was handed orders whose answer nobody waited for any more. */
static void conn_give_up(struct gd_meta_client *m, struct mconn *mc)
{
	struct mconn *old = NULL;

	gd_conn_abort(mc->conn);
	pthread_mutex_lock(&m->mu);
	if (m->cur == mc) {
		old = m->cur;
		m->cur = NULL;
		m->gen++;
	}
	pthread_mutex_unlock(&m->mu);
	conn_put(old);
}

/* Makes mc the current connection (taking the caller's reference). */
static void conn_install(struct gd_meta_client *m, struct mconn *mc)
{
	struct mconn *old;

	pthread_mutex_lock(&m->mu);
	old = m->cur;
	m->cur = mc;
	m->gen++;
	pthread_mutex_unlock(&m->mu);
	conn_put(old);
}

/* Normalises one meta address to "host:port" (default port 9090) and adds
 * it unless it is there already: 0, GD_EINVAL (logged when loud), GD_ENOMEM. */
static int add_addr(struct gd_meta_client *m, const char *one, int loud)
{
	char host[ADDR_MAX - 16], norm[ADDR_MAX];
	int port;

	if (gd_parse_hostport(one, DEFAULT_META_PORT, host, sizeof(host), &port) < 0 ||
	    port == 0) {
		if (loud)
			gd_error("bad meta address '%s'", one);
		return GD_EINVAL;
	}
	if (strchr(host, ':'))
		snprintf(norm, sizeof(norm), "[%s]:%d", host, port);
	else
		snprintf(norm, sizeof(norm), "%s:%d", host[0] ? host : "127.0.0.1", port);
	for (size_t i = 0; i < m->naddrs; i++) {
		if (strcmp(m->addrs[i], norm) == 0)
			return 0;
	}
	char **na = gd_realloc(m->addrs, (m->naddrs + 1) * sizeof(*na));
	if (!na)
		return GD_ENOMEM;
	m->addrs = na;
	m->addrs[m->naddrs] = gd_strdup(norm);
	if (!m->addrs[m->naddrs])
		return GD_ENOMEM;
	m->naddrs++;
	return 0;
}

/* Whether addrs[from..to) holds a. */
static int addr_in(char **addrs, size_t from, size_t to, const char *a)
{
	for (size_t i = from; i < to; i++) {
		if (strcmp(addrs[i], a) == 0)
			return 1;
	}
	return 0;
}

/* Replaces the learnt addresses with the voters' client addresses a leader
 * sent in its HELLO answer, so that a client given one address survives
 * that voter's death, and a voter removed since is tried no more (each
 * dead address costs a connect timeout in every reconnect pass, and would
 * fill the list). The configured addresses always stay. An answer without
 * a list (voters without client addresses) changes nothing. Bounded: at
 * most MAX_ADDRS in all, each shorter than ADDR_MAX. Caller holds
 * reconnect_mu. */
static void learn_addrs(struct gd_meta_client *m, char **metas, size_t n)
{
	size_t nold = m->naddrs - m->nconf;
	char **old;

	if (n == 0)
		return;
	old = gd_malloc((nold ? nold : 1) * sizeof(*old));
	if (!old)
		return;         /* the old list stays: still usable */
	memcpy(old, m->addrs + m->nconf, nold * sizeof(*old));
	m->naddrs = m->nconf;
	for (size_t i = 0; i < n && m->naddrs < MAX_ADDRS; i++) {
		size_t before = m->naddrs;

		if (!metas[i] || strlen(metas[i]) >= ADDR_MAX - 16)
			continue;
		if (add_addr(m, metas[i], 0) == 0 && m->naddrs > before &&
		    !addr_in(old, 0, nold, m->addrs[before]))
			gd_info("meta: learnt voter %s from the leader", m->addrs[before]);
	}
	for (size_t i = 0; i < nold; i++) {
		if (!addr_in(m->addrs, m->nconf, m->naddrs, old[i]))
			gd_info("meta: %s is no voter any more (the leader's list)", old[i]);
		gd_free(old[i]);
	}
	gd_free(old);
}

/* Splits "a:p,b:p" into normalised "host:port" strings (default port 9090). */
static int parse_addrs(struct gd_meta_client *m, const char *list)
{
	const char *p = list;

	if (!list || !*list)
		return GD_EINVAL;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char one[ADDR_MAX];
		int rc;

		if (n > 0) {
			if (n >= sizeof(one))
				return GD_EINVAL;
			memcpy(one, p, n);
			one[n] = '\0';
			rc = add_addr(m, one, 1);
			if (rc < 0)
				return rc;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return m->naddrs > 0 ? 0 : GD_EINVAL;
}

/* ---- HELLO ---- */

/* Sends one HELLO with session `sid` on conn; on success records the session,
 * chunk size and timeout. leader (ADDR_MAX bytes) gets the leader address of
 * a GD_ENOTLEADER answer. */
static int hello_once(struct gd_meta_client *m, struct gd_conn *conn, uint64_t sid,
		      int timeout_ms, char *leader)
{
	Godfs__Hello h = GODFS__HELLO__INIT;
	struct gd_call_result res = { 0 };
	uint64_t *inos = NULL;
	int rc;

	h.has_protocol = h.has_role = h.has_session_id = 1;
	h.protocol = GD_PROTOCOL_VERSION;
	h.role = (Godfs__Role)m->role;
	h.host = m->host;
	h.mountpoint = m->mountpoint;
	h.session_id = sid;
	if (sid != 0 && m->role == GODFS__ROLE__ROLE_CLIENT && m->open_inodes) {
		inos = gd_malloc(MAX_OPEN_INODES * sizeof(*inos));
		if (!inos)
			return GD_ENOMEM;
		size_t n = m->open_inodes(m->open_inodes_ctx, inos, MAX_OPEN_INODES);
		h.n_open_inodes = n < MAX_OPEN_INODES ? n : MAX_OPEN_INODES;
		h.open_inodes = inos;
	}
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_HELLO,
		.req = &h.base,
		.resp_desc = &godfs__hello_resp__descriptor,
		.timeout_ms = timeout_ms,
	};
	rc = gd_call(conn, &a, &res);
	gd_free(inos);
	leader[0] = '\0';
	if (res.resp) {
		Godfs__HelloResp *hr = (Godfs__HelloResp *)res.resp;
		if (rc == GD_ENOTLEADER && hr->leader)
			snprintf(leader, ADDR_MAX, "%s", hr->leader);
		if (rc == 0) {
			uint64_t got = hr->has_session_id ? hr->session_id : 0;

			if (sid != 0 && got != sid)
				gd_warn("meta %s no longer knows session %llu: new session %llu "
					"(its open files and locks are lost)", gd_conn_peer(conn),
					(unsigned long long)sid, (unsigned long long)got);
			atomic_store(&m->session_id, got);
			if (hr->has_chunk_size)
				atomic_store(&m->chunk_size, hr->chunk_size);
			if (hr->has_session_timeout_ms && hr->session_timeout_ms > 0)
				atomic_store(&m->session_timeout_ms, hr->session_timeout_ms);
			atomic_store(&m->features, hr->has_features ? hr->features : 0);
			learn_addrs(m, hr->metas, hr->n_metas);
		}
	}
	gd_call_result_release(&res);
	return rc;
}

/* HELLO with the current session; a session the meta no longer knows is
 * replaced by a new one (said in the log: what it held is gone). */
static int hello(struct gd_meta_client *m, struct gd_conn *conn, int timeout_ms, char *leader)
{
	uint64_t sid = atomic_load(&m->session_id);
	int rc = hello_once(m, conn, sid, timeout_ms, leader);

	if (rc == GD_ENOSESSION && sid != 0) {
		gd_warn("meta %s no longer knows session %llu: starting a new session "
			"(its open files and locks are lost)", gd_conn_peer(conn),
			(unsigned long long)sid);
		atomic_store(&m->session_id, 0);
		rc = hello_once(m, conn, 0, timeout_ms, leader);
	}
	return rc;
}

/* Connects to addr and says HELLO; returns 0 and *out, or the error. */
static int connect_once(struct gd_meta_client *m, const char *addr, uint64_t deadline,
			char *leader, struct mconn **out)
{
	struct mconn *mc;
	uint64_t left = ms_left(deadline);
	int ct = left < CONNECT_TIMEOUT_MS ? (int)left : CONNECT_TIMEOUT_MS;
	int rc;

	leader[0] = '\0';
	if (ct <= 0)
		return GD_ETIMEDOUT;
	mc = gd_calloc(1, sizeof(*mc));
	if (!mc)
		return GD_ENOMEM;
	snprintf(mc->addr, sizeof(mc->addr), "%s", addr);
	rc = gd_conn_open_cred(addr, ct, m->own_cred ? &m->cred : NULL, (enum gd_role)m->role,
			       &mc->conn);
	if (rc < 0) {
		gd_debug("meta %s: connect: %s", addr, gd_strerror(rc));
		gd_free(mc);
		return rc;
	}
	if (m->push)
		gd_conn_set_push(mc->conn, m->push, m->push_ctx);
	left = ms_left(deadline);
	rc = hello(m, mc->conn, left > 0 ? (int)left : 1, leader);
	if (rc < 0) {
		gd_debug("meta %s: HELLO: %s%s%s", addr, gd_strerror(rc),
			 leader[0] ? ", leader is " : "", leader);
		if (rc == GD_ETIMEDOUT)
			gd_conn_abort(mc->conn);        /* no late HELLO */
		gd_conn_close(mc->conn);
		gd_free(mc);
		return rc;
	}
	atomic_init(&mc->refs, 1);
	*out = mc;
	return 0;
}

/* Whether a failed connect or HELLO is worth trying again (elsewhere or later). */
static int retryable(int rc)
{
	return rc == GD_ECONN || rc == GD_ETIMEDOUT || rc == GD_ENOTLEADER ||
	       rc == GD_EAGAIN || rc == GD_ESHUTDOWN || rc == GD_EINVAL ||
	       rc == GD_ENOSESSION;
}

/* Finds the leader and installs a new connection to it: the hint first, then
 * every configured address (following leader answers), with backoff, until
 * the deadline. Caller holds reconnect_mu.
 *
 * A meta that refuses our credential (GD_EAUTH) is logged once and the other
 * addresses are tried: before the first connect (a mount or godfs-admin
 * starting) a pass with a refusal and no success ends with GD_EAUTH at once,
 * so that the program says why and stops; a running client keeps trying,
 * with the longest backoff, until the call's deadline (someone may be
 * fixing the key). */
static int reconnect_locked(struct gd_meta_client *m, const char *hint, uint64_t deadline)
{
	char leader[ADDR_MAX], addr[ADDR_MAX];
	uint64_t backoff = BACKOFF_MIN_MS;
	uint64_t backoff_max = m->role == GODFS__ROLE__ROLE_CHUNKD ? BACKOFF_MAX_CHUNKD_MS
								   : BACKOFF_MAX_MS;
	int last = GD_ECONN;

	for (;;) {
		size_t ncand = m->naddrs + (hint ? 1 : 0);
		int refused = 0;

		for (size_t i = 0; i < ncand; i++) {
			size_t idx = 0;
			int hops = 0, rc;

			if (hint && i == 0) {
				snprintf(addr, sizeof(addr), "%s", hint);
				idx = m->next_addr;
			} else {
				idx = (m->next_addr + i - (hint ? 1 : 0)) % m->naddrs;
				snprintf(addr, sizeof(addr), "%s", m->addrs[idx]);
			}
			for (;;) {
				struct mconn *mc = NULL;

				if (atomic_load(&m->stopping))
					return GD_ESHUTDOWN;
				rc = connect_once(m, addr, deadline, leader, &mc);
				if (rc == 0) {
					/* its HELLO answer may have changed the list */
					m->next_addr = idx % m->naddrs;
					for (size_t k = 0; k < m->naddrs; k++) {
						if (strcmp(m->addrs[k], addr) == 0)
							m->next_addr = k;
					}
					if (m->auth_refused)
						gd_info("meta %s accepts our credential", addr);
					m->auth_refused = 0;
					if (m->role == GODFS__ROLE__ROLE_CLIENT)
						gd_info("meta: connected to %s (session %llu)", addr,
							(unsigned long long)atomic_load(&m->session_id));
					else
						gd_info("meta: connected to %s", addr);
					conn_install(m, mc);
					if (m->connected)
						m->connected(m->push_ctx);
					return 0;
				}
				if (rc == GD_ENOTLEADER && leader[0] && strcmp(leader, addr) != 0 &&
				    hops++ < MAX_LEADER_HOPS) {
					snprintf(addr, sizeof(addr), "%s", leader);
					continue;
				}
				break;
			}
			if (rc == GD_EAUTH) {
				if (!m->auth_refused)
					gd_cred_log_refused("meta", addr);
				m->auth_refused = 1;
				refused = 1;
			}
			/* A try cut short by the deadline says less than the one before. */
			if (!(rc == GD_ETIMEDOUT && ms_left(deadline) == 0 && last != GD_ENOTLEADER))
				last = rc;
			if (!retryable(rc) && rc != GD_EAUTH)
				return rc;
			if (ms_left(deadline) == 0)
				return last == GD_ENOTLEADER ? GD_ETIMEDOUT : last;
		}
		if (refused && !m->opened)
			return GD_EAUTH;
		if (refused)
			backoff = BACKOFF_MAX_MS;
		hint = NULL;
		uint64_t left = ms_left(deadline);
		if (left == 0)
			return last == GD_ENOTLEADER ? GD_ETIMEDOUT : last;
		pause_ms(m, backoff < left ? backoff : left);
		backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
	}
}

/* Replaces the connection seen at generation seen_gen unless another thread
 * already did; hint is a leader address from a GD_ENOTLEADER answer. */
static int reconnect(struct gd_meta_client *m, uint64_t seen_gen, const char *hint,
		     uint64_t deadline)
{
	int rc;

	if (reconnect_lock(m, deadline) < 0)
		return GD_ETIMEDOUT;
	pthread_mutex_lock(&m->mu);
	int done = m->gen != seen_gen && m->cur && !gd_conn_failed(m->cur->conn);
	pthread_mutex_unlock(&m->mu);
	/* Without a leader's address, the address that just failed us is tried
	 * last: a deposed leader cut off from the majority knows no leader
	 * and would hold our HELLO for its whole hold time (2 s) while the
	 * others already redirect to the new one (e2e_meta_partition.sh). */
	if (!done && hint == NULL && m->naddrs > 1)
		m->next_addr = (m->next_addr + 1) % m->naddrs;
	rc = done ? 0 : reconnect_locked(m, hint, deadline);
	pthread_mutex_unlock(&m->reconnect_mu);
	return rc;
}

/* The meta answered GD_ENOSESSION to a call made with session seen_sid:
 * start a new session (once, whoever gets here first) on a new connection. */
static int new_session(struct gd_meta_client *m, uint64_t seen_sid, uint64_t deadline)
{
	int rc = 0;

	if (reconnect_lock(m, deadline) < 0)
		return GD_ETIMEDOUT;
	if (atomic_load(&m->session_id) == seen_sid) {
		gd_warn("meta no longer knows session %llu: starting a new session "
			"(its open files and locks are lost)", (unsigned long long)seen_sid);
		atomic_store(&m->session_id, 0);
		rc = reconnect_locked(m, NULL, deadline);
	}
	pthread_mutex_unlock(&m->reconnect_mu);
	return rc;
}

/* A copy of req whose session_id field, when it is old_sid, says new_sid;
 * NULL when req has no such field (or on allocation failure). */
static ProtobufCMessage *patch_session(const ProtobufCMessage *req, uint64_t old_sid,
				       uint64_t new_sid)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "session_id");
	ProtobufCMessage *copy;
	uint8_t *buf;
	size_t len;

	if (!f || f->type != PROTOBUF_C_TYPE_UINT64 || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	if (*(const uint64_t *)((const char *)req + f->offset) != old_sid)
		return NULL;
	len = protobuf_c_message_get_packed_size(req);
	buf = gd_malloc(len ? len : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(req, buf);
	copy = protobuf_c_message_unpack(req->descriptor, NULL, len, buf);
	gd_free(buf);
	if (copy)
		*(uint64_t *)((char *)copy + f->offset) = new_sid;
	return copy;
}

/* ---- exactly-once sequence numbers ---- */

/* The req_seq (or req_ack) field of a request message, or NULL. */
static const ProtobufCFieldDescriptor *seq_field(const ProtobufCMessageDescriptor *d,
						 const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);

	if (!f || f->type != PROTOBUF_C_TYPE_UINT64 || f->label != PROTOBUF_C_LABEL_OPTIONAL)
		return NULL;
	return f;
}

/* A new seq, in flight until seq_end; 0 when out of memory (the call then
 * goes without one: no exactly-once for it, as with an old client). */
static uint64_t seq_begin(struct gd_meta_client *m)
{
	uint64_t seq = 0;

	pthread_mutex_lock(&m->seq_mu);
	if (m->n_inflight == m->cap_inflight) {
		size_t cap = m->cap_inflight ? m->cap_inflight * 2 : 16;
		uint64_t *a = gd_realloc(m->inflight, cap * sizeof(*a));
		if (!a)
			goto out;
		m->inflight = a;
		m->cap_inflight = cap;
	}
	seq = ++m->next_seq;
	m->inflight[m->n_inflight++] = seq;
out:
	pthread_mutex_unlock(&m->seq_mu);
	return seq;
}

/* Every seq below the lowest in flight has been answered (a caller in
 * flight holds at least its own seq, so this is below it). */
static uint64_t seq_ack(struct gd_meta_client *m)
{
	uint64_t low;
	size_t i;

	pthread_mutex_lock(&m->seq_mu);
	low = m->next_seq + 1;
	for (i = 0; i < m->n_inflight; i++)
		if (m->inflight[i] < low)
			low = m->inflight[i];
	pthread_mutex_unlock(&m->seq_mu);
	return low - 1;
}

static void seq_end(struct gd_meta_client *m, uint64_t seq)
{
	size_t i;

	pthread_mutex_lock(&m->seq_mu);
	for (i = 0; i < m->n_inflight; i++) {
		if (m->inflight[i] == seq) {
			m->inflight[i] = m->inflight[--m->n_inflight];
			break;
		}
	}
	pthread_mutex_unlock(&m->seq_mu);
}

/* Fills shadow (a buffer of the message's size) with a shallow copy of req
 * whose req_seq and req_ack say seq and ack: only packed, never freed as a
 * message. */
static const ProtobufCMessage *with_seq(const ProtobufCMessage *req, void *shadow, uint64_t seq,
					uint64_t ack)
{
	const ProtobufCFieldDescriptor *fs = seq_field(req->descriptor, "req_seq");
	const ProtobufCFieldDescriptor *fa = seq_field(req->descriptor, "req_ack");
	char *p = shadow;

	memcpy(shadow, req, req->descriptor->sizeof_message);
	*(protobuf_c_boolean *)(p + fs->quantifier_offset) = 1;
	*(uint64_t *)(p + fs->offset) = seq;
	if (fa) {
		*(protobuf_c_boolean *)(p + fa->quantifier_offset) = 1;
		*(uint64_t *)(p + fa->offset) = ack;
	}
	return shadow;
}

/* ---- calls ---- */

/* gd_meta_call with an explicit overall timeout. */
static int meta_call(struct gd_meta_client *m, uint16_t method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		     int timeout_ms)
{
	uint64_t deadline = gd_net_now_ms() + (uint64_t)timeout_ms;
	const ProtobufCMessage *send = req;
	ProtobufCMessage *copy = NULL;
	int attempt_cap = timeout_ms / 3 > MIN_ATTEMPT_MS ? timeout_ms / 3 : MIN_ATTEMPT_MS;
	int last = GD_ETIMEDOUT, rc, nosess = 0, notleader = 0;
	void *shadow = NULL;
	uint64_t seq = 0;

	const struct gd_method *gm = gd_method_get(method);

	/* exactly-once: the method table says which methods carry req_seq */
	if (m->role == GODFS__ROLE__ROLE_CLIENT && gm && (gm->flags & GD_METHOD_ONCE) &&
	    req->descriptor == gm->req && seq_field(req->descriptor, "req_seq")) {
		shadow = gd_malloc(req->descriptor->sizeof_message);
		if (shadow && !(seq = seq_begin(m))) {
			gd_free(shadow);
			shadow = NULL;
		}
	}
	for (;;) {
		struct gd_call_result res = { 0 };
		struct mconn *mc;
		uint64_t gen, left = ms_left(deadline);
		uint64_t sid = atomic_load(&m->session_id);

		if (atomic_load(&m->stopping)) {
			rc = GD_ESHUTDOWN;
			break;
		}
		if (left == 0) {
			rc = last;
			break;
		}
		mc = conn_get(m, &gen);
		if (!mc || gd_conn_failed(mc->conn)) {
			conn_put(mc);
			rc = reconnect(m, gen, NULL, deadline);
			if (rc < 0) {
				last = rc;
				if (!retryable(rc))
					break;
			}
			continue;
		}
		struct gd_call_args a = {
			.method = method,
			.req = seq ? with_seq(send, shadow, seq, seq_ack(m)) : send,
			.resp_desc = resp_desc,
			.timeout_ms = left < (uint64_t)attempt_cap ? (int)left : attempt_cap,
		};
		rc = gd_call(mc->conn, &a, &res);
		if (rc == GD_ETIMEDOUT && !res.resp)
			conn_give_up(m, mc);
		conn_put(mc);
		if (!res.resp) {
			if (rc != GD_ECONN && rc != GD_ETIMEDOUT)
				break;
			gd_debug("meta call %u: %s; reconnecting", method, gd_strerror(rc));
			last = rc;
			rc = reconnect(m, gen, NULL, deadline);
			if (rc < 0 && !retryable(rc)) {
				last = rc;
				break;
			}
			continue;
		}
		if (rc == GD_ENOTLEADER) {
			char hint[ADDR_MAX];
			const char *l = gd_msg_leader(res.resp);

			snprintf(hint, sizeof(hint), "%s", l ? l : "");
			gd_call_result_release(&res);
			last = rc;
			/* No leader yet (an election), or again a follower: wait a bit. */
			if (!hint[0] || notleader++ > 0)
				pause_ms(m, BACKOFF_MIN_MS);
			rc = reconnect(m, gen, hint[0] ? hint : NULL, deadline);
			if (rc < 0 && !retryable(rc)) {
				last = rc;
				break;
			}
			continue;
		}
		if (rc == GD_ENOSESSION && m->role == GODFS__ROLE__ROLE_CLIENT && sid != 0 &&
		    nosess++ < 2) {
			gd_call_result_release(&res);
			last = rc;
			rc = new_session(m, sid, deadline);
			if (rc < 0) {
				last = rc;
				if (!retryable(rc))
					break;
				continue;
			}
			uint64_t nsid = atomic_load(&m->session_id);
			ProtobufCMessage *p = patch_session(send, sid, nsid);
			if (p) {
				if (copy)
					protobuf_c_message_free_unpacked(copy, NULL);
				copy = p;
				send = copy;
			}
			continue;
		}
		*resp = res.resp;
		break;
	}
	if (copy)
		protobuf_c_message_free_unpacked(copy, NULL);
	if (seq)
		seq_end(m, seq);
	gd_free(shadow);
	return rc;
}

int gd_meta_call(struct gd_meta_client *m, uint16_t method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
	if (resp)
		*resp = NULL;
	if (!m || !req || !resp_desc || !resp)
		return GD_EINVAL;
	return meta_call(m, method, req, resp_desc, resp, m->timeout_ms);
}

/* ---- session renewal ---- */

/* The renew thread (clients only): SESSION_RENEW every third of the timeout. */
static void *renew_main(void *arg)
{
	struct gd_meta_client *m = arg;
	int failing = 0;

	while (!atomic_load(&m->stopping)) {
		unsigned to = atomic_load(&m->session_timeout_ms);
		uint64_t interval = to / 3 < 100 ? 100 : to / 3;
		Godfs__SessionRenew req = GODFS__SESSION_RENEW__INIT;
		ProtobufCMessage *resp = NULL;
		int rc;

		pause_ms(m, interval);
		if (atomic_load(&m->stopping))
			break;
		req.has_session_id = 1;
		req.session_id = atomic_load(&m->session_id);
		rc = meta_call(m, GODFS__METHOD__M_SESSION_RENEW, &req.base,
			       &godfs__session_renew_resp__descriptor, &resp,
			       interval < RENEW_CALL_MAX_MS ? (int)interval : RENEW_CALL_MAX_MS);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		if (rc < 0 && rc != GD_ESHUTDOWN) {
			if (!failing)
				gd_warn("meta: session %llu renewal failed: %s",
					(unsigned long long)req.session_id, gd_strerror(rc));
			failing = 1;
		} else if (rc == 0 && failing) {
			gd_info("meta: session %llu renewed again",
				(unsigned long long)atomic_load(&m->session_id));
			failing = 0;
		}
	}
	return NULL;
}

/* ---- open / close ---- */

static void client_free(struct gd_meta_client *m)
{
	for (size_t i = 0; i < m->naddrs; i++)
		gd_free(m->addrs[i]);
	gd_free(m->addrs);
	gd_free(m->host);
	gd_free(m->mountpoint);
	gd_free(m->inflight);
	pthread_mutex_destroy(&m->seq_mu);
	pthread_mutex_destroy(&m->reconnect_mu);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->stop_mu);
	pthread_cond_destroy(&m->stop_cv);
	gd_free(m);
}

int gd_meta_client_open(const struct gd_meta_client_config *cfg,
			struct gd_meta_client **out)
{
	struct gd_meta_client *m;
	pthread_condattr_t ca;
	int rc;

	if (!cfg || !out)
		return GD_EINVAL;
	m = gd_calloc(1, sizeof(*m));
	if (!m)
		return GD_ENOMEM;
	pthread_mutex_init(&m->seq_mu, NULL);
	pthread_mutex_init(&m->reconnect_mu, NULL);
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->stop_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&m->session_id, 0);
	atomic_init(&m->chunk_size, 0);
	atomic_init(&m->session_timeout_ms, DEFAULT_SESSION_TIMEOUT_MS);
	atomic_init(&m->features, 0);
	atomic_init(&m->stopping, 0);
	m->role = cfg->role;
	if (cfg->cred) {
		m->cred = *cfg->cred;
		m->own_cred = true;
	}
	m->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	m->open_inodes = cfg->open_inodes;
	m->open_inodes_ctx = cfg->open_inodes_ctx;
	m->push = cfg->push;
	m->push_ctx = cfg->push_ctx;
	m->connected = cfg->connected;
	m->host = gd_strdup(cfg->host ? cfg->host : "localhost");
	m->mountpoint = cfg->mountpoint ? gd_strdup(cfg->mountpoint) : NULL;
	if (!m->host || (cfg->mountpoint && !m->mountpoint)) {
		rc = GD_ENOMEM;
		goto err_after_alloc;
	}
	rc = parse_addrs(m, cfg->addrs);
	if (rc < 0)
		goto err_after_alloc;
	m->nconf = m->naddrs;

	pthread_mutex_lock(&m->reconnect_mu);
	rc = reconnect_locked(m, NULL, gd_net_now_ms() + (uint64_t)m->timeout_ms);
	m->opened = rc == 0;
	pthread_mutex_unlock(&m->reconnect_mu);
	if (rc < 0) {
		gd_debug("meta %s: %s", cfg->addrs, gd_strerror(rc));
		goto err_after_alloc;
	}
	if (m->role == GODFS__ROLE__ROLE_CLIENT) {
		if (pthread_create(&m->renew, NULL, renew_main, m) != 0) {
			rc = GD_ENOMEM;
			goto err_after_conn;
		}
		m->renew_started = 1;
	}
	*out = m;
	return 0;

err_after_conn:
	conn_put(m->cur);
err_after_alloc:
	client_free(m);
	return rc;
}

void gd_meta_client_close(struct gd_meta_client *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->stop_mu);
	atomic_store(&m->stopping, 1);
	pthread_cond_broadcast(&m->stop_cv);
	pthread_mutex_unlock(&m->stop_mu);
	if (m->renew_started)
		pthread_join(m->renew, NULL);
	conn_put(m->cur);
	m->cur = NULL;
	client_free(m);
}

uint64_t gd_meta_client_session(const struct gd_meta_client *m)
{
	return m ? atomic_load(&((struct gd_meta_client *)m)->session_id) : 0;
}

uint64_t gd_meta_client_chunk_size(const struct gd_meta_client *m)
{
	return m ? atomic_load(&((struct gd_meta_client *)m)->chunk_size) : 0;
}

uint32_t gd_meta_client_features(const struct gd_meta_client *m)
{
	return m ? atomic_load(&((struct gd_meta_client *)m)->features) : 0;
}

void gd_meta_client_address(struct gd_meta_client *m, char *buf, size_t len)
{
	if (!buf || len == 0)
		return;
	buf[0] = '\0';
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	if (m->cur)
		snprintf(buf, len, "%s", m->cur->addr);
	pthread_mutex_unlock(&m->mu);
}
