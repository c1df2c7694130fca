/* The namespace endpoints (see gw_fs.h). */
#include "gw_fs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "gw.h"
#include "gw_content.h"
#include "gw_error.h"
#include "gw_path.h"
#include "gw_req.h"
#include "proto/wire.pb-c.h"

#define GW_DELETE_DEPTH 512
#define GW_UMASK 022
#define RENAME_NOREPLACE_FLAG 1u

static struct gd_meta_client *meta_of(struct gw_req *r)
{
	return gd_client_meta(r->client);
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	default: return "other";
	}
}

json_t *gw_fs_attr_json(const char *path, const struct gd_attr *a)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "path", path, "type", type_name(a->mode), "is_dir",
			      S_ISDIR(a->mode), "size", (json_int_t)a->size, "mode",
			      (json_int_t)(a->mode & 07777), "uid", (json_int_t)a->uid, "gid",
			      (json_int_t)a->gid, "nlink", (json_int_t)a->nlink, "ino",
			      (json_int_t)a->ino, "modified_at_unix",
			      (json_int_t)a->mtime.tv_sec, "changed_at_unix",
			      (json_int_t)a->ctime.tv_sec);
	if (o) {
		json_object_set_new(o, "modified_at_ns",
				    json_integer((json_int_t)a->mtime.tv_sec * 1000000000 +
						 a->mtime.tv_nsec));
		if (S_ISREG(a->mode)) {
			char etag[GW_ETAG_MAX];
			gw_content_etag(a, etag, sizeof(etag));
			json_object_set_new(o, "etag", json_string(etag));
		}
	}
	return o;
}

int gw_fs_stat(struct gw_req *r)
{
	const char *path;
	struct gd_attr a;
	if (gw_path_take(r, "path", gw_req_arg(r, "path"), &path))
		return 0;
	int rc = gw_path_resolve(meta_of(r), r->principal.subtree, path, &a);
	if (rc)
		return gw_reply_status(r, rc, path);
	return gw_reply_json(r, 200, gw_fs_attr_json(path, &a));
}

/* The cursor of a listing: the directory's inode and the meta's cookie of
 * the last entry sent, so that a cursor of another directory is refused. */
static void cursor_make(uint64_t ino, uint64_t cookie, char *out, size_t len)
{
	snprintf(out, len, "%" PRIx64 ".%" PRIx64, ino, cookie);
}

static int cursor_parse(const char *s, uint64_t ino, uint64_t *cookie)
{
	uint64_t i = 0, c = 0;
	int n = 0;
	if (sscanf(s, "%" SCNx64 ".%" SCNx64 "%n", &i, &c, &n) != 2 || s[n] != '\0' ||
	    i != ino)
		return GD_EINVAL;
	*cookie = c;
	return 0;
}

/* Pages through the meta's READDIR (at most 1024 entries a call), so a
 * directory of any size is never held whole: at most `limit` entries are. */
int gw_fs_list(struct gw_req *r)
{
	const char *path, *cur = gw_req_arg(r, "cursor");
	struct gd_attr dir;
	uint64_t limit, cookie = 0;
	if (gw_path_take(r, "path", gw_req_arg(r, "path"), &path))
		return 0;
	if (gw_req_arg_u64(r, "limit", GW_LIST_DEFAULT, 1, GW_LIST_MAX, &limit))
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "limit: a number from 1 to %d",
				      GW_LIST_MAX);
	int rc = gw_path_resolve(meta_of(r), r->principal.subtree, path, &dir);
	if (rc)
		return gw_reply_status(r, rc, path);
	if (!S_ISDIR(dir.mode))
		return gw_reply_error(r, 409, GW_NOT_DIRECTORY, "%s is not a directory", path);
	if (cur && *cur && cursor_parse(cur, dir.ino, &cookie))
		return gw_reply_error(r, 400, GW_BAD_REQUEST,
				      "cursor: not a cursor of this directory");
	json_t *entries = json_array(), *o = NULL;
	bool eof = false;
	while (entries && !eof && json_array_size(entries) < limit) {
		struct gd_ns_dirpage pg;
		size_t want = limit - json_array_size(entries);
		rc = gd_ns_readdir(meta_of(r), dir.ino, cookie,
				   (uint32_t)(want > 1024 ? 1024 : want), 1, &pg);
		if (rc)
			break;
		for (size_t i = 0; i < pg.n; i++) {
			const struct gd_ns_dirent *e = &pg.ents[i];
			json_t *je = json_pack("{s:s, s:s, s:b}", "name", e->name, "type",
					       type_name(e->type), "is_dir", S_ISDIR(e->type));
			if (je && e->has_attr) {
				json_object_set_new(je, "size", json_integer((json_int_t)e->attr.size));
				json_object_set_new(je, "modified_at_unix",
						    json_integer((json_int_t)e->attr.mtime.tv_sec));
			}
			if (!je || json_array_append_new(entries, je)) {
				rc = GD_ENOMEM;
				break;
			}
			cookie = e->cookie;
		}
		eof = pg.eof;
		gd_ns_readdir_release(&pg);
		if (rc)
			break;
	}
	if (rc || !entries) {
		json_decref(entries);
		return gw_reply_status(r, rc ? rc : GD_ENOMEM, path);
	}
	o = json_pack("{s:s, s:o}", "path", path, "entries", entries);
	if (o && !eof) {
		char c[48];
		cursor_make(dir.ino, cookie, c, sizeof(c));
		json_object_set_new(o, "next_cursor", json_string(c));
	}
	return gw_reply_json(r, 200, o);
}

/* mkdir of name in parent as the principal; GD_EEXIST when it exists. */
static int mkdir_one(struct gw_req *r, uint64_t parent, const char *name, struct gd_attr *out)
{
	struct gd_ns_mknod mk = {
		.parent = parent, .name = name, .mode = S_IFDIR | 0777, .umask = GW_UMASK,
		.uid = r->principal.uid, .gid = r->principal.gid,
	};
	return gd_ns_mknod(meta_of(r), GODFS__METHOD__M_MKDIR, &mk, out);
}

int gw_fs_mkdir(struct gw_req *r)
{
	const char *path;
	bool parents;
	struct gd_attr a;
	char name[GW_NAME_MAX + 1];
	if (gw_path_take(r, "path", gw_req_json_str(r, "path"), &path))
		return 0;
	if (gw_req_json_bool(r, "parents", false, &parents))
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "parents: true or false");
	if (strcmp(path, "/") == 0)
		return parents ? gw_reply_empty(r, 204) :
		       gw_reply_error(r, 409, GW_ALREADY_EXISTS, "/ exists");
	int rc;
	if (!parents) {
		rc = gw_path_resolve_parent(meta_of(r), r->principal.subtree, path, &a, name);
		if (rc == 0)
			rc = mkdir_one(r, a.ino, name, &a);
		return rc ? gw_reply_status(r, rc, path) : gw_reply_empty(r, 201);
	}
	/* mkdir -p: walk, creating what is missing; an existing directory is fine */
	rc = gd_ns_getattr(meta_of(r), r->principal.subtree, &a);
	for (const char *p = path + 1; rc == 0 && *p;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		memcpy(name, p, n);
		name[n] = '\0';
		uint64_t parent = a.ino;
		rc = gd_ns_lookup(meta_of(r), parent, name, &a);
		if (rc == GD_ENOENT) {
			rc = mkdir_one(r, parent, name, &a);
			if (rc == GD_EEXIST)   /* a concurrent mkdir won */
				rc = gd_ns_lookup(meta_of(r), parent, name, &a);
		}
		if (rc == 0 && !S_ISDIR(a.mode))
			rc = GD_ENOTDIR;
		p = end ? end + 1 : p + n;
	}
	return rc ? gw_reply_status(r, rc, path) : gw_reply_empty(r, 201);
}

int gw_fs_file(struct gw_req *r)
{
	const char *path;
	struct gd_attr a;
	char name[GW_NAME_MAX + 1];
	if (gw_path_take(r, "path", gw_req_json_str(r, "path"), &path))
		return 0;
	int rc = gw_path_resolve_parent(meta_of(r), r->principal.subtree, path, &a, name);
	if (rc == GD_EINVAL)
		return gw_reply_error(r, 400, GW_INVALID_PATH, "/ is a directory");
	if (rc == 0) {
		struct gd_ns_mknod mk = {
			.parent = a.ino, .name = name, .mode = S_IFREG | 0666,
			.umask = GW_UMASK, .uid = r->principal.uid, .gid = r->principal.gid,
			.exclusive = 1,
		};
		rc = gd_ns_mknod(meta_of(r), GODFS__METHOD__M_MKNOD, &mk, &a);
	}
	if (rc)
		return gw_reply_status(r, rc, path);
	return gw_reply_json(r, 201, gw_fs_attr_json(path, &a));
}

/* Removes everything inside directory ino, depth first, counting entries
 * in *left (GD_E2BIG when it runs out: the rest stays). */
static int empty_dir(struct gw_req *r, uint64_t ino, int depth, uint64_t *left)
{
	if (depth > GW_DELETE_DEPTH)
		return GD_E2BIG;
	uint64_t session = gd_client_session(r->client);
	for (;;) {
		struct gd_ns_dirpage pg;
		/* always from the start: what was removed is gone from the listing */
		int rc = gd_ns_readdir(meta_of(r), ino, 0, 256, 0, &pg);
		if (rc)
			return rc;
		if (pg.n == 0) {
			gd_ns_readdir_release(&pg);
			return 0;
		}
		for (size_t i = 0; rc == 0 && i < pg.n; i++) {
			const struct gd_ns_dirent *e = &pg.ents[i];
			if (*left == 0) {
				rc = GD_E2BIG;
				break;
			}
			(*left)--;
			if (S_ISDIR(e->type)) {
				rc = empty_dir(r, e->ino, depth + 1, left);
				if (rc == 0)
					rc = gd_ns_remove(meta_of(r), GODFS__METHOD__M_RMDIR, ino,
							  e->name, session);
			} else {
				rc = gd_ns_remove(meta_of(r), GODFS__METHOD__M_UNLINK, ino,
						  e->name, session);
			}
			if (rc == GD_ENOENT)   /* removed by someone else meanwhile */
				rc = 0;
		}
		gd_ns_readdir_release(&pg);
		if (rc)
			return rc;
	}
}

int gw_fs_delete(struct gw_req *r)
{
	const char *path;
	bool recursive;
	struct gd_attr parent, a;
	char name[GW_NAME_MAX + 1];
	if (gw_path_take(r, "path", gw_req_arg(r, "path"), &path))
		return 0;
	if (gw_req_arg_bool(r, "recursive", false, &recursive))
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "recursive: true or false");
	if (strcmp(path, "/") == 0)
		return gw_reply_error(r, 403, GW_FORBIDDEN, "the root cannot be deleted");
	int rc = gw_path_resolve_parent(meta_of(r), r->principal.subtree, path, &parent, name);
	if (rc == 0)
		rc = gd_ns_lookup(meta_of(r), parent.ino, name, &a);
	if (rc)
		return gw_reply_status(r, rc, path);
	uint64_t session = gd_client_session(r->client);
	if (!S_ISDIR(a.mode)) {
		rc = gd_ns_remove(meta_of(r), GODFS__METHOD__M_UNLINK, parent.ino, name, session);
	} else {
		uint64_t left = GW_DELETE_MAX;
		if (recursive)
			rc = empty_dir(r, a.ino, 0, &left);
		if (rc == GD_E2BIG)
			return gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE,
					      "%s holds more than %d entries (or is deeper than "
					      "%d levels): the first ones were removed, delete "
					      "again to go on", path, GW_DELETE_MAX, GW_DELETE_DEPTH);
		if (rc == 0)
			rc = gd_ns_remove(meta_of(r), GODFS__METHOD__M_RMDIR, parent.ino, name,
					  session);
	}
	if (rc == GD_ENOTEMPTY)
		return gw_reply_error(r, 409, GW_NOT_EMPTY,
				      "%s is not empty (add recursive=true)", path);
	return rc ? gw_reply_status(r, rc, path) : gw_reply_empty(r, 204);
}

int gw_fs_rename(struct gw_req *r)
{
	const char *from, *to;
	bool overwrite;
	struct gd_attr pf, pt;
	char nf[GW_NAME_MAX + 1], nt[GW_NAME_MAX + 1];
	if (gw_path_take(r, "old_path", gw_req_json_str(r, "old_path"), &from) ||
	    gw_path_take(r, "new_path", gw_req_json_str(r, "new_path"), &to))
		return 0;
	if (gw_req_json_bool(r, "overwrite", false, &overwrite))
		return gw_reply_error(r, 400, GW_BAD_REQUEST, "overwrite: true or false");
	if (strcmp(from, "/") == 0 || strcmp(to, "/") == 0)
		return gw_reply_error(r, 400, GW_INVALID_PATH, "/ cannot be renamed");
	int rc = gw_path_resolve_parent(meta_of(r), r->principal.subtree, from, &pf, nf);
	if (rc)
		return gw_reply_status(r, rc, from);
	rc = gw_path_resolve_parent(meta_of(r), r->principal.subtree, to, &pt, nt);
	if (rc)
		return gw_reply_status(r, rc, to);
	rc = gd_ns_rename(meta_of(r), pf.ino, nf, pt.ino, nt,
			  overwrite ? 0 : RENAME_NOREPLACE_FLAG, gd_client_session(r->client));
	return rc ? gw_reply_status(r, rc, from) : gw_reply_empty(r, 204);
}
