/* The client data library: chunk locations and write leases cached per
 * (inode, index), a pool of chunkd connections, and the piece engines that
 * keep several 1 MiB reads or writes in flight. See gd_client.h. */
#include "gd_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_conn.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define GD_PIECE (1u << 20)            /* bytes per chunkd read/write call */
#define GD_INFLIGHT 8                  /* calls in flight per read/write */
#define GD_MAX_CHAIN 16                /* longest chain accepted from the meta */
#define GD_MAX_ADDR 255                /* longest "host:port" accepted */
#define GD_CACHE_BUCKETS 1024
#define GD_CACHE_MAX 65536             /* entries kept before old ones go */
#define GD_LOC_TTL_MS 60000            /* a located chunk (versions guard it) */
#define GD_HOLE_TTL_MS 1000            /* a hole may get a chunk at any time */
#define GD_SETTLED_MS 30000            /* a chunkd has synced a copy idle this long (5 s + margin) */
#define GD_LEASE_DEFAULT_MS 30000
#define GD_LEASE_MARGIN_MS 2000        /* renew a lease this long before it ends */
#define GD_WRITE_ROUNDS 6              /* rounds without progress before a write gives up */
#define GD_STALE_TRIES 16              /* a truncate or fsync overtaken by other leases */
#define GD_CONNECT_MS 3000
#define GD_RECONNECT_BACKOFF_MS 500    /* no reconnect to a dead chunkd more often */
#define GD_CAP_DEFAULT_MS 30000        /* a capability whose answer did not say how long */
#define GD_CAP_REFRESH_MAX_MS 10000    /* ask again this long (at most) before it ends */

/* A snapshot of one chunk: id, version and the chain (read copies or write
 * pipeline), with the chunk capability that opens it. Owns its strings. */
struct gd_chunk_ref {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t prev_version;
	uint64_t trunc_seq;     /* leases: the file's truncate count at the grant */
	bool create;           /* leases: no write acknowledged since this client
				* created the chunk (see CsWrite.create) */
	size_t n_chain;
	char *chain[GD_MAX_CHAIN];
	/* The meta's capability (gd_cap.h; cap_len 0: none, an --insecure
	 * cluster), sent with every CS_* request, and when to stop using it
	 * (monotonic, a margin before it ends; 0 = never). */
	uint8_t cap[GD_CAP_LEN];
	size_t cap_len;
	int64_t cap_until_ms;
};

/* One cached location or lease. */
struct gd_centry {
	struct gd_centry *next;
	uint64_t ino;
	uint64_t index;
	struct gd_chunk_ref ref;
	int64_t expires_ms;     /* monotonic; 0 = not usable (kept for `unsynced`) */
	bool unsynced;          /* leases: written since the last fsync */
	uint64_t dirty_seq;     /* leases: bumped by every write, for fsync */
	int64_t written_ms;     /* leases: monotonic time of the last write */
	/* leases: what the next commit names (WriteCommit.written_*) */
	bool written;           /* unsynced writes not yet committed */
	uint64_t written_seq;   /* the trunc_seq of the newest lease written through */
	uint64_t written_end;   /* the end of the writes through it, in the chunk */
	bool older;             /* writes through older leases too: */
	uint64_t older_seq;     /*   the oldest of their trunc_seqs */
	uint64_t older_end;     /*   their end; GD_WRITTEN_FREED: their chunk was freed */
	/* leases, of ref.chunk_id: the newest version a change of this client
	 * was acknowledged at (or a truncate sent at), and the version it told
	 * the meta nothing was acknowledged at (ChunkFailed.unacked): an
	 * acknowledgement at that version that comes later does not count. */
	uint64_t acked_version;
	uint64_t unacked_version;
};

#define GD_WRITTEN_FREED UINT64_MAX

/* Adds writes through a lease older than the entry's newest to its summary. */
static void written_fold(struct gd_centry *e, uint64_t seq, uint64_t end)
{
	if (!e->older) {
		e->older = true;
		e->older_seq = seq;
		e->older_end = end;
		return;
	}
	if (seq < e->older_seq)
		e->older_seq = seq;
	if (end > e->older_end)
		e->older_end = end;
}

/* A hash table of chunk entries keyed by (ino, index). */
struct gd_cache {
	pthread_mutex_t mu;
	struct gd_centry *b[GD_CACHE_BUCKETS]; /* guarded by mu */
	size_t count;                          /* guarded by mu */
};

/* One open connection to a chunkd, shared by callers; closed when retired
 * (failed and replaced) and no caller holds it. */
struct gd_cconn {
	struct gd_conn *conn;
	int refs;               /* guarded by pool mu */
	bool retired;           /* guarded by pool mu */
};

/* A chunkd address in the pool. Entries live until gd_client_close. */
struct gd_pool_ent {
	struct gd_pool_ent *next;  /* guarded by pool mu */
	char *addr;
	struct gd_cconn *cur;      /* guarded by pool mu */
	int64_t failed_ms;         /* last failed connect, guarded by pool mu */
	pthread_mutex_t open_mu;   /* one connect at a time per address */
};

struct gd_client {
	struct gd_meta_client *meta;
	uint64_t chunk_size;
	int chunk_timeout_ms;
	struct gd_cred cred;       /* set at open, read-only after */
	bool own_cred;             /* cred was given: else gd_cred_self() */
	char *host;
	struct gd_cache locs;      /* for reading */
	struct gd_cache leases;    /* for writing */
	pthread_mutex_t lease_mu;  /* one M_WRITE_LEASE at a time (no double bump) */
	pthread_mutex_t pool_mu;
	struct gd_pool_ent *pool;  /* guarded by pool_mu */
};

static int64_t gd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a chain's head is told it has to answer a call (CsWrite.deadline_ms):
 * a little less than this client waits, so that the head answers first,
 * naming the member below it that did not. */
static uint32_t chain_deadline_ms(const struct gd_client *c)
{
	int margin = c->chunk_timeout_ms / 10;
	if (margin < 100)
		margin = 100;
	if (margin > 1000)
		margin = 1000;
	return (uint32_t)(c->chunk_timeout_ms > 2 * margin ? c->chunk_timeout_ms - margin
							   : c->chunk_timeout_ms / 2 + 1);
}

/* ---- chunk references ---- */

static void ref_clear(struct gd_chunk_ref *r)
{
	for (size_t i = 0; i < r->n_chain; i++)
		gd_free(r->chain[i]);
	memset(r, 0, sizeof(*r));
}

static int ref_copy(struct gd_chunk_ref *dst, const struct gd_chunk_ref *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->chunk_id = src->chunk_id;
	dst->version = src->version;
	dst->prev_version = src->prev_version;
	dst->trunc_seq = src->trunc_seq;
	dst->create = src->create;
	memcpy(dst->cap, src->cap, src->cap_len);
	dst->cap_len = src->cap_len;
	dst->cap_until_ms = src->cap_until_ms;
	for (size_t i = 0; i < src->n_chain; i++) {
		dst->chain[i] = gd_strdup(src->chain[i]);
		if (!dst->chain[i]) {
			ref_clear(dst);
			return GD_ENOMEM;
		}
		dst->n_chain = i + 1;
	}
	return 0;
}

/* Takes a ChunkResp from the network, bounding the chain and its strings. */
static int ref_from_resp(struct gd_chunk_ref *r, const Godfs__ChunkResp *cr)
{
	memset(r, 0, sizeof(*r));
	r->chunk_id = cr->has_chunk_id ? cr->chunk_id : 0;
	r->version = cr->has_version ? cr->version : 0;
	r->prev_version = cr->has_prev_version ? cr->prev_version : 0;
	r->trunc_seq = cr->has_trunc_seq ? cr->trunc_seq : 0;
	if (r->chunk_id == 0)
		return 0;
	if (cr->has_cap) {
		/* Its expiry is the meta's wall clock: cap_ms says how long it
		 * lasts, and this client asks again a quarter of that (at most
		 * 10 s) before, on its own monotonic clock. */
		int64_t ms = cr->has_cap_ms ? cr->cap_ms : GD_CAP_DEFAULT_MS;
		int64_t margin = ms / 4 < GD_CAP_REFRESH_MAX_MS ? ms / 4 : GD_CAP_REFRESH_MAX_MS;
		if (cr->cap.len != GD_CAP_LEN) {
			gd_warn("meta sent a capability of %zu bytes for chunk %llu",
				cr->cap.len, (unsigned long long)r->chunk_id);
			return GD_EPROTO;
		}
		memcpy(r->cap, cr->cap.data, GD_CAP_LEN);
		r->cap_len = GD_CAP_LEN;
		r->cap_until_ms = gd_now_ms() + ms - margin;
		if (r->cap_until_ms == 0)
			r->cap_until_ms = 1;
	}
	if (cr->n_chain == 0 || cr->n_chain > GD_MAX_CHAIN) {
		gd_warn("meta sent a chain of %zu members for chunk %llu",
			cr->n_chain, (unsigned long long)r->chunk_id);
		return cr->n_chain == 0 ? GD_ENOSERVERS : GD_EPROTO;
	}
	for (size_t i = 0; i < cr->n_chain; i++) {
		const char *a = cr->chain[i];
		size_t len = a ? strnlen(a, GD_MAX_ADDR + 1) : 0;
		if (len == 0 || len > GD_MAX_ADDR || !strchr(a, ':')) {
			ref_clear(r);
			return GD_EPROTO;
		}
		r->chain[i] = gd_strndup(a, len);
		if (!r->chain[i]) {
			ref_clear(r);
			return GD_ENOMEM;
		}
		r->n_chain = i + 1;
	}
	return 0;
}

/* Puts ref's capability into a request's `cap` field (nothing without one). */
static void ref_cap_out(const struct gd_chunk_ref *r, protobuf_c_boolean *has,
			ProtobufCBinaryData *cap)
{
	*has = r->cap_len > 0;
	cap->data = (uint8_t *)r->cap;
	cap->len = r->cap_len;
}

/* Whether ref's capability is about to end (ask the meta for a new one). */
static bool ref_cap_ending(const struct gd_chunk_ref *r, int64_t now)
{
	return r->cap_len && r->cap_until_ms && r->cap_until_ms <= now;
}

/* ---- the (ino, index) caches ---- */

static size_t cache_bucket(uint64_t ino, uint64_t index)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ (index + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
	return (size_t)((h ^ (h >> 29)) % GD_CACHE_BUCKETS);
}

static void cache_init(struct gd_cache *ca)
{
	pthread_mutex_init(&ca->mu, NULL);
	memset(ca->b, 0, sizeof(ca->b));
	ca->count = 0;
}

static void centry_free(struct gd_centry *e)
{
	ref_clear(&e->ref);
	gd_free(e);
}

static void cache_release(struct gd_cache *ca)
{
	for (size_t i = 0; i < GD_CACHE_BUCKETS; i++) {
		struct gd_centry *e = ca->b[i];
		while (e) {
			struct gd_centry *n = e->next;
			centry_free(e);
			e = n;
		}
		ca->b[i] = NULL;
	}
	pthread_mutex_destroy(&ca->mu);
}

/* Caller holds ca->mu. */
static struct gd_centry **cache_slot(struct gd_cache *ca, uint64_t ino, uint64_t index)
{
	struct gd_centry **p = &ca->b[cache_bucket(ino, index)];
	while (*p && !((*p)->ino == ino && (*p)->index == index))
		p = &(*p)->next;
	return p;
}

/* Copies a usable (unexpired) entry into *out; GD_ENOENT when there is none. */
static int cache_get(struct gd_cache *ca, uint64_t ino, uint64_t index,
		     int64_t margin_ms, struct gd_chunk_ref *out)
{
	int rc = GD_ENOENT;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	if (e && e->expires_ms > gd_now_ms() + margin_ms)
		rc = ref_copy(out, &e->ref);
	pthread_mutex_unlock(&ca->mu);
	return rc;
}

/* Whether the entry may go when the table is full. A record that still
 * needs an fsync is the only note that its chunk holds unsynced data of this
 * client (dropping it would let fsync return 0 without syncing), unless its
 * file is closed here, its writes are committed, and it was last written
 * longer ago than the chunkds take to settle an idle copy (they fdatasync a
 * copy 5 s after its last write): then the data is on disk anyway. Without
 * that, a mount writing many files it never fsyncs would keep a record of
 * each forever. */
static bool trimmable(const struct gd_centry *e, int64_t now)
{
	return !e->unsynced ||
	       (e->expires_ms == 0 && !e->written && now - e->written_ms > GD_SETTLED_MS);
}

/* Drops arbitrary trimmable entries when the table is full. Caller holds mu. */
static void cache_trim(struct gd_cache *ca)
{
	const int64_t now = gd_now_ms();
	for (size_t i = 0; i < GD_CACHE_BUCKETS && ca->count >= GD_CACHE_MAX / 2; i++) {
		struct gd_centry **p = &ca->b[i];
		while (*p && ca->count >= GD_CACHE_MAX / 2) {
			struct gd_centry *e = *p;
			if (!trimmable(e, now)) {
				p = &e->next;
				continue;
			}
			*p = e->next;
			centry_free(e);
			ca->count--;
		}
	}
}

/* Inserts or replaces the entry; keeps its unsynced flag, ORs in `unsynced`. */
static int cache_put(struct gd_cache *ca, uint64_t ino, uint64_t index,
		     const struct gd_chunk_ref *ref, int64_t ttl_ms, bool unsynced)
{
	struct gd_chunk_ref copy;
	int rc = ref_copy(&copy, ref);
	if (rc)
		return rc;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry **p = cache_slot(ca, ino, index);
	struct gd_centry *e = *p;
	if (!e) {
		if (ca->count >= GD_CACHE_MAX)
			cache_trim(ca);
		e = gd_calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&ca->mu);
			ref_clear(&copy);
			return GD_ENOMEM;
		}
		e->ino = ino;
		e->index = index;
		p = &ca->b[cache_bucket(ino, index)];
		e->next = *p;
		*p = e;
		ca->count++;
	} else {
		/* a lease on another chunk at this index: the old one was freed
		 * (a truncate), with whatever was written to it */
		if (e->written && e->ref.chunk_id != copy.chunk_id)
			written_fold(e, e->written_seq, GD_WRITTEN_FREED);
		/* "may create" only ever ends for a chunk (a write acknowledged
		 * since): a caller that read it before that must not bring it
		 * back, or a member that lost its copy would make an empty one. */
		if (copy.create && copy.prev_version != 0 && e->ref.chunk_id == copy.chunk_id &&
		    !e->ref.create)
			copy.create = false;
		if (e->ref.chunk_id != copy.chunk_id)
			e->acked_version = e->unacked_version = 0;
		ref_clear(&e->ref);
	}
	e->ref = copy;
	e->expires_ms = gd_now_ms() + ttl_ms;
	/* not usable past its capability */
	if (copy.cap_len && copy.cap_until_ms && copy.cap_until_ms < e->expires_ms)
		e->expires_ms = copy.cap_until_ms;
	e->unsynced = e->unsynced || unsynced;
	pthread_mutex_unlock(&ca->mu);
	return 0;
}

static void cache_drop(struct gd_cache *ca, uint64_t ino, uint64_t index)
{
	pthread_mutex_lock(&ca->mu);
	struct gd_centry **p = cache_slot(ca, ino, index);
	struct gd_centry *e = *p;
	if (e) {
		*p = e->next;
		centry_free(e);
		ca->count--;
	}
	pthread_mutex_unlock(&ca->mu);
}

/* Marks the lease at (ino, index) unusable, keeping it if unsynced. */
static void cache_expire(struct gd_cache *ca, uint64_t ino, uint64_t index)
{
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	if (e)
		e->expires_ms = 0;
	pthread_mutex_unlock(&ca->mu);
}

/* Drops every entry of ino with index >= from; with keep_unsynced, entries
 * that still need an fsync stay, marked unusable. */
static void cache_drop_ino(struct gd_cache *ca, uint64_t ino, uint64_t from,
			   bool keep_unsynced)
{
	pthread_mutex_lock(&ca->mu);
	for (size_t i = 0; i < GD_CACHE_BUCKETS; i++) {
		struct gd_centry **p = &ca->b[i];
		while (*p) {
			struct gd_centry *e = *p;
			if (e->ino != ino || e->index < from) {
				p = &e->next;
			} else if (keep_unsynced && e->unsynced) {
				e->expires_ms = 0;
				p = &e->next;
			} else {
				*p = e->next;
				centry_free(e);
				ca->count--;
			}
		}
	}
	pthread_mutex_unlock(&ca->mu);
}

/* ---- the chunkd connection pool ---- */

static int chunkd_hello(struct gd_client *c, struct gd_conn *conn)
{
	Godfs__Hello h = GODFS__HELLO__INIT;
	h.has_protocol = 1;
	h.protocol = GD_PROTOCOL_VERSION;
	h.has_role = 1;
	h.role = GODFS__ROLE__ROLE_CLIENT;
	h.host = c->host;
	h.has_session_id = 1;
	h.session_id = gd_meta_client_session(c->meta);
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_HELLO,
		.req = &h.base,
		.resp_desc = &godfs__hello_resp__descriptor,
		.timeout_ms = GD_CONNECT_MS,
	};
	struct gd_call_result res = { 0 };
	int rc = gd_call(conn, &a, &res);
	gd_call_result_release(&res);
	return rc;
}

static void pool_put(struct gd_client *c, struct gd_cconn *cc)
{
	bool close_it;
	pthread_mutex_lock(&c->pool_mu);
	close_it = --cc->refs == 0 && cc->retired;
	pthread_mutex_unlock(&c->pool_mu);
	if (close_it) {
		gd_conn_close(cc->conn);
		gd_free(cc);
	}
}

/* Takes the live connection to addr (no lock held); GD_EAGAIN if none. */
static int pool_take_live(struct gd_client *c, struct gd_pool_ent *e, struct gd_cconn **out)
{
	struct gd_cconn *old = NULL;
	int rc = GD_EAGAIN;
	pthread_mutex_lock(&c->pool_mu);
	if (e->cur && !gd_conn_failed(e->cur->conn)) {
		e->cur->refs++;
		*out = e->cur;
		rc = 0;
	} else if (e->cur) {
		e->cur->retired = true;
		if (e->cur->refs == 0)
			old = e->cur;
		e->cur = NULL;
	}
	pthread_mutex_unlock(&c->pool_mu);
	if (old) {
		gd_conn_close(old->conn);
		gd_free(old);
	}
	return rc;
}

/* A connection to the chunkd at addr, opened (with HELLO) when there is none
 * or the last one failed. Release it with pool_put. */
static int pool_get(struct gd_client *c, const char *addr, struct gd_cconn **out)
{
	struct gd_pool_ent *e;
	int rc;

	pthread_mutex_lock(&c->pool_mu);
	for (e = c->pool; e && strcmp(e->addr, addr) != 0; e = e->next)
		;
	if (!e) {
		e = gd_calloc(1, sizeof(*e));
		if (e)
			e->addr = gd_strdup(addr);
		if (!e || !e->addr) {
			gd_free(e);
			pthread_mutex_unlock(&c->pool_mu);
			return GD_ENOMEM;
		}
		pthread_mutex_init(&e->open_mu, NULL);
		e->next = c->pool;
		c->pool = e;
	}
	pthread_mutex_unlock(&c->pool_mu);

	if (pool_take_live(c, e, out) == 0)
		return 0;

	pthread_mutex_lock(&e->open_mu);
	if (pool_take_live(c, e, out) == 0) {
		rc = 0;
		goto out_unlock;
	}
	pthread_mutex_lock(&c->pool_mu);
	bool backoff = e->failed_ms && gd_now_ms() - e->failed_ms < GD_RECONNECT_BACKOFF_MS;
	pthread_mutex_unlock(&c->pool_mu);
	if (backoff) {
		rc = GD_ECONN;
		goto out_unlock;
	}

	struct gd_conn *conn = NULL;
	rc = gd_conn_open_cred(addr, GD_CONNECT_MS, c->own_cred ? &c->cred : NULL, GD_ROLE_CLIENT,
			       &conn);
	if (rc == 0) {
		rc = chunkd_hello(c, conn);
		if (rc == GD_ENOTSUP)
			rc = 0;
		if (rc) {
			gd_conn_close(conn);
			conn = NULL;
		}
	}
	struct gd_cconn *cc = NULL;
	if (rc == 0) {
		cc = gd_calloc(1, sizeof(*cc));
		if (!cc) {
			gd_conn_close(conn);
			rc = GD_ENOMEM;
		}
	}
	pthread_mutex_lock(&c->pool_mu);
	if (rc == 0) {
		gd_conn_set_default_timeout(conn, c->chunk_timeout_ms);
		cc->conn = conn;
		cc->refs = 1; /* the caller; the pool's slot holds none */
		e->cur = cc;
		e->failed_ms = 0;
		*out = cc;
	} else {
		e->failed_ms = gd_now_ms();
	}
	pthread_mutex_unlock(&c->pool_mu);
	if (rc == GD_EAUTH)
		gd_cred_log_refused("chunkd", addr);   /* not at every retry: rate-limited there */
	else if (rc)
		gd_warn("chunkd %s: cannot connect: %s", addr, gd_strerror(rc));
out_unlock:
	pthread_mutex_unlock(&e->open_mu);
	return rc;
}

static void pool_release(struct gd_client *c)
{
	struct gd_pool_ent *e = c->pool;
	while (e) {
		struct gd_pool_ent *n = e->next;
		if (e->cur) {
			gd_conn_close(e->cur->conn);
			gd_free(e->cur);
		}
		pthread_mutex_destroy(&e->open_mu);
		gd_free(e->addr);
		gd_free(e);
		e = n;
	}
	c->pool = NULL;
}

/* A started chunkd call and the connection it holds. */
struct gd_flight {
	struct gd_call *call;
	struct gd_cconn *cc;
	size_t piece;
	size_t copy;
};

static int chunk_start(struct gd_client *c, const char *addr,
		       const struct gd_call_args *a, struct gd_flight *f)
{
	int rc = pool_get(c, addr, &f->cc);
	if (rc)
		return rc;
	rc = gd_call_start(f->cc->conn, a, &f->call);
	if (rc) {
		pool_put(c, f->cc);
		f->cc = NULL;
	}
	return rc;
}

/* Takes cc out of the pool after a call on it timed out: the chunkd was cut
 * off or hung, and once it is back, TCP may sit on this connection's
 * retransmission backoff for many seconds (a 30 s partition: about 15 s more),
 * so that the next call on it would time out too and drop a healthy chunkd
 * from a chain. The next call opens a new connection; calls still on this one
 * finish as they will, and the last pool_put closes it. */
static void pool_retire(struct gd_client *c, struct gd_cconn *cc)
{
	struct gd_pool_ent *e;

	pthread_mutex_lock(&c->pool_mu);
	for (e = c->pool; e; e = e->next) {
		if (e->cur == cc) {
			e->cur = NULL;
			cc->retired = true;
			break;
		}
	}
	pthread_mutex_unlock(&c->pool_mu);
	/* what is still queued on it is never delivered (a write sent again
	 * elsewhere must not land late) */
	gd_conn_abort(cc->conn);
}

static int chunk_wait(struct gd_client *c, struct gd_flight *f, struct gd_call_result *res)
{
	int rc = gd_call_wait(f->call, res);
	if (rc == GD_ETIMEDOUT && !(res && res->resp))    /* no answer, not a chain's */
		pool_retire(c, f->cc);
	pool_put(c, f->cc);
	f->call = NULL;
	f->cc = NULL;
	return rc;
}

/* ---- open / close ---- */

int gd_client_open(const struct gd_client_config *cfg, struct gd_client **out)
{
	struct gd_client *c = gd_calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return GD_ENOMEM;
	c->chunk_timeout_ms = cfg->chunk_timeout_ms > 0 ? cfg->chunk_timeout_ms : 10000;
	if (cfg->cred) {
		c->cred = *cfg->cred;
		c->own_cred = true;
	}
	c->host = gd_strdup(cfg->host ? cfg->host : "localhost");
	if (!c->host) {
		rc = GD_ENOMEM;
		goto err_after_alloc;
	}
	struct gd_meta_client_config mc = {
		.addrs = cfg->meta_addrs,
		.role = cfg->role ? cfg->role : GODFS__ROLE__ROLE_CLIENT,
		.host = c->host,
		.mountpoint = cfg->mountpoint,
		.timeout_ms = cfg->meta_timeout_ms,
		.open_inodes = cfg->open_inodes,
		.open_inodes_ctx = cfg->open_inodes_ctx,
		.cred = cfg->cred,
		.push = cfg->meta_push,
		.push_ctx = cfg->meta_push_ctx,
		.connected = cfg->meta_connected,
	};
	rc = gd_meta_client_open(&mc, &c->meta);
	if (rc)
		goto err_after_host;
	c->chunk_size = gd_meta_client_chunk_size(c->meta);
	if (c->chunk_size == 0 || c->chunk_size > (1ull << 40) || c->chunk_size % 4096) {
		gd_error("meta announced a chunk size of %llu bytes",
			 (unsigned long long)c->chunk_size);
		rc = GD_EPROTO;
		goto err_after_meta;
	}
	cache_init(&c->locs);
	cache_init(&c->leases);
	pthread_mutex_init(&c->lease_mu, NULL);
	pthread_mutex_init(&c->pool_mu, NULL);
	*out = c;
	return 0;

err_after_meta:
	gd_meta_client_close(c->meta);
err_after_host:
	gd_free(c->host);
err_after_alloc:
	gd_free(c);
	return rc;
}

void gd_client_close(struct gd_client *c)
{
	if (!c)
		return;
	pool_release(c);
	gd_meta_client_close(c->meta);
	cache_release(&c->locs);
	cache_release(&c->leases);
	pthread_mutex_destroy(&c->lease_mu);
	pthread_mutex_destroy(&c->pool_mu);
	gd_free(c->host);
	gd_free(c);
}

struct gd_meta_client *gd_client_meta(struct gd_client *c)
{
	return c->meta;
}

uint64_t gd_client_chunk_size(const struct gd_client *c)
{
	return c->chunk_size;
}

uint64_t gd_client_session(const struct gd_client *c)
{
	return gd_meta_client_session(c->meta);
}

void gd_attr_from_pb(struct gd_attr *a, const struct Godfs__Attr *pb)
{
	memset(a, 0, sizeof(*a));
	if (!pb)
		return;
	a->ino = pb->ino;
	a->generation = pb->generation;
	a->mode = pb->mode;
	a->uid = pb->uid;
	a->gid = pb->gid;
	a->nlink = pb->nlink;
	a->size = pb->size;
	a->atime.tv_sec = pb->atime_sec;
	a->atime.tv_nsec = pb->atime_nsec < 1000000000u ? pb->atime_nsec : 0;
	a->mtime.tv_sec = pb->mtime_sec;
	a->mtime.tv_nsec = pb->mtime_nsec < 1000000000u ? pb->mtime_nsec : 0;
	a->ctime.tv_sec = pb->ctime_sec;
	a->ctime.tv_nsec = pb->ctime_nsec < 1000000000u ? pb->ctime_nsec : 0;
	a->rdev = pb->rdev;
	a->goal = pb->goal;
}

/* Copies the attributes out of an AttrResp (if the caller wants them). */
static void attr_out(struct gd_attr *attr, ProtobufCMessage *resp)
{
	if (attr && resp)
		gd_attr_from_pb(attr, ((Godfs__AttrResp *)resp)->attr);
}

/* ---- meta calls about chunks ---- */

/* Where chunk (ino, index) is, for reading: from the cache unless refresh. */
static int chunk_locate(struct gd_client *c, uint64_t ino, uint64_t index,
			bool refresh, struct gd_chunk_ref *out)
{
	if (!refresh && cache_get(&c->locs, ino, index, 0, out) == 0)
		return 0;
	Godfs__ChunkReq req = GODFS__CHUNK_REQ__INIT;
	req.has_ino = req.has_index = req.has_session_id = 1;
	req.ino = ino;
	req.index = index;
	req.session_id = gd_client_session(c);
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(c->meta, GODFS__METHOD__M_CHUNK_LOCATE, &req.base,
			      &godfs__chunk_resp__descriptor, &resp);
	if (rc == 0)
		rc = ref_from_resp(out, (Godfs__ChunkResp *)resp);
	if (rc == GD_ENOSERVERS) {
		/* No server holding the chunk is up: the data exists but cannot
		 * be reached now (ENOSPC would say the opposite). */
		gd_error("inode %llu index %llu: no chunk server with a copy is up",
			 (unsigned long long)ino, (unsigned long long)index);
		rc = GD_EIO;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc == 0)
		cache_put(&c->locs, ino, index, out,
			  out->chunk_id ? GD_LOC_TTL_MS : GD_HOLE_TTL_MS, false);
	return rc;
}

/* Whether the cached lease of (ino, index), usable or not, is of chunk_id
 * and still allows members without a copy to create one. */
static bool lease_may_create(struct gd_client *c, uint64_t ino, uint64_t index,
			     uint64_t chunk_id)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	bool create = e && e->ref.chunk_id == chunk_id && e->ref.create;
	pthread_mutex_unlock(&ca->mu);
	return create;
}

/* Stores a lease answer (M_WRITE_LEASE or M_CHUNK_FAILED) in the lease cache. */
static int lease_store(struct gd_client *c, uint64_t ino, uint64_t index,
		       ProtobufCMessage *resp, struct gd_chunk_ref *out)
{
	Godfs__ChunkResp *cr = (Godfs__ChunkResp *)resp;
	int rc = ref_from_resp(out, cr);
	if (rc)
		return rc;
	if (out->chunk_id == 0) {
		gd_warn("meta granted a lease without a chunk for inode %llu index %llu",
			(unsigned long long)ino, (unsigned long long)index);
		return GD_EPROTO;
	}
	int64_t ttl = cr->has_lease_ms && cr->lease_ms ? cr->lease_ms : GD_LEASE_DEFAULT_MS;
	/* A new chunk, or a new chain of one this client created and never got
	 * a write acknowledged on: its members may lack a copy. */
	out->create = out->prev_version == 0 || lease_may_create(c, ino, index, out->chunk_id);
	rc = cache_put(&c->leases, ino, index, out, ttl, false);
	if (rc)
		ref_clear(out);
	else if (out->create && out->prev_version != 0)
		out->create = lease_may_create(c, ino, index, out->chunk_id); /* as stored */
	return rc;
}

/* A write lease on (ino, index): the cached one while it lasts, else a new one. */
static int lease_get(struct gd_client *c, uint64_t ino, uint64_t index,
		     struct gd_chunk_ref *out)
{
	if (cache_get(&c->leases, ino, index, GD_LEASE_MARGIN_MS, out) == 0)
		return 0;
	pthread_mutex_lock(&c->lease_mu);
	int rc = cache_get(&c->leases, ino, index, GD_LEASE_MARGIN_MS, out);
	if (rc == 0)
		goto out_unlock;
	Godfs__ChunkReq req = GODFS__CHUNK_REQ__INIT;
	req.has_ino = req.has_index = req.has_session_id = 1;
	req.ino = ino;
	req.index = index;
	req.session_id = gd_client_session(c);
	ProtobufCMessage *resp = NULL;
	rc = gd_meta_call(c->meta, GODFS__METHOD__M_WRITE_LEASE, &req.base,
			  &godfs__chunk_resp__descriptor, &resp);
	if (rc == 0)
		rc = lease_store(c, ino, index, resp, out);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		gd_debug("write lease on inode %llu index %llu: %s",
			 (unsigned long long)ino, (unsigned long long)index, gd_strerror(rc));
out_unlock:
	pthread_mutex_unlock(&c->lease_mu);
	return rc;
}

/* A write of the leased chunk was acknowledged by its whole chain: from now
 * on every member has a copy, and a member without one lost it. False when
 * the acknowledgement does not count: this client already told the meta
 * that nothing was acknowledged at ref's version (lease_claim_unacked), and
 * the new chain may have been placed afresh without it; the caller writes
 * the piece again. */
static bool lease_acked(struct gd_client *c, uint64_t ino, uint64_t index,
			const struct gd_chunk_ref *ref)
{
	struct gd_cache *ca = &c->leases;
	bool counts = true;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	if (e && e->ref.chunk_id == ref->chunk_id) {
		if (e->unacked_version == ref->version) {
			counts = false;
		} else {
			e->ref.create = false;
			if (ref->version > e->acked_version)
				e->acked_version = ref->version;
		}
	}
	pthread_mutex_unlock(&ca->mu);
	return counts;
}

/* A change that is not a write (a truncate of the copies) goes to the chain
 * at ref's version: it may be acknowledged from now on, so this client can
 * no longer say that nothing was (lease_claim_unacked). */
static void lease_changing(struct gd_client *c, uint64_t ino, uint64_t index,
			   const struct gd_chunk_ref *ref)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	if (e && e->ref.chunk_id == ref->chunk_id && ref->version > e->acked_version)
		e->acked_version = ref->version;
	pthread_mutex_unlock(&ca->mu);
}

/* Whether this client can tell the meta that no change of it at ref's
 * version was acknowledged (ChunkFailed.unacked); when it can, from now on
 * no acknowledgement at that version counts (lease_acked), so the claim
 * stays true whatever comes late. The version is exclusive: the meta grants
 * it to one session, and gives no other a write capability at it, so this
 * client is its only writer (the meta checks that the claim comes from the
 * session it granted the version to). Caller holds lease_mu. */
static bool lease_claim_unacked(struct gd_client *c, uint64_t ino, uint64_t index,
				const struct gd_chunk_ref *ref)
{
	struct gd_cache *ca = &c->leases;
	bool claim = false;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	if (e && e->ref.chunk_id == ref->chunk_id && e->acked_version < ref->version) {
		e->unacked_version = ref->version;
		claim = true;
	}
	pthread_mutex_unlock(&ca->mu);
	return claim;
}

/* Records that the leased chunk was written up to end (bytes within the
 * chunk): it needs an fsync, and the next commit names the writes with the
 * trunc_seq of their lease, so that the meta can tell whether a truncate of
 * another client destroyed them (WriteCommit.written_*). end 0: the copies
 * changed but nothing is to be committed (this client truncated them). */
static void lease_mark_unsynced(struct gd_client *c, uint64_t ino, uint64_t index,
				const struct gd_chunk_ref *ref, uint64_t end)
{
	struct gd_cache *ca = &c->leases;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&ca->mu);
		struct gd_centry *e = *cache_slot(ca, ino, index);
		bool found = e && e->ref.chunk_id == ref->chunk_id;
		if (found) {
			uint64_t seq = ref->trunc_seq;
			if (end == 0) {
				/* nothing written (a truncate of the copies): only the sync */
			} else if (!e->written) {
				e->written = true;
				e->written_seq = seq;
				e->written_end = end;
				e->older = false;
			} else if (seq == e->written_seq) {
				if (end > e->written_end)
					e->written_end = end;
			} else if (seq > e->written_seq) {
				written_fold(e, e->written_seq, e->written_end);
				e->written_seq = seq;
				e->written_end = end;
			} else {
				written_fold(e, seq, end);
			}
			e->unsynced = true;
			e->dirty_seq++;
			e->written_ms = gd_now_ms();
			e->ref.create = false;
			if (ref->version > e->acked_version)
				e->acked_version = ref->version;
		}
		pthread_mutex_unlock(&ca->mu);
		/* released meanwhile: keep an unusable record for fsync */
		if (found || cache_put(ca, ino, index, ref, 0, true) != 0)
			return;
	}
}

/* Whether the lease cache holds the chunk of ref at a newer version: another
 * write of this client already moved the chain on (a failure it saw too, or
 * a new lease), so ref's failures say nothing about the members of the new
 * chain. Caller may hold lease_mu. */
static bool lease_newer(struct gd_client *c, uint64_t ino, uint64_t index,
			const struct gd_chunk_ref *ref)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, index);
	bool newer = e && e->ref.chunk_id == ref->chunk_id && e->ref.version > ref->version;
	pthread_mutex_unlock(&ca->mu);
	return newer;
}

/* Tells the meta that `failed` left the chain of the leased chunk; the lease
 * cache gets the new chain and version. GD_ESTALE: the meta's record left
 * ref's version (another lease): the caller takes a new lease. Nothing is
 * sent when the cache
 * already holds a newer version than ref (the failure was reported by
 * another write, or ref was stale): a member named from an old version is
 * not blamed at the new one. */
static int lease_member_failed(struct gd_client *c, uint64_t ino, uint64_t index,
			       const struct gd_chunk_ref *ref, const char *failed)
{
	pthread_mutex_lock(&c->lease_mu);
	if (lease_newer(c, ino, index, ref)) {
		pthread_mutex_unlock(&c->lease_mu);
		gd_debug("inode %llu chunk %llu v%llu: %s failed, the chain moved on already",
			 (unsigned long long)ino, (unsigned long long)ref->chunk_id,
			 (unsigned long long)ref->version, failed);
		return 0;
	}
	Godfs__ChunkFailed req = GODFS__CHUNK_FAILED__INIT;
	req.has_ino = req.has_index = req.has_chunk_id = req.has_version = 1;
	req.has_session_id = 1;
	req.ino = ino;
	req.index = index;
	req.chunk_id = ref->chunk_id;
	req.version = ref->version;
	req.failed = (char *)failed;
	req.session_id = gd_client_session(c);
	req.has_unacked = 1;
	req.unacked = lease_claim_unacked(c, ino, index, ref);
	ProtobufCMessage *resp = NULL;
	struct gd_chunk_ref fresh;
	int rc = gd_meta_call(c->meta, GODFS__METHOD__M_CHUNK_FAILED, &req.base,
			      &godfs__chunk_resp__descriptor, &resp);
	if (rc == 0)
		rc = lease_store(c, ino, index, resp, &fresh);
	if (rc == 0)
		ref_clear(&fresh);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	cache_drop(&c->locs, ino, index);
	pthread_mutex_unlock(&c->lease_mu);
	gd_warn("inode %llu chunk %llu: chain member %s failed; new chain: %s",
		(unsigned long long)ino, (unsigned long long)ref->chunk_id, failed,
		rc ? gd_strerror(rc) : "ok");
	return rc;
}

/* A lease on (ino, index) of chunk_id at min_version or newer: the cached
 * one when it is, else a new one (a new capability: the version moves on, as
 * with any new lease). GD_ENOCHUNK when the index holds another chunk now
 * (the chunk was truncated away). */
static int lease_at_least(struct gd_client *c, uint64_t ino, uint64_t index,
			  uint64_t chunk_id, uint64_t min_version, struct gd_chunk_ref *out)
{
	int rc = lease_get(c, ino, index, out);
	if (rc)
		return rc;
	if (out->chunk_id == chunk_id && out->version >= min_version)
		return 0;
	ref_clear(out);
	cache_expire(&c->leases, ino, index);
	rc = lease_get(c, ino, index, out);
	if (rc == 0 && out->chunk_id != chunk_id) {
		ref_clear(out);
		rc = GD_ENOCHUNK;
	}
	return rc;
}

/* ---- reads ---- */

struct gd_rpiece {
	size_t chunk;          /* index into the refs array */
	uint32_t coff;         /* offset inside the chunk */
	char *dst;
	size_t len;
	int status;
	size_t copy;           /* the copy it was read from */
};

/* Reads one piece from copy `copy` of ref, synchronously. */
static int read_piece_sync(struct gd_client *c, const struct gd_chunk_ref *ref,
			   size_t copy, struct gd_rpiece *p)
{
	Godfs__CsRead req = GODFS__CS_READ__INIT;
	req.has_chunk_id = req.has_version = req.has_offset = req.has_length = 1;
	req.chunk_id = ref->chunk_id;
	req.version = ref->version;
	req.offset = p->coff;
	req.length = (uint32_t)p->len;
	ref_cap_out(ref, &req.has_cap, &req.cap);
	struct gd_call_args a = {
		.method = GODFS__METHOD__M_CS_READ,
		.req = &req.base,
		.resp_desc = &godfs__cs_read_resp__descriptor,
		.rbuf = p->dst,
		.rbuf_len = p->len,
	};
	struct gd_flight f = { 0 };
	struct gd_call_result res = { 0 };
	int rc = chunk_start(c, ref->chain[copy], &a, &f);
	if (rc == 0) {
		rc = chunk_wait(c, &f, &res);
		if (rc == 0 && res.data_len < p->len)
			memset(p->dst + res.data_len, 0, p->len - res.data_len);
		gd_call_result_release(&res);
	}
	return rc;
}

/* A piece that failed on its first copy: the other copies, then a fresh
 * location from the meta and all its copies. A stale version skips the
 * other copies of ref: the chain moved on, and a copy that left it at a
 * failure still serves the old version (without the writes since). So does
 * a refused capability (expired, or signed by a key the chunkd no longer
 * has): every copy checks the same one, the fresh location brings another. */
static int read_piece_retry(struct gd_client *c, uint64_t ino, uint64_t index,
			    struct gd_chunk_ref *ref, struct gd_rpiece *p)
{
	int rc = p->status;
	for (size_t k = 1; k < ref->n_chain && rc != GD_ESTALE && rc != GD_ECAP; k++) {
		size_t copy = (p->copy + k) % ref->n_chain;
		rc = read_piece_sync(c, ref, copy, p);
		gd_debug("inode %llu chunk %llu: copy %s: %s", (unsigned long long)ino,
			 (unsigned long long)ref->chunk_id, ref->chain[copy], gd_strerror(rc));
		if (rc == 0)
			return 0;
	}
	cache_drop(&c->locs, ino, index);
	struct gd_chunk_ref fresh;
	int lrc = chunk_locate(c, ino, index, true, &fresh);
	if (lrc)
		return rc;
	if (fresh.chunk_id == 0) {
		memset(p->dst, 0, p->len);
		rc = 0;
	} else {
		for (size_t k = 0; k < fresh.n_chain; k++) {
			rc = read_piece_sync(c, &fresh, k, p);
			if (rc == 0)
				break;
		}
	}
	if (rc) {
		cache_drop(&c->locs, ino, index);
		gd_error("inode %llu index %llu: no copy of chunk %llu could be read: %s",
			 (unsigned long long)ino, (unsigned long long)index,
			 (unsigned long long)fresh.chunk_id, gd_strerror(rc));
	}
	ref_clear(ref);
	*ref = fresh;
	return rc;
}

ssize_t gd_client_read(struct gd_client *c, uint64_t ino, uint64_t off,
		       void *buf, size_t len, uint64_t file_size)
{
	const uint64_t cs = c->chunk_size;
	struct gd_chunk_ref *refs = NULL;
	struct gd_rpiece *pieces = NULL;
	struct gd_flight fl[GD_INFLIGHT];
	size_t n_fl = 0, head = 0;
	ssize_t ret;

	if (off >= file_size || len == 0)
		return 0;
	if (len > file_size - off)
		len = (size_t)(file_size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;

	const uint64_t first = off / cs, last = (off + len - 1) / cs;
	const size_t n_chunks = (size_t)(last - first + 1);
	const size_t max_pieces = len / GD_PIECE + 2 * n_chunks + 1;
	refs = gd_calloc(n_chunks, sizeof(*refs));
	pieces = gd_calloc(max_pieces, sizeof(*pieces));
	if (!refs || !pieces) {
		ret = GD_ENOMEM;
		goto out;
	}

	/* Locate every chunk; holes become zeros now, the rest pieces. */
	size_t n_pieces = 0;
	for (size_t i = 0; i < n_chunks; i++) {
		uint64_t index = first + i;
		uint64_t cstart = index * cs;
		uint64_t a = off > cstart ? off : cstart;
		uint64_t b = off + len < cstart + cs ? off + len : cstart + cs;
		int rc = chunk_locate(c, ino, index, false, &refs[i]);
		if (rc) {
			ret = rc;
			goto out;
		}
		if (refs[i].chunk_id == 0) {
			memset((char *)buf + (a - off), 0, (size_t)(b - a));
			continue;
		}
		for (uint64_t p = a; p < b;) {
			uint64_t pend = (p / GD_PIECE + 1) * GD_PIECE;
			if (pend > b)
				pend = b;
			struct gd_rpiece *pc = &pieces[n_pieces++];
			pc->chunk = i;
			pc->coff = (uint32_t)(p - cstart);
			pc->dst = (char *)buf + (p - off);
			pc->len = (size_t)(pend - p);
			pc->copy = (size_t)((p - cstart) / GD_PIECE + index) % refs[i].n_chain;
			p = pend;
		}
	}

	/* Several pieces in flight; each from its first copy. */
	for (size_t i = 0; i < n_pieces || n_fl > 0;) {
		if (i < n_pieces && n_fl < GD_INFLIGHT) {
			struct gd_rpiece *p = &pieces[i];
			const struct gd_chunk_ref *ref = &refs[p->chunk];
			Godfs__CsRead req = GODFS__CS_READ__INIT;
			req.has_chunk_id = req.has_version = req.has_offset = req.has_length = 1;
			req.chunk_id = ref->chunk_id;
			req.version = ref->version;
			req.offset = p->coff;
			req.length = (uint32_t)p->len;
			ref_cap_out(ref, &req.has_cap, &req.cap);
			struct gd_call_args a = {
				.method = GODFS__METHOD__M_CS_READ,
				.req = &req.base,
				.resp_desc = &godfs__cs_read_resp__descriptor,
				.rbuf = p->dst,
				.rbuf_len = p->len,
			};
			struct gd_flight *f = &fl[(head + n_fl) % GD_INFLIGHT];
			f->piece = i;
			p->status = chunk_start(c, ref->chain[p->copy], &a, f);
			if (p->status == 0)
				n_fl++;
			i++;
			continue;
		}
		struct gd_flight *f = &fl[head];
		struct gd_rpiece *p = &pieces[f->piece];
		struct gd_call_result res = { 0 };
		p->status = chunk_wait(c, f, &res);
		if (p->status == 0 && res.data_len < p->len)
			memset(p->dst + res.data_len, 0, p->len - res.data_len);
		gd_call_result_release(&res);
		head = (head + 1) % GD_INFLIGHT;
		n_fl--;
	}

	/* Failed pieces: other copies, then a fresh location. */
	for (size_t i = 0; i < n_pieces; i++) {
		struct gd_rpiece *p = &pieces[i];
		if (p->status == 0)
			continue;
		gd_debug("inode %llu read at chunk offset %u from %s: %s",
			 (unsigned long long)ino, p->coff,
			 refs[p->chunk].chain[p->copy], gd_strerror(p->status));
		int rc = read_piece_retry(c, ino, first + p->chunk, &refs[p->chunk], p);
		if (rc) {
			ret = rc;
			goto out;
		}
		/* The retry may have replaced the chain: later pieces pick copy 0. */
		for (size_t j = i + 1; j < n_pieces; j++)
			if (pieces[j].chunk == p->chunk && pieces[j].copy >= refs[p->chunk].n_chain)
				pieces[j].copy = 0;
	}
	ret = (ssize_t)len;
out:
	while (n_fl > 0) {
		struct gd_call_result res = { 0 };
		chunk_wait(c, &fl[head], &res);
		gd_call_result_release(&res);
		head = (head + 1) % GD_INFLIGHT;
		n_fl--;
	}
	if (refs)
		for (size_t i = 0; i < n_chunks; i++)
			ref_clear(&refs[i]);
	gd_free(refs);
	gd_free(pieces);
	return ret;
}

/* ---- writes ---- */

struct gd_wpiece {
	uint64_t index;        /* chunk index */
	uint32_t coff;         /* offset inside the chunk */
	const char *src;
	size_t len;
	bool done;
	int status;            /* of the last attempt */
	char *failed;          /* the chain member that failed, gd_malloc'd */
};

/* The lease of each distinct chunk a write touches. */
struct gd_wchunk {
	uint64_t index;
	struct gd_chunk_ref ref;
	bool have;             /* ref holds a lease for this round */
	bool wrote;            /* some piece succeeded with this lease */
	uint64_t end;          /* end of the pieces acknowledged this round */
	bool refreshed;        /* a stale version got a new lease once already */
	bool cap_refreshed;    /* a refused capability got a new lease once already */
	int status;            /* worst failure this round */
	char *failed;          /* a failed member this round */
};

static struct gd_wchunk *wchunk_find(struct gd_wchunk *w, size_t n, uint64_t index)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].index == index)
			return &w[i];
	return NULL;
}

static void wpiece_fail(struct gd_wpiece *p, int status, const char *failed)
{
	p->status = status;
	gd_free(p->failed);
	p->failed = failed && *failed ? gd_strndup(failed, GD_MAX_ADDR) : NULL;
}

/* Deals with the failures of one round on one chunk. When another write of
 * this client moved the chain on meanwhile, the next round just uses the new
 * lease (the members that answered `stale` had been moved to the new version
 * by it: they are healthy). A stale version otherwise gets one new lease;
 * a member that is still stale with it, or any member named failed, goes to
 * the meta (new chain without it). So does a refused capability: one new
 * lease (a new capability), then the member that still refuses leaves the
 * chain (its clock or key ring is wrong). Anything else ends the write. */
static int write_recover(struct gd_client *c, uint64_t ino, struct gd_wchunk *w)
{
	if (lease_newer(c, ino, w->index, &w->ref))
		return 0;
	if ((w->status == GD_ESTALE && !w->refreshed) ||
	    (w->status == GD_ECAP && !w->cap_refreshed)) {
		if (w->status == GD_ESTALE)
			w->refreshed = true;
		else
			w->cap_refreshed = true;
		cache_expire(&c->leases, ino, w->index);
		return 0;
	}
	if (w->failed) {
		int rc = lease_member_failed(c, ino, w->index, &w->ref, w->failed);
		if (rc)
			cache_expire(&c->leases, ino, w->index);
		/* the chunk moved on, or was freed by a truncate: a new lease */
		return rc == GD_ESTALE || rc == GD_ENOCHUNK ? 0 : rc;
	}
	switch (w->status) {
	case GD_ESTALE:
	case GD_ENOCHUNK:
	case GD_ENOSESSION:
		cache_expire(&c->leases, ino, w->index);
		return 0;
	default:
		return w->status;
	}
}

int gd_client_write(struct gd_client *c, uint64_t ino, uint64_t off,
		    const void *buf, size_t len)
{
	struct gd_client_extent e = { .off = off, .data = buf, .len = len };
	return gd_client_writev(c, ino, &e, 1);
}

int gd_client_writev(struct gd_client *c, uint64_t ino,
		     const struct gd_client_extent *ext, size_t n)
{
	const uint64_t cs = c->chunk_size;
	struct gd_wpiece *pieces = NULL;
	struct gd_wchunk *wc = NULL;
	size_t n_pieces = 0, n_wc = 0, max_pieces = 0;
	struct gd_flight fl[GD_INFLIGHT];
	size_t n_fl = 0, head = 0;
	int ret = 0;

	for (size_t i = 0; i < n; i++)
		if (ext[i].len)
			max_pieces += ext[i].len / GD_PIECE + 2 * (ext[i].len / cs + 2);
	if (max_pieces == 0)
		return 0;
	pieces = gd_calloc(max_pieces, sizeof(*pieces));
	wc = gd_calloc(max_pieces, sizeof(*wc));
	if (!pieces || !wc) {
		ret = GD_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (ext[i].off > UINT64_MAX - ext[i].len) {
			ret = GD_EFBIG;
			goto out;
		}
		for (uint64_t p = ext[i].off; p < ext[i].off + ext[i].len;) {
			uint64_t index = p / cs;
			uint64_t cend = (index + 1) * cs;
			uint64_t pend = p + GD_PIECE;
			if (pend > cend)
				pend = cend;
			if (pend > ext[i].off + ext[i].len)
				pend = ext[i].off + ext[i].len;
			struct gd_wpiece *pc = &pieces[n_pieces++];
			pc->index = index;
			pc->coff = (uint32_t)(p - index * cs);
			pc->src = (const char *)ext[i].data + (p - ext[i].off);
			pc->len = (size_t)(pend - p);
			if (!wchunk_find(wc, n_wc, index))
				wc[n_wc++].index = index;
			p = pend;
		}
	}

	/* Rounds until every piece is written; a round that writes nothing
	 * counts towards the limit (each one follows a failure the meta or a
	 * new lease dealt with). */
	size_t left_before = SIZE_MAX;
	for (int round = 0, idle = 0; idle < GD_WRITE_ROUNDS; round++) {
		size_t left = 0;
		for (size_t i = 0; i < n_pieces; i++)
			left += !pieces[i].done;
		if (left == 0)
			break;
		if (left >= left_before)
			idle++;
		left_before = left;
		if (idle >= GD_WRITE_ROUNDS)
			break;
		if (round > 0)
			gd_debug("inode %llu: write round %d, %zu pieces left",
				 (unsigned long long)ino, round + 1, left);

		/* A lease for every chunk that still has pieces to send. */
		for (size_t k = 0; k < n_wc; k++) {
			struct gd_wchunk *w = &wc[k];
			w->status = 0;
			w->end = 0;
			gd_free(w->failed);
			w->failed = NULL;
			if (w->have) {
				ref_clear(&w->ref);
				w->have = false;
			}
			bool needed = false;
			for (size_t i = 0; i < n_pieces && !needed; i++)
				needed = !pieces[i].done && pieces[i].index == w->index;
			if (!needed)
				continue;
			int rc = lease_get(c, ino, w->index, &w->ref);
			if (rc) {
				ret = rc;
				goto out;
			}
			w->have = true;
		}

		/* Send the pieces, GD_INFLIGHT at a time. */
		for (size_t i = 0; i < n_pieces || n_fl > 0;) {
			if (i < n_pieces && n_fl < GD_INFLIGHT) {
				struct gd_wpiece *p = &pieces[i++];
				if (p->done)
					continue;
				struct gd_wchunk *w = wchunk_find(wc, n_wc, p->index);
				Godfs__CsWrite req = GODFS__CS_WRITE__INIT;
				req.has_chunk_id = req.has_version = req.has_prev_version = 1;
				req.has_offset = req.has_chunk_size = req.has_deadline_ms = 1;
				req.deadline_ms = chain_deadline_ms(c);
				req.has_create = w->ref.create;
				req.create = w->ref.create;
				req.chunk_id = w->ref.chunk_id;
				req.version = w->ref.version;
				req.prev_version = w->ref.prev_version;
				req.offset = p->coff;
				req.chunk_size = cs;
				req.n_chain = w->ref.n_chain - 1;
				req.chain = w->ref.chain + 1;
				ref_cap_out(&w->ref, &req.has_cap, &req.cap);
				struct gd_call_args a = {
					.method = GODFS__METHOD__M_CS_WRITE,
					.req = &req.base,
					.data = p->src,
					.data_len = p->len,
					.resp_desc = &godfs__cs_write_resp__descriptor,
				};
				struct gd_flight *f = &fl[(head + n_fl) % GD_INFLIGHT];
				f->piece = (size_t)(p - pieces);
				int rc = chunk_start(c, w->ref.chain[0], &a, f);
				if (rc == 0)
					n_fl++;
				else
					wpiece_fail(p, rc, w->ref.chain[0]);
				continue;
			}
			struct gd_flight *f = &fl[head];
			struct gd_wpiece *p = &pieces[f->piece];
			struct gd_wchunk *w = wchunk_find(wc, n_wc, p->index);
			struct gd_call_result res = { 0 };
			int rc = chunk_wait(c, f, &res);
			if (rc == 0 && !lease_acked(c, ino, w->index, &w->ref)) {
				/* acknowledged after this client told the meta that
				 * nothing was: written again on the new chain */
				wpiece_fail(p, GD_ESTALE, NULL);
			} else if (rc == 0) {
				p->done = true;
				w->wrote = true;
				if (p->coff + p->len > w->end)
					w->end = p->coff + p->len;
			} else if (res.resp) {
				const char *failed = ((Godfs__CsWriteResp *)res.resp)->failed;
				wpiece_fail(p, rc, failed);
			} else {
				/* No answer at all: the head of the chain is gone. */
				wpiece_fail(p, rc, w->ref.chain[0]);
			}
			gd_call_result_release(&res);
			head = (head + 1) % GD_INFLIGHT;
			n_fl--;
		}

		/* Acknowledged pieces make the lease's chunk unsynced and readable. */
		for (size_t k = 0; k < n_wc; k++) {
			struct gd_wchunk *w = &wc[k];
			if (w->have && w->wrote) {
				lease_mark_unsynced(c, ino, w->index, &w->ref, w->end);
				cache_put(&c->locs, ino, w->index, &w->ref,
					  GD_LOC_TTL_MS, false);
			}
		}
		for (size_t i = 0; i < n_pieces; i++) {
			struct gd_wpiece *p = &pieces[i];
			if (p->done || p->status == 0)
				continue;
			struct gd_wchunk *w = wchunk_find(wc, n_wc, p->index);
			if (!w->status || (p->failed && !w->failed))
				w->status = p->status;
			if (p->failed && !w->failed)
				w->failed = gd_strdup(p->failed);
			p->status = 0;
		}
		for (size_t k = 0; k < n_wc; k++) {
			struct gd_wchunk *w = &wc[k];
			if (!w->status)
				continue;
			gd_debug("inode %llu chunk %llu: write failed (%s) at %s",
				 (unsigned long long)ino, (unsigned long long)w->ref.chunk_id,
				 gd_strerror(w->status), w->failed ? w->failed : "-");
			int rc = write_recover(c, ino, w);
			if (rc) {
				gd_error("inode %llu index %llu: write failed: %s (after %s)",
					 (unsigned long long)ino, (unsigned long long)w->index,
					 gd_strerror(rc), gd_strerror(w->status));
				ret = rc;
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n_pieces; i++)
		if (!pieces[i].done) {
			gd_error("inode %llu: write gave up after %d rounds without progress",
				 (unsigned long long)ino, GD_WRITE_ROUNDS);
			ret = GD_EIO;
			break;
		}
out:
	while (n_fl > 0) {
		struct gd_call_result res = { 0 };
		chunk_wait(c, &fl[head], &res);
		gd_call_result_release(&res);
		head = (head + 1) % GD_INFLIGHT;
		n_fl--;
	}
	if (pieces)
		for (size_t i = 0; i < n_pieces; i++)
			gd_free(pieces[i].failed);
	if (wc)
		for (size_t k = 0; k < n_wc; k++) {
			if (wc[k].have)
				ref_clear(&wc[k].ref);
			gd_free(wc[k].failed);
		}
	gd_free(pieces);
	gd_free(wc);
	return ret;
}

/* ---- fsync, commit, truncate ---- */

/* A chunk of an inode that needs an fsync, as seen when fsync started. */
struct gd_dirty {
	uint64_t index;
	uint64_t seq;
	bool written;
	uint64_t written_seq;
	uint64_t written_end;
	bool older;
	uint64_t older_seq;
	uint64_t older_end;
	struct gd_chunk_ref ref;
	int status;
	char *failed;          /* the member the first attempt named failed */
};

/* Snapshot of the unsynced chunks of ino; *out is gd_malloc'd. */
static int collect_unsynced(struct gd_client *c, uint64_t ino, struct gd_dirty **out,
			    size_t *n_out)
{
	struct gd_cache *ca = &c->leases;
	struct gd_dirty *d = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	pthread_mutex_lock(&ca->mu);
	for (size_t i = 0; i < GD_CACHE_BUCKETS && rc == 0; i++) {
		for (struct gd_centry *e = ca->b[i]; e && rc == 0; e = e->next) {
			if (e->ino != ino || !e->unsynced)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct gd_dirty *nd = gd_realloc(d, ncap * sizeof(*d));
				if (!nd) {
					rc = GD_ENOMEM;
					break;
				}
				d = nd;
				cap = ncap;
			}
			memset(&d[n], 0, sizeof(d[n]));
			d[n].index = e->index;
			d[n].seq = e->dirty_seq;
			d[n].written = e->written;
			d[n].written_seq = e->written_seq;
			d[n].written_end = e->written_end;
			d[n].older = e->older;
			d[n].older_seq = e->older_seq;
			d[n].older_end = e->older_end;
			rc = ref_copy(&d[n].ref, &e->ref);
			if (rc == 0)
				n++;
		}
	}
	pthread_mutex_unlock(&ca->mu);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			ref_clear(&d[i].ref);
		gd_free(d);
		return rc;
	}
	*out = d;
	*n_out = n;
	return 0;
}

/* Clears the unsynced flag of a chunk unless it was written again meanwhile. */
static void mark_synced(struct gd_client *c, uint64_t ino, const struct gd_dirty *d)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry **p = cache_slot(ca, ino, d->index);
	struct gd_centry *e = *p;
	if (e && e->ref.chunk_id == d->ref.chunk_id && e->dirty_seq == d->seq) {
		e->unsynced = false;
		e->written = false;
		if (e->expires_ms == 0) { /* released: the record served only fsync */
			*p = e->next;
			centry_free(e);
			ca->count--;
		}
	}
	pthread_mutex_unlock(&ca->mu);
}

static void chunk_op_fill(struct gd_client *c, Godfs__CsChunkOp *op,
			  const struct gd_chunk_ref *ref)
{
	op->has_chunk_id = op->has_version = op->has_prev_version = 1;
	op->has_deadline_ms = 1;
	op->deadline_ms = chain_deadline_ms(c);
	op->chunk_id = ref->chunk_id;
	op->version = ref->version;
	op->prev_version = ref->prev_version;
	op->n_chain = ref->n_chain - 1;
	op->chain = (char **)ref->chain + 1;
	ref_cap_out(ref, &op->has_cap, &op->cap);
}

/* After a chunk op failed with rc, naming `failed` (may be NULL): moves ref
 * to the chain to try next (the cached one when a write moved the chain on,
 * else the meta's chain without `failed`; a refused capability: a new lease,
 * hence a new capability). 0 to try again, else the error. */
static int chunk_op_failover(struct gd_client *c, uint64_t ino, uint64_t index,
			     struct gd_chunk_ref *ref, int rc, const char *failed)
{
	int frc;
	if (rc == GD_ECAP) {
		struct gd_chunk_ref fresh;
		frc = lease_at_least(c, ino, index, ref->chunk_id, ref->version + 1, &fresh);
		if (frc == 0) {
			ref_clear(ref);
			*ref = fresh;
		}
		return frc;
	}
	if (lease_newer(c, ino, index, ref))
		frc = 0;
	else if (!failed || !*failed || rc == GD_ESTALE || rc == GD_ENOCHUNK)
		frc = rc;
	else
		frc = lease_member_failed(c, ino, index, ref, failed);
	if (frc == GD_ESTALE && rc != GD_ESTALE) {
		/* the meta's record moved past ref (another lease): a new lease,
		 * as a write does (write_recover) */
		struct gd_chunk_ref fresh;
		frc = lease_at_least(c, ino, index, ref->chunk_id, ref->version + 1, &fresh);
		if (frc == 0) {
			ref_clear(ref);
			*ref = fresh;
		}
		return frc;
	}
	if (frc)
		return frc;
	ref_clear(ref);
	return cache_get(&c->leases, ino, index, INT64_MIN / 2, ref) ? rc : 0;
}

/* One CsChunkOp (fsync or truncate) through the chain, synchronously. The
 * member that failed (the head when it does not answer, else the member the
 * answer names) leaves the chain, and the operation goes to the new chain,
 * up to GD_OP_ATTEMPTS times. With failed_first, an earlier attempt failed
 * with that status, naming that member. */
#define GD_OP_ATTEMPTS 3
static int chunk_op_sync(struct gd_client *c, uint64_t ino, uint64_t index,
			 uint16_t method, struct gd_chunk_ref *ref, int64_t length,
			 int status_first, const char *failed_first)
{
	int rc = status_first;
	if (rc) {
		int frc = chunk_op_failover(c, ino, index, ref, rc, failed_first);
		/* a capability that could not be renewed: why (GD_ENOCHUNK: the
		 * chunk is no longer the file's, fsync_relocated says what to do) */
		if (frc)
			return rc == GD_ECAP ? frc : rc;
	}
	for (int attempt = 0; attempt < GD_OP_ATTEMPTS; attempt++) {
		Godfs__CsChunkOp op = GODFS__CS_CHUNK_OP__INIT;
		chunk_op_fill(c, &op, ref);
		if (length >= 0) {
			op.has_length = 1;
			op.length = (uint32_t)length;
		}
		struct gd_call_args a = {
			.method = method,
			.req = &op.base,
			.resp_desc = &godfs__status_resp__descriptor,
		};
		struct gd_flight f = { 0 };
		struct gd_call_result res = { 0 };
		char *failed = NULL;
		if (method == GODFS__METHOD__M_CS_TRUNCATE)
			lease_changing(c, ino, index, ref);
		rc = chunk_start(c, ref->chain[0], &a, &f);
		if (rc == 0) {
			rc = chunk_wait(c, &f, &res);
			const char *named = res.resp ? ((Godfs__StatusResp *)res.resp)->failed : NULL;
			if (rc && (!res.resp || (named && *named)))
				failed = gd_strndup(res.resp ? named : ref->chain[0], GD_MAX_ADDR);
			gd_call_result_release(&res);
		} else {
			failed = gd_strdup(ref->chain[0]);
		}
		int frc = rc && attempt + 1 < GD_OP_ATTEMPTS ?
			  chunk_op_failover(c, ino, index, ref, rc, failed) : rc;
		gd_free(failed);
		if (frc || rc == 0)
			return frc;
	}
	return rc;
}

/* After a commit that succeeded, or answered GD_ETRUNCATED (reported to the
 * caller once): the writes it named are not named again (unless written
 * again meanwhile); the chunks stay unsynced. */
static void written_forget(struct gd_client *c, uint64_t ino, const struct gd_dirty *d, size_t n,
			   bool lost)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	for (size_t i = 0; i < n; i++) {
		struct gd_centry *e = *cache_slot(ca, ino, d[i].index);
		if (e && e->ref.chunk_id == d[i].ref.chunk_id && e->dirty_seq == d[i].seq)
			e->written = false;
		else if (e && lost)
			e->older = false;
	}
	pthread_mutex_unlock(&ca->mu);
}

/* The file was truncated since the leases of ino below trunc_seq seq were
 * granted: writes through them would be lost (their chunks were freed or cut
 * by another client), so the next write takes a new lease. Records that
 * still need an fsync stay, unusable. */
static void leases_expire_stale(struct gd_client *c, uint64_t ino, uint64_t seq)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	for (size_t i = 0; i < GD_CACHE_BUCKETS; i++)
		for (struct gd_centry *e = ca->b[i]; e; e = e->next)
			if (e->ino == ino && e->ref.trunc_seq < seq)
				e->expires_ms = 0;
	pthread_mutex_unlock(&ca->mu);
}

/* M_WRITE_COMMIT naming the writes of d[0..n): one triple per chunk and lease
 * generation. GD_ETRUNCATED: a truncate of another client destroyed some of
 * them; nothing was committed, and they are not named again. */
static int commit_chunks(struct gd_client *c, uint64_t ino, uint64_t size,
			 const struct timespec *mtime, struct gd_attr *attr,
			 const struct gd_dirty *d, size_t n)
{
	Godfs__WriteCommit req = GODFS__WRITE_COMMIT__INIT;
	size_t k = 0;
	uint64_t *w = n ? gd_calloc(6 * n, sizeof(*w)) : NULL;
	if (n && !w)
		return GD_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (d[i].written) {
			w[k] = d[i].index;
			w[2 * n + k] = d[i].written_end;
			w[4 * n + k] = d[i].written_seq;
			k++;
		}
		if (d[i].written && d[i].older) {
			w[k] = d[i].index;
			w[2 * n + k] = d[i].older_end;
			w[4 * n + k] = d[i].older_seq;
			k++;
		}
	}
	req.n_written_index = req.n_written_end = req.n_written_seq = k;
	req.written_index = w;
	req.written_end = w ? w + 2 * n : NULL;
	req.written_seq = w ? w + 4 * n : NULL;
	req.has_ino = req.has_size = req.has_session_id = 1;
	req.ino = ino;
	req.size = size;
	req.session_id = gd_client_session(c);
	if (mtime) {
		req.has_mtime_sec = req.has_mtime_nsec = 1;
		req.mtime_sec = mtime->tv_sec;
		req.mtime_nsec = (uint32_t)mtime->tv_nsec;
	}
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(c->meta, GODFS__METHOD__M_WRITE_COMMIT, &req.base,
			      &godfs__attr_resp__descriptor, &resp);
	uint64_t seq = 0;
	if (rc == 0) {
		attr_out(attr, resp);
		Godfs__AttrResp *ar = (Godfs__AttrResp *)resp;
		seq = ar->has_trunc_seq ? ar->trunc_seq : 0;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc == 0)
		written_forget(c, ino, d, n, false);
	if (rc == GD_ETRUNCATED) {
		gd_error("inode %llu: data written here was lost to a truncate by another client",
			 (unsigned long long)ino);
		written_forget(c, ino, d, n, true);
		seq = UINT64_MAX;
	}
	gd_free(w);
	if (seq)
		leases_expire_stale(c, ino, seq);
	return rc;
}

int gd_client_commit(struct gd_client *c, uint64_t ino, uint64_t size,
		     const struct timespec *mtime, struct gd_attr *attr)
{
	struct gd_dirty *d = NULL;
	size_t n = 0;
	int rc = collect_unsynced(c, ino, &d, &n);
	if (rc)
		return rc;
	rc = commit_chunks(c, ino, size, mtime, attr, d, n);
	for (size_t i = 0; i < n; i++)
		ref_clear(&d[i].ref);
	gd_free(d);
	return rc;
}

/* The chunk moved past the version this client wrote at (another client
 * took a lease: the copies were renamed to the new version, with this
 * client's bytes in them; or it was truncated away: GD_ESTALE or, once its
 * copies were deleted, GD_ENOCHUNK). Syncs every copy of the chunk as the
 * meta knows it now, one by one: the same files hold what this client
 * wrote. A chunk that is no longer the file's has nothing to sync: whether
 * the writes to it matter (another client's truncate destroyed them after
 * they were acknowledged) is the commit's to say, which names them
 * (GD_ETRUNCATED). A chunk still in the file whose copy is gone is a loss
 * here. */
/* Before another try at a chunk whose version moved on under us (another
 * client's lease): a short pause that grows, so that two clients taking
 * turns on one chunk do not keep overtaking each other. */
static void stale_backoff(int attempt)
{
	struct timespec now, ts = { 0, (long)(1000000L << (attempt < 5 ? attempt : 5)) };
	clock_gettime(CLOCK_MONOTONIC, &now);
	ts.tv_nsec += now.tv_nsec % ts.tv_nsec; /* jitter: up to twice as long */
	nanosleep(&ts, NULL);
}

static int fsync_relocated_once(struct gd_client *c, uint64_t ino, const struct gd_dirty *d)
{
	struct gd_chunk_ref cur;
	int rc = chunk_locate(c, ino, d->index, true, &cur);
	if (rc)
		return rc;
	if (cur.chunk_id != d->ref.chunk_id) {
		ref_clear(&cur);
		return 0;
	}
	if (cur.version < d->ref.version) {
		/* the meta is behind this client's own lease: a retry cannot help */
		ref_clear(&cur);
		return GD_EIO;
	}
	if (cur.cap_len) {
		/* A location's capability opens the copies for reading only; a
		 * sync (which may move a copy to the new version) needs a lease's. */
		struct gd_chunk_ref lease;
		uint64_t want = cur.version;
		ref_clear(&cur);
		rc = lease_at_least(c, ino, d->index, d->ref.chunk_id, want, &lease);
		if (rc == GD_ENOCHUNK)
			return 0;   /* freed meanwhile: as above */
		if (rc)
			return rc;
		cur = lease;
	}
	for (size_t k = 0; rc == 0 && k < cur.n_chain; k++) {
		Godfs__CsChunkOp op = GODFS__CS_CHUNK_OP__INIT;
		chunk_op_fill(c, &op, &cur);
		op.n_chain = 0;          /* each copy on its own */
		op.chain = NULL;
		/* a copy not yet moved to the version of a lease moves now */
		op.prev_version = cur.prev_version ? cur.prev_version : cur.version;
		struct gd_call_args a = {
			.method = GODFS__METHOD__M_CS_FSYNC,
			.req = &op.base,
			.resp_desc = &godfs__status_resp__descriptor,
		};
		struct gd_flight f = { 0 };
		struct gd_call_result res = { 0 };
		rc = chunk_start(c, cur.chain[k], &a, &f);
		if (rc == 0) {
			rc = chunk_wait(c, &f, &res);
			gd_call_result_release(&res);
		}
		if (rc)
			gd_warn("inode %llu chunk %llu v%llu: fsync of the copy at %s: %s",
				(unsigned long long)ino, (unsigned long long)cur.chunk_id,
				(unsigned long long)cur.version, cur.chain[k], gd_strerror(rc));
	}
	ref_clear(&cur);
	return rc;
}

/* fsync_relocated_once, again while the version moves on under it (another
 * client's lease between the locate and the sync). */
static int fsync_relocated(struct gd_client *c, uint64_t ino, const struct gd_dirty *d)
{
	int rc = GD_ESTALE;
	for (int attempt = 0; rc == GD_ESTALE && attempt < GD_STALE_TRIES; attempt++) {
		if (attempt)
			stale_backoff(attempt);
		rc = fsync_relocated_once(c, ino, d);
	}
	return rc;
}

int gd_client_fsync(struct gd_client *c, uint64_t ino, uint64_t size,
		    const struct timespec *mtime, struct gd_attr *attr)
{
	struct gd_dirty *d = NULL;
	size_t n = 0;
	struct gd_flight fl[GD_INFLIGHT];
	size_t n_fl = 0, head = 0;
	int ret = collect_unsynced(c, ino, &d, &n);
	if (ret)
		return ret;

	/* Every chunk's fsync in flight at once (GD_INFLIGHT at a time). A
	 * lease whose capability ended (the file was idle) gets a new one
	 * below, as if a chunkd had refused it. */
	const int64_t now = gd_now_ms();
	for (size_t i = 0; i < n || n_fl > 0;) {
		if (i < n && ref_cap_ending(&d[i].ref, now)) {
			d[i].status = GD_ECAP;
			i++;
			continue;
		}
		if (i < n && n_fl < GD_INFLIGHT) {
			Godfs__CsChunkOp op = GODFS__CS_CHUNK_OP__INIT;
			chunk_op_fill(c, &op, &d[i].ref);
			struct gd_call_args a = {
				.method = GODFS__METHOD__M_CS_FSYNC,
				.req = &op.base,
				.resp_desc = &godfs__status_resp__descriptor,
			};
			struct gd_flight *f = &fl[(head + n_fl) % GD_INFLIGHT];
			f->piece = i;
			d[i].status = chunk_start(c, d[i].ref.chain[0], &a, f);
			if (d[i].status == 0)
				n_fl++;
			else
				d[i].failed = gd_strdup(d[i].ref.chain[0]);
			i++;
			continue;
		}
		struct gd_call_result res = { 0 };
		size_t k = fl[head].piece;
		d[k].status = chunk_wait(c, &fl[head], &res);
		if (d[k].status) {
			const char *named = res.resp ? ((Godfs__StatusResp *)res.resp)->failed
						     : d[k].ref.chain[0];
			if (named && *named)
				d[k].failed = gd_strndup(named, GD_MAX_ADDR);
		}
		gd_call_result_release(&res);
		head = (head + 1) % GD_INFLIGHT;
		n_fl--;
	}
	for (size_t i = 0; i < n; i++) {
		if (d[i].status && d[i].status != GD_ESTALE && d[i].status != GD_ENOCHUNK)
			d[i].status = chunk_op_sync(c, ino, d[i].index, GODFS__METHOD__M_CS_FSYNC,
						    &d[i].ref, -1, d[i].status, d[i].failed);
		if (d[i].status == GD_ESTALE || d[i].status == GD_ENOCHUNK)
			d[i].status = fsync_relocated(c, ino, &d[i]);
		if (d[i].status) {
			gd_error("inode %llu chunk %llu: fsync failed: %s",
				 (unsigned long long)ino, (unsigned long long)d[i].ref.chunk_id,
				 gd_strerror(d[i].status));
			if (!ret)
				ret = d[i].status;
		}
	}
	/* Synced only once committed: a failed commit leaves the chunks to be
	 * named again by the next one. */
	if (ret == 0)
		ret = commit_chunks(c, ino, size, mtime, attr, d, n);
	for (size_t i = 0; ret == 0 && i < n; i++)
		mark_synced(c, ino, &d[i]);
	for (size_t i = 0; i < n; i++) {
		ref_clear(&d[i].ref);
		gd_free(d[i].failed);
	}
	gd_free(d);
	return ret;
}

/* This client truncated ino to size, which made the file's trunc_seq seq:
 * its own writes before that are ordered before it, and what the truncate
 * kept of those made through leases of the truncate count just before is
 * intact: they are named with the new count, their end cut to size, and so
 * are those leases. Writes and leases of older counts stay as they are
 * (another truncate came between). */
static void written_truncated(struct gd_client *c, uint64_t ino, uint64_t size, uint64_t seq)
{
	struct gd_cache *ca = &c->leases;
	const uint64_t cs = c->chunk_size;
	pthread_mutex_lock(&ca->mu);
	for (size_t i = 0; i < GD_CACHE_BUCKETS; i++) {
		for (struct gd_centry *e = ca->b[i]; e; e = e->next) {
			if (e->ino != ino)
				continue;
			/* a lease of the chunks it kept: later writes come after it */
			if (e->ref.trunc_seq + 1 == seq)
				e->ref.trunc_seq = seq;
			if (!e->written || e->written_seq + 1 != seq)
				continue;
			uint64_t base = e->index * cs;
			uint64_t room = size <= base ? 0 : size - base > cs ? cs : size - base;
			e->written_seq = seq;
			if (e->written_end > room)
				e->written_end = room;
			if (e->older && e->older_seq + 1 == seq && e->older_end <= cs) {
				e->older_seq = seq;
				if (e->older_end > room)
					e->older_end = room;
			}
		}
	}
	pthread_mutex_unlock(&ca->mu);
}

int gd_client_truncate(struct gd_client *c, uint64_t ino, uint64_t size,
		       struct gd_attr *attr)
{
	const uint64_t cs = c->chunk_size;
	const uint64_t index = size / cs;
	int rc = 0;

	if (size % cs) {
		struct gd_chunk_ref loc;
		rc = chunk_locate(c, ino, index, true, &loc);
		if (rc)
			return rc;
		bool exists = loc.chunk_id != 0;
		ref_clear(&loc);
		/* Another client's lease on the chunk between ours and the
		 * truncate makes the copies newer than our lease: take a new one. */
		for (int attempt = 0; exists && attempt < GD_STALE_TRIES; attempt++) {
			struct gd_chunk_ref ref;
			rc = lease_get(c, ino, index, &ref);
			if (rc)
				return rc;
			rc = chunk_op_sync(c, ino, index, GODFS__METHOD__M_CS_TRUNCATE, &ref,
					   (int64_t)(size % cs), 0, NULL);
			if (rc == 0)
				lease_mark_unsynced(c, ino, index, &ref, 0);
			ref_clear(&ref);
			if (rc == GD_ESTALE && attempt + 1 < GD_STALE_TRIES) {
				cache_expire(&c->leases, ino, index);
				stale_backoff(attempt + 1);
				continue;
			}
			if (rc) {
				gd_error("inode %llu: truncating chunk %llu to %llu: %s",
					 (unsigned long long)ino, (unsigned long long)index,
					 (unsigned long long)(size % cs), gd_strerror(rc));
				return rc;
			}
			break;
		}
	}

	Godfs__SetAttr req = GODFS__SET_ATTR__INIT;
	req.has_ino = req.has_valid = req.has_size = req.has_session_id = 1;
	req.ino = ino;
	req.valid = GODFS__SET_ATTR_BITS__SA_SIZE;
	req.size = size;
	req.session_id = gd_client_session(c);
	ProtobufCMessage *resp = NULL;
	rc = gd_meta_call(c->meta, GODFS__METHOD__M_SETATTR, &req.base,
			  &godfs__attr_resp__descriptor, &resp);
	uint64_t seq = 0;
	bool have_seq = false;
	if (rc == 0) {
		attr_out(attr, resp);
		Godfs__AttrResp *ar = (Godfs__AttrResp *)resp;
		have_seq = ar->has_trunc_seq;
		seq = ar->trunc_seq;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	/* Chunks past the new end are gone (or new): forget what we knew. The
	 * lease of the cut chunk predates the truncate: the next write takes a
	 * new one, with the new trunc_seq. */
	uint64_t keep = size % cs ? index + 1 : index;
	cache_drop_ino(&c->leases, ino, keep, false);
	if (keep > index)
		cache_expire(&c->leases, ino, index);
	cache_drop_ino(&c->locs, ino, 0, false);
	if (rc == 0 && have_seq)
		written_truncated(c, ino, size, seq);
	return rc;
}

void gd_client_truncated(struct gd_client *c, uint64_t ino)
{
	cache_drop_ino(&c->leases, ino, 0, false);
}

int gd_client_locate_seed(struct gd_client *c, uint64_t ino, uint64_t index,
			  const struct Godfs__ChunkResp *cr)
{
	struct gd_chunk_ref ref;
	int rc = ref_from_resp(&ref, cr);

	if (rc == 0 && ref.chunk_id != 0)
		rc = cache_put(&c->locs, ino, index, &ref, GD_LOC_TTL_MS, false);
	ref_clear(&ref);
	return rc;
}

int gd_client_lease_seed(struct gd_client *c, uint64_t ino, uint64_t index,
			 const struct Godfs__ChunkResp *cr)
{
	struct gd_chunk_ref ref;

	pthread_mutex_lock(&c->lease_mu);
	int rc = lease_store(c, ino, index, (ProtobufCMessage *)cr, &ref);
	pthread_mutex_unlock(&c->lease_mu);
	if (rc == 0)
		ref_clear(&ref);
	return rc;
}

/* Whether this client holds the lease of a chunk it made at (ino, 0) and
 * got nothing acknowledged through (no write, no truncate): no byte of the
 * file lies in that chunk, and version 1 was granted to this client only. */
static bool lease_unused(struct gd_client *c, uint64_t ino, uint64_t *chunk_id)
{
	struct gd_cache *ca = &c->leases;
	pthread_mutex_lock(&ca->mu);
	struct gd_centry *e = *cache_slot(ca, ino, 0);
	bool unused = e && e->ref.chunk_id != 0 && e->ref.version == 1 &&
		      e->ref.prev_version == 0 && e->ref.create && e->acked_version == 0 &&
		      !e->unsynced && !e->written && !e->older;
	if (unused)
		*chunk_id = e->ref.chunk_id;
	pthread_mutex_unlock(&ca->mu);
	return unused;
}

void gd_client_release(struct gd_client *c, uint64_t ino)
{
	uint64_t chunk_id = 0;
	bool give_back = (gd_meta_client_features(c->meta) & GD_META_FEATURE_CREATE) &&
			 lease_unused(c, ino, &chunk_id);

	cache_drop_ino(&c->leases, ino, 0, true);
	if (give_back) {
		Godfs__LeaseReturn req = GODFS__LEASE_RETURN__INIT;
		ProtobufCMessage *resp = NULL;
		req.has_ino = req.has_index = req.has_chunk_id = req.has_version = 1;
		req.has_session_id = 1;
		req.ino = ino;
		req.chunk_id = chunk_id;
		req.version = 1;
		req.session_id = gd_client_session(c);
		int rc = gd_meta_call(c->meta, GODFS__METHOD__M_LEASE_RETURN, &req.base,
				      &godfs__status_resp__descriptor, &resp);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		if (rc)
			gd_debug("inode %llu: unused lease of chunk %llu not given back: %s",
				 (unsigned long long)ino, (unsigned long long)chunk_id,
				 gd_strerror(rc));
	}
}

void gd_client_invalidate(struct gd_client *c, uint64_t ino)
{
	cache_drop_ino(&c->locs, ino, 0, false);
}

size_t gd_client_location_cache_entries(struct gd_client *c)
{
	size_t n;

	pthread_mutex_lock(&c->locs.mu);
	n = c->locs.count;
	pthread_mutex_unlock(&c->locs.mu);
	return n;
}
