/* Client tokens in the meta (see meta_h_token.h). */
#include "meta_h_token.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_methods.h"
#include "gd_auth.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_h.h"
#include "meta_perm.h"
#include "meta_scope.h"
#include "meta_token.h"

/* Refusals are provoked at will by whoever holds a token: at most a few lines
 * a second, then one line saying how many were not logged. */
#define REFUSAL_LINES_PER_SEC 10

static uint64_t log_window_ms;
static unsigned log_lines;
static unsigned log_dropped;

static bool refusal_log_allow(unsigned *dropped)
{
	uint64_t now = meta_h_now_ms();

	if (now - log_window_ms >= 1000) {
		log_window_ms = now;
		log_lines = 0;
	}
	if (log_lines >= REFUSAL_LINES_PER_SEC) {
		log_dropped++;
		return false;
	}
	log_lines++;
	*dropped = log_dropped;
	log_dropped = 0;
	return true;
}

/* Answers req with status and logs one (rate-limited) line. */
static void refuse(struct meta_server *ms, struct gd_request *req, int status, const char *why,
		   uint64_t ino)
{
	const struct gd_token *t = &req->auth->token;
	unsigned dropped = 0;

	if (refusal_log_allow(&dropped)) {
		char inobuf[40] = "";
		if (ino)
			snprintf(inobuf, sizeof(inobuf), " (inode %llu)", (unsigned long long)ino);
		gd_warn("%s: token %llu (subtree %llu%s): %s refused: %s%s: %s%s",
			req->peer, (unsigned long long)t->id, (unsigned long long)t->subtree,
			(t->flags & GD_TOKEN_READ_ONLY) ? ", read-only" : "",
			gd_method_name(req->hdr.method), why, inobuf, gd_strerror(status),
			dropped ? " (and earlier refusals not logged)" : "");
	}
	meta_h_reply_status(ms, req, status);
}

/* An API key's session has no kernel in front of it: the meta checks mode
 * bits and ACLs as the key's uid/gid (meta_perm.h). */
static bool key_admit(struct meta_server *ms, struct gd_request *req,
		      const struct meta_ns_state *st, const struct gd_token *t)
{
	struct meta_perm_who who = { .root = t->subtree };
	const char *why = NULL;
	uint64_t bad = 0;
	int rc;

	if (!meta_token_identity(st, t->id, &who.uid, &who.gid)) {
		/* meta_token_valid passed: the key is in the table */
		refuse(ms, req, GD_EAUTH, "API key without an identity", 0);
		return false;
	}
	rc = meta_perm_check(st, &who, req->hdr.method, req->msg, &why, &bad);
	if (rc == 0)
		return true;
	if (rc == GD_EACCES || (rc == GD_EPERM && bad)) {
		/* a file system's everyday answer, as on a mount: no warning */
		gd_debug("%s: API key %llu (uid %u gid %u): %s of inode %llu: %s: %s", req->peer,
			 (unsigned long long)t->id, who.uid, who.gid,
			 gd_method_name(req->hdr.method), (unsigned long long)bad, why,
			 gd_strerror(rc));
		meta_h_reply_status(ms, req, rc);
	} else if (rc == GD_ENOENT || rc == GD_ENODATA) {
		meta_h_reply_status(ms, req, rc);   /* as for anyone */
	} else {
		refuse(ms, req, rc, why, bad);      /* a method without a rule, a bad message */
	}
	return false;
}

bool meta_h_token_admit(struct meta_server *ms, struct gd_request *req)
{
	const struct meta_ns_state *st;
	const struct gd_token *t;
	const char *why = NULL;
	uint64_t bad = 0;
	int rc;

	if (!req->auth || req->auth->kind != GD_AUTH_TOKEN)
		return true;
	t = &req->auth->token;
	st = meta_fsm_state(ms->fsm);
	rc = meta_token_valid(st, t->id, t->subtree, t->expires, t->flags, (int64_t)time(NULL),
			      &why);
	if (rc) {
		refuse(ms, req, rc, why, 0);
		return false;
	}
	rc = meta_scope_check(st, t->subtree, (t->flags & GD_TOKEN_READ_ONLY) != 0,
			      req->hdr.method, req->msg, &why, &bad);
	if (rc == GD_ENOENT) {
		/* not a refusal: the inode is gone, as it would be for anyone */
		meta_h_reply_status(ms, req, rc);
		return false;
	}
	if (rc) {
		refuse(ms, req, rc, why, bad);
		return false;
	}
	if (t->flags & GD_TOKEN_APIKEY)
		return key_admit(ms, req, st, t);
	return true;
}

void meta_h_token_mark(struct meta_server *ms, struct gd_request *req, Godfs__MetaEntry *e)
{
	uint32_t uid, gid;

	if (!req || !req->auth || req->auth->kind != GD_AUTH_TOKEN ||
	    !(req->auth->token.flags & GD_TOKEN_APIKEY))
		return;
	/* meta_h_token_admit passed this request: the key is in the table */
	if (!meta_token_identity(meta_fsm_state(ms->fsm), req->auth->token.id, &uid, &gid))
		return;
	e->has_as_uid = e->has_as_gid = 1;
	e->as_uid = uid;
	e->as_gid = gid;
}

/* ---- admin ------------------------------------------------------------------------------ */

/* The leader answers TOKEN_CREATE with the token's fields and the id of its
 * first cluster key, never with the secret: that would cross the wire in
 * clear without --tls. godfs-admin holds the cluster key and derives the
 * secret itself (gd_token_derive under the key with this id). */
static void create_applied(struct meta_server *ms, struct gd_request *req, int status,
			   struct meta_fsm_result *res, void *arg)
{
	const struct gd_keyring *kr = gd_cred_keys();
	Godfs__TokenResp *r = NULL;

	(void)arg;
	if (!req)
		return;
	if (status || !res) {
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
		return;
	}
	if (res->status || !res->resp) {
		meta_h_reply_status(ms, req, res->status ? res->status : GD_ENOMEM);
		return;
	}
	r = godfs__token_resp__unpack(&gd_pb_allocator, res->resp_len, res->resp);
	if (!r || !r->token || !kr || kr->n < 1) {
		/* the keys were checked before proposing; a token nobody can
		 * derive the secret of is useless but harmless (revoke it) */
		if (r)
			protobuf_c_message_free_unpacked(&r->base, &gd_pb_allocator);
		meta_h_reply_status(ms, req, r ? GD_EINVAL : GD_ENOMEM);
		return;
	}
	r->has_key_id = 1;
	r->key_id.data = (uint8_t *)kr->key[0].id;
	r->key_id.len = sizeof(kr->key[0].id);
	gd_info("%s: %s %llu created for inode %llu%s, expires %llu, uid %u gid %u, \"%s\"",
		req->peer, (r->token->flags & GD_TOKEN_APIKEY) ? "API key" : "token",
		(unsigned long long)r->token->id, (unsigned long long)r->token->subtree,
		(r->token->flags & GD_TOKEN_READ_ONLY) ? " (read-only)" : "",
		(unsigned long long)r->token->expires, r->token->uid, r->token->gid,
		r->token->name ? r->token->name : "");
	meta_h_reply(ms, req, &r->base);
	/* the unpacked message must not free the keyring's bytes */
	r->key_id.data = NULL;
	r->has_key_id = 0;
	protobuf_c_message_free_unpacked(&r->base, &gd_pb_allocator);
}

static void revoke_applied(struct meta_server *ms, struct gd_request *req, int status,
			   struct meta_fsm_result *res, void *arg)
{
	(void)arg;
	if (!req)
		return;
	if (status || !res) {
		meta_h_reply_status(ms, req, status ? status : GD_EIO);
		return;
	}
	if (res->status == 0)
		gd_info("%s: token revoked (its connections are refused from their next request)",
			req->peer);
	if (res->resp)
		meta_h_reply_packed(ms, req, res->resp, res->resp_len);
	else
		meta_h_reply_status(ms, req, res->status ? res->status : GD_ENOMEM);
}

void meta_h_token_admin(struct meta_server *ms, struct gd_request *req)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct meta_fsm_result res;
	const struct gd_keyring *kr;

	/* Admin only (TOKEN_GET: also the gateway): the method table says so,
	 * and gd_server checked the role the handshake proved. */
	switch (req->hdr.method) {
	case M(TOKEN_LIST):
	case M(TOKEN_GET):
		meta_fsm_query_msg(ms->fsm, req->hdr.method, req->msg, &res);
		if (res.resp)
			meta_h_reply_packed(ms, req, res.resp, res.resp_len);
		else
			meta_h_reply_status(ms, req, res.status ? res.status : GD_ENOMEM);
		meta_fsm_result_release(&res);
		return;
	case M(TOKEN_CREATE):
		kr = gd_cred_keys();
		if (!kr || kr->n < 1) {
			gd_warn("%s: token create refused: this meta has no cluster key "
				"(a token's secret derives from it, and is checked with it)", req->peer);
			meta_h_reply_status(ms, req, GD_ENOTSUP);
			return;
		}
		break;
	case M(TOKEN_REVOKE):
		break;
	default:
		meta_h_reply_status(ms, req, GD_ENOTSUP);
		return;
	}
	e.has_method = 1;
	e.method = req->hdr.method;
	e.has_request = 1;
	e.request.data = req->pb;
	e.request.len = req->hdr.pb_len;
	meta_h_propose(ms, &e, req,
			    req->hdr.method == M(TOKEN_CREATE) ? create_applied : revoke_applied,
			    NULL);
}
