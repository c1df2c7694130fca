/* MASTERS_* handlers (see meta_h_masters.h). */
#include "meta_h_masters.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_raft.h"
#include "meta_server.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name
#define MAX_WAITERS 16   /* resends that may join one change */

/* The change in flight and every request waiting for its answer. One at a
 * time (meta_raft's rule); loop thread only. */
struct masters_op {
	struct meta_server *ms;
	uint32_t method;
	uint64_t id;
	struct gd_request *reqs[MAX_WAITERS];
	size_t n;
};

static struct masters_op *cur_op;   /* loop */

/* Answers req with the configuration as this node sees it, status and, for a
 * refusal, why in words. */
static void reply(struct meta_server *ms, struct gd_request *req, int status, const char *why)
{
	Godfs__MastersResp r = GODFS__MASTERS_RESP__INIT;
	struct meta_raft_member mem[META_H_MASTERS_MAX];
	Godfs__MasterInfo info[META_H_MASTERS_MAX], *ptrs[META_H_MASTERS_MAX];
	uint64_t until = 0;
	size_t n, i;

	n = meta_raft_members(ms->raft, mem, META_H_MASTERS_MAX);
	for (i = 0; i < n; i++) {
		Godfs__MasterInfo *m = &info[i];

		godfs__master_info__init(m);
		m->has_id = m->has_leader = 1;
		m->id = mem[i].id;
		m->raft_address = mem[i].raft_addr;
		m->client_address = mem[i].client_addr;
		m->role = (char *)mem[i].role;
		m->leader = mem[i].leader;
		if (mem[i].has_match) {
			m->has_match_index = m->has_heard_ago_ms = 1;
			m->match_index = mem[i].match_index;
			m->heard_ago_ms = mem[i].heard_ago_ms;
		}
		ptrs[i] = m;
	}
	r.has_status = 1;
	r.status = status;
	r.n_masters = n;
	r.masters = ptrs;
	if (why != NULL)
		r.error = (char *)why;
	r.has_leader_id = r.has_term = r.has_commit_index = 1;
	r.leader_id = meta_raft_leader_id(ms->raft);
	r.term = meta_raft_term(ms->raft);
	r.commit_index = meta_raft_last_applied(ms->raft);
	r.has_lease = r.has_lease_ms = r.has_election_timeout_ms = 1;
	r.lease = meta_raft_read_lease(ms->raft, &until);
	r.lease_ms = meta_raft_lease_ms(ms->raft);
	r.election_timeout_ms = meta_raft_election_timeout_ms(ms->raft);
	meta_h_reply(ms, req, &r.base);
}

void meta_h_masters_list(struct meta_server *ms, struct gd_request *req)
{
	reply(ms, req, 0, NULL);
}

/* meta_raft's done callback: every waiting request gets the answer. */
static void op_done(void *arg, int status)
{
	struct masters_op *op = arg;
	char why[160] = "";

	if (cur_op == op)
		cur_op = NULL;
	if (status == GD_ETIMEDOUT && op->method == M(MASTERS_ADD))
		snprintf(why, sizeof(why), "node %" PRIu64 " did not catch up with the log in time: "
			 "it stays a spare; check that it runs with --join and is reachable, "
			 "then add it again (or remove it)", op->id);
	else if (status == GD_ETIMEDOUT)
		snprintf(why, sizeof(why), "the leadership transfer did not happen within an "
			 "election timeout");
	else if (status == GD_ENOTLEADER)
		snprintf(why, sizeof(why), "this node lost the leadership during the change: "
			 "list the voters to see whether it was made");
	for (size_t i = 0; i < op->n; i++) {
		/* A transfer's answer comes from a node that no longer leads:
		 * it is still the answer (the configuration is the same). */
		reply(op->ms, op->reqs[i], status, why[0] != '\0' ? why : NULL);
	}
	gd_free(op);
}

/* A resend of the change in flight joins it: true when req was taken. */
static bool join_op(struct gd_request *req, uint64_t id)
{
	if (cur_op == NULL || cur_op->method != req->hdr.method || cur_op->id != id ||
	    cur_op->n == MAX_WAITERS)
		return false;
	cur_op->reqs[cur_op->n++] = req;
	return true;
}

/* Why a membership call was refused, in words (NULL: the status says it). */
static const char *refusal(int rc, uint32_t method)
{
	switch (rc) {
	case GD_EBUSY:
		return method == M(MASTERS_REMOVE)
			       ? "a change or transfer is in progress, or the node is the leader "
				 "itself (transfer the leadership first)"
			       : "a change or transfer is in progress: wait for it";
	case GD_EAGAIN:
		return "removing it would leave fewer voters in contact with the leader than a "
		       "majority of the voters that remain (the cluster would stop): bring the "
		       "others back first";
	case GD_EEXIST:
		return "that id or that Raft address belongs to another node";
	case GD_ENOENT:
		return "no node has that id";
	case GD_E2BIG:
		return "the cluster already has 16 members, the most the leader lease tracks: "
		       "remove one first";
	case GD_EINVAL:
		return method == M(MASTERS_TRANSFER) ? "that node is not a voter"
						     : "bad id or address (HOST:PORT, at most 255 "
						       "bytes together, no '@' or ',')";
	default:
		return NULL;
	}
}

/* Starts a change (or joins the one in flight) and answers when it ends. */
static void start_op(struct meta_server *ms, struct gd_request *req, uint64_t id,
		     const char *raft_addr, const char *client_addr)
{
	struct masters_op *op;
	int rc;

	if (join_op(req, id))
		return;
	op = gd_calloc(1, sizeof(*op));
	if (op == NULL) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	op->ms = ms;
	op->method = req->hdr.method;
	op->id = id;
	op->reqs[op->n++] = req;
	switch (req->hdr.method) {
	case M(MASTERS_ADD):
		rc = meta_raft_member_add(ms->raft, id, raft_addr, client_addr, op_done, op);
		break;
	case M(MASTERS_REMOVE):
		rc = meta_raft_member_remove(ms->raft, id, op_done, op);
		break;
	default:
		rc = meta_raft_transfer(ms->raft, id, op_done, op);
		break;
	}
	if (rc == 0) {
		cur_op = op;
		return;
	}
	gd_free(op);
	if (rc == META_RAFT_NOTHING_TO_DO) {
		reply(ms, req, 0, NULL);   /* already so: a resend after it was done */
		return;
	}
	gd_info("%s: %s of node %" PRIu64 " refused: %s", req->peer, req->method->name, id,
		gd_strerror(rc));
	if (rc == GD_ENOTLEADER)
		meta_h_reply_status(ms, req, rc);   /* with the leader's address */
	else
		reply(ms, req, rc, refusal(rc, req->hdr.method));
}

void meta_h_masters_add(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__MastersAdd *a = (const Godfs__MastersAdd *)req->msg;

	if (!a->has_id || a->id == 0 || a->raft_address == NULL || a->client_address == NULL ||
	    strlen(a->raft_address) > 255 || strlen(a->client_address) > 255) {
		reply(ms, req, GD_EINVAL, "MASTERS_ADD needs an id >= 1, a Raft address and a "
		      "client address");
		return;
	}
	start_op(ms, req, a->id, a->raft_address, a->client_address);
}

void meta_h_masters_remove(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__MastersRemove *a = (const Godfs__MastersRemove *)req->msg;

	if (!a->has_id || a->id == 0) {
		reply(ms, req, GD_EINVAL, "MASTERS_REMOVE needs an id >= 1");
		return;
	}
	start_op(ms, req, a->id, NULL, NULL);
}

void meta_h_masters_transfer(struct meta_server *ms, struct gd_request *req)
{
	const Godfs__MastersTransfer *a = (const Godfs__MastersTransfer *)req->msg;

	start_op(ms, req, a->has_id ? a->id : 0, NULL, NULL);
}

size_t meta_h_masters_client_addrs(struct meta_server *ms,
				   char (*addrs)[META_H_MASTERS_ADDR_CAP], char **ptrs)
{
	struct meta_raft_member mem[META_H_MASTERS_MAX];
	size_t n, i, k = 0;

	if (ms->raft == NULL)
		return 0;       /* unit tests run the handlers without Raft */
	n = meta_raft_members(ms->raft, mem, META_H_MASTERS_MAX);
	for (i = 0; i < n; i++) {
		if (strcmp(mem[i].role, "voter") != 0 || mem[i].client_addr[0] == '\0')
			continue;
		snprintf(addrs[k], META_H_MASTERS_ADDR_CAP, "%s", mem[i].client_addr);
		ptrs[k] = addrs[k];
		k++;
	}
	return k;
}
