/* Handlers of chunk data (see meta_h_data.h). */
#include "meta_h_data.h"

#include <string.h>

#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_frame.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_locs.h"
#include "meta_sessions.h"

/* What the done callback of WRITE_LEASE / CHUNK_FAILED needs. */
struct chunk_call {
	uint32_t method;
	uint64_t session_id;
	uint64_t ino;
	uint64_t index;
	uint64_t failed_version;/* CHUNK_FAILED: the version the client wrote */
	uint64_t version_before;/* the record's version when proposed */
	char *failed_node;      /* CHUNK_FAILED: the member that left */
};

static void call_free(struct chunk_call *c)
{
	if (!c)
		return;
	gd_free(c->failed_node);
	gd_free(c);
}

/* ---- one lease at a time per chunk ------------------------------------------------------ */

/* Takes the chunk for a lease: 1 = taken, 0 = another is in flight, GD_ENOMEM. */
static int chunk_take(struct meta_server *ms, uint64_t ino, uint64_t index)
{
	struct meta_busy_chunk *b;

	for (b = ms->busy; b; b = b->next)
		if (b->ino == ino && b->index == index)
			return 0;
	b = gd_calloc(1, sizeof(*b));
	if (!b)
		return GD_ENOMEM;
	b->ino = ino;
	b->index = index;
	b->next = ms->busy;
	ms->busy = b;
	return 1;
}

/* Lets the chunk go; the requests parked behind it go back on the run queue. */
static void chunk_release(struct meta_server *ms, uint64_t ino, uint64_t index)
{
	struct meta_busy_chunk **p, *b;

	for (p = &ms->busy; (b = *p) != NULL; p = &b->next) {
		if (b->ino == ino && b->index == index) {
			*p = b->next;
			gd_free(b);
			break;
		}
	}
	meta_h_wake(ms, META_WAIT_CHUNK, ino, index);
}

/* ---- chains ------------------------------------------------------------------------------ */

/* Replies with resp after putting the addresses of node ids[0..n) in its
 * chain, and a capability with rights for the chunk at the version it names
 * that lasts cap_ms (none for a hole, or without a cluster key). resp's own
 * chain is left as it was for freeing. */
static void reply_chain(struct meta_server *ms, struct gd_request *req, Godfs__ChunkResp *resp,
			const char *const *ids, size_t n, uint32_t rights, uint32_t cap_ms)
{
	char *addrs[META_H_CHAIN_MAX];
	char **chain = resp->chain;
	size_t n_chain = resp->n_chain, i, k = 0;
	uint8_t cap[GD_CAP_LEN];

	for (i = 0; i < n && k < META_H_CHAIN_MAX; i++) {
		const char *a = meta_h_node_address(ms, ids[i]);
		if (a)
			addrs[k++] = (char *)a;
	}
	resp->chain = addrs;
	resp->n_chain = k;
	if (resp->chunk_id != 0 &&
	    meta_h_cap_sign(resp->chunk_id, resp->version, rights, cap_ms, cap)) {
		resp->has_cap = resp->has_cap_ms = 1;
		resp->cap.data = cap;
		resp->cap.len = sizeof(cap);
		resp->cap_ms = cap_ms;
	}
	meta_h_reply(ms, req, &resp->base);
	resp->has_cap = resp->has_cap_ms = 0;
	resp->cap.data = NULL;
	resp->cap.len = 0;
	resp->chain = chain;
	resp->n_chain = n_chain;
}

void meta_h_data_locate(struct meta_server *ms, struct gd_request *req)
{
	struct meta_fsm_result res;
	struct meta_fsm_chunk c;
	Godfs__ChunkResp *r = NULL;
	const Godfs__ChunkReq *m = (const Godfs__ChunkReq *)req->msg;
	const char *ids[META_H_CHAIN_MAX];
	uint64_t now = meta_h_now_ms();
	size_t n;

	meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
	if (res.status == 0 && res.resp)
		r = godfs__chunk_resp__unpack(&gd_pb_allocator, res.resp_len, res.resp);
	if (!r || r->chunk_id == 0 ||
	    meta_fsm_chunk_get(ms->fsm, m->ino, m->index, &c) != 0 || c.chunk_id != r->chunk_id) {
		meta_h_reply_result(ms, req, &res);   /* an error, or a hole */
		goto out;
	}
	n = meta_locs_live(ms->locs, ms->reg, &c, true, now, ids, META_H_CHAIN_MAX);
	if (n == 0 &&
	    (n = meta_locs_live_prev(ms->locs, ms->reg, &c, now, ids, META_H_CHAIN_MAX)) > 0) {
		r->version = c.prev_version;    /* see meta_locs_live_prev */
	} else if (n == 0 && meta_locs_never_written(ms->locs, ms->reg, &c, now)) {
		r->chunk_id = 0;                /* no byte was ever written: a hole */
		r->has_version = r->has_prev_version = 0;
	}
	if (n == 0 && r->chunk_id && meta_h_in_node_window(ms)) {
		meta_h_park(ms, req, META_WAIT_NODES, 0, 0);
		goto out;
	}
	reply_chain(ms, req, r, ids, n, GD_CAP_READ, ms->opt.cap_lifetime_ms);
out:
	meta_h_msg_free(r);
	meta_fsm_result_release(&res);
}

void meta_h_reply_open_located(struct meta_server *ms, struct gd_request *req,
			       Godfs__AttrResp *ar, uint64_t ino)
{
	Godfs__ChunkReq q = GODFS__CHUNK_REQ__INIT;
	struct meta_fsm_result res;
	struct meta_fsm_chunk c;
	Godfs__ChunkResp *r = NULL;
	const char *ids[META_H_CHAIN_MAX];
	char *addrs[META_H_CHAIN_MAX];
	uint8_t cap[GD_CAP_LEN];
	size_t n = 0, i;

	q.has_ino = q.has_index = 1;
	q.ino = ino;
	meta_fsm_query_msg(ms->fsm, M(CHUNK_LOCATE), &q.base, &res);
	if (res.status == 0 && res.resp)
		r = godfs__chunk_resp__unpack(&gd_pb_allocator, res.resp_len, res.resp);
	if (r && r->chunk_id != 0 && meta_fsm_chunk_get(ms->fsm, ino, 0, &c) == 0 &&
	    c.chunk_id == r->chunk_id)
		n = meta_locs_live(ms->locs, ms->reg, &c, true, meta_h_now_ms(), ids,
				   META_H_CHAIN_MAX);
	for (i = 0; i < n; i++)
		addrs[i] = (char *)meta_h_node_address(ms, ids[i]);
	/* only the plain case: the copies at the record's version are live
	 * (the rest, prev_version and never written, CHUNK_LOCATE answers);
	 * no capability without a cluster key, as reply_chain */
	if (n > 0 && meta_h_cap_sign(r->chunk_id, r->version, GD_CAP_READ,
				     ms->opt.cap_lifetime_ms, cap)) {
		r->has_cap = r->has_cap_ms = 1;
		r->cap.data = cap;
		r->cap.len = sizeof(cap);
		r->cap_ms = ms->opt.cap_lifetime_ms;
	}
	if (n > 0) {
		char **chain = r->chain;
		size_t n_chain = r->n_chain, k = 0;
		for (i = 0; i < n; i++)
			if (addrs[i])
				addrs[k++] = addrs[i];
		r->chain = addrs;
		r->n_chain = k;
		ar->chunk = k ? r : NULL;
		meta_h_reply(ms, req, &ar->base);
		ar->chunk = NULL;
		r->chain = chain;
		r->n_chain = n_chain;
		r->has_cap = 0;
		r->cap.data = NULL;
		r->cap.len = 0;
	} else {
		meta_h_reply(ms, req, &ar->base);
	}
	meta_h_msg_free(r);
	meta_fsm_result_release(&res);
}

/* ---- leases ------------------------------------------------------------------------------ */

/* Finishes WRITE_LEASE and CHUNK_FAILED: the chain in addresses, the lease
 * recorded, the holders of the new version remembered. A CHUNK_FAILED that
 * did not bump the record gets a lease only from the session that holds the
 * record's version; any other gets GD_ESTALE. */
static void chunk_applied(struct meta_server *ms, struct gd_request *req, struct chunk_call *c,
			  const struct meta_fsm_result *res)
{
	Godfs__ChunkResp *r = NULL;
	struct meta_fsm_chunk ch;
	const char *ids[META_H_CHAIN_MAX];
	uint64_t now = meta_h_now_ms(), until = now + ms->opt.lease_ms;
	struct meta_sessions_grant g = { c->ino, c->index, 0, 0 };
	size_t n = 0, i;
	bool bumped;

	if (res->status == 0 && res->resp)
		r = godfs__chunk_resp__unpack(&gd_pb_allocator, res->resp_len, res->resp);
	if (!r || meta_fsm_chunk_get(ms->fsm, c->ino, c->index, &ch) != 0 ||
	    ch.chunk_id != r->chunk_id || ch.version != r->version) {
		meta_h_reply_result(ms, req, res);
		meta_h_msg_free(r);
		return;
	}
	/* CHUNK_FAILED bumps only when the client wrote the record's version */
	bumped = c->method == M(WRITE_LEASE) ||
		 (c->failed_version == c->version_before && r->version == c->version_before + 1);
	g.chunk_id = ch.chunk_id;
	g.version = ch.version;
	if (!bumped && !meta_sessions_holds(ms->sess, c->session_id, &g)) {
		/* The report named a version the record left (another lease, or
		 * this one answered before and lost): the record's version was
		 * granted to someone else, or to nobody this leader knows. A
		 * write capability at it would make this client a second writer
		 * of that version, and the holder's `unacked` claim false (see
		 * chain_never_wrote). GD_ESTALE: the client takes a new lease. */
		gd_debug("chunk %llu: failure reported at v%llu, record at v%llu:"
			 " a new lease is needed", (unsigned long long)ch.chunk_id,
			 (unsigned long long)c->failed_version,
			 (unsigned long long)ch.version);
		meta_h_reply_status(ms, req, GD_ESTALE);
		meta_h_msg_free(r);
		return;
	}
	if (bumped) {
		meta_locs_set(ms->locs, ch.chunk_id, ch.version, (const char *const *)ch.nodes,
			      ch.n_nodes, until, now);
		for (i = 0; i < ch.n_nodes && n < META_H_CHAIN_MAX; i++)
			ids[n++] = ch.nodes[i];
		if (c->failed_node)
			/* its copy is stale, deleted once the new chain wrote */
			meta_locs_dropped(ms->locs, ms->reg, ch.chunk_id, ch.version,
					  c->failed_node, c->failed_version, now);
	} else {
		n = meta_locs_live(ms->locs, ms->reg, &ch, false, now, ids, META_H_CHAIN_MAX);
	}
	if (c->session_id)
		meta_sessions_lease(ms->sess, c->session_id, &g, until);
	r->has_lease_ms = 1;
	r->lease_ms = ms->opt.lease_ms;
	reply_chain(ms, req, r, ids, n, GD_CAP_READ | GD_CAP_WRITE, meta_h_lease_cap_ms(ms));
	meta_h_msg_free(r);
}

static void chunk_done(struct meta_server *ms, struct gd_request *req, int status,
		       struct meta_fsm_result *res, void *arg)
{
	struct chunk_call *c = arg;

	if (req && (status || !res))
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
	else if (req)
		chunk_applied(ms, req, c, res);
	chunk_release(ms, c->ino, c->index);
	call_free(c);
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

/* CHUNK_FAILED of a chain that never wrote: the client named `failed` at the
 * record's version, no other live member is known to hold that version, and
 * the client says it got no write at it acknowledged (ChunkFailed.unacked).
 * The claim counts only from the session this leader granted that version
 * to (meta_sessions_holds): a version is granted by one lease to one
 * session, and no other gets a write capability at it (chunk_applied), so
 * that client was the version's only writer: no
 * write at the version was ever acknowledged to anyone, and the chunk's
 * content is what the copies at prev_version hold (nothing when
 * prev_version is 0: the version was created by a lease on a chunk that
 * never had a copy). So the new chain is those copies (they move straight to
 * the new version: lease_prev), or, with prev_version 0, a chain placed
 * afresh that creates the chunk. Without the client's word, "no live member
 * holds it" would prove nothing: a report made before a write reached a
 * member, or a new leader that has not heard from it yet, does not show an
 * acknowledged copy (docs/durability.md, "A chain that never wrote").
 * Fills ids (not `failed`) and returns how many; *lease_prev is set. */
static size_t chain_never_wrote(struct meta_server *ms, const struct chunk_call *c,
				const struct meta_fsm_chunk *ch, const char *failed, uint64_t now,
				const char **ids, uint64_t *lease_prev)
{
	const struct meta_sessions_grant g = { c->ino, c->index, ch->chunk_id, ch->version };
	const char *got[META_H_CHAIN_MAX];
	size_t k, n = 0, i;

	if (!meta_sessions_holds(ms->sess, c->session_id, &g)) {
		gd_info("chunk %llu v%llu: `unacked` from session %llu, which does not hold"
			" the lease at that version: not trusted",
			(unsigned long long)ch->chunk_id, (unsigned long long)ch->version,
			(unsigned long long)c->session_id);
		return 0;
	}
	k = meta_locs_live_prev(ms->locs, ms->reg, ch, now, got, META_H_CHAIN_MAX);
	if (k == 0 && ch->prev_version == 0)
		k = meta_registry_place(ms->reg, now, ch->goal ? ch->goal : 1, got,
					META_H_CHAIN_MAX);
	else if (k == 0)
		return 0;       /* the content is on copies nobody live reported */
	for (i = 0; i < k; i++)
		if (!failed || strcmp(got[i], failed) != 0)
			ids[n++] = got[i];
	*lease_prev = ch->prev_version;
	if (n)
		gd_info("chunk %llu v%llu: %s failed before any write was acknowledged and no"
			" live member holds it: new chain from v%llu%s",
			(unsigned long long)ch->chunk_id, (unsigned long long)ch->version,
			failed ? failed : "a member", (unsigned long long)ch->prev_version,
			ch->prev_version ? "" : " (placed afresh)");
	return n;
}

/* WRITE_LEASE and CHUNK_FAILED: the leader picks the chain (new chunk: by
 * placement; existing: its live copies, minus a failed member) and proposes
 * it; both wait for any other lease on the chunk to be applied first. */
void meta_h_data_chunk_write(struct meta_server *ms, struct gd_request *req)
{
	const ProtobufCMessage *m = req->msg;
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct meta_fsm_chunk ch;
	const char *ids[META_H_CHAIN_MAX];
	const char *failed = NULL;
	struct chunk_call *c = NULL;
	uint64_t now = meta_h_now_ms();
	size_t n = 0, i;
	bool unacked = false;
	int rc;

	c = gd_calloc(1, sizeof(*c));
	if (!c) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	c->method = req->hdr.method;
	if (req->hdr.method == M(WRITE_LEASE)) {
		const Godfs__ChunkReq *x = (const Godfs__ChunkReq *)m;
		rc = x->has_ino && x->has_index ? 0 : GD_EINVAL;
		c->ino = x->ino;
		c->index = x->index;
		c->session_id = meta_h_session_of(req, x->has_session_id, x->session_id);
	} else {
		const Godfs__ChunkFailed *x = (const Godfs__ChunkFailed *)m;
		rc = x->has_ino && x->has_index && x->has_version && x->failed ? 0 : GD_EINVAL;
		c->ino = x->ino;
		c->index = x->index;
		c->failed_version = x->version;
		unacked = x->has_unacked && x->unacked;
		c->session_id = meta_h_session_of(req, x->has_session_id, x->session_id);
		failed = node_by_address(ms, x->failed);
		if (failed && !(c->failed_node = gd_strdup(failed)))
			rc = GD_ENOMEM;
	}
	if (rc)
		goto err;
	rc = chunk_take(ms, c->ino, c->index);
	if (rc == 0) {
		/* another lease on it is in flight: back on the run queue after */
		meta_h_park(ms, req, META_WAIT_CHUNK, c->ino, c->index);
		call_free(c);
		return;
	}
	if (rc < 0)
		goto err;
	rc = meta_fsm_chunk_get(ms->fsm, c->ino, c->index, &ch);
	if (rc)
		goto err_release;
	c->version_before = ch.version;
	if (ch.chunk_id == 0 && c->method == M(CHUNK_FAILED)) {
		rc = GD_ENOCHUNK;
		goto err_release;
	}
	if (ch.chunk_id != 0 && meta_h_in_node_window(ms) && !valid_set_registered(ms, &ch)) {
		/* a new chain now would leave out copies still registering */
		chunk_release(ms, c->ino, c->index);
		call_free(c);
		meta_h_park(ms, req, META_WAIT_NODES, 0, 0);
		return;
	}
	if (ch.chunk_id == 0) {
		n = meta_registry_place(ms->reg, now, ch.goal ? ch.goal : 1, ids,
					META_H_CHAIN_MAX);
	} else {
		const char *live[META_H_CHAIN_MAX];
		size_t k = meta_locs_live(ms->locs, ms->reg, &ch, false, now, live,
					  META_H_CHAIN_MAX);
		/* A member named failed at an older version than the record's
		 * (the client's view was stale) stays: the record's chain, as is. */
		bool drop = failed && c->method == M(CHUNK_FAILED) &&
			    c->failed_version == ch.version;
		if (drop)
			meta_registry_suspect(ms->reg, failed, now);
		for (i = 0; i < k; i++)
			if (!drop || strcmp(live[i], failed) != 0)
				ids[n++] = live[i];
		if (n == 0 && unacked && c->method == M(CHUNK_FAILED) &&
		    c->failed_version == ch.version) {
			uint64_t prev = 0;
			n = chain_never_wrote(ms, c, &ch, failed, now, ids, &prev);
			if (n) {
				e.has_lease_prev = 1;
				e.lease_prev = prev;
			}
		}
		if (k == 0 && c->method == M(WRITE_LEASE)) {
			/* nobody has the current version: no write at it was
			 * acknowledged (see meta_locs.h) */
			n = meta_locs_live_prev(ms->locs, ms->reg, &ch, now, ids, META_H_CHAIN_MAX);
			if (n == 0 && meta_locs_never_written(ms->locs, ms->reg, &ch, now))
				n = meta_registry_place(ms->reg, now, ch.goal ? ch.goal : 1, ids,
							META_H_CHAIN_MAX);
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
		if (meta_h_in_node_window(ms)) {
			chunk_release(ms, c->ino, c->index);
			call_free(c);
			meta_h_park(ms, req, META_WAIT_NODES, 0, 0);
			return;
		}
		rc = GD_ENOSERVERS;
		goto err_release;
	}
	e.n_chain = n;
	e.chain = (char **)ids;
	meta_h_entry_request(&e, req);
	meta_h_propose_req(ms, req, &e, c->session_id, chunk_done, c);
	return;

err_release:
	chunk_release(ms, c->ino, c->index);
err:
	call_free(c);
	meta_h_reply_status(ms, req, rc);
}
