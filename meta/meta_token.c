/* Client tokens in the meta's replicated state (see meta_token.h). */
#include "meta_token.h"

#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_auth.h"
#include "gd_status.h"

#define M(name) GODFS__METHOD__M_##name

static void fill_info(Godfs__TokenInfo *i, const struct meta_ns_token *t)
{
	godfs__token_info__init(i);
	i->has_id = i->has_subtree = i->has_expires = i->has_flags = 1;
	i->has_created = i->has_revoked = 1;
	i->id = t->id;
	i->subtree = t->subtree;
	i->expires = t->expires;
	i->flags = t->flags;
	i->created = t->created;
	i->revoked = t->revoked;
	i->name = t->name;
	if (t->flags & GD_TOKEN_APIKEY) {
		i->has_uid = i->has_gid = 1;
		i->uid = t->uid;
		i->gid = t->gid;
	}
}

static int reply_token(struct meta_fsm_result *res, const struct meta_ns_token *t)
{
	Godfs__TokenResp m = GODFS__TOKEN_RESP__INIT;
	Godfs__TokenInfo i;

	fill_info(&i, t);
	m.has_status = 1;
	m.token = &i;
	return meta_fsm_result_pack(res, &m.base);
}

int meta_token_create(struct meta_ns_state *st, const Godfs__TokenCreate *r, int64_t now_sec,
		      struct meta_fsm_result *res)
{
	struct meta_ns_token t;
	struct meta_ns_inode *d;
	int rc;

	if (!r->has_subtree)
		return GD_EINVAL;
	d = meta_ns_map_get(&st->inodes, r->subtree);
	if (!d || d->nlink == 0)
		return GD_ENOENT;
	if (!S_ISDIR(d->mode))
		return GD_ENOTDIR;
	memset(&t, 0, sizeof(t));
	t.flags = r->has_flags ? r->flags : 0;
	t.expires = r->has_expires ? r->expires : 0;
	if ((t.flags & ~GD_TOKEN_FLAGS_KNOWN) ||
	    (t.expires && (now_sec < 0 || t.expires <= (uint64_t)now_sec)) ||
	    (r->name && strlen(r->name) > META_NS_TOKEN_NAME_MAX))
		return GD_EINVAL;
	/* an identity means something only for an API key */
	if (!(t.flags & GD_TOKEN_APIKEY) && ((r->has_uid && r->uid) || (r->has_gid && r->gid)))
		return GD_EINVAL;
	t.uid = r->has_uid ? r->uid : 0;
	t.gid = r->has_gid ? r->gid : 0;
	if (st->n_tokens >= META_NS_TOKENS_MAX)
		return GD_ENOSPC;
	t.id = st->next_token_id;
	t.subtree = r->subtree;
	t.created = now_sec;
	t.name = r->name ? r->name : (char *)"";
	rc = meta_ns_token_add(st, &t);
	if (rc)
		return rc;
	st->next_token_id++;
	/* An answer that cannot be packed: the token exists on every voter, the
	 * caller sees out_of_memory (meta_fsm_apply's rule). */
	return reply_token(res, &st->tokens[st->n_tokens - 1]);
}

int meta_token_revoke(struct meta_ns_state *st, const Godfs__TokenRevoke *r,
		      struct meta_fsm_result *res)
{
	struct meta_ns_token *t;

	if (!r->has_id || r->id == 0)
		return GD_EINVAL;
	t = meta_ns_token_find(st, r->id);
	if (!t)
		return GD_ENOENT;
	t->revoked = true;
	return reply_token(res, t);
}

int meta_token_list(const struct meta_ns_state *st, struct meta_fsm_result *res)
{
	Godfs__TokenListResp m = GODFS__TOKEN_LIST_RESP__INIT;
	Godfs__TokenInfo *infos = NULL, **ptrs = NULL;
	size_t i;
	int rc = GD_ENOMEM;

	if (st->n_tokens) {
		infos = gd_calloc(st->n_tokens, sizeof(*infos));
		ptrs = gd_calloc(st->n_tokens, sizeof(*ptrs));
		if (!infos || !ptrs)
			goto out;
	}
	for (i = 0; i < st->n_tokens; i++) {
		fill_info(&infos[i], &st->tokens[i]);
		ptrs[i] = &infos[i];
	}
	m.has_status = 1;
	m.n_tokens = st->n_tokens;
	m.tokens = ptrs;
	rc = meta_fsm_result_pack(res, &m.base);
out:
	gd_free(infos);
	gd_free(ptrs);
	return rc;
}

int meta_token_get(const struct meta_ns_state *st, const Godfs__TokenGet *r,
		   struct meta_fsm_result *res)
{
	const struct meta_ns_token *t;

	if (!r->has_id || r->id == 0)
		return GD_EINVAL;
	t = meta_ns_token_find(st, r->id);
	if (!t)
		return GD_ENOENT;
	return reply_token(res, t);
}

bool meta_token_identity(const struct meta_ns_state *st, uint64_t id, uint32_t *uid,
			 uint32_t *gid)
{
	const struct meta_ns_token *t = meta_ns_token_find(st, id);

	if (!t || !(t->flags & GD_TOKEN_APIKEY))
		return false;
	*uid = t->uid;
	*gid = t->gid;
	return true;
}

int meta_token_apply_identity(const Godfs__MetaEntry *e, uint32_t method, ProtobufCMessage *req)
{
	if (!e->has_as_uid || !e->has_as_gid || !req)
		return 0;
	switch (method) {
	case M(MKNOD): case M(MKDIR): case M(SYMLINK): case M(CREATE): {
		Godfs__Mknod *m = (Godfs__Mknod *)req;
		m->has_uid = m->has_gid = 1;
		m->uid = e->as_uid;
		m->gid = e->as_gid;
		return 0;
	}
	case M(SETATTR): {
		const Godfs__SetAttr *a = (const Godfs__SetAttr *)req;
		uint32_t v = a->has_valid ? a->valid : 0;
		if (e->as_uid == 0)
			return 0;    /* root inside its subtree, like a token mount */
		if ((v & GODFS__SET_ATTR_BITS__SA_UID) && a->uid != e->as_uid)
			return GD_EPERM;
		if ((v & GODFS__SET_ATTR_BITS__SA_GID) && a->gid != e->as_gid)
			return GD_EPERM;
		return 0;
	}
	default:
		return 0;
	}
}

int meta_token_valid(const struct meta_ns_state *st, uint64_t id, uint64_t subtree,
		     uint64_t expires, uint32_t flags, int64_t now_sec, const char **why)
{
	const struct meta_ns_token *t = meta_ns_token_find(st, id);

	if (!t) {
		*why = "unknown token";
		return GD_EAUTH;
	}
	if (t->revoked) {
		*why = "token revoked";
		return GD_EAUTH;
	}
	/* The fields are covered by the token's MAC; a mismatch means a token
	 * minted outside this table (someone holding the cluster key). */
	if (t->subtree != subtree || t->expires != expires || t->flags != flags) {
		*why = "token fields differ from the table";
		return GD_EAUTH;
	}
	if (t->expires && (now_sec < 0 || (uint64_t)now_sec >= t->expires)) {
		*why = "token expired";
		return GD_EAUTH;
	}
	return 0;
}
