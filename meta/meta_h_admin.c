/* Handlers of admins (see meta_h_admin.h). */
#include "meta_h_admin.h"

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_drain.h"
#include "meta_h.h"
#include "meta_raft.h"
#include "meta_repl.h"

void meta_h_admin_status(struct meta_server *ms, struct gd_request *req)
{
	Godfs__AdminStatusResp r = GODFS__ADMIN_STATUS_RESP__INIT;
	Godfs__NodeInfo *infos = NULL, **ptrs = NULL;
	struct meta_node *n;
	uint64_t now = meta_h_now_ms();
	size_t pos = 0, count = 0, i = 0;

	while (meta_registry_next(ms->reg, &pos))
		count++;
	if (count) {
		infos = gd_calloc(count, sizeof(*infos));
		ptrs = gd_calloc(count, sizeof(*ptrs));
		if (!infos || !ptrs) {
			gd_free(infos);
			gd_free(ptrs);
			meta_h_reply_status(ms, req, GD_ENOMEM);
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
		/* the FSM's record, not the registry's copy refreshed each tick */
		x->draining = meta_drain_is_draining(meta_fsm_state(ms->fsm), n->node_id);
		x->copies = n->copies;
		x->copies_known = n->copies_known;
		ptrs[i++] = x;
	}
	r.has_status = r.has_inodes = r.has_chunks = r.has_raft_index = r.has_raft_term = 1;
	r.has_sessions = r.has_under_goal = 1;
	r.inodes = meta_fsm_inode_count(ms->fsm);
	r.chunks = meta_fsm_chunk_count(ms->fsm);
	r.raft_index = ms->raft ? meta_raft_last_index(ms->raft) : 0;
	r.raft_term = ms->raft ? meta_raft_term(ms->raft) : 0;
	r.sessions = meta_sessions_count(ms->sess);
	r.under_goal = meta_repl_under_goal(ms->repl);
	meta_repl_status(ms, &r);
	r.n_nodes = i;
	r.nodes = ptrs;
	meta_h_reply(ms, req, &r.base);
	gd_free(infos);
	gd_free(ptrs);
}
