/* Permission checks for sessions with a forced identity (see meta_perm.h).
 * The comments name the Linux function each rule comes from (fs/namei.c,
 * fs/attr.c, fs/xattr.c, fs/posix_acl.c). */
#include "meta_perm.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_status.h"
#include "meta_acl.h"
#include "meta_scope.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name
#define SA(bit) GODFS__SET_ATTR_BITS__SA_##bit

#define RENAME_EXCHANGE_FLAG 2u        /* wire.proto Rename.flags */
#define XATTR_ACL_KILL_SGID_FLAG 4u    /* wire.proto Xattr.flags */

static bool is_root(const struct meta_perm_who *w)
{
	return w->uid == 0;
}

int meta_perm_inode(const struct meta_ns_inode *in, uint32_t uid, uint32_t gid, uint32_t want)
{
	uint32_t mode = in->mode;
	int rc;

	if (uid == 0)
		return 0;
	want &= 07u;
	/* acl_permission_check(): the owner is judged by the owner bits alone */
	if (in->uid == uid)
		return (want & ~(mode >> 6)) ? GD_EACCES : 0;
	/* with group bits 0 (the mask, when there is an ACL) no entry can grant */
	if (mode & S_IRWXG) {
		rc = meta_acl_permission(in, uid, gid, want);
		if (rc != GD_ENODATA)
			return rc;
	}
	if (in->gid == gid)
		mode >>= 3;
	return (want & ~mode) ? GD_EACCES : 0;
}

/* The state one check works on, and where the refusal is told. */
struct ck {
	const struct meta_ns_state *st;
	const struct meta_perm_who *who;
	const char **why;
	uint64_t *bad;
};

static const struct meta_ns_inode *get(const struct ck *c, uint64_t ino)
{
	return meta_ns_map_get(&c->st->inodes, ino);
}

static int deny(const struct ck *c, int rc, const char *why, uint64_t ino)
{
	*c->why = why;
	*c->bad = ino;
	return rc;
}

static int need(const struct ck *c, const struct meta_ns_inode *in, uint32_t want,
		const char *why)
{
	if (meta_perm_inode(in, c->who->uid, c->who->gid, want) == 0)
		return 0;
	return deny(c, GD_EACCES, why, in->ino);
}

/* inode_owner_or_capable() */
static bool owner(const struct ck *c, const struct meta_ns_inode *in)
{
	return is_root(c->who) || in->uid == c->who->uid;
}

/* The path walk that leads to ino: x on every directory from the session's
 * root down to ino's own directory (ino itself is the operation's to judge).
 * Directories record their parent, other inodes one directory holding
 * them; meta_scope_check has already refused an inode whose way up is
 * unknown or leaves the root. *out gets the inode. */
static int reach(const struct ck *c, uint64_t ino, const struct meta_ns_inode **out)
{
	const struct meta_ns_inode *in = get(c, ino), *d;
	unsigned depth;

	if (!in)
		return deny(c, GD_ENOENT, "no such inode", ino);
	*out = in;
	if (is_root(c->who) || ino == c->who->root || ino == META_NS_ROOT_INO)
		return 0;
	d = get(c, in->parent);
	for (depth = 0; d && depth <= META_SCOPE_DEPTH_MAX; depth++) {
		if (need(c, d, META_PERM_X, "no search permission on a directory above"))
			return GD_EACCES;
		if (d->ino == c->who->root || d->ino == META_NS_ROOT_INO)
			return 0;
		d = get(c, d->parent);
	}
	return deny(c, GD_EACCES, "no way up to the key's root", ino);
}

/* A directory reached and searchable: the start of every name operation. */
static int lookup_dir(const struct ck *c, uint64_t dir, const struct meta_ns_inode **out)
{
	int rc = reach(c, dir, out);

	if (rc == 0 && S_ISDIR((*out)->mode))
		rc = need(c, *out, META_PERM_X, "no search permission on the directory");
	return rc;
}

/* The inode a name of dir holds, or NULL (the handler answers ENOENT, or
 * EINVAL for a name it refuses). */
static const struct meta_ns_inode *child(const struct ck *c, const struct meta_ns_inode *dir,
					 const char *name)
{
	const struct meta_ns_dirent *de;

	if (!name || !dir->dir)
		return NULL;
	de = meta_ns_dir_lookup(dir->dir, name, strlen(name));
	return de ? get(c, de->ino) : NULL;
}

/* may_create(): w and x on the directory. */
static int may_create(const struct ck *c, const struct meta_ns_inode *dir)
{
	return need(c, dir, META_PERM_W | META_PERM_X, "no write permission on the directory");
}

/* may_delete(): w and x on the directory, then the sticky bit (check_sticky):
 * in a sticky directory only the entry's owner or the directory's. */
static int may_delete(const struct ck *c, const struct meta_ns_inode *dir,
		      const struct meta_ns_inode *in)
{
	int rc = may_create(c, dir);

	if (rc)
		return rc;
	if ((dir->mode & S_ISVTX) && !owner(c, in) && !owner(c, dir))
		return deny(c, GD_EPERM, "sticky directory: neither the entry's owner nor the "
			    "directory's", in->ino);
	return 0;
}

/* may_linkat() with fs.protected_hardlinks = 1: a non-owner links only a
 * regular file that is not set-uid nor set-gid-executable and that it may
 * read and write. */
static int may_link(const struct ck *c, const struct meta_ns_inode *in)
{
	if (owner(c, in))
		return 0;
	if (!S_ISREG(in->mode) || (in->mode & S_ISUID) ||
	    ((in->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) ||
	    meta_perm_inode(in, c->who->uid, c->who->gid, META_PERM_R | META_PERM_W) != 0)
		return deny(c, GD_EPERM, "hard link to another's file it may not read and write",
			    in->ino);
	return 0;
}

static int check_create(const struct ck *c, uint64_t parent, const char *name)
{
	const struct meta_ns_inode *dir;
	int rc = lookup_dir(c, parent, &dir);

	if (rc)
		return rc;
	/* an existing name: EEXIST, or an open(O_CREAT) of what is there,
	 * which grants nothing by itself (reads and writes are checked) */
	if (child(c, dir, name))
		return 0;
	return may_create(c, dir);
}

/* What a key may not create whatever the directory: a device node (no
 * CAP_MKNOD: for a uid-0 key too, whose root ends at its subtree, not at
 * the machines that mount the cluster with dev allowed), or, for a
 * non-root key, a set-user-id file (a key acts through the gateway, which
 * has no use for one; a mount may allow suid). */
static int check_new_mode(const struct ck *c, uint32_t method, const Godfs__Mknod *r)
{
	uint32_t mode = r->has_mode ? r->mode : 0;

	if (method == M(MKNOD) && (S_ISCHR(mode) || S_ISBLK(mode)))
		return deny(c, GD_EPERM, "device nodes are not for API keys", r->parent);
	if (method != M(SYMLINK) && !is_root(c->who) && (mode & S_ISUID))
		return deny(c, GD_EPERM, "set-user-id files are not for non-root API keys",
			    r->parent);
	return 0;
}

static int check_remove(const struct ck *c, uint64_t parent, const char *name)
{
	const struct meta_ns_inode *dir, *in;
	int rc = lookup_dir(c, parent, &dir);

	if (rc)
		return rc;
	in = child(c, dir, name);
	return in ? may_delete(c, dir, in) : 0;
}

static int check_link(const struct ck *c, const Godfs__Link *r)
{
	const struct meta_ns_inode *in, *dir;
	int rc = reach(c, r->ino, &in);

	if (rc == 0)
		rc = lookup_dir(c, r->newparent, &dir);
	if (rc || child(c, dir, r->newname))
		return rc;
	rc = may_link(c, in);
	return rc ? rc : may_create(c, dir);
}

/* vfs_rename(): the source deletable from its directory; the target
 * deletable from its own, or creatable there; a directory changing parent
 * writable (its ".." changes), and so the target too when exchanged. */
static int check_rename(const struct ck *c, const Godfs__Rename *r)
{
	const struct meta_ns_inode *sp, *dp, *src, *dst;
	bool exchange = r->has_flags && (r->flags & RENAME_EXCHANGE_FLAG);
	int rc = lookup_dir(c, r->parent, &sp);

	if (rc == 0)
		rc = lookup_dir(c, r->newparent, &dp);
	if (rc)
		return rc;
	src = child(c, sp, r->name);
	dst = child(c, dp, r->newname);
	if (!src || (exchange && !dst) || src == dst)
		return 0;       /* ENOENT, or a rename onto itself that does nothing */
	rc = may_delete(c, sp, src);
	if (rc == 0)
		rc = dst ? may_delete(c, dp, dst) : may_create(c, dp);
	if (rc || sp == dp)
		return rc;
	if (S_ISDIR(src->mode))
		rc = need(c, src, META_PERM_W, "moving a directory it may not write");
	if (rc == 0 && exchange && S_ISDIR(dst->mode))
		rc = need(c, dst, META_PERM_W, "moving a directory it may not write");
	return rc;
}

/* may_open(): the access mode's r and w, w for O_TRUNC. */
static int check_open(const struct ck *c, const Godfs__Open *r)
{
	const struct meta_ns_inode *in;
	uint32_t fl = r->has_flags ? r->flags : 0, want = 0;
	int rc = reach(c, r->ino, &in);

	if (rc)
		return rc;
	if ((fl & O_ACCMODE) != O_WRONLY)
		want |= META_PERM_R;
	if ((fl & O_ACCMODE) != O_RDONLY || (fl & O_TRUNC))
		want |= META_PERM_W;
	return need(c, in, want, "open without the permission its flags need");
}

/* setattr_prepare() and may_setattr(). */
static int check_setattr(const struct ck *c, const Godfs__SetAttr *r)
{
	const struct meta_ns_inode *in;
	uint32_t v = r->has_valid ? r->valid : 0;
	int rc = reach(c, r->ino, &in);

	if (rc)
		return rc;
	if (is_root(c->who))
		return 0;
	if ((v & SA(SIZE)) && need(c, in, META_PERM_W, "truncate without write permission"))
		return GD_EACCES;
	if ((v & SA(UID)) && !(owner(c, in) && r->uid == in->uid))
		return deny(c, GD_EPERM, "chown by a non-root key", in->ino);
	if ((v & SA(GID)) && !(owner(c, in) && (r->gid == in->gid || r->gid == c->who->gid)))
		return deny(c, GD_EPERM, "chgrp to a group other than the key's own, or of "
			    "another's file", in->ino);
	if ((v & SA(MODE)) && !owner(c, in))
		return deny(c, GD_EPERM, "chmod of another's file", in->ino);
	if ((v & SA(MODE)) && (r->mode & S_ISUID))
		return deny(c, GD_EPERM, "set-user-id files are not for non-root API keys",
			    in->ino);
	if ((v & (SA(ATIME) | SA(MTIME))) && !owner(c, in))
		return deny(c, GD_EPERM, "setting the times of another's file", in->ino);
	if ((v & (SA(ATIME_NOW) | SA(MTIME_NOW) | SA(CTIME))) && !owner(c, in) &&
	    need(c, in, META_PERM_W, "touching another's file without write permission"))
		return GD_EACCES;
	if (v & SA(GOAL))
		return deny(c, GD_EPERM, "the replication goal is set by the operator", in->ino);
	return 0;
}

static bool prefixed(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* xattr_permission(), and cap_inode_setxattr()/cap_inode_removexattr() for
 * security.*: what a process without capabilities gets. */
static int check_xattr(const struct ck *c, const Godfs__Xattr *r, bool write)
{
	const struct meta_ns_inode *in;
	const char *name = r->name ? r->name : "";
	int rc = reach(c, r->ino, &in);

	if (rc || is_root(c->who))
		return rc;
	if (prefixed(name, "trusted."))
		return write ? deny(c, GD_EPERM, "trusted.* needs root", in->ino) : GD_ENODATA;
	if (prefixed(name, "security."))
		return write ? deny(c, GD_EPERM, "security.* needs root", in->ino) : 0;
	if (prefixed(name, "system.")) {
		/* set_posix_acl(): the owner only; reading needs nothing */
		if (write && !owner(c, in))
			return deny(c, GD_EPERM, "changing system.* of another's file", in->ino);
		return 0;
	}
	if (prefixed(name, "user.")) {
		if (!S_ISREG(in->mode) && !S_ISDIR(in->mode))
			return write ? deny(c, GD_EPERM, "user.* only on files and directories",
					    in->ino) : GD_ENODATA;
		if (write && S_ISDIR(in->mode) && (in->mode & S_ISVTX) && !owner(c, in))
			return deny(c, GD_EPERM, "user.* of another's sticky directory", in->ino);
	}
	return need(c, in, write ? META_PERM_W : META_PERM_R,
		    write ? "changing an xattr without write permission"
			  : "reading an xattr without read permission");
}

/* An inode whose own permissions the method needs (want 0: only reached). */
static int check_ino(const struct ck *c, uint64_t ino, uint32_t want, const char *why)
{
	const struct meta_ns_inode *in;
	int rc = reach(c, ino, &in);

	return rc || !want ? rc : need(c, in, want, why);
}

int meta_perm_check(const struct meta_ns_state *st, const struct meta_perm_who *who,
		    uint16_t method, const ProtobufCMessage *req, const char **why,
		    uint64_t *bad_ino)
{
	struct ck c = { st, who, why, bad_ino };

	*bad_ino = 0;
	if (!req && method != M(PING)) {
		*why = "request without a message";
		return GD_EINVAL;
	}
	switch (method) {
	case M(PING): case M(SESSION_RENEW): case M(HELLO): case M(RELEASE):
		/* the session's own state; HELLO re-claims opens, and an open
		 * grants nothing that is not checked again at use */
		return 0;
	case M(LOOKUP): {
		const Godfs__Lookup *r = (const Godfs__Lookup *)req;
		const struct meta_ns_inode *dir;
		return lookup_dir(&c, r->parent, &dir);
	}
	case M(GETATTR): case M(READLINK): case M(LISTXATTR): case M(STATFS):
		return check_ino(&c, ((const Godfs__InodeReq *)req)->ino, 0, NULL);
	case M(READDIR): {
		const Godfs__Readdir *r = (const Godfs__Readdir *)req;
		/* attributes of the entries are what a lookup in it gives: x */
		return check_ino(&c, r->ino, META_PERM_R | (r->plus ? META_PERM_X : 0),
				 "listing a directory without read (and search) permission");
	}
	case M(GETXATTR):
		return check_xattr(&c, (const Godfs__Xattr *)req, false);
	case M(SETXATTR): case M(REMOVEXATTR):
		return check_xattr(&c, (const Godfs__Xattr *)req, true);
	case M(SETATTR):
		return check_setattr(&c, (const Godfs__SetAttr *)req);
	case M(OPEN):
		return check_open(&c, (const Godfs__Open *)req);
	case M(MKNOD): case M(MKDIR): case M(SYMLINK): case M(CREATE): {
		const Godfs__Mknod *r = (const Godfs__Mknod *)req;
		int rc = check_new_mode(&c, method, r);
		return rc ? rc : check_create(&c, r->parent, r->name);
	}
	case M(LINK):
		return check_link(&c, (const Godfs__Link *)req);
	case M(UNLINK): case M(RMDIR): {
		const Godfs__NameReq *r = (const Godfs__NameReq *)req;
		return check_remove(&c, r->parent, r->name);
	}
	case M(RENAME):
		return check_rename(&c, (const Godfs__Rename *)req);
	case M(CHUNK_LOCATE):
		return check_ino(&c, ((const Godfs__ChunkReq *)req)->ino, META_PERM_R,
				 "reading without read permission");
	case M(WRITE_LEASE):
		return check_ino(&c, ((const Godfs__ChunkReq *)req)->ino, META_PERM_W,
				 "writing without write permission");
	case M(WRITE_COMMIT):
		return check_ino(&c, ((const Godfs__WriteCommit *)req)->ino, META_PERM_W,
				 "writing without write permission");
	case M(LEASE_RETURN):
		/* giving back a lease the session holds (the leader checks
		 * that): the create that granted it was allowed, whatever the
		 * new file's mode says; the inode must be reachable */
		return check_ino(&c, ((const Godfs__LeaseReturn *)req)->ino, 0, NULL);
	case M(CHUNK_FAILED):
		return check_ino(&c, ((const Godfs__ChunkFailed *)req)->ino, META_PERM_W,
				 "writing without write permission");
	default:
		*why = "method without a permission rule for API keys";
		return GD_EPERM;
	}
}

void meta_perm_apply(const struct meta_ns_state *st, uint32_t uid, uint32_t gid,
		     uint32_t method, ProtobufCMessage *req)
{
	const struct meta_ns_inode *in;

	if (uid == 0 || !req)
		return;
	if (method == M(SETATTR)) {
		Godfs__SetAttr *r = (Godfs__SetAttr *)req;
		uint32_t v = r->has_valid ? r->valid : 0;
		in = r->has_ino ? meta_ns_map_get(&st->inodes, r->ino) : NULL;
		if (in && (v & SA(MODE)) && ((v & SA(GID)) ? r->gid : in->gid) != gid)
			r->mode &= ~(uint32_t)S_ISGID;
	} else if (method == M(MKNOD)) {
		/* mode_strip_sgid(): a set-group-id executable created in a
		 * set-group-id directory (whose group it gets) by a caller
		 * outside that group loses the bit. Directories keep theirs
		 * (inherited from the parent, as Linux has it). */
		Godfs__Mknod *r = (Godfs__Mknod *)req;
		uint32_t m = r->has_mode ? r->mode : 0;
		in = r->has_parent ? meta_ns_map_get(&st->inodes, r->parent) : NULL;
		if (in && (in->mode & S_ISGID) && in->gid != gid && !S_ISDIR(m) &&
		    (m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
			r->mode = m & ~(uint32_t)S_ISGID;
	} else if (method == M(SETXATTR)) {
		Godfs__Xattr *r = (Godfs__Xattr *)req;
		in = r->has_ino ? meta_ns_map_get(&st->inodes, r->ino) : NULL;
		if (in && r->name && meta_acl_type(r->name) == META_ACL_TYPE_ACCESS &&
		    in->gid != gid) {
			r->has_flags = 1;
			r->flags |= XATTR_ACL_KILL_SGID_FLAG;
		}
	}
}
