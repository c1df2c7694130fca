/* Handlers of the namespace (see meta_h_ns.h). */
#include "meta_h_ns.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_locs.h"

/* What a namespace change's done callback needs. */
struct ns_call {
	uint32_t method;
	uint64_t session_id;
	uint64_t ino;
	bool open_after;        /* success opens the inode for the session */
	bool open_counted;      /* OPEN O_TRUNC: counted as open while in flight */
	bool removing;          /* a removal with purge_now of ino is in flight */
};

static void change_done(struct meta_server *ms, struct gd_request *req, int status,
			struct meta_fsm_result *res, void *arg);

static struct ns_call *call_new(struct gd_request *req, uint64_t session)
{
	struct ns_call *c = gd_calloc(1, sizeof(*c));

	if (c) {
		c->method = req->hdr.method;
		c->session_id = session;
	}
	return c;
}

/* Proposes req as it came (most mutating methods). */
static void propose_plain(struct meta_server *ms, struct gd_request *req, uint64_t session,
			  bool open_after)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct ns_call *c = call_new(req, session);

	if (!c) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->open_after = open_after;
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, session, change_done, c);
}

/* ---- read-only methods ------------------------------------------------------------------ */

void meta_h_ns_query(struct meta_server *ms, struct gd_request *req)
{
	struct meta_fsm_result res;

	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	meta_h_reply_result(ms, req, &res);
	meta_fsm_result_release(&res);
}

void meta_h_ns_statfs(struct meta_server *ms, struct gd_request *req)
{
	struct meta_fsm_result res;
	Godfs__StatfsResp *r;
	uint64_t total, free_bytes, alive;

	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	r = res.status || !res.resp ? NULL :
		godfs__statfs_resp__unpack(&gd_pb_allocator, res.resp_len, res.resp);
	if (!r) {
		meta_h_reply_result(ms, req, &res);
		meta_fsm_result_release(&res);
		return;
	}
	meta_registry_totals(ms->reg, meta_h_now_ms(), &total, &free_bytes, &alive);
	r->has_total_bytes = r->has_free_bytes = r->has_chunk_servers = 1;
	r->total_bytes = total;
	r->free_bytes = free_bytes;
	r->chunk_servers = alive;
	meta_h_reply(ms, req, &r->base);
	meta_h_msg_free(r);
	meta_fsm_result_release(&res);
}

/* ---- opens ------------------------------------------------------------------------------------ */

/* OPEN with O_TRUNC goes through Raft; it counts as an open of the session
 * from now on, so that a removal or purge proposed while it is in flight
 * does not free the inode under it (given back if the open fails). */
static void open_trunc(struct meta_server *ms, struct gd_request *req, uint64_t session,
		       uint64_t ino)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct ns_call *c = call_new(req, session);

	if (!c) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->open_after = true;
	c->ino = ino;
	c->open_counted = meta_sessions_open(ms->sess, session, ino) == 0;
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, session, change_done, c);
}

/* OPEN: checks and records the open for the session; O_TRUNC goes through
 * Raft. An OPEN without O_TRUNC is answered from the FSM at once. When an
 * UNLINK, RMDIR or RENAME that frees the inode (purge_now: the leader saw
 * nobody had it open) or an orphan purge of it is proposed and not yet
 * applied, such an OPEN would be recorded after the leader decided and the
 * apply would free the inode under it: it parks until the removal is
 * applied, then is dispatched again (ENOENT if the inode is gone, an open
 * orphan if not). */
void meta_h_ns_open(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Open *m = (const Godfs__Open *)req->msg;
	struct meta_fsm_result res;
	uint64_t session;
	uint32_t flags;
	int rc;

	session = meta_h_session_of(req, m->has_session_id, m->session_id);
	flags = m->has_flags ? m->flags : 0;
	if (!m->has_ino || m->ino == 0) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (!meta_sessions_known(ms->sess, session)) {
		meta_h_reply_status(ms, req, GD_ENOSESSION);
		return;
	}
	if (flags & O_TRUNC) {
		open_trunc(ms, req, session, m->ino);
		return;
	}
	if (meta_h_removal_pending(ms, m->ino)) {
		meta_h_park(ms, req, META_WAIT_REMOVAL, m->ino, 0);
		return;
	}
	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	if (res.status == 0) {
		Godfs__AttrResp *a = godfs__attr_resp__unpack(&gd_pb_allocator,
							      res.resp_len, res.resp);
		rc = a && a->attr ? meta_sessions_open(ms->sess, session, a->attr->ino) : GD_ENOMEM;
		if (rc == 0 && m->has_locate && m->locate && S_ISREG(a->attr->mode) &&
		    a->attr->size > 0) {
			/* compound: the open and where chunk 0 is */
			meta_h_reply_open_located(ms, req, a, a->attr->ino);
			meta_h_msg_free(a);
			meta_fsm_result_release(&res);
			return;
		}
		meta_h_msg_free(a);
		if (rc) {
			meta_h_reply_status(ms, req, rc);
			meta_fsm_result_release(&res);
			return;
		}
	}
	meta_h_reply_result(ms, req, &res);
	meta_fsm_result_release(&res);
}

void meta_h_ns_release(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__InodeReq *m = (const Godfs__InodeReq *)req->msg;
	uint64_t session;

	if (!m->has_ino || m->ino == 0) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	session = meta_h_session_of(req, m->has_session_id, m->session_id);
	/* A release the session does not hold (e.g. its opens were not all
	 * re-claimed after a failover) is not an error for the client. */
	meta_sessions_release(ms->sess, session, m->ino);
	meta_h_reply_status(ms, req, 0);
}

/* ---- namespace changes --------------------------------------------------------------------- */

void meta_h_ns_mknod(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Mknod *m = (const Godfs__Mknod *)req->msg;
	uint64_t session = 0;
	bool open_after = false;

	if (!m->has_parent || !m->name) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (req->hdr.method == M(MKNOD) && m->has_session_id && m->session_id) {
		/* create(): the new regular file is open for the session */
		uint32_t t = m->has_mode ? (m->mode & S_IFMT) : 0;
		session = m->session_id;
		open_after = t == 0 || t == S_IFREG;
		if (open_after && !meta_sessions_known(ms->sess, session)) {
			meta_h_reply_status(ms, req, GD_ENOSESSION);
			return;
		}
	}
	propose_plain(ms, req, session, open_after);
}

/* Checks the fields every other mutating method needs, then proposes it. */
void meta_h_ns_change(struct meta_server *ms, struct gd_request *req)
{
	const ProtobufCMessage *m = req->msg;
	uint64_t session = 0;
	bool ok = true;

	switch (req->hdr.method) {
	case M(SETATTR): {
		const Godfs__SetAttr *x = (const Godfs__SetAttr *)m;
		ok = x->has_ino;
		session = meta_h_session_of(req, x->has_session_id, x->session_id);
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
		session = meta_h_session_of(req, x->has_session_id, x->session_id);
		break;
	}
	default:
		break;
	}
	if (!ok) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	propose_plain(ms, req, session, false);
}

/* UNLINK, RMDIR, RENAME: the leader says which inode it saw at the name that
 * goes away and whether nobody had it open (then it is freed at once). */
void meta_h_ns_remove(struct meta_server *ms, struct gd_request *req)
{
	const ProtobufCMessage *m = req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct ns_call *c;
	uint64_t parent = 0, session = 0;
	const char *name = NULL;

	if (req->hdr.method == M(RENAME)) {
		const Godfs__Rename *x = (const Godfs__Rename *)m;
		if (x->has_parent && x->name && x->has_newparent && x->newname) {
			parent = x->newparent;
			name = x->newname;
		}
		session = meta_h_session_of(req, x->has_session_id, x->session_id);
	} else {
		const Godfs__NameReq *x = (const Godfs__NameReq *)m;
		if (x->has_parent && x->name) {
			parent = x->parent;
			name = x->name;
		}
		session = meta_h_session_of(req, x->has_session_id, x->session_id);
	}
	if (!name) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	e.expect_ino = meta_fsm_lookup_ino(ms->fsm, parent, name);
	if (e.expect_ino) {
		e.has_expect_ino = e.has_purge_now = 1;
		e.purge_now = meta_sessions_open_count(ms->sess, e.expect_ino) == 0;
	}
	c = call_new(req, session);
	if (!c) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	if (e.purge_now) {
		/* opens of the inode wait until this is applied */
		if (meta_h_removal_begin(ms, e.expect_ino) != 0) {
			gd_free(c);
			meta_h_reply_status(ms, req, GD_ENOMEM);
			return;
		}
		c->removing = true;
		c->ino = e.expect_ino;
	}
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, session, change_done, c);
}

/* ---- proposals applied ------------------------------------------------------------------------ */

/* After a namespace change: open files, orphans, freed chunks. */
static void change_applied(struct meta_server *ms, struct gd_request *req, struct ns_call *c,
			   const struct meta_fsm_result *res)
{
	meta_h_fault_after_apply();
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
		meta_h_msg_free(a);
	}
	if (res->orphan_ino)
		meta_sessions_orphan_add(ms->sess, res->orphan_ino);
	meta_locs_freed(ms->locs, ms->reg, res);
	meta_h_reply_result(ms, req, res);
}

static void change_done(struct meta_server *ms, struct gd_request *req, int status,
			struct meta_fsm_result *res, void *arg)
{
	struct ns_call *c = arg;

	if (c->open_counted && (!req || status || !res))
		meta_sessions_release(ms->sess, c->session_id, c->ino);
	if (req && (status || !res))
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
	else if (req)
		change_applied(ms, req, c, res);
	/* the OPENs that waited for it go back on the run queue */
	if (c->removing)
		meta_h_removal_end(ms, c->ino);
	gd_free(c);
}
