/* Handlers of sessions (see meta_h_session.h). */
#include "meta_h_session.h"

#include <string.h>

#include "gd_alloc.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_h_masters.h"
#include "gd_meta_client.h"
#include "meta_ns.h"
#include "meta_scope.h"

#define HELLO_STR_MAX 255   /* host and mount point kept per session */

/* What a HELLO's done callback needs. */
struct hello_call {
	uint64_t session_id;
	const Godfs__Hello *hello; /* req->msg, for its role and opens */
};

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
	r.has_features = 1;
	r.features = GD_META_FEATURE_CREATE;
	if (session) {
		r.has_session_id = 1;
		r.session_id = session;
	}
	meta_h_reply(ms, req, &r.base);
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

static void hello_done(struct meta_server *ms, struct gd_request *req, int status,
		       struct meta_fsm_result *res, void *arg)
{
	struct hello_call *c = arg;
	struct meta_conn *conn;

	if (!req)
		goto out;
	conn = meta_h_conn(req);
	if (status || !res) {
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
		goto out;
	}
	if (res->status != 0) {
		meta_h_reply_result(ms, req, res);
		goto out;
	}
	if (meta_sessions_add(ms->sess, c->session_id, meta_h_now_ms()) != 0) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		goto out;
	}
	reclaim(ms, req, c->session_id, c->hello);
	if (conn) {
		conn->role = c->hello->has_role ? (int)c->hello->role : GODFS__ROLE__ROLE_CLIENT;
		conn->session_id = c->session_id;
	}
	gd_info("session %llu: %s %s (%s)", (unsigned long long)c->session_id,
		c->hello->host ? c->hello->host : "?",
		c->hello->mountpoint ? c->hello->mountpoint : "", req->peer);
	reply_hello(ms, req, c->session_id);
out:
	gd_free(c);
}

/* Copies at most HELLO_STR_MAX bytes of s (NULL = ""). */
static char *bounded(const char *s, char *buf)
{
	size_t n = s ? strnlen(s, HELLO_STR_MAX) : 0;

	memcpy(buf, s ? s : "", n);
	buf[n] = '\0';
	return buf;
}

void meta_h_session_hello(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Hello *h = (const Godfs__Hello *)req->msg;
	struct meta_conn *conn = meta_h_conn(req);
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	char host[HELLO_STR_MAX + 1], mnt[HELLO_STR_MAX + 1];
	struct hello_call *c;
	int role;

	role = h->has_role ? (int)h->role : GODFS__ROLE__ROLE_CLIENT;
	if (h->has_protocol && h->protocol != 0 && h->protocol != GD_PROTOCOL_VERSION) {
		gd_warn("%s: protocol %u, this meta speaks %u", req->peer, h->protocol,
			GD_PROTOCOL_VERSION);
		meta_h_reply_status(ms, req, GD_EPROTO);
		return;
	}
	if (role < GODFS__ROLE__ROLE_CLIENT || role > GODFS__ROLE__ROLE_GATEWAY) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	/* The role is the one the handshake proved (the key or token behind it),
	 * not what HELLO claims. */
	if (req->auth && role != (int)req->auth->role) {
		gd_warn("%s: HELLO as %s on a connection authenticated as %s: refused",
			req->peer, gd_role_name((enum gd_role)role), gd_role_name(req->auth->role));
		meta_h_reply_status(ms, req, GD_EPERM);
		return;
	}
	/* A gateway (the cluster key, role gateway) holds a session like a
	 * mount: its own, for what it stages (docs/gateway.md). */
	if (role != GODFS__ROLE__ROLE_CLIENT && role != GODFS__ROLE__ROLE_GATEWAY) {
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
		meta_sessions_renew(ms->sess, h->session_id, meta_h_now_ms());
		reclaim(ms, req, h->session_id, h);
		if (conn) {
			conn->role = role;
			conn->session_id = h->session_id;
		}
		reply_hello(ms, req, h->session_id);
		return;
	}
	c = gd_calloc(1, sizeof(*c));
	if (!c) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->hello = h;
	c->session_id = meta_h_new_session_id(ms);
	e.hello_host = bounded(h->host, host);
	e.hello_mountpoint = bounded(h->mountpoint, mnt);
	meta_h_propose_req(ms, req, &e, c->session_id, hello_done, c);
}

void meta_h_session_ping(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Ping *p = (const Godfs__Ping *)req->msg;
	Godfs__Ping r = GODFS__PING__INIT;

	r.has_nonce = p->has_nonce;
	r.nonce = p->nonce;
	r.has_status = 1;
	meta_h_reply(ms, req, &r.base);
}

void meta_h_session_renew(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__SessionRenew *m = (const Godfs__SessionRenew *)req->msg;
	Godfs__SessionRenewResp r = GODFS__SESSION_RENEW_RESP__INIT;
	uint64_t id;

	id = meta_h_session_of(req, m->has_session_id, m->session_id);
	r.has_status = 1;
	r.status = meta_sessions_renew(ms->sess, id, meta_h_now_ms());
	meta_h_reply(ms, req, &r.base);
}
