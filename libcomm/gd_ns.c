/* The namespace calls to the meta (see gd_ns.h). Everything that comes
 * back from the meta is bounded and checked here before a caller (the FUSE
 * layer, the gateway) sees it. */
#include "gd_ns.h"

#include <errno.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define GD_NS_BLKSIZE (1u << 20)    /* st_blksize: tools then use 1 MiB I/O */

int gd_ns_errno(int status)
{
	if (status >= 0)
		return 0;
	int e = gd_status_to_errno(status);
	return e > 0 ? e : EIO;
}

int gd_ns_name_check(const char *name)
{
	size_t len = strnlen(name, GD_NS_NAME_MAX + 1);
	if (len > GD_NS_NAME_MAX)
		return GD_ENAMETOOLONG;
	if (len == 0 || strchr(name, '/'))
		return GD_EINVAL;
	return 0;
}

void gd_ns_attr_to_stat(const struct gd_attr *a, uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)(a->size > INT64_MAX ? INT64_MAX : a->size);
	st->st_blksize = GD_NS_BLKSIZE;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

/* One call that answers an AttrResp; fills out (may be NULL) and, when
 * parent is not NULL, *parent from AttrResp.parent (ino 0: none). */
static int attr_call_p(struct gd_meta_client *m, uint16_t method, const ProtobufCMessage *req,
		       struct gd_attr *out, struct gd_attr *parent)
{
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(m, method, req, &godfs__attr_resp__descriptor, &resp);
	if (parent)
		parent->ino = 0;
	if (rc == 0) {
		const Godfs__AttrResp *ar = (const Godfs__AttrResp *)resp;
		if (!ar->attr || !ar->attr->has_ino || ar->attr->ino == 0) {
			gd_warn("meta answered method %u without attributes", method);
			rc = GD_EPROTO;
		} else {
			if (out)
				gd_attr_from_pb(out, ar->attr);
			if (parent && ar->parent && ar->parent->has_ino)
				gd_attr_from_pb(parent, ar->parent);
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int attr_call(struct gd_meta_client *m, uint16_t method, const ProtobufCMessage *req,
		     struct gd_attr *out)
{
	return attr_call_p(m, method, req, out, NULL);
}

/* One call that answers a StatusResp. */
static int status_call(struct gd_meta_client *m, uint16_t method, const ProtobufCMessage *req)
{
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(m, method, req, &godfs__status_resp__descriptor, &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int gd_ns_lookup(struct gd_meta_client *m, uint64_t parent, const char *name,
		 struct gd_attr *out)
{
	int rc = gd_ns_name_check(name);
	if (rc)
		return rc == GD_EINVAL ? GD_ENOENT : rc;
	Godfs__Lookup req = GODFS__LOOKUP__INIT;
	req.has_parent = 1;
	req.parent = parent;
	req.name = (char *)name;
	return attr_call(m, GODFS__METHOD__M_LOOKUP, &req.base, out);
}

int gd_ns_getattr(struct gd_meta_client *m, uint64_t ino, struct gd_attr *out)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	req.has_ino = 1;
	req.ino = ino;
	return attr_call(m, GODFS__METHOD__M_GETATTR, &req.base, out);
}

int gd_ns_setattr(struct gd_meta_client *m, const struct gd_ns_setattr *sa,
		  struct gd_attr *out)
{
	Godfs__SetAttr req = GODFS__SET_ATTR__INIT;
	req.has_ino = req.has_valid = 1;
	req.ino = sa->ino;
	req.valid = sa->valid;
	if (sa->valid & GODFS__SET_ATTR_BITS__SA_MODE) {
		req.has_mode = 1;
		req.mode = sa->mode & 07777;
	}
	if (sa->valid & GODFS__SET_ATTR_BITS__SA_UID) {
		req.has_uid = 1;
		req.uid = sa->uid;
	}
	if (sa->valid & GODFS__SET_ATTR_BITS__SA_GID) {
		req.has_gid = 1;
		req.gid = sa->gid;
	}
	if (sa->valid & GODFS__SET_ATTR_BITS__SA_ATIME) {
		req.has_atime_sec = req.has_atime_nsec = 1;
		req.atime_sec = sa->atime.tv_sec;
		req.atime_nsec = (uint32_t)sa->atime.tv_nsec;
	}
	if (sa->valid & GODFS__SET_ATTR_BITS__SA_MTIME) {
		req.has_mtime_sec = req.has_mtime_nsec = 1;
		req.mtime_sec = sa->mtime.tv_sec;
		req.mtime_nsec = (uint32_t)sa->mtime.tv_nsec;
	}
	return attr_call(m, GODFS__METHOD__M_SETATTR, &req.base, out);
}

/* The Mknod message of r (r's strings, not copied). */
static int mknod_fill(const struct gd_ns_mknod *r, Godfs__Mknod *out)
{
	int rc = gd_ns_name_check(r->name);
	if (rc)
		return rc;
	if (r->target && strnlen(r->target, GD_NS_SYMLINK_MAX + 1) > GD_NS_SYMLINK_MAX)
		return GD_ENAMETOOLONG;
	Godfs__Mknod req = GODFS__MKNOD__INIT;
	req.has_parent = req.has_mode = req.has_uid = req.has_gid = 1;
	req.parent = r->parent;
	req.name = (char *)r->name;
	req.mode = r->mode;
	req.uid = r->uid;
	req.gid = r->gid;
	req.has_umask = 1;
	req.umask = r->umask & 0777;
	if (r->rdev) {
		req.has_rdev = 1;
		req.rdev = r->rdev;
	}
	req.target = (char *)r->target;
	if (r->exclusive) {
		req.has_exclusive = 1;
		req.exclusive = 1;
	}
	if (r->session_id) {
		req.has_session_id = 1;
		req.session_id = r->session_id;
	}
	*out = req;
	return 0;
}

int gd_ns_mknod(struct gd_meta_client *m, uint16_t method,
		const struct gd_ns_mknod *r, struct gd_attr *out)
{
	Godfs__Mknod req;
	int rc = mknod_fill(r, &req);
	if (rc == 0)
		rc = attr_call_p(m, method, &req.base, out, r->parent_out);
	if (rc == 0 && r->parent_out && r->parent_out->ino != r->parent)
		r->parent_out->ino = 0;
	return rc;
}

int gd_ns_create(struct gd_client *gc, const struct gd_ns_mknod *r, bool lease,
		 struct gd_attr *out, bool *created, struct gd_attr *parent)
{
	struct gd_meta_client *m = gd_client_meta(gc);
	ProtobufCMessage *resp = NULL;
	Godfs__Mknod req;
	int rc;

	*created = false;
	parent->ino = 0;
	if (!(gd_meta_client_features(m) & GD_META_FEATURE_CREATE))
		return gd_ns_mknod(m, GODFS__METHOD__M_MKNOD, r, out);
	rc = mknod_fill(r, &req);
	if (rc)
		return rc;
	req.has_lease = 1;
	req.lease = lease;
	rc = gd_meta_call(m, GODFS__METHOD__M_CREATE, &req.base, &godfs__open_resp__descriptor,
			  &resp);
	if (rc == 0) {
		const Godfs__OpenResp *o = (const Godfs__OpenResp *)resp;
		if (!o->attr || !o->attr->has_ino || o->attr->ino == 0) {
			gd_warn("meta answered CREATE without attributes");
			rc = GD_EPROTO;
		} else {
			gd_attr_from_pb(out, o->attr);
			*created = o->has_created && o->created;
			if (o->parent && o->parent->has_ino && o->parent->ino == r->parent)
				gd_attr_from_pb(parent, o->parent);
			/* a lease that cannot be taken is asked for again at the write */
			if (o->chunk && gd_client_lease_seed(gc, out->ino, 0, o->chunk) != 0)
				gd_debug("inode %llu: the lease of CREATE not taken",
					 (unsigned long long)out->ino);
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int gd_ns_link(struct gd_meta_client *m, uint64_t ino, uint64_t newparent,
	       const char *newname, struct gd_attr *out)
{
	int rc = gd_ns_name_check(newname);
	if (rc)
		return rc;
	Godfs__Link req = GODFS__LINK__INIT;
	req.has_ino = req.has_newparent = 1;
	req.ino = ino;
	req.newparent = newparent;
	req.newname = (char *)newname;
	return attr_call(m, GODFS__METHOD__M_LINK, &req.base, out);
}

int gd_ns_remove_p(struct gd_meta_client *m, uint16_t method, uint64_t parent,
		   const char *name, uint64_t session_id, struct gd_attr *parent_out)
{
	int rc = gd_ns_name_check(name);
	if (parent_out)
		parent_out->ino = 0;
	if (rc)
		return rc == GD_EINVAL ? GD_ENOENT : rc;
	Godfs__NameReq req = GODFS__NAME_REQ__INIT;
	req.has_parent = req.has_session_id = 1;
	req.parent = parent;
	req.name = (char *)name;
	req.session_id = session_id;
	ProtobufCMessage *resp = NULL;
	rc = gd_meta_call(m, method, &req.base, &godfs__status_resp__descriptor, &resp);
	if (rc == 0 && parent_out) {
		const Godfs__StatusResp *s = (const Godfs__StatusResp *)resp;
		if (s->parent && s->parent->has_ino && s->parent->ino == parent)
			gd_attr_from_pb(parent_out, s->parent);
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int gd_ns_remove(struct gd_meta_client *m, uint16_t method, uint64_t parent,
		 const char *name, uint64_t session_id)
{
	return gd_ns_remove_p(m, method, parent, name, session_id, NULL);
}

int gd_ns_rename(struct gd_meta_client *m, uint64_t parent, const char *name,
		 uint64_t newparent, const char *newname, uint32_t flags,
		 uint64_t session_id)
{
	int rc = gd_ns_name_check(name);
	if (rc == 0)
		rc = gd_ns_name_check(newname);
	if (rc)
		return rc;
	Godfs__Rename req = GODFS__RENAME__INIT;
	req.has_parent = req.has_newparent = req.has_flags = req.has_session_id = 1;
	req.parent = parent;
	req.name = (char *)name;
	req.newparent = newparent;
	req.newname = (char *)newname;
	req.flags = flags;
	req.session_id = session_id;
	return status_call(m, GODFS__METHOD__M_RENAME, &req.base);
}

int gd_ns_readlink(struct gd_meta_client *m, uint64_t ino, char **target)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	req.has_ino = 1;
	req.ino = ino;
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(m, GODFS__METHOD__M_READLINK, &req.base,
			      &godfs__readlink_resp__descriptor, &resp);
	if (rc == 0) {
		const char *t = ((Godfs__ReadlinkResp *)resp)->target;
		size_t len = t ? strnlen(t, GD_NS_SYMLINK_MAX + 1) : 0;
		if (len == 0 || len > GD_NS_SYMLINK_MAX) {
			rc = GD_EPROTO;
		} else {
			*target = gd_strndup(t, len);
			if (!*target)
				rc = GD_ENOMEM;
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int gd_ns_readdir(struct gd_meta_client *m, uint64_t ino, uint64_t cookie,
		  uint32_t max_entries, int plus, struct gd_ns_dirpage *out)
{
	memset(out, 0, sizeof(*out));
	Godfs__Readdir req = GODFS__READDIR__INIT;
	req.has_ino = req.has_cookie = req.has_max_entries = req.has_plus = 1;
	req.ino = ino;
	req.cookie = cookie;
	req.max_entries = max_entries;
	req.plus = plus != 0;
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(m, GODFS__METHOD__M_READDIR, &req.base,
			      &godfs__readdir_resp__descriptor, &resp);
	if (rc) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return rc;
	}
	const Godfs__ReaddirResp *rr = (const Godfs__ReaddirResp *)resp;
	out->resp = resp;
	out->eof = rr->has_eof && rr->eof;
	if (rr->n_entries == 0)
		return 0;
	out->ents = gd_calloc(rr->n_entries, sizeof(*out->ents));
	if (!out->ents) {
		gd_ns_readdir_release(out);
		return GD_ENOMEM;
	}
	uint64_t last = cookie;
	for (size_t i = 0; i < rr->n_entries; i++) {
		const Godfs__Dirent *d = rr->entries[i];
		/* Entries out of order, nameless or with a bad cookie would break
		 * the offsets the kernel resumes from: stop the page there. */
		if (!d || !d->name || gd_ns_name_check(d->name) || !d->has_ino ||
		    d->ino == 0 || !d->has_cookie || d->cookie < 3 || d->cookie <= last ||
		    strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0) {
			gd_warn("meta sent a bad directory entry in inode %llu",
				(unsigned long long)ino);
			out->eof = 0;
			break;
		}
		struct gd_ns_dirent *e = &out->ents[out->n++];
		e->name = d->name;
		e->ino = d->ino;
		e->type = d->type & S_IFMT;
		e->cookie = d->cookie;
		last = d->cookie;
		if (d->attr && d->attr->has_ino && d->attr->ino == d->ino) {
			e->has_attr = 1;
			gd_attr_from_pb(&e->attr, d->attr);
			e->type = e->attr.mode & S_IFMT;
		}
	}
	if (out->n == 0 && !out->eof) {
		gd_ns_readdir_release(out);
		return GD_EPROTO;
	}
	return 0;
}

void gd_ns_readdir_release(struct gd_ns_dirpage *p)
{
	gd_free(p->ents);
	if (p->resp)
		protobuf_c_message_free_unpacked(p->resp, NULL);
	memset(p, 0, sizeof(*p));
}

int gd_ns_open(struct gd_meta_client *m, uint64_t ino, uint32_t flags,
	       uint64_t session_id, struct gd_attr *out, struct Godfs__ChunkResp **chunk)
{
	Godfs__Open req = GODFS__OPEN__INIT;
	ProtobufCMessage *resp = NULL;
	req.has_ino = req.has_flags = req.has_session_id = 1;
	req.ino = ino;
	req.flags = flags;
	req.session_id = session_id;
	if (chunk) {
		*chunk = NULL;
		req.has_locate = req.locate = 1;
	}
	int rc = gd_meta_call(m, GODFS__METHOD__M_OPEN, &req.base, &godfs__attr_resp__descriptor,
			      &resp);
	if (rc == 0) {
		Godfs__AttrResp *ar = (Godfs__AttrResp *)resp;
		if (!ar->attr || !ar->attr->has_ino || ar->attr->ino == 0) {
			gd_warn("meta answered OPEN without attributes");
			rc = GD_EPROTO;
		} else {
			gd_attr_from_pb(out, ar->attr);
			if (chunk) {
				*chunk = ar->chunk;      /* the caller's now */
				ar->chunk = NULL;
			}
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

void gd_ns_chunk_free(struct Godfs__ChunkResp *chunk)
{
	if (chunk)
		protobuf_c_message_free_unpacked(&chunk->base, NULL);
}

int gd_ns_release(struct gd_meta_client *m, uint64_t ino, uint64_t session_id)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	req.has_ino = req.has_session_id = 1;
	req.ino = ino;
	req.session_id = session_id;
	return status_call(m, GODFS__METHOD__M_RELEASE, &req.base);
}

int gd_ns_statfs(struct gd_meta_client *m, uint64_t ino, struct statvfs *st)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	req.has_ino = 1;
	req.ino = ino;
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(m, GODFS__METHOD__M_STATFS, &req.base,
			      &godfs__statfs_resp__descriptor, &resp);
	if (rc == 0) {
		const Godfs__StatfsResp *sr = (const Godfs__StatfsResp *)resp;
		const unsigned long bs = 4096;
		uint64_t total = sr->total_bytes, avail = sr->free_bytes;
		if (avail > total)
			avail = total;
		memset(st, 0, sizeof(*st));
		st->f_bsize = GD_NS_BLKSIZE;
		st->f_frsize = bs;
		st->f_blocks = total / bs;
		st->f_bfree = avail / bs;
		st->f_bavail = avail / bs;
		/* Inode numbers are not a fixed pool: report plenty free. */
		st->f_files = sr->files + (1ull << 32);
		st->f_ffree = 1ull << 32;
		st->f_favail = 1ull << 32;
		st->f_namemax = GD_NS_NAME_MAX;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* An XattrResp's value, copied out (bounded). */
static int xattr_value_call(struct gd_meta_client *m, uint16_t method,
			    const ProtobufCMessage *req, size_t max, void **value, size_t *len)
{
	ProtobufCMessage *resp = NULL;
	*value = NULL;
	*len = 0;
	int rc = gd_meta_call(m, method, req, &godfs__xattr_resp__descriptor, &resp);
	if (rc == 0) {
		const Godfs__XattrResp *xr = (const Godfs__XattrResp *)resp;
		size_t n = xr->has_value ? xr->value.len : 0;
		if (n > max) {
			rc = GD_E2BIG;
		} else if (n > 0) {
			*value = gd_malloc(n);
			if (!*value)
				rc = GD_ENOMEM;
			else
				memcpy(*value, xr->value.data, n);
			*len = *value ? n : 0;
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int gd_ns_getxattr(struct gd_meta_client *m, uint64_t ino, const char *name,
		   void **value, size_t *len)
{
	Godfs__Xattr req = GODFS__XATTR__INIT;
	req.has_ino = 1;
	req.ino = ino;
	req.name = (char *)name;
	return xattr_value_call(m, GODFS__METHOD__M_GETXATTR, &req.base,
				GD_NS_XATTR_VALUE_MAX, value, len);
}

int gd_ns_listxattr(struct gd_meta_client *m, uint64_t ino, void **value, size_t *len)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	req.has_ino = 1;
	req.ino = ino;
	/* The kernel takes at most 64 KiB of names (XATTR_LIST_MAX). */
	return xattr_value_call(m, GODFS__METHOD__M_LISTXATTR, &req.base, 65536, value, len);
}

int gd_ns_setxattr(struct gd_meta_client *m, uint64_t ino, const char *name,
		   const void *value, size_t len, uint32_t flags)
{
	Godfs__Xattr req = GODFS__XATTR__INIT;
	req.has_ino = req.has_value = req.has_flags = 1;
	req.ino = ino;
	req.name = (char *)name;
	req.value.data = (uint8_t *)value;
	req.value.len = len;
	req.flags = flags;
	return status_call(m, GODFS__METHOD__M_SETXATTR, &req.base);
}

int gd_ns_removexattr(struct gd_meta_client *m, uint64_t ino, const char *name)
{
	Godfs__Xattr req = GODFS__XATTR__INIT;
	req.has_ino = 1;
	req.ino = ino;
	req.name = (char *)name;
	return status_call(m, GODFS__METHOD__M_REMOVEXATTR, &req.base);
}
