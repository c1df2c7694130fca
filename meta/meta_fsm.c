/* The meta's deterministic state machine (see meta_fsm.h): decodes committed
 * MetaEntry records and read-only requests, applies them to the namespace of
 * meta_ns.c with the errno rules of a Linux file system, and packs the wire
 * response. Snapshots are in meta_snap.c.
 *
 * Determinism: everything an apply uses comes from the entry (time, session,
 * chain) or from the state; ids come from counters in the state. Allocation
 * that can fail is done before the state changes wherever possible, so that an
 * ENOMEM answer leaves the state as it was. */
#include "meta_fsm.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_frame.h"
#include "gd_methods.h"
#include "gd_status.h"
#include "meta_acl.h"
#include "meta_ns.h"
#include "meta_perm.h"
#include "meta_snap.h"
#include "meta_drain.h"
#include "meta_fsm_lock.h"
#include "meta_token.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name
#define FSM(name) GODFS__FSM_METHOD__M_FSM_##name

/* Largest file size: byte offsets stay representable as off_t. */
#define META_MAX_FILE_SIZE ((uint64_t)INT64_MAX)
#define READDIR_MAX_ENTRIES 1024
/* Room kept in a readdir answer for the status, leader and eof fields. */
#define READDIR_HEADROOM 1024

struct meta_fsm {
	struct meta_ns_state st;
	uint64_t tokens_gen;    /* bumped when the token table may have changed */
};

/* One apply or query in progress. */
struct op {
	struct meta_ns_state *st;
	const Godfs__MetaEntry *e;  /* NULL for a query */
	int64_t now_sec;
	uint32_t now_nsec;
	struct meta_fsm_result *res;
	size_t cap_freed;
};

/* protobuf-c allocations go through gd_malloc so that tests can fail them;
 * data, when set, is a bool that says an allocation failed (an unpack that
 * fails for want of memory is not a malformed entry). */

/* ---- results ------------------------------------------------------------------- */

void meta_fsm_result_release(struct meta_fsm_result *r)
{
	size_t i, j;
	if (!r)
		return;
	gd_free(r->resp);
	for (i = 0; i < r->n_freed; i++) {
		for (j = 0; j < r->freed[i].n_nodes; j++)
			gd_free(r->freed[i].nodes[j]);
		gd_free(r->freed[i].nodes);
	}
	gd_free(r->freed);
	meta_locks_grants_release(&r->grants);
	memset(r, 0, sizeof(*r));
}

int meta_fsm_result_pack(struct meta_fsm_result *res, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = gd_malloc(n ? n : 1);

	if (!buf) {
		res->out_of_memory = true;
		return GD_ENOMEM;
	}
	protobuf_c_message_pack(m, buf);
	gd_free(res->resp);
	res->resp = buf;
	res->resp_len = n;
	return 0;
}

/* The applies below answer whatever happens: an allocation failure is
 * res->out_of_memory, which meta_fsm_apply turns into the entry's status. */
static void pack_reply(struct meta_fsm_result *res, const ProtobufCMessage *m)
{
	(void)meta_fsm_result_pack(res, m);
}

/* A reply with nothing but a status. Every *Resp of wire.proto carries status
 * as field 1, so these bytes are also a valid AttrResp, ChunkResp, ... */
static void reply_status(struct meta_fsm_result *res, int status)
{
	Godfs__StatusResp m = GODFS__STATUS_RESP__INIT;
	m.has_status = 1;
	m.status = status;
	pack_reply(res, &m.base);
}

static void fill_attr(Godfs__Attr *a, const struct meta_ns_inode *in);

/* A success with the attributes of the directory a removal left
 * (StatusResp.parent). */
static int reply_status_parent(struct op *op, const struct meta_ns_inode *p)
{
	Godfs__StatusResp m = GODFS__STATUS_RESP__INIT;
	Godfs__Attr pa;

	fill_attr(&pa, p);
	m.has_status = 1;
	m.status = 0;
	m.parent = &pa;
	pack_reply(op->res, &m.base);
	return 0;
}

static void fill_attr(Godfs__Attr *a, const struct meta_ns_inode *in)
{
	godfs__attr__init(a);
	a->has_ino = a->has_generation = a->has_mode = a->has_uid = a->has_gid = 1;
	a->has_nlink = a->has_size = a->has_atime_sec = a->has_atime_nsec = 1;
	a->has_mtime_sec = a->has_mtime_nsec = a->has_ctime_sec = a->has_ctime_nsec = 1;
	a->has_rdev = a->has_goal = 1;
	a->ino = in->ino;
	a->generation = in->generation;
	a->mode = in->mode;
	a->uid = in->uid;
	a->gid = in->gid;
	a->nlink = in->nlink;
	a->size = in->size;
	a->atime_sec = in->atime_sec;
	a->atime_nsec = in->atime_nsec;
	a->mtime_sec = in->mtime_sec;
	a->mtime_nsec = in->mtime_nsec;
	a->ctime_sec = in->ctime_sec;
	a->ctime_nsec = in->ctime_nsec;
	a->rdev = in->rdev;
	a->goal = in->goal;
}

/* An AttrResp of in; with p, also the attributes of the directory a change
 * of a name in it left (AttrResp.parent). */
static int reply_attr_in(struct op *op, const struct meta_ns_inode *in,
			 const struct meta_ns_inode *p)
{
	Godfs__AttrResp m = GODFS__ATTR_RESP__INIT;
	Godfs__Attr a, pa;

	fill_attr(&a, in);
	m.has_status = 1;
	m.status = 0;
	m.attr = &a;
	if (S_ISREG(in->mode)) {
		m.has_trunc_seq = 1;
		m.trunc_seq = in->trunc_seq;
	}
	if (p) {
		fill_attr(&pa, p);
		m.parent = &pa;
	}
	pack_reply(op->res, &m.base);
	return 0;
}

static int reply_attr(struct op *op, const struct meta_ns_inode *in)
{
	return reply_attr_in(op, in, NULL);
}

static int reply_chunk(struct op *op, const struct meta_ns_chunk *c,
		       const struct meta_ns_inode *in)
{
	Godfs__ChunkResp m = GODFS__CHUNK_RESP__INIT;

	m.has_status = 1;
	m.has_chunk_id = 1;
	m.has_file_size = 1;
	m.file_size = in->size;
	m.has_trunc_seq = 1;
	m.trunc_seq = in->trunc_seq;
	if (c) {
		m.chunk_id = c->chunk_id;
		m.has_version = m.has_prev_version = 1;
		m.version = c->version;
		m.prev_version = c->prev_version;
		m.n_chain = c->n_nodes;
		m.chain = c->nodes;
	}
	pack_reply(op->res, &m.base);
	return 0;
}

/* Makes room for n more freed chunks in the result, before the state changes. */
static int reserve_freed(struct op *op, size_t n)
{
	struct meta_fsm_result *r = op->res;
	struct meta_fsm_freed *a;
	size_t want = r->n_freed + n;

	if (want <= op->cap_freed)
		return 0;
	a = gd_realloc(r->freed, want * sizeof(*a));
	if (!a)
		return GD_ENOMEM;
	r->freed = a;
	op->cap_freed = want;
	return 0;
}

/* Drops chunk record c (room reserved): it leaves the chunk map, its copies go
 * to the result for deletion. The caller removes it from the inode's table. */
static void free_chunk(struct op *op, struct meta_ns_chunk *c)
{
	struct meta_fsm_freed *fr = &op->res->freed[op->res->n_freed++];

	meta_ns_map_del(&op->st->chunks, c->chunk_id);
	fr->chunk_id = c->chunk_id;
	fr->version = c->version;
	fr->nodes = c->nodes;
	fr->n_nodes = c->n_nodes;
	c->nodes = NULL;
	c->n_nodes = 0;
	meta_ns_chunk_free(c);
}

/* ---- helpers on inodes ----------------------------------------------------------- */

static struct meta_ns_inode *get_inode(struct meta_ns_state *st, uint64_t ino)
{
	return meta_ns_map_get(&st->inodes, ino);
}

/* The directory ino: GD_ENOENT if missing (or, with for_create, removed),
 * GD_ENOTDIR if not a directory. */
static int get_dir(struct meta_ns_state *st, uint64_t ino, bool for_create,
		   struct meta_ns_inode **out)
{
	struct meta_ns_inode *d = get_inode(st, ino);
	if (!d)
		return GD_ENOENT;
	if (!S_ISDIR(d->mode))
		return GD_ENOTDIR;
	if (for_create && d->nlink == 0)
		return GD_ENOENT;
	*out = d;
	return 0;
}

static void set_mtime_ctime(struct op *op, struct meta_ns_inode *in)
{
	in->mtime_sec = in->ctime_sec = op->now_sec;
	in->mtime_nsec = in->ctime_nsec = op->now_nsec;
}

static void set_ctime(struct op *op, struct meta_ns_inode *in)
{
	in->ctime_sec = op->now_sec;
	in->ctime_nsec = op->now_nsec;
}

static int is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Whether directory a is d or one of d's ancestors. */
static bool is_ancestor(struct meta_ns_state *st, const struct meta_ns_inode *a,
			const struct meta_ns_inode *d)
{
	size_t guard = st->inodes.count + 1;
	while (d && guard--) {
		if (d == a)
			return true;
		if (d->ino == META_NS_ROOT_INO || d->nlink == 0)
			return false;
		d = get_inode(st, d->parent);
	}
	return false;
}

/* A link of non-directory `in` in directory p went away: when p was its
 * recorded way up and other links remain, the way up becomes unknown (0);
 * client tokens then refuse it rather than guess (meta_scope.h). With no
 * link left the last directory stays, for an orphan still open. */
static void link_gone(struct meta_ns_inode *in, const struct meta_ns_inode *p)
{
	if (in->nlink > 0 && in->parent == p->ino)
		in->parent = 0;
}

/* Frees an inode with no links and its chunks now. */
static int purge_inode(struct op *op, struct meta_ns_inode *in)
{
	size_t i;
	int rc = reserve_freed(op, in->n_chunks);
	if (rc)
		return rc;
	for (i = 0; i < in->n_chunks; i++)
		free_chunk(op, in->chunks[i]);
	in->n_chunks = 0;
	meta_ns_map_del(&op->st->orphans, in->ino);
	meta_ns_map_del(&op->st->inodes, in->ino);
	meta_ns_inode_free(in);
	return 0;
}

/* Whether the entry says to free `in` as soon as its last link goes. */
static bool purge_wanted(const struct op *op, const struct meta_ns_inode *in)
{
	const Godfs__MetaEntry *e = op->e;
	return e->has_expect_ino && e->expect_ino == in->ino && e->has_purge_now && e->purge_now;
}

/* Called before the state changes when the last link of `in` is about to go,
 * so that last_link_gone cannot fail halfway: reserves room for its chunks
 * when it is to be freed now, else its place in the orphan map (an ENOMEM
 * then leaves the state as it was, on this voter as on the others). */
static int prepare_last_link(struct op *op, struct meta_ns_inode *in)
{
	if (purge_wanted(op, in))
		return reserve_freed(op, in->n_chunks);
	return meta_ns_map_put(&op->st->orphans, in->ino, in);
}

/* The last link of `in` went away (prepare_last_link was called): free it now
 * when the leader saw that nobody had it open, else keep it as an orphan until
 * M_FSM_PURGE. */
static void last_link_gone(struct op *op, struct meta_ns_inode *in)
{
	if (purge_wanted(op, in) && purge_inode(op, in) == 0)
		return;
	in->orphan = true;
	if (meta_ns_map_get(&op->st->orphans, in->ino) ||
	    meta_ns_map_put(&op->st->orphans, in->ino, in) == 0)
		op->res->orphan_ino = in->ino;
}

/* Cuts a regular file to size: frees the chunks wholly past the new end. */
static int truncate_to(struct op *op, struct meta_ns_inode *in, uint64_t size)
{
	uint64_t cs = op->st->chunk_size;
	uint64_t keep = size / cs + (size % cs != 0);
	bool found;
	size_t pos = meta_ns_chunk_pos(in, keep, &found), i;
	int rc = reserve_freed(op, in->n_chunks - pos);

	if (rc)
		return rc;
	for (i = pos; i < in->n_chunks; i++)
		free_chunk(op, in->chunks[i]);
	in->n_chunks = pos;
	in->size = size;
	/* up or down, the copies past size were cut (written_lost) */
	in->trunc_seq++;
	in->trunc_size = size;
	return 0;
}

/* ---- namespace changes ------------------------------------------------------------ */

/* The type of a new node of M_MKNOD: 0 or the Linux mknod(2) errors. */
static int mknod_type(uint32_t mode, uint32_t *type)
{
	uint32_t t = mode & S_IFMT;
	switch (t) {
	case 0:
		t = S_IFREG;
		/* fall through */
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		*type = t;
		return 0;
	case S_IFDIR:
		return GD_EPERM;
	default:
		return GD_EINVAL;
	}
}

/* M_MKNOD, M_MKDIR, M_SYMLINK without the answer: *out is the new inode
 * (*created) or, for an open(O_CREAT) without O_EXCL of an existing regular
 * file, the one there. */
static int create_node(struct op *op, uint32_t method, const Godfs__Mknod *r,
		       struct meta_ns_inode **out, bool *created)
{
	struct meta_ns_state *st = op->st;
	struct meta_ns_inode *p, *in;
	struct meta_ns_dirent *de;
	uint32_t mode = r->has_mode ? r->mode : 0, type;
	size_t len, tlen = 0;
	int rc;

	if (!r->has_parent || !r->name)
		return GD_EINVAL;
	rc = get_dir(st, r->parent, true, &p);
	if (rc)
		return rc;
	len = strlen(r->name);
	rc = meta_ns_name_check(r->name, len);
	if (rc)
		return is_dot(r->name) ? GD_EEXIST : rc;
	if (method == M(MKDIR)) {
		type = S_IFDIR;
	} else if (method == M(SYMLINK)) {
		type = S_IFLNK;
		tlen = r->target ? strlen(r->target) : 0;
		if (tlen == 0)
			return GD_ENOENT;
		if (tlen > META_NS_SYMLINK_MAX)
			return GD_ENAMETOOLONG;
	} else {
		rc = mknod_type(mode, &type);
		if (rc)
			return rc;
	}
	de = meta_ns_dir_lookup(p->dir, r->name, len);
	if (de) {
		/* open(O_CREAT) without O_EXCL opens what is there. */
		if (method == M(MKNOD) && type == S_IFREG &&
		    !(r->has_exclusive && r->exclusive)) {
			in = get_inode(st, de->ino);
			if (in && S_ISDIR(in->mode))
				return GD_EISDIR;
			if (in) {
				*out = in;
				*created = false;
				return 0;
			}
		}
		return GD_EEXIST;
	}
	if (type == S_IFDIR && p->nlink >= META_NS_LINK_MAX)
		return GD_EMLINK;

	in = meta_ns_inode_new(st->next_ino,
			       type | (type == S_IFLNK ? 0777 : (mode & 07777)));
	if (!in)
		return GD_ENOMEM;
	in->uid = r->has_uid ? r->uid : 0;
	in->gid = r->has_gid ? r->gid : 0;
	if (p->mode & S_ISGID) {
		/* BSD group semantics of a setgid directory, as Linux has. */
		in->gid = p->gid;
		if (type == S_IFDIR)
			in->mode |= S_ISGID;
	}
	rc = meta_acl_inherit(in, p, r->has_umask ? r->umask : 0);
	if (rc)
		goto err_after_new;
	if (type == S_IFCHR || type == S_IFBLK)
		in->rdev = r->has_rdev ? r->rdev : 0;
	in->goal = p->goal;
	in->nlink = type == S_IFDIR ? 2 : 1;
	in->parent = p->ino;
	in->atime_sec = in->mtime_sec = in->ctime_sec = op->now_sec;
	in->atime_nsec = in->mtime_nsec = in->ctime_nsec = op->now_nsec;
	if (type == S_IFLNK) {
		in->target = gd_strdup(r->target);
		if (!in->target) {
			rc = GD_ENOMEM;
			goto err_after_new;
		}
		in->size = tlen;
	}
	rc = meta_ns_map_put(&st->inodes, in->ino, in);
	if (rc)
		goto err_after_new;
	rc = meta_ns_dir_add(p->dir, r->name, len, in->ino, type, NULL);
	if (rc)
		goto err_after_put;
	st->next_ino++;
	if (type == S_IFDIR)
		p->nlink++;
	set_mtime_ctime(op, p);
	*out = in;
	*created = true;
	return 0;

err_after_put:
	meta_ns_map_del(&st->inodes, in->ino);
err_after_new:
	meta_ns_inode_free(in);
	return rc;
}

static int op_create(struct op *op, uint32_t method, const Godfs__Mknod *r)
{
	struct meta_ns_inode *in;
	bool created;
	int rc = create_node(op, method, r, &in, &created);

	if (rc)
		return rc;
	return reply_attr_in(op, in, created ? get_inode(op->st, r->parent) : NULL);
}

static int op_link(struct op *op, const Godfs__Link *r)
{
	struct meta_ns_inode *in, *p;
	size_t len;
	int rc;

	if (!r->has_ino || !r->has_newparent || !r->newname)
		return GD_EINVAL;
	in = get_inode(op->st, r->ino);
	if (!in)
		return GD_ENOENT;
	rc = get_dir(op->st, r->newparent, true, &p);
	if (rc)
		return rc;
	len = strlen(r->newname);
	rc = meta_ns_name_check(r->newname, len);
	if (rc)
		return is_dot(r->newname) ? GD_EEXIST : rc;
	if (meta_ns_dir_lookup(p->dir, r->newname, len))
		return GD_EEXIST;
	if (S_ISDIR(in->mode))
		return GD_EPERM;
	if (in->nlink == 0)
		return GD_ENOENT;
	if (in->nlink >= META_NS_LINK_MAX)
		return GD_EMLINK;
	rc = meta_ns_dir_add(p->dir, r->newname, len, in->ino, in->mode, NULL);
	if (rc)
		return rc;
	in->nlink++;
	if (in->parent == 0)
		in->parent = p->ino;    /* a way up is known again */
	set_ctime(op, in);
	set_mtime_ctime(op, p);
	return reply_attr(op, in);
}

/* M_UNLINK and M_RMDIR. */
static int op_remove(struct op *op, bool rmdir, const Godfs__NameReq *r)
{
	struct meta_ns_inode *p, *in;
	struct meta_ns_dirent *de;
	size_t len;
	int rc;

	if (!r->has_parent || !r->name)
		return GD_EINVAL;
	rc = get_dir(op->st, r->parent, false, &p);
	if (rc)
		return rc;
	len = strlen(r->name);
	if (is_dot(r->name)) {
		/* Linux: unlink of "." or ".." is EISDIR; rmdir "." EINVAL, ".." ENOTEMPTY. */
		if (!rmdir)
			return GD_EISDIR;
		return len == 1 ? GD_EINVAL : GD_ENOTEMPTY;
	}
	rc = meta_ns_name_check(r->name, len);
	if (rc)
		return rc;
	de = meta_ns_dir_lookup(p->dir, r->name, len);
	if (!de)
		return GD_ENOENT;
	in = get_inode(op->st, de->ino);
	if (!in)
		return GD_EIO;
	if (rmdir) {
		if (!S_ISDIR(in->mode))
			return GD_ENOTDIR;
		if (in->dir->count)
			return GD_ENOTEMPTY;
	} else if (S_ISDIR(in->mode)) {
		return GD_EISDIR;
	}
	if (rmdir || in->nlink <= 1) {
		rc = prepare_last_link(op, in);
		if (rc)
			return rc;
	}
	meta_ns_dir_remove(p->dir, r->name, len);
	if (rmdir) {
		in->nlink = 0;
		p->nlink--;
	} else {
		in->nlink--;
		link_gone(in, p);
	}
	set_ctime(op, in);
	set_mtime_ctime(op, p);
	if (in->nlink == 0)
		last_link_gone(op, in);
	return reply_status_parent(op, p);
}

#define RENAME_NOREPLACE_FLAG 1u
#define RENAME_EXCHANGE_FLAG 2u

/* rename(2)/renameat2(2) with the Linux checks in the Linux order. */
static int op_rename(struct op *op, const Godfs__Rename *r)
{
	struct meta_ns_state *st = op->st;
	struct meta_ns_inode *sp, *dp, *src, *dst = NULL;
	struct meta_ns_dirent *sde, *dde;
	uint32_t flags = r->has_flags ? r->flags : 0;
	bool exchange = flags & RENAME_EXCHANGE_FLAG;
	size_t slen, dlen;
	int rc;

	if (flags & ~(RENAME_NOREPLACE_FLAG | RENAME_EXCHANGE_FLAG) ||
	    flags == (RENAME_NOREPLACE_FLAG | RENAME_EXCHANGE_FLAG))
		return GD_EINVAL;
	if (!r->has_parent || !r->name || !r->has_newparent || !r->newname)
		return GD_EINVAL;
	rc = get_dir(st, r->parent, false, &sp);
	if (rc)
		return rc;
	rc = get_dir(st, r->newparent, false, &dp);
	if (rc)
		return rc;
	slen = strlen(r->name);
	dlen = strlen(r->newname);
	if (is_dot(r->name))
		return GD_EBUSY;
	if (is_dot(r->newname))
		return (flags & RENAME_NOREPLACE_FLAG) ? GD_EEXIST : GD_EBUSY;
	rc = meta_ns_name_check(r->name, slen);
	if (rc)
		return rc;
	rc = meta_ns_name_check(r->newname, dlen);
	if (rc)
		return rc;
	sde = meta_ns_dir_lookup(sp->dir, r->name, slen);
	if (!sde)
		return GD_ENOENT;
	src = get_inode(st, sde->ino);
	dde = meta_ns_dir_lookup(dp->dir, r->newname, dlen);
	if (exchange && !dde)
		return GD_ENOENT;
	if (dde && (flags & RENAME_NOREPLACE_FLAG))
		return GD_EEXIST;
	if (!dde && dp->nlink == 0)
		return GD_ENOENT;
	if (dde)
		dst = get_inode(st, dde->ino);
	if (!src || (dde && !dst))
		return GD_EIO;
	if (r->has_if_target_ino &&
	    (!dst || dst->ino != r->if_target_ino ||
	     (r->has_if_target_ctime_sec &&
	      (dst->ctime_sec != r->if_target_ctime_sec ||
	       dst->ctime_nsec != (r->has_if_target_ctime_nsec ? r->if_target_ctime_nsec : 0)))))
		return GD_ESTALE;   /* wire.proto Rename.if_target_ino */
	/* source should not be an ancestor of the target */
	if (S_ISDIR(src->mode) && is_ancestor(st, src, dp))
		return GD_EINVAL;
	/* target should not be an ancestor of the source */
	if (dst && S_ISDIR(dst->mode) && is_ancestor(st, dst, sp))
		return exchange ? GD_EINVAL : GD_ENOTEMPTY;
	if (src == dst)
		goto done;
	if (dst && !exchange) {
		if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
			return GD_ENOTDIR;
		if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
			return GD_EISDIR;
		if (S_ISDIR(dst->mode) && dst->dir->count)
			return GD_ENOTEMPTY;
	}
	if (sp != dp) {
		bool src_dir = S_ISDIR(src->mode), dst_dir = dst && S_ISDIR(dst->mode);
		/* a directory arriving where none leaves adds a link to its new parent */
		if (src_dir && !dst_dir && dp->nlink >= META_NS_LINK_MAX)
			return GD_EMLINK;
		if (exchange && dst_dir && !src_dir && sp->nlink >= META_NS_LINK_MAX)
			return GD_EMLINK;
	}
	if (!exchange && dst && (S_ISDIR(dst->mode) || dst->nlink <= 1)) {
		/* the target's last link goes; nothing below fails after this */
		rc = prepare_last_link(op, dst);
		if (rc)
			return rc;
	}

	if (exchange) {
		uint64_t ino = sde->ino;
		uint32_t type = sde->type;
		sde->ino = dde->ino;
		sde->type = dde->type;
		dde->ino = ino;
		dde->type = type;
		if (sp != dp) {
			if (S_ISDIR(src->mode)) {
				sp->nlink--;
				dp->nlink++;
			}
			if (S_ISDIR(dst->mode)) {
				dp->nlink--;
				sp->nlink++;
			}
			/* every inode: its recorded way up holds a link of it */
			src->parent = dp->ino;
			dst->parent = sp->ino;
		}
		set_ctime(op, dst);
	} else {
		if (dde) {
			/* The target's entry now names the source: no allocation. */
			dde->ino = src->ino;
			dde->type = src->mode & S_IFMT;
			if (S_ISDIR(dst->mode)) {
				dst->nlink = 0;
				dp->nlink--;
			} else {
				dst->nlink--;
				link_gone(dst, dp);
			}
			set_ctime(op, dst);
		} else {
			rc = meta_ns_dir_add(dp->dir, r->newname, dlen, src->ino, src->mode, NULL);
			if (rc)
				return rc;
		}
		meta_ns_dir_remove(sp->dir, r->name, slen);
		if (S_ISDIR(src->mode)) {
			sp->nlink--;
			dp->nlink++;
		}
		src->parent = dp->ino;  /* every inode: dp now holds a link of it */
	}
	set_ctime(op, src);
	set_mtime_ctime(op, sp);
	set_mtime_ctime(op, dp);
	if (!exchange && dst && dst->nlink == 0)
		last_link_gone(op, dst);
done:
	reply_status(op->res, 0);
	return 0;
}

/* A timestamp from the wire: nanoseconds must be below one second. */
static int check_nsec(uint32_t nsec)
{
	return nsec < 1000000000u ? 0 : GD_EINVAL;
}

static int op_setattr(struct op *op, const Godfs__SetAttr *r)
{
	struct meta_ns_inode *in;
	uint32_t valid = r->has_valid ? r->valid : 0;
	bool mtime_set = valid & (GODFS__SET_ATTR_BITS__SA_MTIME | GODFS__SET_ATTR_BITS__SA_MTIME_NOW);
	size_t i;
	int rc;

	if (!r->has_ino)
		return GD_EINVAL;
	in = get_inode(op->st, r->ino);
	if (!in)
		return GD_ENOENT;
	if ((valid & GODFS__SET_ATTR_BITS__SA_ATIME && check_nsec(r->atime_nsec)) ||
	    (valid & GODFS__SET_ATTR_BITS__SA_MTIME && check_nsec(r->mtime_nsec)) ||
	    (valid & GODFS__SET_ATTR_BITS__SA_CTIME && check_nsec(r->ctime_nsec)))
		return GD_EINVAL;
	if (valid & GODFS__SET_ATTR_BITS__SA_GOAL &&
	    (r->goal == 0 || r->goal > META_NS_GOAL_MAX))
		return GD_EINVAL;
	if (valid & GODFS__SET_ATTR_BITS__SA_SIZE) {
		if (S_ISDIR(in->mode))
			return GD_EISDIR;
		if (!S_ISREG(in->mode))
			return GD_EINVAL;
		if (r->size > META_MAX_FILE_SIZE)
			return GD_EFBIG;
		if (r->size != in->size) {
			rc = truncate_to(op, in, r->size);
			if (rc)
				return rc;
			if (!mtime_set) {
				in->mtime_sec = op->now_sec;
				in->mtime_nsec = op->now_nsec;
			}
		}
	}
	if (valid & (GODFS__SET_ATTR_BITS__SA_UID | GODFS__SET_ATTR_BITS__SA_GID)) {
		if (valid & GODFS__SET_ATTR_BITS__SA_UID)
			in->uid = r->uid;
		if (valid & GODFS__SET_ATTR_BITS__SA_GID)
			in->gid = r->gid;
		/* chown drops set-user-id, and set-group-id when it means "group
		 * executable" (not mandatory locking), as Linux does for non-root. */
		if (S_ISREG(in->mode)) {
			in->mode &= ~(uint32_t)S_ISUID;
			if (in->mode & S_IXGRP)
				in->mode &= ~(uint32_t)S_ISGID;
		}
	}
	if (valid & GODFS__SET_ATTR_BITS__SA_MODE)
		meta_acl_chmod(in, r->mode);
	if (valid & GODFS__SET_ATTR_BITS__SA_ATIME_NOW) {
		in->atime_sec = op->now_sec;
		in->atime_nsec = op->now_nsec;
	} else if (valid & GODFS__SET_ATTR_BITS__SA_ATIME) {
		in->atime_sec = r->atime_sec;
		in->atime_nsec = r->atime_nsec;
	}
	if (valid & GODFS__SET_ATTR_BITS__SA_MTIME_NOW) {
		in->mtime_sec = op->now_sec;
		in->mtime_nsec = op->now_nsec;
	} else if (valid & GODFS__SET_ATTR_BITS__SA_MTIME) {
		in->mtime_sec = r->mtime_sec;
		in->mtime_nsec = r->mtime_nsec;
	}
	if (valid & GODFS__SET_ATTR_BITS__SA_GOAL) {
		in->goal = r->goal;
		for (i = 0; i < in->n_chunks; i++)
			in->chunks[i]->goal = r->goal;
	}
	if (valid & GODFS__SET_ATTR_BITS__SA_CTIME) {
		in->ctime_sec = r->ctime_sec;
		in->ctime_nsec = r->ctime_nsec;
	} else {
		set_ctime(op, in);
	}
	return reply_attr(op, in);
}

/* M_OPEN: the checks of open(2) on an inode; with apply and O_TRUNC on a
 * regular file, truncates it to 0. */
static int op_open(struct op *op, const Godfs__Open *r, bool may_truncate)
{
	struct meta_ns_inode *in;
	uint32_t flags = r->has_flags ? r->flags : 0;
	uint32_t acc = flags & O_ACCMODE;
	int rc;

	if (!r->has_ino)
		return GD_EINVAL;
	in = get_inode(op->st, r->ino);
	if (!in)
		return GD_ENOENT;
	if ((flags & O_DIRECTORY) && !S_ISDIR(in->mode))
		return GD_ENOTDIR;
	if (S_ISDIR(in->mode) && (acc != O_RDONLY || (flags & (O_TRUNC | O_CREAT))))
		return GD_EISDIR;
	if (S_ISLNK(in->mode))
		return GD_ELOOP;
	if (may_truncate && (flags & O_TRUNC) && S_ISREG(in->mode)) {
		rc = truncate_to(op, in, 0);
		if (rc)
			return rc;
		set_mtime_ctime(op, in);
	}
	return reply_attr(op, in);
}

/* Linux xattr names: "user.", "trusted.", "security." or "system." followed by
 * at least one byte; at most 255 bytes. */
static int xattr_name_check(const char *name)
{
	static const char *const prefixes[] = { "user.", "trusted.", "security.", "system." };
	size_t len = name ? strlen(name) : 0, i;

	if (len == 0 || len > META_NS_XATTR_NAME_MAX)
		return GD_ERANGE;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(name, prefixes[i], pl) == 0)
			return len > pl ? 0 : GD_EINVAL;
	}
	return GD_ENOTSUP;
}

#define XATTR_CREATE_FLAG 1u
#define XATTR_REPLACE_FLAG 2u
#define XATTR_ACL_KILL_SGID_FLAG 4u

static int op_setxattr(struct op *op, const Godfs__Xattr *r)
{
	struct meta_ns_inode *in;
	uint32_t flags = r->has_flags ? r->flags : 0;
	size_t vlen = r->has_value ? r->value.len : 0;
	bool exists;
	int rc;

	if (!r->has_ino)
		return GD_EINVAL;
	in = get_inode(op->st, r->ino);
	if (!in)
		return GD_ENOENT;
	if (flags & ~(XATTR_CREATE_FLAG | XATTR_REPLACE_FLAG | XATTR_ACL_KILL_SGID_FLAG))
		return GD_EINVAL;
	rc = xattr_name_check(r->name);
	if (rc)
		return rc;
	if (vlen > META_NS_XATTR_VALUE_MAX)
		return GD_E2BIG;
	exists = meta_ns_xattr_find(in, r->name) != NULL;
	if ((flags & XATTR_CREATE_FLAG) && exists)
		return GD_EEXIST;
	if ((flags & XATTR_REPLACE_FLAG) && !exists)
		return GD_ENODATA;
	if (meta_acl_type(r->name) != META_ACL_NONE)
		rc = meta_acl_set(in, r->name, vlen ? r->value.data : NULL, vlen,
				  flags & XATTR_ACL_KILL_SGID_FLAG);
	else
		rc = meta_ns_xattr_set(in, r->name, vlen ? r->value.data : NULL, vlen);
	if (rc)
		return rc;
	set_ctime(op, in);
	reply_status(op->res, 0);
	return 0;
}

static int op_removexattr(struct op *op, const Godfs__Xattr *r)
{
	struct meta_ns_inode *in;
	int rc;

	if (!r->has_ino)
		return GD_EINVAL;
	in = get_inode(op->st, r->ino);
	if (!in)
		return GD_ENOENT;
	rc = xattr_name_check(r->name);
	if (rc)
		return rc;
	rc = meta_ns_xattr_remove(in, r->name);
	if (rc)
		return rc;
	set_ctime(op, in);
	reply_status(op->res, 0);
	return 0;
}

/* ---- chunks ------------------------------------------------------------------------ */

/* The regular file for a chunk operation at (ino, index). */
static int chunk_file(struct op *op, uint64_t ino, uint64_t index, struct meta_ns_inode **out)
{
	struct meta_ns_inode *in = get_inode(op->st, ino);
	if (!in)
		return GD_ENOENT;
	if (S_ISDIR(in->mode))
		return GD_EISDIR;
	if (!S_ISREG(in->mode))
		return GD_EINVAL;
	if (index > (META_MAX_FILE_SIZE - 1) / op->st->chunk_size)
		return GD_EFBIG;
	*out = in;
	return 0;
}

/* The leader's chain in the entry becomes a chunk's set of valid copies: only
 * what a snapshot can hold (1..64 node ids of 1..4096 bytes), so that apply
 * never makes a state that restore would refuse. 0 or GD_EINVAL. */
static int check_chain(const Godfs__MetaEntry *e)
{
	size_t i, len;

	if (e->n_chain > META_NS_NODES_MAX)
		return GD_EINVAL;
	for (i = 0; i < e->n_chain; i++) {
		len = e->chain[i] ? strlen(e->chain[i]) : 0;
		if (len == 0 || len > META_NS_STR_MAX)
			return GD_EINVAL;
	}
	return 0;
}

/* Makes chunk `index` of in (not there: pos from meta_ns_chunk_pos) at
 * version 1 on the entry's chain (checked), with the next chunk id. */
static int chunk_new(struct op *op, struct meta_ns_inode *in, uint64_t index, size_t pos,
		     struct meta_ns_chunk **out)
{
	struct meta_ns_state *st = op->st;
	struct meta_ns_chunk *c = gd_calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return GD_ENOMEM;
	c->chunk_id = st->next_chunk_id;
	c->version = 1;
	c->prev_version = 0;
	c->ino = in->ino;
	c->index = index;
	c->goal = in->goal;
	rc = meta_ns_chunk_set_nodes(c, op->e->chain, op->e->n_chain);
	if (rc)
		goto err_after_alloc;
	rc = meta_ns_map_put(&st->chunks, c->chunk_id, c);
	if (rc)
		goto err_after_alloc;
	rc = meta_ns_chunk_insert(in, pos, c);
	if (rc)
		goto err_after_put;
	st->next_chunk_id++;
	*out = c;
	return 0;

err_after_put:
	meta_ns_map_del(&st->chunks, c->chunk_id);
err_after_alloc:
	meta_ns_chunk_free(c);
	return rc;
}

/* M_WRITE_LEASE: creates the chunk (version 1) or bumps its version, and makes
 * the leader's chain the set of valid copies. */
static int op_write_lease(struct op *op, const Godfs__ChunkReq *r)
{
	struct meta_ns_inode *in;
	struct meta_ns_chunk *c;
	bool found;
	size_t pos;
	int rc;

	if (!r->has_ino || !r->has_index)
		return GD_EINVAL;
	rc = chunk_file(op, r->ino, r->index, &in);
	if (rc)
		return rc;
	if (op->e->n_chain == 0)
		return GD_ENOSERVERS;
	rc = check_chain(op->e);
	if (rc)
		return rc;
	pos = meta_ns_chunk_pos(in, r->index, &found);
	if (found) {
		c = in->chunks[pos];
		rc = meta_ns_chunk_set_nodes(c, op->e->chain, op->e->n_chain);
		if (rc)
			return rc;
		if (!(op->e->has_lease_prev && op->e->lease_prev == c->prev_version))
			c->prev_version = c->version;
		c->version++;
		return reply_chunk(op, c, in);
	}
	rc = chunk_new(op, in, r->index, pos, &c);
	return rc ? rc : reply_chunk(op, c, in);
}

/* M_CREATE: M_MKNOD of a regular file (opened by the leader for the
 * session once applied) and, when the request asks for it, the entry has a
 * chain and the file is new, its chunk 0 at version 1 on that chain: the
 * write lease, in the same entry. Answers OpenResp. A chain that a snapshot
 * could not hold grants no lease rather than failing the create. */
static int op_create_open(struct op *op, const Godfs__Mknod *r)
{
	Godfs__OpenResp m = GODFS__OPEN_RESP__INIT;
	Godfs__ChunkResp cr = GODFS__CHUNK_RESP__INIT;
	Godfs__Attr a, pa;
	struct meta_ns_inode *in, *p;
	struct meta_ns_chunk *c = NULL;
	uint32_t t = r->has_mode ? (r->mode & S_IFMT) : 0;
	bool created, found;
	size_t pos;
	int rc;

	if (t != 0 && t != S_IFREG)
		return GD_EINVAL;
	rc = create_node(op, M(MKNOD), r, &in, &created);
	if (rc)
		return rc;
	if (created && r->has_lease && r->lease && op->e->n_chain > 0 &&
	    check_chain(op->e) == 0) {
		pos = meta_ns_chunk_pos(in, 0, &found);
		if (!found) {
			rc = chunk_new(op, in, 0, pos, &c);
			if (rc)
				return rc;      /* GD_ENOMEM: the voter stops */
		}
	}
	fill_attr(&a, in);
	m.has_status = 1;
	m.attr = &a;
	m.has_trunc_seq = 1;
	m.trunc_seq = in->trunc_seq;
	m.has_created = 1;
	m.created = created;
	p = get_inode(op->st, r->parent);
	if (p) {
		fill_attr(&pa, p);
		m.parent = &pa;
	}
	if (c) {
		cr.has_status = cr.has_chunk_id = cr.has_version = cr.has_prev_version = 1;
		cr.chunk_id = c->chunk_id;
		cr.version = c->version;
		cr.has_file_size = cr.has_trunc_seq = 1;
		cr.file_size = in->size;
		cr.trunc_seq = in->trunc_seq;
		cr.n_chain = c->n_nodes;
		cr.chain = c->nodes;
		m.chunk = &cr;
	}
	pack_reply(op->res, &m.base);
	return 0;
}

/* M_LEASE_RETURN: frees the chunk a CREATE made when its record is still as
 * made (chunk_id at version 1, prev_version 0: no other lease since, so no
 * other writer); the leader checked that the session holds that lease and
 * the client says no write through it was acknowledged. GD_ESTALE when the
 * record moved on (nothing changes). */
static int op_lease_return(struct op *op, const Godfs__LeaseReturn *r)
{
	struct meta_ns_inode *in;
	struct meta_ns_chunk *c;
	bool found;
	size_t pos;
	int rc;

	if (!r->has_ino || !r->has_index || !r->has_chunk_id || !r->has_version)
		return GD_EINVAL;
	rc = chunk_file(op, r->ino, r->index, &in);
	if (rc)
		return rc;
	pos = meta_ns_chunk_pos(in, r->index, &found);
	c = found ? in->chunks[pos] : NULL;
	if (!c || c->chunk_id != r->chunk_id || c->version != r->version || c->version != 1 ||
	    c->prev_version != 0)
		return GD_ESTALE;
	rc = reserve_freed(op, 1);
	if (rc)
		return rc;
	free_chunk(op, c);
	memmove(&in->chunks[pos], &in->chunks[pos + 1],
		(in->n_chunks - pos - 1) * sizeof(in->chunks[0]));
	in->n_chunks--;
	reply_status(op->res, 0);
	return 0;
}

/* M_CHUNK_FAILED: when the record still has the version the client wrote,
 * the leader's new chain (without the failed member) gets version + 1; a
 * repeated report answers with the record as it is. With lease_prev equal to
 * the record's prev_version (a chain that never wrote, see op_write_lease),
 * prev_version stays. */
static int op_chunk_failed(struct op *op, const Godfs__ChunkFailed *r)
{
	struct meta_ns_inode *in;
	struct meta_ns_chunk *c;
	int rc;

	if (!r->has_ino || !r->has_index)
		return GD_EINVAL;
	rc = chunk_file(op, r->ino, r->index, &in);
	if (rc)
		return rc;
	c = meta_ns_chunk_find(in, r->index);
	if (!c)
		return GD_ENOCHUNK;
	if (r->has_chunk_id && r->chunk_id != c->chunk_id)
		return GD_ESTALE;
	if (r->has_version && r->version == c->version) {
		if (op->e->n_chain == 0)
			return GD_ENOSERVERS;
		rc = check_chain(op->e);
		if (rc)
			return rc;
		rc = meta_ns_chunk_set_nodes(c, op->e->chain, op->e->n_chain);
		if (rc)
			return rc;
		if (!(op->e->has_lease_prev && op->e->lease_prev == c->prev_version))
			c->prev_version = c->version;
		c->version++;
	}
	return reply_chunk(op, c, in);
}

/* Whether a WRITE_COMMIT names writes that a truncate (of any session)
 * destroyed: writes through a lease granted before the file's last truncate
 * are intact only when that truncate was the only one since and kept them
 * (they end at or below its size: it freed the chunks past it and cut the
 * chunk across it); anything else is gone, or may be: the writer must hear
 * it (fsync, close), not find zeros under a size its commit grew. Writes
 * through a lease granted after the truncate are intact; a freed chunk id is
 * never reused, so a late write to one shows up nowhere. */
static bool written_lost(struct op *op, const struct meta_ns_inode *in,
			 const Godfs__WriteCommit *r)
{
	uint64_t cs = op->st->chunk_size;
	size_t i;

	for (i = 0; i < r->n_written_index; i++) {
		uint64_t idx = r->written_index[i], end = r->written_end[i];

		if (end > cs)
			return true;    /* the client saw the chunk replaced */
		if (r->written_seq[i] == in->trunc_seq)
			continue;
		/* idx * cs + end <= trunc_size, without overflow */
		if (in->trunc_seq == 0 || r->written_seq[i] != in->trunc_seq - 1 ||
		    end > in->trunc_size || idx > (in->trunc_size - end) / cs)
			return true;
	}
	return false;
}

static int op_write_commit(struct op *op, const Godfs__WriteCommit *r)
{
	struct meta_ns_inode *in;

	if (!r->has_ino)
		return GD_EINVAL;
	in = get_inode(op->st, r->ino);
	if (!in)
		return GD_ENOENT;
	if (S_ISDIR(in->mode))
		return GD_EISDIR;
	if (!S_ISREG(in->mode))
		return GD_EINVAL;
	if (r->has_size && r->size > META_MAX_FILE_SIZE)
		return GD_EFBIG;
	if (r->has_mtime_sec && check_nsec(r->mtime_nsec))
		return GD_EINVAL;
	if (r->n_written_index != r->n_written_end || r->n_written_index != r->n_written_seq)
		return GD_EINVAL;
	if (written_lost(op, in, r))
		return GD_ETRUNCATED;
	bool grew = r->has_size && r->size > in->size;
	if (grew)
		in->size = r->size;
	/* Without an mtime (an fsync of a file this client did not write) the
	 * times stay as they are: fsync(2) must not touch mtime. A size that
	 * grew without one still counts as a modification. */
	if (r->has_mtime_sec) {
		in->mtime_sec = in->ctime_sec = r->mtime_sec;
		in->mtime_nsec = in->ctime_nsec = r->mtime_nsec;
	} else if (grew) {
		set_mtime_ctime(op, in);
	}
	return reply_attr(op, in);
}

/* ---- sessions, registry, internal entries -------------------------------------------- */

static int op_hello(struct op *op, const Godfs__Hello *r)
{
	Godfs__HelloResp m = GODFS__HELLO_RESP__INIT;
	const Godfs__MetaEntry *e = op->e;
	const char *host = e->hello_host ? e->hello_host : r->host;
	const char *mp = e->hello_mountpoint ? e->hello_mountpoint : r->mountpoint;
	int rc;

	if (!e->has_session_id || e->session_id == 0)
		return GD_EINVAL;
	/* what a snapshot can hold */
	if ((host && strlen(host) > META_NS_STR_MAX) || (mp && strlen(mp) > META_NS_STR_MAX))
		return GD_EINVAL;
	rc = meta_ns_session_put(op->st, e->session_id, host, mp);
	if (rc)
		return rc;
	m.has_status = m.has_session_id = m.has_chunk_size = 1;
	m.session_id = e->session_id;
	m.chunk_size = op->st->chunk_size;
	pack_reply(op->res, &m.base);
	return 0;
}

#define NODE_STR_MAX 1024

/* M_CS_REGISTER: records the node; the answer lists the reported chunks the
 * FSM does not know (deleted while the node was away), for the node to drop. */
static int op_cs_register(struct op *op, const Godfs__CsRegister *r)
{
	Godfs__CsRegisterResp m = GODFS__CS_REGISTER_RESP__INIT;
	const Godfs__FsmNode *n = op->e->node;
	Godfs__ChunkReport **drop = NULL;
	size_t i;
	int rc;

	if (!n || !n->node_id || !n->node_id[0] || !n->address ||
	    strlen(n->node_id) > NODE_STR_MAX || strlen(n->address) > NODE_STR_MAX ||
	    (n->label && strlen(n->label) > NODE_STR_MAX))
		return GD_EINVAL;
	if (r->n_chunks) {
		drop = gd_calloc(r->n_chunks, sizeof(*drop));
		if (!drop)
			return GD_ENOMEM;
	}
	rc = meta_ns_node_put(op->st, n->node_id, n->address, n->label);
	if (rc)
		goto out;
	for (i = 0; i < r->n_chunks; i++) {
		Godfs__ChunkReport *cr = r->chunks[i];
		if (cr->has_chunk_id && !meta_ns_map_get(&op->st->chunks, cr->chunk_id))
			drop[m.n_drop++] = cr;
	}
	m.has_status = 1;
	m.drop = drop;
	pack_reply(op->res, &m.base);
out:
	gd_free(drop);
	return rc;
}

static int op_purge(struct op *op)
{
	const Godfs__MetaEntry *e = op->e;
	struct meta_ns_inode *in;
	int rc;

	if (!e->has_purge_ino)
		return GD_EINVAL;
	in = get_inode(op->st, e->purge_ino);
	if (!in)
		return GD_ENOENT;
	if (!in->orphan)
		return GD_EBUSY;
	rc = purge_inode(op, in);
	if (rc)
		return rc;
	reply_status(op->res, 0);
	return 0;
}

/* M_FSM_CHUNK_NODES: the leader's new set of valid copies for a chunk whose
 * version did not change (a copy re-replicated, a bad one dropped). */
static int op_chunk_nodes(struct op *op, const Godfs__ChunkReport *r)
{
	struct meta_ns_chunk *c;
	int rc;

	if (!r->has_chunk_id || !r->has_version || op->e->n_chain == 0 || check_chain(op->e))
		return GD_EINVAL;
	c = meta_ns_map_get(&op->st->chunks, r->chunk_id);
	if (!c)
		return GD_ENOCHUNK;
	if (c->version != r->version)
		return GD_ESTALE;
	rc = meta_ns_chunk_set_nodes(c, op->e->chain, op->e->n_chain);
	if (rc)
		return rc;
	reply_status(op->res, 0);
	return 0;
}

static int op_session_expire(struct op *op)
{
	int rc;
	if (!op->e->has_expire_session)
		return GD_EINVAL;
	/* its locks go in the same entry, and the waiters they held back are
	 * granted (meta_fsm_lock.h) */
	if (meta_ns_session_find(op->st, op->e->expire_session)) {
		rc = meta_fsm_lock_expire(op->st, op->e->expire_session, op->res);
		if (rc)
			return rc;
	}
	rc = meta_ns_session_remove(op->st, op->e->expire_session);
	if (rc)
		return rc;
	reply_status(op->res, 0);
	return 0;
}

/* ---- queries ------------------------------------------------------------------------ */

static int q_lookup(struct op *op, const Godfs__Lookup *r)
{
	struct meta_ns_inode *p, *in;
	struct meta_ns_dirent *de;
	size_t len;
	int rc;

	if (!r->has_parent || !r->name)
		return GD_EINVAL;
	rc = get_dir(op->st, r->parent, false, &p);
	if (rc)
		return rc;
	len = strlen(r->name);
	if (strcmp(r->name, ".") == 0)
		return reply_attr(op, p);
	if (strcmp(r->name, "..") == 0) {
		in = get_inode(op->st, p->parent);
		return in ? reply_attr(op, in) : GD_ENOENT;
	}
	rc = meta_ns_name_check(r->name, len);
	if (rc)
		return rc == GD_ENAMETOOLONG ? rc : GD_ENOENT;
	de = meta_ns_dir_lookup(p->dir, r->name, len);
	if (!de)
		return GD_ENOENT;
	in = get_inode(op->st, de->ino);
	if (!in)
		return GD_EIO;
	return reply_attr(op, in);
}

static int q_getattr(struct op *op, const Godfs__InodeReq *r)
{
	struct meta_ns_inode *in = r->has_ino ? get_inode(op->st, r->ino) : NULL;
	if (!in)
		return GD_ENOENT;
	return reply_attr(op, in);
}

static int q_readlink(struct op *op, const Godfs__InodeReq *r)
{
	Godfs__ReadlinkResp m = GODFS__READLINK_RESP__INIT;
	struct meta_ns_inode *in = r->has_ino ? get_inode(op->st, r->ino) : NULL;

	if (!in)
		return GD_ENOENT;
	if (!S_ISLNK(in->mode) || !in->target)
		return GD_EINVAL;
	m.has_status = 1;
	m.target = in->target;
	pack_reply(op->res, &m.base);
	return 0;
}

/* M_READDIR: the real entries ("." and ".." are the FUSE layer's) after the
 * given cookie, at most max_entries (<= 1024), and no more than fit in one
 * frame; eof says whether the walk reached the end. */
static int q_readdir(struct op *op, const Godfs__Readdir *r)
{
	Godfs__ReaddirResp m = GODFS__READDIR_RESP__INIT;
	struct meta_ns_inode *d;
	struct meta_ns_dirent *de;
	Godfs__Dirent *ents = NULL, **ptrs = NULL;
	Godfs__Attr *attrs = NULL;
	size_t max, n = 0, budget = GD_FRAME_MAX_PB - READDIR_HEADROOM;
	uint64_t after = r->has_cookie ? r->cookie : 0;
	int rc;

	if (!r->has_ino)
		return GD_EINVAL;
	rc = get_dir(op->st, r->ino, false, &d);
	if (rc)
		return rc;
	max = r->has_max_entries && r->max_entries ? r->max_entries : READDIR_MAX_ENTRIES;
	if (max > READDIR_MAX_ENTRIES)
		max = READDIR_MAX_ENTRIES;
	ents = gd_calloc(max, sizeof(*ents));
	ptrs = gd_calloc(max, sizeof(*ptrs));
	attrs = r->has_plus && r->plus ? gd_calloc(max, sizeof(*attrs)) : NULL;
	if (!ents || !ptrs || (r->has_plus && r->plus && !attrs)) {
		rc = GD_ENOMEM;
		goto out;
	}
	m.eof = 1;
	for (de = meta_ns_dir_next(d->dir, after); de; de = meta_ns_dir_next(d->dir, de->cookie)) {
		Godfs__Dirent *x = &ents[n];
		size_t sz;
		if (n == max) {
			m.eof = 0;
			break;
		}
		godfs__dirent__init(x);
		x->name = de->name;
		x->has_ino = x->has_type = x->has_cookie = 1;
		x->ino = de->ino;
		x->type = de->type;
		x->cookie = de->cookie;
		if (attrs) {
			struct meta_ns_inode *in = get_inode(op->st, de->ino);
			if (in) {
				fill_attr(&attrs[n], in);
				x->attr = &attrs[n];
			}
		}
		/* the entry, its tag and its length prefix */
		sz = godfs__dirent__get_packed_size(x) + 1 + 5;
		if (sz > budget) {
			m.eof = 0;
			break;
		}
		budget -= sz;
		ptrs[n++] = x;
	}
	m.has_status = m.has_eof = 1;
	m.n_entries = n;
	m.entries = ptrs;
	pack_reply(op->res, &m.base);
out:
	gd_free(ents);
	gd_free(ptrs);
	gd_free(attrs);
	return rc;
}

static int q_getxattr(struct op *op, const Godfs__Xattr *r)
{
	Godfs__XattrResp m = GODFS__XATTR_RESP__INIT;
	struct meta_ns_inode *in = r->has_ino ? get_inode(op->st, r->ino) : NULL;
	struct meta_ns_xattr *x;
	int rc;

	if (!in)
		return GD_ENOENT;
	rc = xattr_name_check(r->name);
	if (rc)
		return rc;
	x = meta_ns_xattr_find(in, r->name);
	if (!x)
		return GD_ENODATA;
	m.has_status = m.has_value = 1;
	m.value.data = x->value;
	m.value.len = x->len;
	pack_reply(op->res, &m.base);
	return 0;
}

static int q_listxattr(struct op *op, const Godfs__InodeReq *r)
{
	Godfs__XattrResp m = GODFS__XATTR_RESP__INIT;
	struct meta_ns_inode *in = r->has_ino ? get_inode(op->st, r->ino) : NULL;
	size_t total = 0, i, off = 0;
	uint8_t *buf;

	if (!in)
		return GD_ENOENT;
	for (i = 0; i < in->n_xattrs; i++)
		total += strlen(in->xattrs[i].name) + 1;
	if (total > META_NS_XATTR_LIST_MAX)
		return GD_E2BIG;
	buf = gd_malloc(total);
	if (!buf)
		return GD_ENOMEM;
	for (i = 0; i < in->n_xattrs; i++) {
		size_t l = strlen(in->xattrs[i].name) + 1;
		memcpy(buf + off, in->xattrs[i].name, l);
		off += l;
	}
	m.has_status = m.has_value = 1;
	m.value.data = buf;
	m.value.len = total;
	pack_reply(op->res, &m.base);
	gd_free(buf);
	return 0;
}

static int q_statfs(struct op *op)
{
	Godfs__StatfsResp m = GODFS__STATFS_RESP__INIT;
	m.has_status = m.has_files = m.has_chunk_servers = 1;
	m.files = op->st->inodes.count;
	m.chunk_servers = op->st->n_nodes;
	pack_reply(op->res, &m.base);
	return 0;
}

static int q_chunk_locate(struct op *op, const Godfs__ChunkReq *r)
{
	struct meta_ns_inode *in;
	int rc;

	if (!r->has_ino || !r->has_index)
		return GD_EINVAL;
	rc = chunk_file(op, r->ino, r->index, &in);
	if (rc)
		return rc;
	return reply_chunk(op, meta_ns_chunk_find(in, r->index), in);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

/* The request message an entry's method carries: the method table's for the
 * methods of wire.proto, ChunkReport for CHUNK_NODES, NULL for the other
 * internal entries. */
static const ProtobufCMessageDescriptor *request_descriptor(uint32_t method)
{
	const struct gd_method *m = gd_method_get(method);

	if (m)
		return m->req;
	if (method == FSM(CHUNK_NODES))
		return &godfs__chunk_report__descriptor;
	return NULL;
}

/* Runs one mutating method; returns its status. */
static int apply_method(struct op *op, uint32_t method, const ProtobufCMessage *req)
{
	switch (method) {
	case M(MKNOD): case M(MKDIR): case M(SYMLINK):
		return op_create(op, method, (const Godfs__Mknod *)req);
	case M(LINK):
		return op_link(op, (const Godfs__Link *)req);
	case M(UNLINK):
		return op_remove(op, false, (const Godfs__NameReq *)req);
	case M(RMDIR):
		return op_remove(op, true, (const Godfs__NameReq *)req);
	case M(RENAME):
		return op_rename(op, (const Godfs__Rename *)req);
	case M(SETATTR):
		return op_setattr(op, (const Godfs__SetAttr *)req);
	case M(OPEN):
		return op_open(op, (const Godfs__Open *)req, true);
	case M(SETXATTR):
		return op_setxattr(op, (const Godfs__Xattr *)req);
	case M(REMOVEXATTR):
		return op_removexattr(op, (const Godfs__Xattr *)req);
	case M(CREATE):
		return op_create_open(op, (const Godfs__Mknod *)req);
	case M(LEASE_RETURN):
		return op_lease_return(op, (const Godfs__LeaseReturn *)req);
	case M(WRITE_LEASE):
		return op_write_lease(op, (const Godfs__ChunkReq *)req);
	case M(CHUNK_FAILED):
		return op_chunk_failed(op, (const Godfs__ChunkFailed *)req);
	case M(WRITE_COMMIT):
		return op_write_commit(op, (const Godfs__WriteCommit *)req);
	case M(HELLO):
		return op_hello(op, (const Godfs__Hello *)req);
	case M(CS_REGISTER):
		return op_cs_register(op, (const Godfs__CsRegister *)req);
	case FSM(SESSION_EXPIRE):
		return op_session_expire(op);
	case FSM(PURGE):
		return op_purge(op);
	case FSM(CHUNK_NODES):
		return op_chunk_nodes(op, (const Godfs__ChunkReport *)req);
	case FSM(NOOP):
		reply_status(op->res, 0);
		return 0;
	case M(TOKEN_CREATE):
		return meta_token_create(op->st, (const Godfs__TokenCreate *)req, op->now_sec, op->res);
	case M(TOKEN_REVOKE):
		return meta_token_revoke(op->st, (const Godfs__TokenRevoke *)req, op->res);
	case M(NODE_DRAIN):
		return meta_drain_apply(op->st, (const Godfs__NodeDrain *)req);
	case M(LOCK): case M(LOCK_CANCEL):
		return meta_fsm_lock_apply(op->st, method,
					   op->e->has_session_id ? op->e->session_id : 0,
					   (const Godfs__Lock *)req, op->res);
	default:
		return GD_ENOTSUP;
	}
}

/* Runs one read-only method; returns its status. */
static int query_method(struct op *op, uint32_t method, const ProtobufCMessage *req)
{
	switch (method) {
	case M(LOOKUP):
		return q_lookup(op, (const Godfs__Lookup *)req);
	case M(GETATTR):
		return q_getattr(op, (const Godfs__InodeReq *)req);
	case M(READLINK):
		return q_readlink(op, (const Godfs__InodeReq *)req);
	case M(READDIR):
		return q_readdir(op, (const Godfs__Readdir *)req);
	case M(GETXATTR):
		return q_getxattr(op, (const Godfs__Xattr *)req);
	case M(LISTXATTR):
		return q_listxattr(op, (const Godfs__InodeReq *)req);
	case M(STATFS):
		return q_statfs(op);
	case M(CHUNK_LOCATE):
		return q_chunk_locate(op, (const Godfs__ChunkReq *)req);
	case M(OPEN):
		return op_open(op, (const Godfs__Open *)req, false);
	case M(TOKEN_LIST):
		return meta_token_list(op->st, op->res);
	case M(TOKEN_GET):
		return meta_token_get(op->st, (const Godfs__TokenGet *)req, op->res);
	case M(LOCK_GET):
		return meta_fsm_lock_test(op->st, (const Godfs__Lock *)req, op->res);
	default:
		return GD_ENOTSUP;
	}
}

/* Sets the status, and a status-only reply when the method packed none. */
static void finish(struct meta_fsm_result *res, int status)
{
	res->status = status;
	if (status || !res->resp)
		reply_status(res, status);
}

/* ---- exactly-once ---------------------------------------------------------------------- */

/* The req_seq and req_ack of a request whose answer is recorded: false for
 * the methods that are not (GD_METHOD_ONCE in the method table: leases and
 * chunk failures are safe to apply again and their answers are the leader's
 * to finish; HELLO and internal entries have no client seq). */
static bool request_seq(uint32_t method, const ProtobufCMessage *req, uint64_t *seq,
			uint64_t *ack)
{
	return gd_method_seq(gd_method_get(method), req, seq, ack) && *seq != 0;
}

/* The session whose record keeps the answer of this entry, or NULL (not
 * recorded: no session on the entry, an unknown one, or no seq). Trims the
 * records the client acknowledged (never seq itself). */
static struct meta_ns_session *once_session(struct meta_ns_state *st, const Godfs__MetaEntry *e,
					    const ProtobufCMessage *req, uint64_t *seq)
{
	struct meta_ns_session *se;
	uint64_t ack;

	if (!req || !e->has_req_session || e->req_session == 0 ||
	    !request_seq(e->method, req, seq, &ack))
		return NULL;
	se = meta_ns_session_find(st, e->req_session);
	if (se)
		meta_ns_reply_trim(se, ack < *seq ? ack : *seq - 1);
	return se;
}

/* Answers a resend from the session's record: true when answered (res set),
 * false when seq is new (apply it). */
static bool once_answer(const struct meta_ns_session *se, uint64_t seq, uint32_t method,
			struct meta_fsm_result *res)
{
	const struct meta_ns_reply *r = meta_ns_reply_find(se, seq);

	if (!r) {
		if (seq > se->replies_floor)
			return false;
		finish(res, GD_EFORGOTTEN);
		return true;
	}
	res->replayed = true;
	if (r->method != method) {
		/* another request under a seq already used: a client bug */
		finish(res, GD_EINVAL);
		return true;
	}
	if (r->resp_len) {
		res->resp = gd_malloc(r->resp_len);
		if (!res->resp) {
			res->out_of_memory = true;
			return true;
		}
		memcpy(res->resp, r->resp, r->resp_len);
		res->resp_len = r->resp_len;
	}
	finish(res, r->status);
	return true;
}

/* Records the answer of an applied request in its session. */
static void once_record(struct meta_ns_state *st, uint64_t session, uint64_t seq,
			uint32_t method, struct meta_fsm_result *res)
{
	struct meta_ns_session *se = meta_ns_session_find(st, session);
	int rc;

	if (!se)
		return;
	rc = meta_ns_reply_put(se, seq, method, res->status, res->resp, res->resp_len);
	if (rc == GD_EINVAL) /* an answer too long to keep: its status at least */
		rc = meta_ns_reply_put(se, seq, method, res->status, NULL, 0);
	if (rc == GD_ENOMEM)
		res->out_of_memory = true;
}

/* ---- apply ------------------------------------------------------------------------------ */

int meta_fsm_apply(struct meta_fsm *f, const void *entry, size_t len,
		   struct meta_fsm_result *res)
{
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *req = NULL;
	Godfs__MetaEntry *e;
	struct meta_ns_session *se;
	bool alloc_failed = false;
	ProtobufCAllocator alloc = gd_pb_allocator_flag(&alloc_failed);
	struct op op;
	uint64_t seq = 0;
	int status, rc;

	memset(res, 0, sizeof(*res));
	e = godfs__meta_entry__unpack(&alloc, len, entry);
	if (!e || !e->has_method) {
		if (e)
			godfs__meta_entry__free_unpacked(e, &alloc);
		rc = alloc_failed ? GD_ENOMEM : GD_EPROTO;
		finish(res, rc);
		return rc;
	}
	desc = request_descriptor(e->method);
	if (desc) {
		req = protobuf_c_message_unpack(desc, &alloc,
						e->has_request ? e->request.len : 0,
						e->has_request ? e->request.data : NULL);
		if (!req) {
			godfs__meta_entry__free_unpacked(e, &alloc);
			rc = alloc_failed ? GD_ENOMEM : GD_EPROTO;
			finish(res, rc);
			return rc;
		}
	}
	se = once_session(&f->st, e, req, &seq);
	if (!se || !once_answer(se, seq, e->method, res)) {
		memset(&op, 0, sizeof(op));
		op.st = &f->st;
		op.e = e;
		op.now_sec = e->has_now_sec ? e->now_sec : 0;
		op.now_nsec = e->has_now_nsec && e->now_nsec < 1000000000u ? e->now_nsec : 0;
		op.res = res;
		/* an API-key session: its owner forced, its chown bounded */
		status = meta_token_apply_identity(e, e->method, req);
		if (status == 0 && e->has_as_uid && e->has_as_gid)
			meta_perm_apply(&f->st, e->as_uid, e->as_gid, e->method, req);
		if (status == 0)
			status = apply_method(&op, e->method, req);
		if (e->method == M(TOKEN_CREATE) || e->method == M(TOKEN_REVOKE))
			f->tokens_gen++;
		finish(res, status);
		if (status == GD_ENOMEM)
			res->out_of_memory = true;
		if (se && !res->out_of_memory)
			once_record(&f->st, e->req_session, seq, e->method, res);
	}
	if (req)
		protobuf_c_message_free_unpacked(req, &alloc);
	godfs__meta_entry__free_unpacked(e, &alloc);
	return res->out_of_memory ? GD_ENOMEM : 0;
}

int meta_fsm_query_msg(struct meta_fsm *f, uint16_t method, const ProtobufCMessage *req,
		       struct meta_fsm_result *res)
{
	const struct gd_method *m = gd_method_get(method);
	struct op op;
	int status;

	memset(res, 0, sizeof(*res));
	if (!m || !req || req->descriptor != m->req) {
		finish(res, GD_EPROTO);
		return GD_EPROTO;
	}
	memset(&op, 0, sizeof(op));
	op.st = &f->st;
	op.res = res;
	status = query_method(&op, method, req);
	finish(res, status);
	return 0;
}

int meta_fsm_query(struct meta_fsm *f, uint16_t method, const void *req_buf,
		   size_t len, struct meta_fsm_result *res)
{
	const struct gd_method *m = gd_method_get(method);
	ProtobufCMessage *req;
	int rc;

	memset(res, 0, sizeof(*res));
	req = m ? protobuf_c_message_unpack(m->req, &gd_pb_allocator, len, req_buf) : NULL;
	if (!req) {
		finish(res, GD_EPROTO);
		return GD_EPROTO;
	}
	rc = meta_fsm_query_msg(f, method, req, res);
	protobuf_c_message_free_unpacked(req, &gd_pb_allocator);
	return rc;
}

/* ---- direct accessors ----------------------------------------------------------------------- */

int meta_fsm_new(uint64_t chunk_size, struct meta_fsm **out)
{
	struct meta_fsm *f;
	int rc;

	if (chunk_size == 0)
		return GD_EINVAL;
	f = gd_calloc(1, sizeof(*f));
	if (!f)
		return GD_ENOMEM;
	rc = meta_ns_state_init(&f->st, chunk_size, 3);
	if (rc) {
		meta_ns_state_release(&f->st);
		gd_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int meta_fsm_set_default_goal(struct meta_fsm *f, uint32_t goal)
{
	struct meta_ns_inode *root = get_inode(&f->st, META_NS_ROOT_INO);

	if (goal == 0 || goal > META_NS_GOAL_MAX)
		return GD_EINVAL;
	f->st.default_goal = goal;
	if (root)
		root->goal = goal;
	return 0;
}

void meta_fsm_free(struct meta_fsm *f)
{
	if (!f)
		return;
	meta_ns_state_release(&f->st);
	gd_free(f);
}

int meta_fsm_chunk_get(struct meta_fsm *f, uint64_t ino, uint64_t index,
		       struct meta_fsm_chunk *out)
{
	struct meta_ns_inode *in = get_inode(&f->st, ino);
	struct meta_ns_chunk *c;

	memset(out, 0, sizeof(*out));
	if (!in)
		return GD_ENOENT;
	if (S_ISDIR(in->mode))
		return GD_EISDIR;
	if (!S_ISREG(in->mode))
		return GD_EINVAL;
	out->file_size = in->size;
	out->goal = in->goal;
	out->ino = ino;
	out->index = index;
	c = meta_ns_chunk_find(in, index);
	if (c) {
		out->chunk_id = c->chunk_id;
		out->version = c->version;
		out->prev_version = c->prev_version;
		out->goal = c->goal;
		out->nodes = c->nodes;
		out->n_nodes = c->n_nodes;
	}
	return 0;
}

/* c as the caller sees it, with its owner's size (re-replication estimates
 * the bytes of a copy from it). */
static void chunk_out(struct meta_fsm *f, const struct meta_ns_chunk *c,
		      struct meta_fsm_chunk *out)
{
	struct meta_ns_inode *in = get_inode(&f->st, c->ino);

	memset(out, 0, sizeof(*out));
	out->file_size = in ? in->size : 0;
	out->chunk_id = c->chunk_id;
	out->version = c->version;
	out->prev_version = c->prev_version;
	out->goal = c->goal;
	out->nodes = c->nodes;
	out->n_nodes = c->n_nodes;
	out->ino = c->ino;
	out->index = c->index;
}

int meta_fsm_chunk_by_id(struct meta_fsm *f, uint64_t chunk_id, struct meta_fsm_chunk *out)
{
	struct meta_ns_chunk *c = chunk_id ? meta_ns_map_get(&f->st.chunks, chunk_id) : NULL;

	memset(out, 0, sizeof(*out));
	if (!c)
		return GD_ENOCHUNK;
	chunk_out(f, c, out);
	return 0;
}

bool meta_fsm_chunk_next(struct meta_fsm *f, size_t *pos, struct meta_fsm_chunk *out)
{
	struct meta_ns_chunk *c = meta_ns_map_next(&f->st.chunks, pos, NULL);

	if (!c)
		return false;
	chunk_out(f, c, out);
	return true;
}

uint64_t meta_fsm_lookup_ino(struct meta_fsm *f, uint64_t parent, const char *name)
{
	struct meta_ns_inode *p = get_inode(&f->st, parent);
	struct meta_ns_dirent *de;

	if (!p || !p->dir || !name)
		return 0;
	de = meta_ns_dir_lookup(p->dir, name, strlen(name));
	return de ? de->ino : 0;
}

uint64_t meta_fsm_chunk_version(struct meta_fsm *f, uint64_t chunk_id)
{
	struct meta_ns_chunk *c = meta_ns_map_get(&f->st.chunks, chunk_id);
	return c ? c->version : 0;
}

const char *meta_fsm_node_address(struct meta_fsm *f, const char *node_id)
{
	struct meta_ns_node *n = node_id ? meta_ns_node_find(&f->st, node_id) : NULL;
	return n ? n->address : NULL;
}

size_t meta_fsm_sessions(struct meta_fsm *f, uint64_t *ids, size_t max)
{
	size_t i;
	for (i = 0; i < f->st.n_sessions && i < max; i++)
		ids[i] = f->st.sessions[i].id;
	return i;
}

size_t meta_fsm_orphans(struct meta_fsm *f, uint64_t *inos, size_t max)
{
	size_t pos = 0, n = 0;
	uint64_t ino;

	while (n < max && meta_ns_map_next(&f->st.orphans, &pos, &ino))
		inos[n++] = ino;
	return n;
}

uint64_t meta_fsm_inode_count(struct meta_fsm *f)
{
	return f->st.inodes.count;
}

uint64_t meta_fsm_chunk_count(struct meta_fsm *f)
{
	return f->st.chunks.count;
}

uint64_t meta_fsm_chunk_size(struct meta_fsm *f)
{
	return f->st.chunk_size;
}

size_t meta_fsm_node_count(struct meta_fsm *f)
{
	return f->st.n_nodes;
}

int meta_fsm_snapshot(struct meta_fsm *f, void **buf, size_t *len)
{
	return meta_snap_write(&f->st, buf, len);
}

int meta_fsm_restore(struct meta_fsm *f, const void *buf, size_t len)
{
	struct meta_ns_state fresh;
	int rc = meta_snap_read(&fresh, buf, len);

	if (rc)
		return rc;
	meta_ns_state_release(&f->st);
	f->st = fresh;
	f->tokens_gen++;
	return 0;
}

const struct meta_ns_state *meta_fsm_state(struct meta_fsm *f)
{
	return &f->st;
}

uint64_t meta_fsm_tokens_gen(struct meta_fsm *f)
{
	return f->tokens_gen;
}
