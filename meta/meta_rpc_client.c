/* godfs-meta's answers to clients and admins (see meta_rpc.h): read-only
 * methods straight from the FSM, mutating ones through Raft, plus what only
 * the leader knows: sessions and open files, chunk locations (node ids of the
 * FSM turned into addresses of live chunkds), and the chains of write leases.
 *
 * Every handler ends its request exactly once: with a reply here, in a
 * proposal's done callback, by parking it (no chunkd registered yet), or by
 * queueing it behind another lease on the same chunk. Loop thread only. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_cred.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_methods.h"
#include "gd_status.h"
#include "meta_h_masters.h"
#include "meta_ns.h"
#include "meta_rpc.h"
#include "meta_rpc_internal.h"
#include "meta_scope.h"

#define M(name) GODFS__METHOD__M_##name

#define HELLO_STR_MAX 255   /* host and mount point kept per session */
/* A lease's capability outlives the lease by up to this (see lease_cap_ms). */
#define LEASE_CAP_MARGIN_MS 60000u

static void msg_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, &gd_pb_allocator);
}

static struct meta_conn *conn_of(struct gd_request *req)
{
	return req->conn_ctx;
}

/* The session a request acts for: its own field, else its connection's. */
static uint64_t session_of(struct gd_request *req, protobuf_c_boolean has, uint64_t id)
{
	struct meta_conn *c = conn_of(req);

	if (has && id)
		return id;
	return c ? c->session_id : 0;
}

const char *meta_rpc_node_address(struct meta_server *ms, const char *node_id)
{
	struct meta_node *n = meta_registry_get(ms->reg, node_id);

	if (n)
		return n->address;
	return meta_fsm_node_address(ms->fsm, node_id);
}

/* Replies with the FSM's answer (or its status when it packed none). */
static void reply_result(struct meta_server *ms, struct gd_request *req,
			 const struct meta_fsm_result *res)
{
	if (res->resp)
		meta_server_reply_packed(ms, req, res->resp, res->resp_len);
	else
		meta_server_reply_status(ms, req, res->status ? res->status : GD_ENOMEM);
}

/* ---- waiting behind a lease on the same chunk ---------------------------------------
 * Two leases (or a lease and a failure report) on one chunk must not be
 * decided from the same state: the second waits until the first is applied. */

struct lease_wait {
	struct lease_wait *next;
	uint64_t ino;
	uint64_t index;
	struct gd_request **reqs;
	size_t n;
};

static struct lease_wait *waits;

static struct lease_wait *wait_find(uint64_t ino, uint64_t index)
{
	struct lease_wait *w;

	for (w = waits; w; w = w->next)
		if (w->ino == ino && w->index == index)
			return w;
	return NULL;
}

/* Takes the chunk for this request: 1 = taken, 0 = queued behind another
 * (the request is owned by the queue), GD_ENOMEM. */
static int wait_take(struct gd_request *req, uint64_t ino, uint64_t index)
{
	struct lease_wait *w = wait_find(ino, index);
	struct gd_request **r;

	if (w) {
		r = gd_realloc(w->reqs, (w->n + 1) * sizeof(*r));
		if (!r)
			return GD_ENOMEM;
		w->reqs = r;
		w->reqs[w->n++] = req;
		return 0;
	}
	w = gd_calloc(1, sizeof(*w));
	if (!w)
		return GD_ENOMEM;
	w->ino = ino;
	w->index = index;
	w->next = waits;
	waits = w;
	return 1;
}

/* Lets the chunk go; the requests that waited are dispatched again. */
static void wait_release(struct meta_server *ms, uint64_t ino, uint64_t index)
{
	struct lease_wait **p, *w = NULL;
	size_t i;

	for (p = &waits; *p; p = &(*p)->next) {
		if ((*p)->ino == ino && (*p)->index == index) {
			w = *p;
			*p = w->next;
			break;
		}
	}
	if (!w)
		return;
	for (i = 0; i < w->n; i++) {
		if (ms->ready)
			meta_rpc_dispatch(ms, w->reqs[i]);
		else
			meta_server_reply_status(ms, w->reqs[i], GD_ENOTLEADER);
	}
	gd_free(w->reqs);
	gd_free(w);
}

/* ---- opens waiting behind the removal of their inode ---------------------------------
 * An OPEN without O_TRUNC is answered from the FSM at once. When an UNLINK,
 * RMDIR or RENAME that frees the inode (purge_now: the leader saw nobody had
 * it open) or an orphan purge of it is proposed and not yet applied, such an
 * OPEN would be recorded after the leader decided and the apply would free
 * the inode under it: it waits until the removal is applied, then is
 * dispatched again (ENOENT if the inode is gone, an open orphan if not). */

struct open_wait {
	struct open_wait *next;
	uint64_t ino;
	struct gd_request *req;
};

static struct open_wait *open_waits;
static struct meta_ns_map removing;    /* ino -> removals with purge_now in flight */

static uint64_t removing_count(uint64_t ino)
{
	return (uint64_t)(uintptr_t)meta_ns_map_get(&removing, ino);
}

static int removing_add(uint64_t ino)
{
	return meta_ns_map_put(&removing, ino, (void *)(uintptr_t)(removing_count(ino) + 1));
}

static void removing_del(uint64_t ino)
{
	uint64_t n = removing_count(ino);

	if (n <= 1)
		meta_ns_map_del(&removing, ino);
	else
		meta_ns_map_put(&removing, ino, (void *)(uintptr_t)(n - 1));
}

/* Whether an OPEN of ino must wait for a removal in flight. */
static bool open_must_wait(struct meta_server *ms, uint64_t ino)
{
	return removing_count(ino) > 0 || meta_sessions_orphan_proposed(ms->sess, ino);
}

/* Parks req until the removal of ino is applied: 0 or GD_ENOMEM. */
static int open_wait_add(struct gd_request *req, uint64_t ino)
{
	struct open_wait *w = gd_malloc(sizeof(*w));

	if (!w)
		return GD_ENOMEM;
	w->ino = ino;
	w->req = req;
	w->next = open_waits;
	open_waits = w;
	return 0;
}

void meta_rpc_client_removed(struct meta_server *ms, uint64_t ino)
{
	struct open_wait **p = &open_waits, *list = NULL, *w;

	while (*p) {
		w = *p;
		if (w->ino == ino) {
			*p = w->next;
			w->next = list;
			list = w;
		} else {
			p = &w->next;
		}
	}
	while (list) {
		w = list;
		list = w->next;
		if (ms->ready)
			meta_rpc_dispatch(ms, w->req);
		else
			meta_server_reply_status(ms, w->req, GD_ENOTLEADER);
		gd_free(w);
	}
}

void meta_rpc_client_lost_leader(struct meta_server *ms)
{
	while (open_waits) {
		struct open_wait *w = open_waits;
		open_waits = w->next;
		meta_server_reply_status(ms, w->req, GD_ENOTLEADER);
		gd_free(w);
	}
	meta_ns_map_release(&removing);
	meta_ns_map_init(&removing);
	while (waits) {
		struct lease_wait *w = waits;
		size_t i;
		waits = w->next;
		for (i = 0; i < w->n; i++)
			meta_server_reply_status(ms, w->reqs[i], GD_ENOTLEADER);
		gd_free(w->reqs);
		gd_free(w);
	}
}

/* ---- proposals ------------------------------------------------------------------------ */

/* What a done callback needs to finish a proposed request. */
struct call {
	uint32_t method;
	uint64_t session_id;
	uint64_t ino;
	uint64_t index;
	bool holds_chunk;       /* owns the lease_wait of (ino, index) */
	bool open_after;        /* success opens the inode for the session */
	bool open_counted;      /* OPEN O_TRUNC: counted as open while in flight */
	bool removing;          /* a removal with purge_now of ino is in flight */
	uint64_t failed_version;/* CHUNK_FAILED: the version the client wrote */
	uint64_t version_before;/* the record's version when proposed */
	char *failed_node;      /* CHUNK_FAILED: the member that left */
	const Godfs__Hello *hello; /* HELLO: req->msg, for its role and opens */
};

static void call_free(struct call *c)
{
	if (!c)
		return;
	gd_free(c->failed_node);
	gd_free(c);
}

static void call_done(struct meta_server *ms, struct gd_request *req, int status,
		      struct meta_fsm_result *res, void *arg);

/* Proposes e for req; the call is finished (and freed) by call_done. The
 * session of a client connection goes into the entry as req_session: the FSM
 * records the answer under it and the request's req_seq (exactly-once). */
static void propose(struct meta_server *ms, struct gd_request *req, Godfs__MetaEntry *e,
		    struct call *c)
{
	struct meta_conn *conn = conn_of(req);

	e->has_method = 1;
	e->method = c->method;
	if (c->session_id) {
		e->has_session_id = 1;
		e->session_id = c->session_id;
	}
	if (conn && conn->role == GODFS__ROLE__ROLE_CLIENT && conn->session_id) {
		e->has_req_session = 1;
		e->req_session = conn->session_id;
	}
	meta_server_propose(ms, e, req, call_done, c);
}

/* The request bytes of req, unchanged, as the entry's request. */
static void entry_request(Godfs__MetaEntry *e, struct gd_request *req)
{
	e->has_request = 1;
	e->request.data = req->pb;
	e->request.len = req->hdr.pb_len;
}

static struct call *call_new(struct gd_request *req)
{
	struct call *c = gd_calloc(1, sizeof(*c));

	if (c)
		c->method = req->hdr.method;
	return c;
}

/* Proposes req as it came (most mutating methods). */
static void propose_plain(struct meta_server *ms, struct gd_request *req, uint64_t session,
			  bool open_after)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct call *c = call_new(req);

	if (!c) {
		meta_server_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->session_id = session;
	c->open_after = open_after;
	entry_request(&e, req);
	propose(ms, req, &e, c);
}

/* ---- HELLO and sessions ------------------------------------------------------------------- */

static void reply_hello(struct meta_server *ms, struct gd_request *req, uint64_t session)
{
	Godfs__HelloResp r = GODFS__HELLO_RESP__INIT;
	char metas[META_H_MASTERS_MAX][META_H_MASTERS_ADDR_CAP];
	char *meta_ptrs[META_H_MASTERS_MAX];

	/* Every voter's client address: the client learns them all. */
	r.n_metas = meta_h_masters_client_addrs(ms, metas, meta_ptrs);
	r.metas = meta_ptrs;
	r.has_status = r.has_chunk_size = r.has_session_timeout_ms = 1;
	r.chunk_size = meta_fsm_chunk_size(ms->fsm);
	r.session_timeout_ms = ms->opt.session_timeout_ms;
	if (session) {
		r.has_session_id = 1;
		r.session_id = session;
	}
	meta_server_reply(ms, req, &r.base);
}

/* Re-claims the opens a reconnecting client lists, for session id: only
 * inodes that exist now and, on a token connection, are inside the token's
 * subtree (meta_scope_reclaimable). An open pins an inode's chunks, so a
 * number from the list is never taken on trust. Runs against the state of
 * the moment: for a new session, after its HELLO was applied. */
static void reclaim(struct meta_server *ms, struct gd_request *req, uint64_t id,
		    const Godfs__Hello *h)
{
	uint64_t root = META_NS_ROOT_INO, *inos;
	size_t n;

	if (h->n_open_inodes == 0)
		return;
	if (req->auth && req->auth->kind == GD_AUTH_TOKEN)
		root = req->auth->token.subtree;
	inos = gd_calloc(h->n_open_inodes, sizeof(*inos));
	if (!inos) {
		gd_warn("session %llu: could not re-claim %zu open files: %s",
			(unsigned long long)id, h->n_open_inodes, gd_strerror(GD_ENOMEM));
		return;
	}
	n = meta_scope_reclaimable(meta_fsm_state(ms->fsm), root, h->open_inodes,
				   h->n_open_inodes, inos);
	if (n < h->n_open_inodes)
		gd_info("session %llu (%s): %zu of %zu open files not re-claimed (gone%s)",
			(unsigned long long)id, req->peer, h->n_open_inodes - n,
			h->n_open_inodes, root != META_NS_ROOT_INO ? " or outside the token's subtree" : "");
	if (meta_sessions_reclaim(ms->sess, id, inos, n) != 0)
		gd_warn("session %llu: could not re-claim %zu open files",
			(unsigned long long)id, n);
	gd_free(inos);
}

static void hello_applied(struct meta_server *ms, struct gd_request *req, struct call *c,
			  const struct meta_fsm_result *res)
{
	struct meta_conn *conn = conn_of(req);

	if (res->status != 0) {
		reply_result(ms, req, res);
		return;
	}
	if (meta_sessions_add(ms->sess, c->session_id, meta_server_now_ms()) != 0) {
		meta_server_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	reclaim(ms, req, c->session_id, c->hello);
	if (conn) {
		conn->role = GODFS__ROLE__ROLE_CLIENT;
		conn->session_id = c->session_id;
	}
	gd_info("session %llu: %s %s (%s)", (unsigned long long)c->session_id,
		c->hello->host ? c->hello->host : "?",
		c->hello->mountpoint ? c->hello->mountpoint : "", req->peer);
	reply_hello(ms, req, c->session_id);
}

/* Copies at most HELLO_STR_MAX bytes of s (NULL = ""). */
static char *bounded(const char *s, char *buf)
{
	size_t n = s ? strnlen(s, HELLO_STR_MAX) : 0;

	memcpy(buf, s ? s : "", n);
	buf[n] = '\0';
	return buf;
}

static void do_hello(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Hello *h = (const Godfs__Hello *)req->msg;
	struct meta_conn *conn = conn_of(req);
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	char host[HELLO_STR_MAX + 1], mnt[HELLO_STR_MAX + 1];
	struct call *c;
	int role;

	role = h->has_role ? (int)h->role : GODFS__ROLE__ROLE_CLIENT;
	if (h->has_protocol && h->protocol != 0 && h->protocol != GD_PROTOCOL_VERSION) {
		gd_warn("%s: protocol %u, this meta speaks %u", req->peer, h->protocol,
			GD_PROTOCOL_VERSION);
		meta_server_reply_status(ms, req, GD_EPROTO);
		return;
	}
	if (role < GODFS__ROLE__ROLE_CLIENT || role > GODFS__ROLE__ROLE_PEER) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	/* The role is the one the handshake proved (the key or token behind it),
	 * not what HELLO claims. */
	if (req->auth && role != (int)req->auth->role) {
		gd_warn("%s: HELLO as %s on a connection authenticated as %s: refused",
			req->peer, gd_role_name((enum gd_role)role), gd_role_name(req->auth->role));
		meta_server_reply_status(ms, req, GD_EPERM);
		return;
	}
	if (role != GODFS__ROLE__ROLE_CLIENT) {
		if (conn) {
			conn->role = role;
			conn->session_id = 0;
		}
		reply_hello(ms, req, 0);
		return;
	}
	if (h->has_session_id && h->session_id &&
	    meta_sessions_known(ms->sess, h->session_id)) {
		/* a client coming back: same session, its opens re-claimed */
		meta_sessions_renew(ms->sess, h->session_id, meta_server_now_ms());
		reclaim(ms, req, h->session_id, h);
		if (conn) {
			conn->role = role;
			conn->session_id = h->session_id;
		}
		reply_hello(ms, req, h->session_id);
		return;
	}
	c = call_new(req);
	if (!c) {
		meta_server_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->hello = h;
	c->session_id = meta_server_new_session_id(ms);
	e.hello_host = bounded(h->host, host);
	e.hello_mountpoint = bounded(h->mountpoint, mnt);
	propose(ms, req, &e, c);
}

static void do_ping(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Ping *p = (const Godfs__Ping *)req->msg;
	Godfs__Ping r = GODFS__PING__INIT;

	r.has_nonce = p->has_nonce;
	r.nonce = p->nonce;
	r.has_status = 1;
	meta_server_reply(ms, req, &r.base);
}

static void do_renew(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__SessionRenew *m = (const Godfs__SessionRenew *)req->msg;
	Godfs__SessionRenewResp r = GODFS__SESSION_RENEW_RESP__INIT;
	uint64_t id;

	id = session_of(req, m->has_session_id, m->session_id);
	r.has_status = 1;
	r.status = meta_sessions_renew(ms->sess, id, meta_server_now_ms());
	meta_server_reply(ms, req, &r.base);
}

/* ---- read-only methods ------------------------------------------------------------------ */

static void do_query(struct meta_server *ms, struct gd_request *req)
{
	struct meta_fsm_result res;

	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	reply_result(ms, req, &res);
	meta_fsm_result_release(&res);
}

static void do_statfs(struct meta_server *ms, struct gd_request *req)
{
	struct meta_fsm_result res;
	Godfs__StatfsResp *r;
	uint64_t total, free_bytes, alive;

	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	r = res.status || !res.resp ? NULL :
		godfs__statfs_resp__unpack(&gd_pb_allocator, res.resp_len, res.resp);
	if (!r) {
		reply_result(ms, req, &res);
		meta_fsm_result_release(&res);
		return;
	}
	meta_registry_totals(ms->reg, meta_server_now_ms(), &total, &free_bytes, &alive);
	r->has_total_bytes = r->has_free_bytes = r->has_chunk_servers = 1;
	r->total_bytes = total;
	r->free_bytes = free_bytes;
	r->chunk_servers = alive;
	meta_server_reply(ms, req, &r->base);
	msg_free(r);
	meta_fsm_result_release(&res);
}

bool meta_rpc_cap_sign(uint64_t chunk_id, uint64_t version, uint32_t rights,
		       uint32_t lifetime_ms, uint8_t out[GD_CAP_LEN])
{
	const struct gd_keyring *kr = gd_cred_keys();
	struct gd_cap cap = {
		.chunk_id = chunk_id, .version = version, .rights = rights,
		.expires_ms = gd_cap_now_ms() + lifetime_ms,
	};

	return kr && kr->n > 0 && gd_cap_sign(kr, &cap, out) == 0;
}

/* How long the capability of a lease lasts: the lease, and a margin for the
 * fsync and the commit that follow the last write (a lease answered by a
 * clock a little behind a chunkd's still works for a while). */
static uint32_t lease_cap_ms(const struct meta_server *ms)
{
	uint32_t margin = ms->opt.cap_lifetime_ms < LEASE_CAP_MARGIN_MS ?
			  ms->opt.cap_lifetime_ms : LEASE_CAP_MARGIN_MS;

	return ms->opt.lease_ms + margin;
}

/* Replies with resp after putting the addresses of node ids[0..n) in its
 * chain, and a capability with rights for the chunk at the version it names
 * that lasts cap_ms (none for a hole, or without a cluster key). resp's own
 * chain is left as it was for freeing. */
static void reply_chain(struct meta_server *ms, struct gd_request *req, Godfs__ChunkResp *resp,
			const char *const *ids, size_t n, uint32_t rights, uint32_t cap_ms)
{
	char *addrs[META_RPC_CHAIN_MAX];
	char **chain = resp->chain;
	size_t n_chain = resp->n_chain, i, k = 0;
	uint8_t cap[GD_CAP_LEN];

	for (i = 0; i < n && k < META_RPC_CHAIN_MAX; i++) {
		const char *a = meta_rpc_node_address(ms, ids[i]);
		if (a)
			addrs[k++] = (char *)a;
	}
	resp->chain = addrs;
	resp->n_chain = k;
	if (resp->chunk_id != 0 &&
	    meta_rpc_cap_sign(resp->chunk_id, resp->version, rights, cap_ms, cap)) {
		resp->has_cap = resp->has_cap_ms = 1;
		resp->cap.data = cap;
		resp->cap.len = sizeof(cap);
		resp->cap_ms = cap_ms;
	}
	meta_server_reply(ms, req, &resp->base);
	resp->has_cap = resp->has_cap_ms = 0;
	resp->cap.data = NULL;
	resp->cap.len = 0;
	resp->chain = chain;
	resp->n_chain = n_chain;
}

static void do_locate(struct meta_server *ms, struct gd_request *req)
{
	struct meta_fsm_result res;
	struct meta_fsm_chunk c;
	Godfs__ChunkResp *r = NULL;
	const Godfs__ChunkReq *m = (const Godfs__ChunkReq *)req->msg;
	const char *ids[META_RPC_CHAIN_MAX];
	size_t n;

	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	if (res.status == 0 && res.resp)
		r = godfs__chunk_resp__unpack(&gd_pb_allocator, res.resp_len, res.resp);
	if (!r || r->chunk_id == 0 ||
	    meta_fsm_chunk_get(ms->fsm, m->ino, m->index, &c) != 0 || c.chunk_id != r->chunk_id) {
		reply_result(ms, req, &res);   /* an error, or a hole */
		goto out;
	}
	n = meta_rpc_loc_live(ms, &c, true, ids, META_RPC_CHAIN_MAX);
	if (n == 0 && (n = meta_rpc_loc_live_prev(ms, &c, ids, META_RPC_CHAIN_MAX)) > 0) {
		r->version = c.prev_version;    /* see meta_rpc_loc_live_prev */
	} else if (n == 0 && meta_rpc_loc_never_written(ms, &c)) {
		r->chunk_id = 0;                /* no byte was ever written: a hole */
		r->has_version = r->has_prev_version = 0;
	}
	if (n == 0 && r->chunk_id && meta_server_in_node_window(ms)) {
		meta_server_park(ms, req);
		goto out;
	}
	reply_chain(ms, req, r, ids, n, GD_CAP_READ, ms->opt.cap_lifetime_ms);
out:
	msg_free(r);
	meta_fsm_result_release(&res);
}

/* OPEN with O_TRUNC goes through Raft; it counts as an open of the session
 * from now on, so that a removal or purge proposed while it is in flight
 * does not free the inode under it (given back if the open fails). */
static void do_open_trunc(struct meta_server *ms, struct gd_request *req, uint64_t session,
			  uint64_t ino)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct call *c = call_new(req);

	if (!c) {
		meta_server_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->session_id = session;
	c->open_after = true;
	c->ino = ino;
	c->open_counted = meta_sessions_open(ms->sess, session, ino) == 0;
	entry_request(&e, req);
	propose(ms, req, &e, c);
}

/* OPEN: checks and records the open for the session; O_TRUNC goes through Raft. */
static void do_open(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Open *m = (const Godfs__Open *)req->msg;
	struct meta_fsm_result res;
	uint64_t session;
	uint32_t flags;
	int rc;

	session = session_of(req, m->has_session_id, m->session_id);
	flags = m->has_flags ? m->flags : 0;
	if (!m->has_ino || m->ino == 0) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (!meta_sessions_known(ms->sess, session)) {
		meta_server_reply_status(ms, req, GD_ENOSESSION);
		return;
	}
	if (flags & O_TRUNC) {
		do_open_trunc(ms, req, session, m->ino);
		return;
	}
	if (open_must_wait(ms, m->ino)) {
		rc = open_wait_add(req, m->ino);
		if (rc)
			meta_server_reply_status(ms, req, rc);
		return;
	}
	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	if (res.status == 0) {
		Godfs__AttrResp *a = godfs__attr_resp__unpack(&gd_pb_allocator,
							      res.resp_len, res.resp);
		rc = a && a->attr ? meta_sessions_open(ms->sess, session, a->attr->ino) : GD_ENOMEM;
		msg_free(a);
		if (rc) {
			meta_server_reply_status(ms, req, rc);
			meta_fsm_result_release(&res);
			return;
		}
	}
	reply_result(ms, req, &res);
	meta_fsm_result_release(&res);
}

static void do_release(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__InodeReq *m = (const Godfs__InodeReq *)req->msg;
	uint64_t session;

	if (!m->has_ino || m->ino == 0) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	session = session_of(req, m->has_session_id, m->session_id);
	/* A release the session does not hold (e.g. its opens were not all
	 * re-claimed after a failover) is not an error for the client. */
	meta_sessions_release(ms->sess, session, m->ino);
	meta_server_reply_status(ms, req, 0);
}

/* ---- namespace changes --------------------------------------------------------------------- */

static void do_mknod(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Mknod *m = (const Godfs__Mknod *)req->msg;
	uint64_t session = 0;
	bool open_after = false;

	if (!m->has_parent || !m->name) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (req->hdr.method == M(MKNOD) && m->has_session_id && m->session_id) {
		/* create(): the new regular file is open for the session */
		uint32_t t = m->has_mode ? (m->mode & S_IFMT) : 0;
		session = m->session_id;
		open_after = t == 0 || t == S_IFREG;
		if (open_after && !meta_sessions_known(ms->sess, session)) {
			meta_server_reply_status(ms, req, GD_ENOSESSION);
			return;
		}
	}
	propose_plain(ms, req, session, open_after);
}

/* Checks the fields every other mutating method needs, then proposes it. */
static void do_change(struct meta_server *ms, struct gd_request *req)
{
	const ProtobufCMessage *m = req->msg;
	uint64_t session = 0;
	bool ok = true;

	switch (req->hdr.method) {
	case M(SETATTR): {
		const Godfs__SetAttr *x = (const Godfs__SetAttr *)m;
		ok = x->has_ino;
		session = session_of(req, x->has_session_id, x->session_id);
		break;
	}
	case M(LINK): {
		const Godfs__Link *x = (const Godfs__Link *)m;
		ok = x->has_ino && x->has_newparent && x->newname;
		break;
	}
	case M(SETXATTR):
	case M(REMOVEXATTR): {
		const Godfs__Xattr *x = (const Godfs__Xattr *)m;
		ok = x->has_ino && x->name;
		break;
	}
	case M(WRITE_COMMIT): {
		const Godfs__WriteCommit *x = (const Godfs__WriteCommit *)m;
		ok = x->has_ino;
		session = session_of(req, x->has_session_id, x->session_id);
		break;
	}
	default:
		break;
	}
	if (!ok) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	propose_plain(ms, req, session, false);
}

/* UNLINK, RMDIR, RENAME: the leader says which inode it saw at the name that
 * goes away and whether nobody had it open (then it is freed at once). */
static void do_remove(struct meta_server *ms, struct gd_request *req)
{
	const ProtobufCMessage *m = req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct call *c;
	uint64_t parent = 0, session = 0;
	const char *name = NULL;

	if (req->hdr.method == M(RENAME)) {
		const Godfs__Rename *x = (const Godfs__Rename *)m;
		if (x->has_parent && x->name && x->has_newparent && x->newname) {
			parent = x->newparent;
			name = x->newname;
		}
		session = session_of(req, x->has_session_id, x->session_id);
	} else {
		const Godfs__NameReq *x = (const Godfs__NameReq *)m;
		if (x->has_parent && x->name) {
			parent = x->parent;
			name = x->name;
		}
		session = session_of(req, x->has_session_id, x->session_id);
	}
	if (!name) {
		meta_server_reply_status(ms, req, GD_EINVAL);
		return;
	}
	e.expect_ino = meta_fsm_lookup_ino(ms->fsm, parent, name);
	if (e.expect_ino) {
		e.has_expect_ino = e.has_purge_now = 1;
		e.purge_now = meta_sessions_open_count(ms->sess, e.expect_ino) == 0;
	}
	c = call_new(req);
	if (!c) {
		meta_server_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	if (e.purge_now) {
		/* opens of the inode wait until this is applied */
		if (removing_add(e.expect_ino) != 0) {
			call_free(c);
			meta_server_reply_status(ms, req, GD_ENOMEM);
			return;
		}
		c->removing = true;
		c->ino = e.expect_ino;
	}
	c->session_id = session;
	entry_request(&e, req);
	propose(ms, req, &e, c);
}

/* ---- leases ------------------------------------------------------------------------------ */

/* Finishes WRITE_LEASE and CHUNK_FAILED: the chain in addresses, the lease
 * recorded, the holders of the new version remembered. */
static void chunk_applied(struct meta_server *ms, struct gd_request *req, struct call *c,
			  const struct meta_fsm_result *res)
{
	Godfs__ChunkResp *r = NULL;
	struct meta_fsm_chunk ch;
	const char *ids[META_RPC_CHAIN_MAX];
	uint64_t now = meta_server_now_ms(), until = now + ms->opt.lease_ms;
	size_t n = 0, i;
	bool bumped;

	if (res->status == 0 && res->resp)
		r = godfs__chunk_resp__unpack(&gd_pb_allocator, res->resp_len, res->resp);
	if (!r || meta_fsm_chunk_get(ms->fsm, c->ino, c->index, &ch) != 0 ||
	    ch.chunk_id != r->chunk_id || ch.version != r->version) {
		reply_result(ms, req, res);
		msg_free(r);
		return;
	}
	/* CHUNK_FAILED bumps only when the client wrote the record's version */
	bumped = c->method == M(WRITE_LEASE) ||
		 (c->failed_version == c->version_before && r->version == c->version_before + 1);
	if (bumped) {
		meta_rpc_loc_set(ch.chunk_id, ch.version, (const char *const *)ch.nodes,
				 ch.n_nodes, until);
		for (i = 0; i < ch.n_nodes && n < META_RPC_CHAIN_MAX; i++)
			ids[n++] = ch.nodes[i];
		if (c->failed_node)
			/* its copy is stale, deleted once the new chain wrote */
			meta_rpc_loc_dropped(ms, ch.chunk_id, ch.version, c->failed_node,
					     ch.prev_version);
	} else {
		n = meta_rpc_loc_live(ms, &ch, false, ids, META_RPC_CHAIN_MAX);
	}
	if (c->session_id)
		meta_sessions_lease(ms->sess, c->session_id, c->ino, c->index, until);
	r->has_lease_ms = 1;
	r->lease_ms = ms->opt.lease_ms;
	reply_chain(ms, req, r, ids, n, GD_CAP_READ | GD_CAP_WRITE, lease_cap_ms(ms));
	msg_free(r);
}

/* The node id whose address is addr among the registered nodes, or NULL. */
static const char *node_by_address(struct meta_server *ms, const char *addr)
{
	struct meta_node *n;
	size_t pos = 0;

	while (addr && (n = meta_registry_next(ms->reg, &pos)) != NULL)
		if (strcmp(n->address, addr) == 0)
			return n->node_id;
	return NULL;
}

/* Whether every node of the chunk's valid set has registered with this leader. */
static bool valid_set_registered(struct meta_server *ms, const struct meta_fsm_chunk *ch)
{
	size_t i;

	for (i = 0; i < ch->n_nodes; i++)
		if (!meta_registry_get(ms->reg, ch->nodes[i]))
			return false;
	return true;
}

/* WRITE_LEASE and CHUNK_FAILED: the leader picks the chain (new chunk: by
 * placement; existing: its live copies, minus a failed member) and proposes
 * it; both wait for any other lease on the chunk to be applied first. */
static void do_chunk_write(struct meta_server *ms, struct gd_request *req)
{
	const ProtobufCMessage *m = req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct meta_fsm_chunk ch;
	const char *ids[META_RPC_CHAIN_MAX];
	const char *failed = NULL;
	struct call *c = NULL;
	uint64_t now = meta_server_now_ms();
	size_t n = 0, i;
	int rc;

	c = call_new(req);
	if (!c) {
		meta_server_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	if (req->hdr.method == M(WRITE_LEASE)) {
		const Godfs__ChunkReq *x = (const Godfs__ChunkReq *)m;
		rc = x->has_ino && x->has_index ? 0 : GD_EINVAL;
		c->ino = x->ino;
		c->index = x->index;
		c->session_id = session_of(req, x->has_session_id, x->session_id);
	} else {
		const Godfs__ChunkFailed *x = (const Godfs__ChunkFailed *)m;
		rc = x->has_ino && x->has_index && x->has_version && x->failed ? 0 : GD_EINVAL;
		c->ino = x->ino;
		c->index = x->index;
		c->failed_version = x->version;
		c->session_id = session_of(req, x->has_session_id, x->session_id);
		failed = node_by_address(ms, x->failed);
		if (failed && !(c->failed_node = gd_strdup(failed)))
			rc = GD_ENOMEM;
	}
	if (rc)
		goto err;
	rc = wait_take(req, c->ino, c->index);
	if (rc == 0) {
		call_free(c);           /* queued: dispatched again later */
		return;
	}
	if (rc < 0)
		goto err;
	c->holds_chunk = true;
	rc = meta_fsm_chunk_get(ms->fsm, c->ino, c->index, &ch);
	if (rc)
		goto err_release;
	c->version_before = ch.version;
	if (ch.chunk_id == 0 && c->method == M(CHUNK_FAILED)) {
		rc = GD_ENOCHUNK;
		goto err_release;
	}
	if (ch.chunk_id != 0 && meta_server_in_node_window(ms) && !valid_set_registered(ms, &ch)) {
		/* a new chain now would leave out copies still registering */
		wait_release(ms, c->ino, c->index);
		call_free(c);
		meta_server_park(ms, req);
		return;
	}
	if (ch.chunk_id == 0) {
		n = meta_registry_place(ms->reg, now, ch.goal ? ch.goal : 1, ids,
						META_RPC_CHAIN_MAX);
	} else {
		const char *live[META_RPC_CHAIN_MAX];
		size_t k = meta_rpc_loc_live(ms, &ch, false, live, META_RPC_CHAIN_MAX);
		/* A member named failed at an older version than the record's
		 * (the client's view was stale) stays: the record's chain, as is. */
		bool drop = failed && c->method == M(CHUNK_FAILED) &&
			    c->failed_version == ch.version;
		if (drop)
			meta_registry_suspect(ms->reg, failed, now);
		for (i = 0; i < k; i++)
			if (!drop || strcmp(live[i], failed) != 0)
				ids[n++] = live[i];
		if (k == 0 && c->method == M(WRITE_LEASE)) {
			/* nobody has the current version: no write at it was
			 * acknowledged (see meta_rpc_internal.h) */
			n = meta_rpc_loc_live_prev(ms, &ch, ids, META_RPC_CHAIN_MAX);
			if (n == 0 && meta_rpc_loc_never_written(ms, &ch))
				n = meta_registry_place(ms->reg, now, ch.goal ? ch.goal : 1, ids,
						META_RPC_CHAIN_MAX);
			if (n) {
				e.has_lease_prev = 1;
				e.lease_prev = ch.prev_version;
				gd_info("chunk %llu v%llu: no copy at it; lease from v%llu",
					(unsigned long long)ch.chunk_id,
					(unsigned long long)ch.version,
					(unsigned long long)ch.prev_version);
			}
		}
	}
	if (n == 0 && (c->method == M(WRITE_LEASE) || c->failed_version == ch.version)) {
		if (meta_server_in_node_window(ms)) {
			wait_release(ms, c->ino, c->index);
			call_free(c);
			meta_server_park(ms, req);
			return;
		}
		rc = GD_ENOSERVERS;
		goto err_release;
	}
	e.n_chain = n;
	e.chain = (char **)ids;
	entry_request(&e, req);
	propose(ms, req, &e, c);
	return;

err_release:
	wait_release(ms, c->ino, c->index);
err:
	call_free(c);
	meta_server_reply_status(ms, req, rc);
}

/* ---- proposals applied ------------------------------------------------------------------------ */

#ifdef GODFS_FAULT_INJECTION
/* Fault point of test builds only (configure --enable-sanitizers defines
 * GODFS_FAULT_INJECTION), in the GODFS_FAULT syntax of chunkd/chunkd_fault.h:
 * with GODFS_FAULT=after_apply:N in the environment, the Nth namespace change
 * applied by this process for a client kills the process (SIGKILL) before
 * the reply goes out: a reply lost after the change was committed and
 * applied, deterministically (tests/e2e/e2e_meta_exactly_once.sh). */
static void fault_kill_after_apply(void)
{
	static long left = -1;

	if (left < 0) {
		const char *v = getenv("GODFS_FAULT");
		const char *p = v ? strstr(v, "after_apply:") : NULL;
		left = p ? strtol(p + strlen("after_apply:"), NULL, 10) : 0;
		if (left < 0)
			left = 0;
		if (left)
			gd_warn("fault point: SIGKILL after applied change number %ld", left);
	}
	if (left > 0 && --left == 0) {
		gd_warn("fault point: SIGKILL now, after an apply, before its reply");
		raise(SIGKILL);
	}
}
#endif

/* After a namespace change: open files, orphans, freed chunks. */
static void change_applied(struct meta_server *ms, struct gd_request *req, struct call *c,
			   const struct meta_fsm_result *res)
{
#ifdef GODFS_FAULT_INJECTION
	fault_kill_after_apply();
#endif
	if (c->open_counted) {
		/* counted when proposed; a failed open gives it back */
		if (res->status != 0)
			meta_sessions_release(ms->sess, c->session_id, c->ino);
	} else if (res->status == 0 && c->open_after && c->session_id) {
		Godfs__AttrResp *a = godfs__attr_resp__unpack(&gd_pb_allocator,
							      res->resp_len, res->resp);
		if (a && a->attr && (c->method == M(OPEN) || S_ISREG(a->attr->mode)) &&
		    meta_sessions_open(ms->sess, c->session_id, a->attr->ino) != 0)
			gd_warn("session %llu: open of inode %llu not recorded",
				(unsigned long long)c->session_id,
				(unsigned long long)a->attr->ino);
		msg_free(a);
	}
	if (res->orphan_ino)
		meta_sessions_orphan_add(ms->sess, res->orphan_ino);
	meta_rpc_freed(ms, res);
	reply_result(ms, req, res);
}

static void call_done(struct meta_server *ms, struct gd_request *req, int status,
		      struct meta_fsm_result *res, void *arg)
{
	struct call *c = arg;

	if (c->removing) {
		removing_del(c->ino);
		if (!req)
			meta_rpc_client_removed(ms, c->ino);
	}
	if (c->open_counted && (!req || status || !res))
		meta_sessions_release(ms->sess, c->session_id, c->ino);
	if (!req) {
		call_free(c);
		return;
	}
	if (status || !res) {
		meta_server_reply_status(ms, req, status ? status : GD_EIO);
	} else if (c->method == M(HELLO)) {
		hello_applied(ms, req, c, res);
	} else if (c->method == M(WRITE_LEASE) || c->method == M(CHUNK_FAILED)) {
		chunk_applied(ms, req, c, res);
	} else {
		change_applied(ms, req, c, res);
	}
	if (c->holds_chunk)
		wait_release(ms, c->ino, c->index);
	if (c->removing)
		meta_rpc_client_removed(ms, c->ino);
	call_free(c);
}

/* ---- admin ------------------------------------------------------------------------------------ */

static void do_admin_status(struct meta_server *ms, struct gd_request *req)
{
	Godfs__AdminStatusResp r = GODFS__ADMIN_STATUS_RESP__INIT;
	Godfs__NodeInfo *infos = NULL, **ptrs = NULL;
	struct meta_node *n;
	uint64_t now = meta_server_now_ms();
	size_t pos = 0, count = 0, i = 0;

	while (meta_registry_next(ms->reg, &pos))
		count++;
	if (count) {
		infos = gd_calloc(count, sizeof(*infos));
		ptrs = gd_calloc(count, sizeof(*ptrs));
		if (!infos || !ptrs) {
			gd_free(infos);
			gd_free(ptrs);
			meta_server_reply_status(ms, req, GD_ENOMEM);
			return;
		}
	}
	pos = 0;
	while ((n = meta_registry_next(ms->reg, &pos)) != NULL && i < count) {
		Godfs__NodeInfo *x = &infos[i];
		godfs__node_info__init(x);
		x->node_id = n->node_id;
		x->address = n->address;
		x->has_total_bytes = x->has_free_bytes = x->has_chunk_count = 1;
		x->has_alive = x->has_last_seen_ms = 1;
		x->total_bytes = n->total_bytes;
		x->free_bytes = n->free_bytes;
		x->chunk_count = n->chunk_count;
		x->alive = meta_registry_node_alive(ms->reg, n, now);
		x->last_seen_ms = now >= n->last_seen_ms ? now - n->last_seen_ms : 0;
		x->label = n->label;
		x->has_draining = x->has_copies = x->has_copies_known = 1;
		x->draining = n->draining;
		x->copies = n->copies;
		x->copies_known = n->copies_known;
		ptrs[i++] = x;
	}
	r.has_status = r.has_inodes = r.has_chunks = r.has_raft_index = r.has_raft_term = 1;
	r.has_sessions = r.has_under_goal = 1;
	r.inodes = meta_fsm_inode_count(ms->fsm);
	r.chunks = meta_fsm_chunk_count(ms->fsm);
	r.raft_index = meta_raft_last_index(ms->raft);
	r.raft_term = meta_raft_term(ms->raft);
	r.sessions = meta_sessions_count(ms->sess);
	r.under_goal = meta_rpc_under_goal();
	meta_rpc_repl_status(&r);
	r.n_nodes = i;
	r.nodes = ptrs;
	meta_server_reply(ms, req, &r.base);
	gd_free(infos);
	gd_free(ptrs);
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

/* What a method IS and who may call it is the method table's (gd_methods.h),
 * checked by gd_server before the request reached the loop; here only which
 * function answers it. */
typedef void (*handler_fn)(struct meta_server *ms, struct gd_request *req);
static const handler_fn handlers[GD_METHOD_ID_MAX + 1] = {
	[M(HELLO)] = do_hello,
	[M(PING)] = do_ping,
	[M(SESSION_RENEW)] = do_renew,
	[M(LOOKUP)] = do_query,
	[M(GETATTR)] = do_query,
	[M(READLINK)] = do_query,
	[M(READDIR)] = do_query,
	[M(GETXATTR)] = do_query,
	[M(LISTXATTR)] = do_query,
	[M(STATFS)] = do_statfs,
	[M(CHUNK_LOCATE)] = do_locate,
	[M(OPEN)] = do_open,
	[M(RELEASE)] = do_release,
	[M(MKNOD)] = do_mknod,
	[M(MKDIR)] = do_mknod,
	[M(SYMLINK)] = do_mknod,
	[M(SETATTR)] = do_change,
	[M(LINK)] = do_change,
	[M(SETXATTR)] = do_change,
	[M(REMOVEXATTR)] = do_change,
	[M(WRITE_COMMIT)] = do_change,
	[M(UNLINK)] = do_remove,
	[M(RMDIR)] = do_remove,
	[M(RENAME)] = do_remove,
	[M(WRITE_LEASE)] = do_chunk_write,
	[M(CHUNK_FAILED)] = do_chunk_write,
	[M(CS_REGISTER)] = meta_rpc_cs_register,
	[M(CS_HEARTBEAT)] = meta_rpc_cs_heartbeat,
	[M(CS_REPORT_BAD)] = meta_rpc_cs_report_bad,
	[M(ADMIN_STATUS)] = do_admin_status,
	[M(TOKEN_CREATE)] = meta_rpc_token_admin,
	[M(TOKEN_LIST)] = meta_rpc_token_admin,
	[M(TOKEN_REVOKE)] = meta_rpc_token_admin,
	[M(MASTERS_LIST)] = meta_h_masters_list,
	[M(MASTERS_ADD)] = meta_h_masters_add,
	[M(MASTERS_REMOVE)] = meta_h_masters_remove,
	[M(MASTERS_TRANSFER)] = meta_h_masters_transfer,
	[M(NODE_DRAIN)] = meta_rpc_node_drain,
	[M(ADMIN_PLACEMENT)] = meta_rpc_admin_placement,
};

static bool serves(uint32_t method)
{
	return method <= GD_METHOD_ID_MAX && handlers[method] != NULL;
}

int meta_rpc_check_table(void)
{
	int rc = 0;

	for (uint32_t id = 0; id <= GD_METHOD_ID_MAX; id++) {
		const struct gd_method *m = gd_method_get(id);
		bool table = m && (m->served_by & GD_SERVE_META);

		if (table != serves(id)) {
			gd_error("method %u (%s): the method table says the meta %s it, the "
				 "meta has %s handler", id, gd_method_name(id),
				 table ? "serves" : "does not serve", serves(id) ? "a" : "no");
			rc = GD_EINVAL;
		}
	}
	return rc;
}

static struct gd_log_limit refusals = GD_LOG_LIMIT_INIT;

/* A request naming another client's session is refused (acting for it: its
 * opens, leases, exactly-once records): see meta_sessions_check. */
static bool session_bound(struct meta_server *ms, struct gd_request *req)
{
	uint64_t sid = gd_method_session(req->method, req->msg);
	struct meta_conn *c = conn_of(req);
	uint64_t own = c ? c->session_id : 0;
	unsigned dropped;

	if (meta_sessions_check(ms->sess, own, sid) == 0)
		return true;
	if (gd_log_limit_allow(&refusals, &dropped))
		gd_warn("%s: refused %s for session %llu: this connection's session is %llu%s",
			req->peer, req->method->name, (unsigned long long)sid,
			(unsigned long long)own,
			dropped ? " (and earlier refusals not logged)" : "");
	return false;
}

void meta_rpc_dispatch(struct meta_server *ms, struct gd_request *req)
{
	handler_fn h = serves(req->hdr.method) ? handlers[req->hdr.method] : NULL;

	if (!meta_rpc_token_admit(ms, req))
		return;    /* answered: outside the token's scope */
	if (!h) {
		/* gd_server lets through only GD_SERVE_META methods */
		gd_error("%s: %s is served by the meta by the method table but has no handler",
			 req->peer, req->method->name);
		meta_server_reply_status(ms, req, GD_ENOTSUP);
	} else if (!session_bound(ms, req)) {
		meta_server_reply_status(ms, req, GD_EPERM);
	} else {
		h(ms, req);
	}
}
