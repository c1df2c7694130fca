/* The compound create (see meta_h_create.h). */
#include "meta_h_create.h"

#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_locs.h"
#include "meta_sessions.h"

/* What the done callback needs. */
struct create_call {
	uint64_t session_id;
};

/* The chain for chunk 0 of a new file in parent: placed like a WRITE_LEASE
 * of a new chunk, at the parent's goal (the new file takes it). 0 when the
 * name exists already (the create opens that file: no lease) or no chunkd
 * can take the chunk now (the client asks WRITE_LEASE later, which waits
 * for chunkds as usual). */
static size_t place_first_chunk(struct meta_server *ms, const Godfs__Mknod *m,
				const char **ids)
{
	Godfs__InodeReq q = GODFS__INODE_REQ__INIT;
	struct meta_fsm_result res;
	Godfs__AttrResp *a = NULL;
	uint32_t goal = 1;

	if (meta_fsm_lookup_ino(ms->fsm, m->parent, m->name) != 0)
		return 0;
	q.has_ino = 1;
	q.ino = m->parent;
	meta_fsm_query_msg(ms->fsm, M(GETATTR), &q.base, &res);
	if (res.status == 0 && res.resp)
		a = godfs__attr_resp__unpack(&gd_pb_allocator, res.resp_len, res.resp);
	if (a && a->attr && a->attr->has_goal && a->attr->goal)
		goal = a->attr->goal;
	meta_h_msg_free(a);
	meta_fsm_result_release(&res);
	return meta_registry_place(ms->reg, meta_h_now_ms(), goal, ids, META_H_CHAIN_MAX);
}

/* Finishes the lease in r->chunk: the holders of its version and the
 * session's lease recorded, node ids turned into addresses, a READ|WRITE
 * capability. A chunk the record no longer shows at that version (a resend
 * answered from the session's record after the chunk moved on) is left out:
 * the client takes a WRITE_LEASE. Returns whether the lease stays. */
static bool finish_lease(struct meta_server *ms, uint64_t session, Godfs__OpenResp *r,
			 bool replayed)
{
	Godfs__ChunkResp *cr = r->chunk;
	struct meta_fsm_chunk ch;
	uint64_t now = meta_h_now_ms(), until = now + ms->opt.lease_ms;
	struct meta_sessions_grant g;

	if (!r->attr || meta_fsm_chunk_get(ms->fsm, r->attr->ino, 0, &ch) != 0 ||
	    ch.chunk_id != cr->chunk_id || ch.version != cr->version || replayed)
		return false;
	g = (struct meta_sessions_grant){ r->attr->ino, 0, ch.chunk_id, ch.version };
	meta_locs_set(ms->locs, ch.chunk_id, ch.version, (const char *const *)ch.nodes,
		      ch.n_nodes, until, now);
	if (session && meta_sessions_lease(ms->sess, session, &g, until) != 0)
		gd_warn("session %llu: lease of inode %llu chunk 0 not recorded",
			(unsigned long long)session, (unsigned long long)r->attr->ino);
	cr->has_lease_ms = 1;
	cr->lease_ms = ms->opt.lease_ms;
	return true;
}

/* Replies r with its lease's chain as addresses and a capability. */
static void reply_open(struct meta_server *ms, struct gd_request *req, Godfs__OpenResp *r)
{
	Godfs__ChunkResp *cr = r->chunk;
	char *addrs[META_H_CHAIN_MAX];
	char **chain = cr ? cr->chain : NULL;
	size_t n_chain = cr ? cr->n_chain : 0, i, k = 0;
	uint8_t cap[GD_CAP_LEN];
	uint32_t cap_ms = meta_h_lease_cap_ms(ms);

	if (cr) {
		for (i = 0; i < n_chain && k < META_H_CHAIN_MAX; i++) {
			const char *a = meta_h_node_address(ms, chain[i]);
			if (a)
				addrs[k++] = (char *)a;
		}
		cr->chain = addrs;
		cr->n_chain = k;
		if (meta_h_cap_sign(cr->chunk_id, cr->version, GD_CAP_READ | GD_CAP_WRITE,
				    cap_ms, cap)) {
			cr->has_cap = cr->has_cap_ms = 1;
			cr->cap.data = cap;
			cr->cap.len = sizeof(cap);
			cr->cap_ms = cap_ms;
		}
	}
	meta_h_reply(ms, req, &r->base);
	if (cr) {
		cr->has_cap = cr->has_cap_ms = 0;
		cr->cap.data = NULL;
		cr->cap.len = 0;
		cr->chain = chain;
		cr->n_chain = n_chain;
	}
}

static void create_done(struct meta_server *ms, struct gd_request *req, int status,
			struct meta_fsm_result *res, void *arg)
{
	struct create_call *c = arg;
	Godfs__OpenResp *r = NULL;

	if (!req)
		goto out;
	if (status || !res) {
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
		goto out;
	}
	meta_h_fault_after_apply();
	if (res->status == 0 && res->resp)
		r = godfs__open_resp__unpack(&gd_pb_allocator, res->resp_len, res->resp);
	if (!r || !r->attr) {
		meta_h_reply_result(ms, req, res);
		goto out;
	}
	/* the file is open for the session, as after an M_MKNOD with session_id */
	if (c->session_id && meta_sessions_open(ms->sess, c->session_id, r->attr->ino) != 0)
		gd_warn("session %llu: open of inode %llu not recorded",
			(unsigned long long)c->session_id, (unsigned long long)r->attr->ino);
	if (r->chunk && !finish_lease(ms, c->session_id, r, res->replayed)) {
		meta_h_msg_free(r->chunk);
		r->chunk = NULL;
	}
	reply_open(ms, req, r);
out:
	meta_h_msg_free(r);
	gd_free(c);
}

void meta_h_create(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__Mknod *m = (const Godfs__Mknod *)req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	const char *ids[META_H_CHAIN_MAX];
	uint32_t t = m->has_mode ? (m->mode & S_IFMT) : 0;
	struct create_call *c;

	if (!m->has_parent || !m->name || !m->has_session_id || m->session_id == 0 ||
	    (t != 0 && t != S_IFREG)) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	if (!meta_sessions_known(ms->sess, m->session_id)) {
		meta_h_reply_status(ms, req, GD_ENOSESSION);
		return;
	}
	c = gd_calloc(1, sizeof(*c));
	if (!c) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->session_id = m->session_id;
	if (m->has_lease && m->lease) {
		e.n_chain = place_first_chunk(ms, m, ids);
		e.chain = (char **)ids;
	}
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, m->session_id, create_done, c);
}

static void return_done(struct meta_server *ms, struct gd_request *req, int status,
			struct meta_fsm_result *res, void *arg)
{
	(void)arg;
	if (!req)
		return;
	if (status || !res) {
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
		return;
	}
	meta_locs_freed(ms->locs, ms->reg, res);
	meta_h_reply_result(ms, req, res);
}

void meta_h_create_lease_return(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__LeaseReturn *m = (const Godfs__LeaseReturn *)req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct meta_sessions_grant g;
	uint64_t session;

	if (!m->has_ino || !m->has_index || !m->has_chunk_id || !m->has_version) {
		meta_h_reply_status(ms, req, GD_EINVAL);
		return;
	}
	session = meta_h_session_of(req, m->has_session_id, m->session_id);
	g = (struct meta_sessions_grant){ m->ino, m->index, m->chunk_id, m->version };
	if (m->version != 1 || !meta_sessions_holds(ms->sess, session, &g)) {
		/* not the session's lease (or this leader never granted it):
		 * the chunk may be another writer's */
		meta_h_reply_status(ms, req, GD_ESTALE);
		return;
	}
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, session, return_done, NULL);
}
