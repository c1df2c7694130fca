/* Unit tests of client tokens in the meta: the subtree check
 * (meta/meta_scope.c) with the way up that the FSM keeps for every inode
 * (links, unlinks, renames), every method a forged request can use, and the
 * token table of the FSM (meta/meta_token.c): create, revoke, list, the
 * validity check, determinism, snapshots (format 4, and older formats whose
 * ways up are rebuilt on load), API keys (identity, TOKEN_GET, format 6). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <raft.h>

#include "gd_auth.h"
#include "gd_status.h"
#include "meta_fsm.h"
#include "meta_ns.h"
#include "meta_scope.h"
#include "meta_snap.h"
#include "meta_token.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name
#define ROOT 1
#define NOW 1764633600  /* 2025-12-02: the entries' clock */

/* ---- applying entries -------------------------------------------------------------- */

struct log {
	uint8_t *buf[128];
	size_t len[128];
	size_t n;
};

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	*len = protobuf_c_message_pack(m, b);
	return b;
}

/* Applies method(req) at NOW (logged for replay when lg is set), as an
 * API-key session with identity as[0], as[1] when as is set; returns the
 * status, res (may be NULL) gets the result. */
static int apply_as(struct meta_fsm *f, struct log *lg, uint32_t method,
		    const ProtobufCMessage *req, const uint32_t *as, struct meta_fsm_result *out)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	struct meta_fsm_result res;
	uint8_t *rb, *eb;
	size_t rl, el;
	int st;

	rb = pack_msg(req, &rl);
	if (as) {
		e.has_as_uid = e.has_as_gid = 1;
		e.as_uid = as[0];
		e.as_gid = as[1];
	}
	e.has_method = e.has_request = e.has_now_sec = 1;
	e.method = method;
	e.request.data = rb;
	e.request.len = rl;
	e.now_sec = NOW;
	eb = pack_msg(&e.base, &el);
	free(rb);
	assert_int_equal(meta_fsm_apply(f, eb, el, &res), 0);
	st = res.status;
	if (lg) {
		assert_true(lg->n < 128);
		lg->buf[lg->n] = eb;
		lg->len[lg->n++] = el;
	} else {
		free(eb);
	}
	if (out)
		*out = res;
	else
		meta_fsm_result_release(&res);
	return st;
}

static int apply(struct meta_fsm *f, struct log *lg, uint32_t method, const ProtobufCMessage *req,
		 struct meta_fsm_result *out)
{
	return apply_as(f, lg, method, req, NULL, out);
}

static void log_free(struct log *lg)
{
	size_t i;
	for (i = 0; i < lg->n; i++)
		free(lg->buf[i]);
	lg->n = 0;
}

static uint64_t ino_of(const struct meta_fsm_result *res)
{
	Godfs__AttrResp *a = godfs__attr_resp__unpack(NULL, res->resp_len, res->resp);
	uint64_t ino;
	assert_non_null(a);
	assert_non_null(a->attr);
	ino = a->attr->ino;
	godfs__attr_resp__free_unpacked(a, NULL);
	return ino;
}

static uint64_t mk(struct meta_fsm *f, struct log *lg, uint32_t method, uint64_t parent,
		   const char *name)
{
	Godfs__Mknod r = GODFS__MKNOD__INIT;
	struct meta_fsm_result res;
	uint64_t ino;

	r.has_parent = r.has_mode = 1;
	r.parent = parent;
	r.name = (char *)name;
	r.mode = method == M(MKDIR) ? (S_IFDIR | 0755) : (S_IFREG | 0644);
	assert_int_equal(apply(f, lg, method, &r.base, &res), 0);
	ino = ino_of(&res);
	meta_fsm_result_release(&res);
	return ino;
}

static void link_(struct meta_fsm *f, struct log *lg, uint64_t ino, uint64_t newparent,
		  const char *name)
{
	Godfs__Link r = GODFS__LINK__INIT;
	r.has_ino = r.has_newparent = 1;
	r.ino = ino;
	r.newparent = newparent;
	r.newname = (char *)name;
	assert_int_equal(apply(f, lg, M(LINK), &r.base, NULL), 0);
}

static void unlink_(struct meta_fsm *f, struct log *lg, uint64_t parent, const char *name)
{
	Godfs__NameReq r = GODFS__NAME_REQ__INIT;
	r.has_parent = 1;
	r.parent = parent;
	r.name = (char *)name;
	assert_int_equal(apply(f, lg, M(UNLINK), &r.base, NULL), 0);
}

static void rename_(struct meta_fsm *f, struct log *lg, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname, uint32_t flags)
{
	Godfs__Rename r = GODFS__RENAME__INIT;
	r.has_parent = r.has_newparent = 1;
	r.parent = parent;
	r.name = (char *)name;
	r.newparent = newparent;
	r.newname = (char *)newname;
	r.has_flags = flags != 0;
	r.flags = flags;
	assert_int_equal(apply(f, lg, M(RENAME), &r.base, NULL), 0);
}

static int inside(struct meta_fsm *f, uint64_t root, uint64_t ino)
{
	return meta_scope_inside(meta_fsm_state(f), root, ino);
}

/* Snapshots f, restores into a fresh FSM: the same bytes again. */
static struct meta_fsm *roundtrip(struct meta_fsm *f)
{
	struct meta_fsm *g;
	void *a, *b;
	size_t na, nb;

	assert_int_equal(meta_fsm_snapshot(f, &a, &na), 0);
	assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
	assert_int_equal(meta_fsm_restore(g, a, na), 0);
	assert_int_equal(meta_fsm_snapshot(g, &b, &nb), 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	raft_free(a);
	raft_free(b);
	return g;
}

/* ---- the subtree check ---------------------------------------------------------- */

/* /proj/sub/f, /proj/g, /other/o: inside and outside, directories and files. */
static void test_inside_basic(void **state)
{
	struct meta_fsm *f;
	uint64_t proj, sub, other, fi, g, o;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, NULL, M(MKDIR), ROOT, "proj");
	sub = mk(f, NULL, M(MKDIR), proj, "sub");
	other = mk(f, NULL, M(MKDIR), ROOT, "other");
	fi = mk(f, NULL, M(MKNOD), sub, "f");
	g = mk(f, NULL, M(MKNOD), proj, "g");
	o = mk(f, NULL, M(MKNOD), other, "o");

	assert_int_equal(inside(f, proj, proj), 0);
	assert_int_equal(inside(f, proj, sub), 0);
	assert_int_equal(inside(f, proj, fi), 0);
	assert_int_equal(inside(f, proj, g), 0);
	assert_int_equal(inside(f, proj, ROOT), GD_EACCES);
	assert_int_equal(inside(f, proj, other), GD_EACCES);
	assert_int_equal(inside(f, proj, o), GD_EACCES);
	assert_int_equal(inside(f, sub, g), GD_EACCES);
	assert_int_equal(inside(f, sub, proj), GD_EACCES);
	/* the root token contains everything; unknown inodes are ENOENT */
	assert_int_equal(inside(f, ROOT, o), 0);
	assert_int_equal(inside(f, proj, 9999), GD_ENOENT);
	assert_int_equal(inside(f, proj, 0), GD_ENOENT);
	/* a subtree that is a file contains only itself */
	assert_int_equal(inside(f, g, g), 0);
	assert_int_equal(inside(f, g, fi), GD_EACCES);
	meta_fsm_free(f);
}

/* Hard links, unlinks and renames keep a way up that never leaks: a file
 * whose recorded directory is outside stays outside even when linked inside,
 * a removed recorded link makes it unknown (refused), a new link or a rename
 * makes it known again. Every state survives a snapshot. */
static void test_inside_links_renames(void **state)
{
	struct meta_fsm *f, *g;
	uint64_t proj, other, sub, x, y, d;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, NULL, M(MKDIR), ROOT, "proj");
	other = mk(f, NULL, M(MKDIR), ROOT, "other");
	sub = mk(f, NULL, M(MKDIR), proj, "sub");
	x = mk(f, NULL, M(MKNOD), other, "x");

	/* linked into /proj by someone outside: its recorded way up is /other */
	link_(f, NULL, x, proj, "x");
	assert_int_equal(inside(f, proj, x), GD_EACCES);
	g = roundtrip(f);
	assert_int_equal(inside(g, proj, x), GD_EACCES);
	meta_fsm_free(g);
	/* the /other link goes: unknown, refused everywhere but from the root */
	unlink_(f, NULL, other, "x");
	assert_int_equal(inside(f, proj, x), GD_EACCES);
	assert_int_equal(inside(f, ROOT, x), 0);
	g = roundtrip(f);
	assert_int_equal(inside(g, proj, x), GD_EACCES);
	meta_fsm_free(g);
	/* a new link makes the way up known again */
	link_(f, NULL, x, sub, "x2");
	assert_int_equal(inside(f, proj, x), 0);
	assert_int_equal(inside(f, sub, x), 0);
	/* removing a link that is not the recorded one keeps it */
	unlink_(f, NULL, proj, "x");
	assert_int_equal(inside(f, sub, x), 0);
	/* rename out of the subtree: outside at once */
	rename_(f, NULL, sub, "x2", other, "x3", 0);
	assert_int_equal(inside(f, proj, x), GD_EACCES);
	rename_(f, NULL, other, "x3", proj, "back", 0);
	assert_int_equal(inside(f, proj, x), 0);

	/* a directory moved out takes its files with it */
	d = mk(f, NULL, M(MKDIR), sub, "d");
	y = mk(f, NULL, M(MKNOD), d, "y");
	assert_int_equal(inside(f, proj, y), 0);
	rename_(f, NULL, sub, "d", other, "d", 0);
	assert_int_equal(inside(f, proj, y), GD_EACCES);
	assert_int_equal(inside(f, proj, d), GD_EACCES);

	/* exchange: each side's way up follows */
	rename_(f, NULL, proj, "back", other, "d", 2 /* RENAME_EXCHANGE */);
	assert_int_equal(inside(f, proj, x), GD_EACCES);
	assert_int_equal(inside(f, proj, d), 0);
	assert_int_equal(inside(f, proj, y), 0);

	/* overwriting a file's recorded link while another remains */
	{
		uint64_t z = mk(f, NULL, M(MKNOD), proj, "z");
		uint64_t w = mk(f, NULL, M(MKNOD), proj, "w");
		link_(f, NULL, z, other, "z");
		rename_(f, NULL, proj, "w", proj, "z", 0); /* the /proj link of z goes */
		assert_int_equal(inside(f, proj, z), GD_EACCES);
		assert_int_equal(inside(f, proj, w), 0);
	}
	g = roundtrip(f);
	assert_int_equal(inside(g, proj, d), 0);
	assert_int_equal(inside(g, proj, x), GD_EACCES);
	meta_fsm_free(g);
	meta_fsm_free(f);
}

/* Every method a client can send, forged with an inode outside: refused;
 * the same inside: allowed; read-only: every write refused with EROFS. */
static void test_check_methods(void **state)
{
	struct meta_fsm *f;
	const struct meta_ns_state *st;
	uint64_t proj, other, in_f, out_f, bad;
	const char *why;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, NULL, M(MKDIR), ROOT, "proj");
	other = mk(f, NULL, M(MKDIR), ROOT, "other");
	in_f = mk(f, NULL, M(MKNOD), proj, "f");
	out_f = mk(f, NULL, M(MKNOD), other, "f");
	st = meta_fsm_state(f);

#define CHECK(method, msg, ro, want) do { \
		why = NULL; \
		assert_int_equal(meta_scope_check(st, proj, ro, M(method), &(msg).base, &why, &bad), \
				 want); \
		if (want) \
			assert_non_null(why); \
	} while (0)
	{
		Godfs__InodeReq r = GODFS__INODE_REQ__INIT;
		r.has_ino = 1;
		r.ino = out_f;
		CHECK(GETATTR, r, false, GD_EACCES);
		assert_int_equal(bad, out_f);
		CHECK(READLINK, r, false, GD_EACCES);
		CHECK(LISTXATTR, r, false, GD_EACCES);
		CHECK(STATFS, r, false, GD_EACCES);
		CHECK(RELEASE, r, false, GD_EACCES);
		r.ino = in_f;
		CHECK(GETATTR, r, true, 0);
		CHECK(RELEASE, r, true, 0);
		r.has_ino = 0;
		CHECK(GETATTR, r, false, GD_EINVAL);
	}
	{
		Godfs__Lookup r = GODFS__LOOKUP__INIT;
		r.has_parent = 1;
		r.parent = ROOT;
		r.name = "other";
		CHECK(LOOKUP, r, false, GD_EACCES);
		r.parent = proj;
		r.name = "f";
		CHECK(LOOKUP, r, true, 0);
		r.name = "..";
		CHECK(LOOKUP, r, false, GD_EACCES);
	}
	{
		Godfs__Readdir r = GODFS__READDIR__INIT;
		r.has_ino = 1;
		r.ino = ROOT;
		CHECK(READDIR, r, false, GD_EACCES);
		r.ino = proj;
		CHECK(READDIR, r, true, 0);
	}
	{
		Godfs__ChunkReq r = GODFS__CHUNK_REQ__INIT;
		r.has_ino = 1;
		r.ino = out_f;
		CHECK(CHUNK_LOCATE, r, false, GD_EACCES);
		CHECK(WRITE_LEASE, r, false, GD_EACCES);
		r.ino = in_f;
		CHECK(CHUNK_LOCATE, r, true, 0);
		CHECK(WRITE_LEASE, r, false, 0);
		CHECK(WRITE_LEASE, r, true, GD_EROFS);
	}
	{
		Godfs__Open r = GODFS__OPEN__INIT;
		r.has_ino = r.has_flags = 1;
		r.ino = out_f;
		r.flags = O_RDONLY;
		CHECK(OPEN, r, false, GD_EACCES);
		r.ino = in_f;
		CHECK(OPEN, r, true, 0);
		r.flags = O_WRONLY;
		CHECK(OPEN, r, true, GD_EROFS);
		r.flags = O_RDONLY | O_TRUNC;
		CHECK(OPEN, r, true, GD_EROFS);
		r.flags = O_RDWR;
		CHECK(OPEN, r, false, 0);
	}
	{
		Godfs__Mknod r = GODFS__MKNOD__INIT;
		r.has_parent = 1;
		r.parent = other;
		r.name = "n";
		CHECK(MKNOD, r, false, GD_EACCES);
		CHECK(MKDIR, r, false, GD_EACCES);
		CHECK(SYMLINK, r, false, GD_EACCES);
		r.parent = proj;
		CHECK(MKDIR, r, false, 0);
		CHECK(MKDIR, r, true, GD_EROFS);
	}
	{
		Godfs__Link r = GODFS__LINK__INIT;
		r.has_ino = r.has_newparent = 1;
		r.ino = out_f;       /* pulling a file in from outside */
		r.newparent = proj;
		CHECK(LINK, r, false, GD_EACCES);
		r.ino = in_f;        /* pushing one out */
		r.newparent = other;
		CHECK(LINK, r, false, GD_EACCES);
		r.newparent = proj;
		CHECK(LINK, r, false, 0);
		CHECK(LINK, r, true, GD_EROFS);
	}
	{
		Godfs__Rename r = GODFS__RENAME__INIT;
		r.has_parent = r.has_newparent = 1;
		r.parent = proj;
		r.newparent = other;
		CHECK(RENAME, r, false, GD_EACCES);
		r.parent = other;
		r.newparent = proj;
		CHECK(RENAME, r, false, GD_EACCES);
		r.parent = proj;
		CHECK(RENAME, r, false, 0);
		CHECK(RENAME, r, true, GD_EROFS);
	}
	{
		Godfs__NameReq r = GODFS__NAME_REQ__INIT;
		r.has_parent = 1;
		r.parent = other;
		CHECK(UNLINK, r, false, GD_EACCES);
		CHECK(RMDIR, r, false, GD_EACCES);
		r.parent = proj;
		CHECK(UNLINK, r, true, GD_EROFS);
	}
	{
		Godfs__SetAttr r = GODFS__SET_ATTR__INIT;
		Godfs__Xattr x = GODFS__XATTR__INIT;
		Godfs__WriteCommit w = GODFS__WRITE_COMMIT__INIT;
		Godfs__ChunkFailed c = GODFS__CHUNK_FAILED__INIT;
		r.has_ino = x.has_ino = w.has_ino = c.has_ino = 1;
		r.ino = x.ino = w.ino = c.ino = out_f;
		CHECK(SETATTR, r, false, GD_EACCES);
		CHECK(GETXATTR, x, false, GD_EACCES);
		CHECK(SETXATTR, x, false, GD_EACCES);
		CHECK(REMOVEXATTR, x, false, GD_EACCES);
		CHECK(WRITE_COMMIT, w, false, GD_EACCES);
		CHECK(CHUNK_FAILED, c, false, GD_EACCES);
		r.ino = x.ino = w.ino = c.ino = in_f;
		CHECK(SETATTR, r, true, GD_EROFS);
		CHECK(GETXATTR, x, true, 0);
		CHECK(SETXATTR, x, true, GD_EROFS);
		CHECK(WRITE_COMMIT, w, true, GD_EROFS);
		CHECK(CHUNK_FAILED, c, true, GD_EROFS);
		CHECK(SETATTR, r, false, 0);
	}
	{
		/* a reconnect may re-claim only its own files */
		Godfs__Hello h = GODFS__HELLO__INIT;
		uint64_t opens[2] = { in_f, out_f };
		h.n_open_inodes = 1;
		h.open_inodes = opens;
		CHECK(HELLO, h, true, 0);
		h.n_open_inodes = 2;
		CHECK(HELLO, h, true, GD_EACCES);
		/* a missing inode is passed over, not the end of the check */
		uint64_t gone_first[3] = { 999999, out_f, in_f };
		h.open_inodes = gone_first;
		h.n_open_inodes = 3;
		CHECK(HELLO, h, true, GD_EACCES);
		assert_int_equal(bad, out_f);
		gone_first[1] = in_f;
		CHECK(HELLO, h, true, 0);
		assert_int_equal(bad, 0);
	}
	{
		/* methods that are none of a token's business */
		Godfs__AdminStatus a = GODFS__ADMIN_STATUS__INIT;
		Godfs__TokenCreate t = GODFS__TOKEN_CREATE__INIT;
		Godfs__CsRegister c = GODFS__CS_REGISTER__INIT;
		CHECK(ADMIN_STATUS, a, false, GD_EPERM);
		CHECK(TOKEN_CREATE, t, false, GD_EPERM);
		CHECK(CS_REGISTER, c, false, GD_EPERM);
	}
	assert_int_equal(meta_scope_check(st, proj, true, M(PING), NULL, &why, &bad), 0);
#undef CHECK
	meta_fsm_free(f);
}

/* What a reconnecting client may re-claim: only inodes that exist (an open
 * pins chunks: a purged file, a number not yet allocated) and, for a token,
 * inside its subtree; an orphan still open stays re-claimable. */
static void test_reclaimable(void **state)
{
	struct meta_fsm *f;
	const struct meta_ns_state *st;
	uint64_t proj, other, in_f, out_f, orphan, out[8];
	size_t n;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, NULL, M(MKDIR), ROOT, "proj");
	other = mk(f, NULL, M(MKDIR), ROOT, "other");
	in_f = mk(f, NULL, M(MKNOD), proj, "f");
	out_f = mk(f, NULL, M(MKNOD), other, "o");
	orphan = mk(f, NULL, M(MKNOD), proj, "gone");
	unlink_(f, NULL, proj, "gone");
	st = meta_fsm_state(f);
	{
		const uint64_t opens[6] = { 999999, in_f, out_f, 0, orphan, 999999 };

		n = meta_scope_reclaimable(st, proj, opens, 6, out);
		assert_int_equal(n, 2);
		assert_int_equal(out[0], in_f);
		assert_int_equal(out[1], orphan);
		n = meta_scope_reclaimable(st, ROOT, opens, 6, out);
		assert_int_equal(n, 3);
		assert_int_equal(out[0], in_f);
		assert_int_equal(out[1], out_f);
		assert_int_equal(out[2], orphan);
		n = meta_scope_reclaimable(st, ROOT, opens, 1, out);
		assert_int_equal(n, 0);
		n = meta_scope_reclaimable(st, ROOT, opens, 0, out);
		assert_int_equal(n, 0);
	}
	meta_fsm_free(f);
}

/* A walk deeper than META_SCOPE_DEPTH_MAX is refused, not followed forever. */
static void test_inside_depth(void **state)
{
	struct meta_fsm *f;
	uint64_t top, d;
	unsigned i;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	top = d = mk(f, NULL, M(MKDIR), ROOT, "top");
	for (i = 0; i < META_SCOPE_DEPTH_MAX + 2; i++)
		d = mk(f, NULL, M(MKDIR), d, "d");
	assert_int_equal(inside(f, top, d), GD_EACCES);
	assert_int_equal(inside(f, ROOT, d), 0);
	meta_fsm_free(f);
}

/* ---- the token table ---------------------------------------------------------------- */

static int create(struct meta_fsm *f, struct log *lg, uint64_t subtree, uint32_t flags,
		  uint64_t expires, const char *name, Godfs__TokenInfo **info)
{
	Godfs__TokenCreate r = GODFS__TOKEN_CREATE__INIT;
	struct meta_fsm_result res;
	int st;

	r.has_subtree = 1;
	r.subtree = subtree;
	r.has_flags = flags != 0;
	r.flags = flags;
	r.has_expires = expires != 0;
	r.expires = expires;
	r.name = (char *)name;
	st = apply(f, lg, M(TOKEN_CREATE), &r.base, &res);
	if (info && st == 0) {
		Godfs__TokenResp *t = godfs__token_resp__unpack(NULL, res.resp_len, res.resp);
		assert_non_null(t);
		assert_non_null(t->token);
		/* only the fields: the leader adds its key's id, and the
		 * secret is never in a reply (godfs-admin derives it) */
		assert_false(t->has_key_id);
		assert_int_equal(t->base.n_unknown_fields, 0);
		*info = t->token;
		t->token = NULL;
		godfs__token_resp__free_unpacked(t, NULL);
	}
	meta_fsm_result_release(&res);
	return st;
}

static int revoke(struct meta_fsm *f, struct log *lg, uint64_t id)
{
	Godfs__TokenRevoke r = GODFS__TOKEN_REVOKE__INIT;
	r.has_id = 1;
	r.id = id;
	return apply(f, lg, M(TOKEN_REVOKE), &r.base, NULL);
}

static Godfs__TokenListResp *list(struct meta_fsm *f)
{
	Godfs__TokenList r = GODFS__TOKEN_LIST__INIT;
	struct meta_fsm_result res;
	Godfs__TokenListResp *l;
	uint8_t buf[8];
	size_t n = protobuf_c_message_pack(&r.base, buf);

	assert_int_equal(meta_fsm_query(f, M(TOKEN_LIST), buf, n, &res), 0);
	assert_int_equal(res.status, 0);
	l = godfs__token_list_resp__unpack(NULL, res.resp_len, res.resp);
	assert_non_null(l);
	meta_fsm_result_release(&res);
	return l;
}

static void test_tokens_fsm(void **state)
{
	struct meta_fsm *f, *g;
	struct log lg = { .n = 0 };
	Godfs__TokenInfo *a = NULL, *b = NULL;
	Godfs__TokenListResp *l;
	const struct meta_ns_state *st;
	const char *why;
	uint64_t proj, file, gen;
	size_t i;
	void *s1, *s2;
	size_t n1, n2;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, &lg, M(MKDIR), ROOT, "proj");
	file = mk(f, &lg, M(MKNOD), proj, "file");
	gen = meta_fsm_tokens_gen(f);

	assert_int_equal(create(f, &lg, proj, 0, 0, "ci", &a), 0);
	assert_int_equal(create(f, &lg, proj, GD_TOKEN_READ_ONLY, NOW + 3600, NULL, &b), 0);
	assert_true(meta_fsm_tokens_gen(f) != gen);
	assert_int_equal(a->id, 1);
	assert_int_equal(b->id, 2);
	assert_int_equal(a->subtree, proj);
	assert_int_equal(a->created, NOW);
	assert_string_equal(a->name, "ci");
	assert_int_equal(b->flags, GD_TOKEN_READ_ONLY);
	assert_int_equal(b->expires, NOW + 3600);

	/* refused: not a directory, missing, past expiry, unknown flags, long name */
	assert_int_equal(create(f, &lg, file, 0, 0, NULL, NULL), GD_ENOTDIR);
	assert_int_equal(create(f, &lg, 999, 0, 0, NULL, NULL), GD_ENOENT);
	assert_int_equal(create(f, &lg, proj, 0, NOW, NULL, NULL), GD_EINVAL);
	assert_int_equal(create(f, &lg, proj, 8, 0, NULL, NULL), GD_EINVAL);
	{
		char longname[META_NS_TOKEN_NAME_MAX + 2];
		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(create(f, &lg, proj, 0, 0, longname, NULL), GD_EINVAL);
	}

	/* the validity check the meta makes on every request */
	st = meta_fsm_state(f);
	assert_int_equal(meta_token_valid(st, 1, proj, 0, 0, NOW + 999999, &why), 0);
	assert_int_equal(meta_token_valid(st, 2, proj, NOW + 3600, 1, NOW, &why), 0);
	assert_int_equal(meta_token_valid(st, 2, proj, NOW + 3600, 1, NOW + 3600, &why), GD_EAUTH);
	assert_string_equal(why, "token expired");
	assert_int_equal(meta_token_valid(st, 3, proj, 0, 0, NOW, &why), GD_EAUTH);
	assert_int_equal(meta_token_valid(st, 1, ROOT, 0, 0, NOW, &why), GD_EAUTH);
	assert_int_equal(meta_token_valid(st, 1, proj, 0, GD_TOKEN_READ_ONLY, NOW, &why), GD_EAUTH);

	/* revoke: at once, twice is fine, unknown ids are not */
	gen = meta_fsm_tokens_gen(f);
	assert_int_equal(revoke(f, &lg, 1), 0);
	assert_true(meta_fsm_tokens_gen(f) != gen);
	assert_int_equal(meta_token_valid(st, 1, proj, 0, 0, NOW, &why), GD_EAUTH);
	assert_string_equal(why, "token revoked");
	assert_int_equal(revoke(f, &lg, 1), 0);
	assert_int_equal(revoke(f, &lg, 77), GD_ENOENT);
	assert_int_equal(meta_token_valid(st, 2, proj, NOW + 3600, 1, NOW, &why), 0);

	l = list(f);
	assert_int_equal(l->n_tokens, 2);
	assert_int_equal(l->tokens[0]->id, 1);
	assert_true(l->tokens[0]->revoked);
	assert_false(l->tokens[1]->revoked);
	godfs__token_list_resp__free_unpacked(l, NULL);

	/* snapshots keep the table and the counter: the next id is 3 */
	g = roundtrip(f);
	st = meta_fsm_state(g);
	assert_int_equal(meta_token_valid(st, 1, proj, 0, 0, NOW, &why), GD_EAUTH);
	assert_int_equal(meta_token_valid(st, 2, proj, NOW + 3600, 1, NOW, &why), 0);
	godfs__token_info__free_unpacked(a, NULL);
	a = NULL;
	assert_int_equal(create(g, NULL, proj, 0, 0, "after", &a), 0);
	assert_int_equal(a->id, 3);
	meta_fsm_free(g);

	/* the same log gives the same state on another voter */
	assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
	for (i = 0; i < lg.n; i++) {
		struct meta_fsm_result res;
		assert_int_equal(meta_fsm_apply(g, lg.buf[i], lg.len[i], &res), 0);
		meta_fsm_result_release(&res);
	}
	assert_int_equal(meta_fsm_snapshot(f, &s1, &n1), 0);
	assert_int_equal(meta_fsm_snapshot(g, &s2, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(s1, s2, n1);
	raft_free(s1);
	raft_free(s2);
	meta_fsm_free(g);

	godfs__token_info__free_unpacked(a, NULL);
	godfs__token_info__free_unpacked(b, NULL);
	log_free(&lg);
	meta_fsm_free(f);
}

static Godfs__TokenInfo *token_get(struct meta_fsm *f, uint64_t id, int *status)
{
	Godfs__TokenGet r = GODFS__TOKEN_GET__INIT;
	struct meta_fsm_result res;
	Godfs__TokenResp *t;
	Godfs__TokenInfo *i = NULL;
	uint8_t buf[16];
	size_t n;

	r.has_id = 1;
	r.id = id;
	n = protobuf_c_message_pack(&r.base, buf);
	assert_int_equal(meta_fsm_query(f, M(TOKEN_GET), buf, n, &res), 0);
	*status = res.status;
	if (res.status == 0) {
		t = godfs__token_resp__unpack(NULL, res.resp_len, res.resp);
		assert_non_null(t);
		i = t->token;
		t->token = NULL;
		godfs__token_resp__free_unpacked(t, NULL);
	}
	meta_fsm_result_release(&res);
	return i;
}

static Godfs__Attr *getattr(struct meta_fsm *f, uint64_t ino)
{
	Godfs__InodeReq r = GODFS__INODE_REQ__INIT;
	struct meta_fsm_result res;
	Godfs__AttrResp *a;
	Godfs__Attr *attr;
	uint8_t buf[32];
	size_t n;

	r.has_ino = 1;
	r.ino = ino;
	n = protobuf_c_message_pack(&r.base, buf);
	assert_int_equal(meta_fsm_query(f, M(GETATTR), buf, n, &res), 0);
	assert_int_equal(res.status, 0);
	a = godfs__attr_resp__unpack(NULL, res.resp_len, res.resp);
	assert_non_null(a);
	attr = a->attr;
	a->attr = NULL;
	godfs__attr_resp__free_unpacked(a, NULL);
	meta_fsm_result_release(&res);
	return attr;
}

/* API keys: tokens with an identity. Created with uid/gid (a plain token
 * with one is refused), fetched by id (TOKEN_GET), kept by snapshots; an
 * entry of an API-key session creates as the key's owner whatever the
 * request says, and a non-root key may chown only to itself. */
static void test_apikeys_fsm(void **state)
{
	Godfs__TokenCreate r = GODFS__TOKEN_CREATE__INIT;
	Godfs__Mknod mr = GODFS__MKNOD__INIT;
	Godfs__SetAttr sa = GODFS__SET_ATTR__INIT;
	struct meta_fsm_result res;
	struct meta_fsm *f, *g;
	Godfs__TokenInfo *i;
	Godfs__Attr *attr;
	const uint32_t as[2] = { 1000, 100 }, as_root[2] = { 0, 0 };
	uint32_t uid, gid;
	uint64_t proj, x;
	int st;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, NULL, M(MKDIR), ROOT, "proj");
	/* a plain token (1) cannot carry an identity */
	r.has_subtree = r.has_uid = r.has_gid = r.has_flags = 1;
	r.subtree = proj;
	r.uid = 1000;
	r.gid = 100;
	r.flags = GD_TOKEN_READ_ONLY;
	assert_int_equal(apply(f, NULL, M(TOKEN_CREATE), &r.base, NULL), GD_EINVAL);
	assert_int_equal(create(f, NULL, proj, 0, 0, "plain", NULL), 0);
	r.flags = GD_TOKEN_APIKEY;
	r.name = (char *)"web";
	assert_int_equal(apply(f, NULL, M(TOKEN_CREATE), &r.base, &res), 0);
	meta_fsm_result_release(&res);
	i = token_get(f, 2, &st);
	assert_int_equal(st, 0);
	assert_int_equal(i->flags, GD_TOKEN_APIKEY);
	assert_true(i->has_uid && i->has_gid);
	assert_int_equal(i->uid, 1000);
	assert_int_equal(i->gid, 100);
	assert_int_equal(i->subtree, proj);
	assert_string_equal(i->name, "web");
	godfs__token_info__free_unpacked(i, NULL);
	i = token_get(f, 1, &st);
	assert_false(i->has_uid);      /* a plain token shows no identity */
	godfs__token_info__free_unpacked(i, NULL);
	assert_null(token_get(f, 3, &st));
	assert_int_equal(st, GD_ENOENT);
	assert_null(token_get(f, 0, &st));
	assert_int_equal(st, GD_EINVAL);
	assert_true(meta_token_identity(meta_fsm_state(f), 2, &uid, &gid));
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 100);
	assert_false(meta_token_identity(meta_fsm_state(f), 1, &uid, &gid));
	assert_false(meta_token_identity(meta_fsm_state(f), 9, &uid, &gid));

	/* the key's session asks for root's file: it gets its own */
	mr.has_parent = mr.has_mode = mr.has_uid = mr.has_gid = 1;
	mr.parent = proj;
	mr.name = (char *)"x";
	mr.mode = S_IFREG | 0644;
	mr.uid = 0;
	mr.gid = 0;
	assert_int_equal(apply_as(f, NULL, M(MKNOD), &mr.base, as, &res), 0);
	x = ino_of(&res);
	meta_fsm_result_release(&res);
	attr = getattr(f, x);
	assert_int_equal(attr->uid, 1000);
	assert_int_equal(attr->gid, 100);
	godfs__attr__free_unpacked(attr, NULL);
	/* chown: to someone else refused, to itself fine; a root key may */
	sa.has_ino = sa.has_valid = sa.has_uid = 1;
	sa.ino = x;
	sa.valid = GODFS__SET_ATTR_BITS__SA_UID;
	sa.uid = 0;
	assert_int_equal(apply_as(f, NULL, M(SETATTR), &sa.base, as, NULL), GD_EPERM);
	sa.valid = GODFS__SET_ATTR_BITS__SA_GID;
	sa.has_gid = 1;
	sa.gid = 0;
	assert_int_equal(apply_as(f, NULL, M(SETATTR), &sa.base, as, NULL), GD_EPERM);
	sa.gid = 100;
	assert_int_equal(apply_as(f, NULL, M(SETATTR), &sa.base, as, NULL), 0);
	sa.valid = GODFS__SET_ATTR_BITS__SA_UID;
	sa.uid = 1000;
	assert_int_equal(apply_as(f, NULL, M(SETATTR), &sa.base, as, NULL), 0);
	sa.uid = 7;
	assert_int_equal(apply_as(f, NULL, M(SETATTR), &sa.base, as_root, NULL), 0);
	attr = getattr(f, x);
	assert_int_equal(attr->uid, 7);
	godfs__attr__free_unpacked(attr, NULL);
	/* without an identity the request's owner stands (a mount) */
	mr.name = (char *)"y";
	mr.uid = 5;
	assert_int_equal(apply(f, NULL, M(MKNOD), &mr.base, &res), 0);
	x = ino_of(&res);
	meta_fsm_result_release(&res);
	attr = getattr(f, x);
	assert_int_equal(attr->uid, 5);
	godfs__attr__free_unpacked(attr, NULL);

	/* snapshots keep the identity */
	g = roundtrip(f);
	assert_true(meta_token_identity(meta_fsm_state(g), 2, &uid, &gid));
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 100);
	meta_fsm_free(g);
	meta_fsm_free(f);
}

/* Re-signs a forged snapshot (trailer checksum). */
static void resign(uint8_t *p, size_t n)
{
	uint64_t h = meta_snap_checksum(p, n - 8);
	size_t i;
	for (i = 0; i < 8; i++)
		p[n - 8 + i] = (uint8_t)(h >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;
	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;
	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The inode record of ino in a snapshot: its offset (ino, then generation,
 * then the mode at +16). */
static size_t find_inode(const uint8_t *p, size_t n, uint64_t ino, uint32_t mode)
{
	size_t i;
	for (i = 24; i + 20 < n; i++) {
		uint32_t m = (uint32_t)p[i + 16] | (uint32_t)p[i + 17] << 8 |
			     (uint32_t)p[i + 18] << 16 | (uint32_t)p[i + 19] << 24;
		if (get_u64(p + i) == ino && m == mode)
			return i;
	}
	fail_msg("inode %llu not found in the snapshot", (unsigned long long)ino);
	return 0;
}

#define PARENT_OFF 88   /* of an inode record: the way up */

/* Makes a format 7 snapshot without locks (an empty lock table: a u32 blob
 * length 8 and a u64 count 0 before the trailer) a format 6 one, which must
 * load; returns its length. */
static size_t to_v6(uint8_t *s, size_t n)
{
	struct meta_fsm *g;

	assert_int_equal(s[8], 7);
	assert_int_equal(get_u64(s + n - 8 - 8), 0);
	assert_int_equal(s[n - 8 - 12], 8);
	memmove(s + n - 8 - 12, s + n - 8, 8);
	n -= 12;
	s[8] = 6;
	put_u64(s + 16, n - 24 - 8);
	resign(s, n);
	assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
	assert_int_equal(meta_fsm_restore(g, s, n), 0);
	meta_fsm_free(g);
	return n;
}

/* A format 3 snapshot (no tokens, no ways up for files) loads with the ways
 * up rebuilt from the entries (the lowest directory holding a link); a format
 * 4 snapshot whose file names a way up that holds no link is refused. */
static void test_snapshot_formats(void **state)
{
	struct meta_fsm *f, *g;
	uint64_t a, b, x;
	uint8_t *s, *v3;
	void *buf;
	size_t n, off;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	a = mk(f, NULL, M(MKDIR), ROOT, "a");
	b = mk(f, NULL, M(MKDIR), ROOT, "b");
	x = mk(f, NULL, M(MKNOD), b, "x");
	link_(f, NULL, x, a, "x");
	assert_int_equal(meta_fsm_snapshot(f, &buf, &n), 0);
	s = buf;
	n = to_v6(s, n);
	off = find_inode(s, n, x, S_IFREG | 0644);
	assert_int_equal(get_u64(s + off + PARENT_OFF), b);

	/* format 4 with a forged way up (the root holds no link of x) */
	v3 = malloc(n);
	assert_non_null(v3);
	memcpy(v3, s, n);
	put_u64(v3 + off + PARENT_OFF, ROOT);
	resign(v3, n);
	assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
	assert_int_equal(meta_fsm_restore(g, v3, n), GD_EPROTO);

	/* format 3: no way up for x, no tokens, no draining nodes (24 bytes
	 * shorter than format 5) */
	memcpy(v3, s, n);
	put_u64(v3 + off + PARENT_OFF, 0);
	assert_int_equal(get_u64(v3 + n - 8 - 24), 1);   /* next token id */
	assert_int_equal(get_u64(v3 + n - 8 - 16), 0);   /* no tokens */
	assert_int_equal(get_u64(v3 + n - 8 - 8), 0);    /* no node draining */
	v3[8] = 3;
	put_u64(v3 + 16, n - 24 - 24 - 8);
	resign(v3, n - 24);
	assert_int_equal(meta_fsm_restore(g, v3, n - 24), 0);
	/* rebuilt: the lowest-numbered directory holding a link */
	assert_int_equal(inside(g, a, x), 0);
	assert_int_equal(inside(g, b, x), GD_EACCES);
	/* and a format 3 file that names a way up is refused */
	put_u64(v3 + off + PARENT_OFF, b);
	resign(v3, n - 24);
	assert_int_equal(meta_fsm_restore(g, v3, n - 24), GD_EPROTO);
	free(v3);
	raft_free(buf);
	meta_fsm_free(g);
	meta_fsm_free(f);
}

/* A format 5 snapshot (tokens without uid/gid) loads; one that claims an
 * API key is refused (format 5 had none). */
static void test_snapshot_v5_tokens(void **state)
{
	struct meta_fsm *f, *g;
	const char *why;
	uint64_t proj;
	uint8_t *v5;
	void *buf;
	size_t n;

	(void)state;
	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	proj = mk(f, NULL, M(MKDIR), ROOT, "proj");
	assert_int_equal(create(f, NULL, proj, GD_TOKEN_READ_ONLY, 0, "", NULL), 0);
	assert_int_equal(meta_fsm_snapshot(f, &buf, &n), 0);
	n = to_v6(buf, n);
	/* the end: ... flags, revoked, name "", uid, gid | drain count | trailer */
	v5 = malloc(n);
	assert_non_null(v5);
	memcpy(v5, buf, n);
	assert_int_equal(get_u64(v5 + n - 8 - 8), 0);          /* no draining */
	assert_int_equal(get_u64(v5 + n - 8 - 8 - 8), 0);      /* uid, gid 0 */
	memmove(v5 + n - 8 - 8 - 8, v5 + n - 8 - 8, 16);
	v5[8] = 5;
	put_u64(v5 + 16, n - 8 - 24 - 8);
	resign(v5, n - 8);
	assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
	assert_int_equal(meta_fsm_restore(g, v5, n - 8), 0);
	assert_int_equal(meta_token_valid(meta_fsm_state(g), 1, proj, 0, GD_TOKEN_READ_ONLY, NOW,
					  &why), 0);
	meta_fsm_free(g);
	/* an API-key flag in format 5: refused */
	{
		uint8_t *flags = v5 + n - 8 - 8 - 8 - 4 - 1 - 4;   /* name blob: u32 length 0 */
		assert_int_equal(flags[0], GD_TOKEN_READ_ONLY);
		flags[0] |= GD_TOKEN_APIKEY;
		resign(v5, n - 8);
		assert_int_equal(meta_fsm_new(1u << 20, &g), 0);
		assert_int_equal(meta_fsm_restore(g, v5, n - 8), GD_EPROTO);
		meta_fsm_free(g);
	}
	free(v5);
	raft_free(buf);
	meta_fsm_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inside_basic),
		cmocka_unit_test(test_inside_links_renames),
		cmocka_unit_test(test_check_methods),
		cmocka_unit_test(test_reclaimable),
		cmocka_unit_test(test_inside_depth),
		cmocka_unit_test(test_tokens_fsm),
		cmocka_unit_test(test_apikeys_fsm),
		cmocka_unit_test(test_snapshot_v5_tokens),
		cmocka_unit_test(test_snapshot_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
