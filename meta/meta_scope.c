/* What a client token may reach (see meta_scope.h). */
#include "meta_scope.h"

#include <fcntl.h>
#include <string.h>

#include "gd_methods.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name

int meta_scope_inside(const struct meta_ns_state *st, uint64_t root, uint64_t ino)
{
	const struct meta_ns_inode *in;
	unsigned depth;

	if (ino == 0 || !meta_ns_map_get(&st->inodes, ino))
		return GD_ENOENT;
	if (root == META_NS_ROOT_INO)
		return 0;
	in = meta_ns_map_get(&st->inodes, ino);
	for (depth = 0; depth <= META_SCOPE_DEPTH_MAX && in; depth++) {
		if (in->ino == root)
			return 0;
		if (in->ino == META_NS_ROOT_INO || in->parent == 0)
			return GD_EACCES;
		in = meta_ns_map_get(&st->inodes, in->parent);
	}
	return GD_EACCES;
}

/* One inode a request names: inside, or the refusal with its reason. */
static int need(const struct meta_ns_state *st, uint64_t root, bool has, uint64_t ino,
		const char **why, uint64_t *bad_ino)
{
	int rc;

	if (!has) {
		*why = "request without its inode";
		return GD_EINVAL;
	}
	rc = meta_scope_inside(st, root, ino);
	if (rc) {
		*why = rc == GD_ENOENT ? "no such inode" : "inode outside the token's subtree";
		*bad_ino = ino;
	}
	return rc;
}

/* Whether method changes the file system (a read-only token may not call it):
 * GD_METHOD_MUTATES in the method table, and an OPEN for writing or with
 * O_TRUNC. */
static bool mutating(uint16_t method, const ProtobufCMessage *req)
{
	const struct gd_method *m = gd_method_get(method);

	if (method == M(OPEN)) {
		const Godfs__Open *o = (const Godfs__Open *)req;
		uint32_t fl = o->has_flags ? o->flags : 0;
		return (fl & O_ACCMODE) != O_RDONLY || (fl & O_TRUNC);
	}
	return m != NULL && (m->flags & GD_METHOD_MUTATES);
}

int meta_scope_check(const struct meta_ns_state *st, uint64_t root, bool read_only,
		     uint16_t method, const ProtobufCMessage *req, const char **why,
		     uint64_t *bad_ino)
{
	int rc = 0;
	size_t i;

	*bad_ino = 0;
	if (!req && method != M(PING)) {
		*why = "request without a message";
		return GD_EINVAL;
	}
	switch (method) {
	case M(PING): case M(SESSION_RENEW):
		return 0;
	case M(HELLO): {
		/* a reconnecting mount re-claims its open files: each must be its
		 * own. A file gone meanwhile is just not re-claimed (reclaim skips
		 * it too), so a missing one is passed over, but every other entry
		 * is still checked. */
		const Godfs__Hello *h = (const Godfs__Hello *)req;
		for (i = 0; i < h->n_open_inodes; i++) {
			rc = need(st, root, true, h->open_inodes[i], why, bad_ino);
			if (rc != 0 && rc != GD_ENOENT)
				return rc;
		}
		*bad_ino = 0;
		return 0;
	}
	case M(LOOKUP): {
		const Godfs__Lookup *l = (const Godfs__Lookup *)req;
		rc = need(st, root, l->has_parent, l->parent, why, bad_ino);
		if (rc == 0 && l->parent == root && l->name && strcmp(l->name, "..") == 0) {
			*why = "\"..\" of the token's subtree";
			*bad_ino = root;
			rc = GD_EACCES;
		}
		return rc;
	}
	case M(GETATTR): case M(READLINK): case M(LISTXATTR): case M(STATFS): case M(RELEASE): {
		const Godfs__InodeReq *r = (const Godfs__InodeReq *)req;
		return need(st, root, r->has_ino, r->ino, why, bad_ino);
	}
	case M(READDIR): {
		const Godfs__Readdir *r = (const Godfs__Readdir *)req;
		return need(st, root, r->has_ino, r->ino, why, bad_ino);
	}
	case M(GETXATTR): case M(SETXATTR): case M(REMOVEXATTR): {
		const Godfs__Xattr *r = (const Godfs__Xattr *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(SETATTR): {
		const Godfs__SetAttr *r = (const Godfs__SetAttr *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(OPEN): {
		const Godfs__Open *r = (const Godfs__Open *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(MKNOD): case M(MKDIR): case M(SYMLINK): case M(CREATE): {
		const Godfs__Mknod *r = (const Godfs__Mknod *)req;
		rc = need(st, root, r->has_parent, r->parent, why, bad_ino);
		break;
	}
	case M(LINK): {
		const Godfs__Link *r = (const Godfs__Link *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		if (rc == 0)
			rc = need(st, root, r->has_newparent, r->newparent, why, bad_ino);
		break;
	}
	case M(UNLINK): case M(RMDIR): {
		const Godfs__NameReq *r = (const Godfs__NameReq *)req;
		rc = need(st, root, r->has_parent, r->parent, why, bad_ino);
		break;
	}
	case M(RENAME): {
		const Godfs__Rename *r = (const Godfs__Rename *)req;
		rc = need(st, root, r->has_parent, r->parent, why, bad_ino);
		if (rc == 0)
			rc = need(st, root, r->has_newparent, r->newparent, why, bad_ino);
		break;
	}
	case M(CHUNK_LOCATE): case M(WRITE_LEASE): {
		const Godfs__ChunkReq *r = (const Godfs__ChunkReq *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(WRITE_COMMIT): {
		const Godfs__WriteCommit *r = (const Godfs__WriteCommit *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(LEASE_RETURN): {
		const Godfs__LeaseReturn *r = (const Godfs__LeaseReturn *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(CHUNK_FAILED): {
		const Godfs__ChunkFailed *r = (const Godfs__ChunkFailed *)req;
		rc = need(st, root, r->has_ino, r->ino, why, bad_ino);
		break;
	}
	case M(LOCK): case M(LOCK_GET): case M(LOCK_CANCEL): {
		/* a lock changes no file: a read-only token may lock (the
		 * kernel checked the open mode for a write lock) */
		const Godfs__Lock *r = (const Godfs__Lock *)req;
		return need(st, root, r->has_ino, r->ino, why, bad_ino);
	}
	default:
		*why = "method not open to client tokens";
		return GD_EPERM;
	}
	if (rc == 0 && read_only && mutating(method, req)) {
		*why = "write with a read-only token";
		rc = GD_EROFS;
	}
	return rc;
}

size_t meta_scope_reclaimable(const struct meta_ns_state *st, uint64_t root,
			      const uint64_t *in, size_t n, uint64_t *out)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (meta_scope_inside(st, root, in[i]) == 0)
			out[k++] = in[i];
	return k;
}
