/* The namespace calls to the meta, for every client of the file system
 * (mount.godfs's fs_ops, the gateway): one function per meta method, built
 * on gd_meta_call, which bound and check what the meta answers. They return
 * 0 or a negative GD_E* code; gd_ns_errno() is the one place where such a
 * code becomes an errno (the one FUSE replies with), gd_ns_attr_to_stat()
 * the one where attributes become a struct stat.
 *
 * Thread-safe as gd_meta_call is; every result is the caller's. */
#ifndef GD_NS_H
#define GD_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "gd_client.h"

#define GD_NS_NAME_MAX 255          /* bytes in a name, as on Linux file systems */
#define GD_NS_SYMLINK_MAX 4095      /* bytes in a symlink target */
#define GD_NS_XATTR_NAME_MAX 255
#define GD_NS_XATTR_VALUE_MAX 65536
/* setxattr flag beside XATTR_CREATE/REPLACE (wire.proto Xattr): setting the
 * access ACL also clears the set-group-id bit. */
#define GD_NS_XATTR_ACL_KILL_SGID 4u

/* The positive errno for a status (0 or a negative GD_E* code). */
int gd_ns_errno(int status);

/* 0, or GD_ENAMETOOLONG / GD_EINVAL for a name the meta must never see. */
int gd_ns_name_check(const char *name);

/* Fills st from attributes; st_ino is `ino` (the number the kernel knows). */
void gd_ns_attr_to_stat(const struct gd_attr *a, uint64_t ino, struct stat *st);

int gd_ns_lookup(struct gd_meta_client *m, uint64_t parent, const char *name,
		 struct gd_attr *out);
int gd_ns_getattr(struct gd_meta_client *m, uint64_t ino, struct gd_attr *out);

/* What M_SETATTR changes: `valid` is a set of SA_* bits (wire.proto). */
struct gd_ns_setattr {
	uint64_t ino;
	uint32_t valid;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	struct timespec atime;
	struct timespec mtime;
};
int gd_ns_setattr(struct gd_meta_client *m, const struct gd_ns_setattr *sa,
		  struct gd_attr *out);

/* M_MKNOD, M_MKDIR or M_SYMLINK (method) of name in parent. */
struct gd_ns_mknod {
	uint64_t parent;
	const char *name;
	uint32_t mode;           /* type + permission bits as asked */
	uint32_t umask;          /* the caller's: the meta applies it unless the parent has a default ACL */
	uint32_t uid;
	uint32_t gid;
	uint64_t rdev;
	const char *target;      /* symlinks */
	int exclusive;           /* O_EXCL */
	uint64_t session_id;     /* nonzero: a regular file is opened for the session */
	/* Non-NULL: receives the directory's attributes after the change
	 * (AttrResp.parent; ino 0: the meta sent none). */
	struct gd_attr *parent_out;
};
int gd_ns_mknod(struct gd_meta_client *m, uint16_t method,
		const struct gd_ns_mknod *req, struct gd_attr *out);
/* The FUSE create: M_CREATE (one round trip and one Raft entry: the file,
 * its open for the session and, with lease, the write lease of chunk 0,
 * which goes into gc's lease cache), or M_MKNOD with a meta that does not
 * serve it. *created: the file is new (not an existing one opened);
 * *parent: the directory's attributes after it (ino 0: not sent). */
int gd_ns_create(struct gd_client *gc, const struct gd_ns_mknod *req, bool lease,
		 struct gd_attr *out, bool *created, struct gd_attr *parent);
int gd_ns_link(struct gd_meta_client *m, uint64_t ino, uint64_t newparent,
	       const char *newname, struct gd_attr *out);
/* M_UNLINK or M_RMDIR (method). */
int gd_ns_remove(struct gd_meta_client *m, uint16_t method, uint64_t parent,
		 const char *name, uint64_t session_id);
/* The same; *parent_out receives the directory's attributes after it
 * (StatusResp.parent; ino 0: the meta sent none). */
int gd_ns_remove_p(struct gd_meta_client *m, uint16_t method, uint64_t parent,
		   const char *name, uint64_t session_id, struct gd_attr *parent_out);
int gd_ns_rename(struct gd_meta_client *m, uint64_t parent, const char *name,
		 uint64_t newparent, const char *newname, uint32_t flags,
		 uint64_t session_id);
/* *target is gd_malloc'd (the caller frees it). */
int gd_ns_readlink(struct gd_meta_client *m, uint64_t ino, char **target);

/* One directory entry as the meta sends it (name bounded and checked). */
struct gd_ns_dirent {
	const char *name;        /* points into the response */
	uint64_t ino;
	uint32_t type;           /* S_IF* bits */
	uint64_t cookie;
	int has_attr;
	struct gd_attr attr;
};
/* A page of entries after `cookie` (0: from the start); release it with
 * gd_ns_readdir_release. */
struct gd_ns_dirpage {
	struct gd_ns_dirent *ents;
	size_t n;
	int eof;
	void *resp;              /* the unpacked response the names point into */
};
int gd_ns_readdir(struct gd_meta_client *m, uint64_t ino, uint64_t cookie,
		  uint32_t max_entries, int plus, struct gd_ns_dirpage *out);
void gd_ns_readdir_release(struct gd_ns_dirpage *p);

/* M_OPEN. chunk non-NULL: asks where chunk 0 is too (Open.locate); *chunk
 * is then the answer's AttrResp.chunk or NULL (free it with
 * gd_ns_chunk_free). */
struct Godfs__ChunkResp;
int gd_ns_open(struct gd_meta_client *m, uint64_t ino, uint32_t flags,
	       uint64_t session_id, struct gd_attr *out, struct Godfs__ChunkResp **chunk);
void gd_ns_chunk_free(struct Godfs__ChunkResp *chunk);
int gd_ns_release(struct gd_meta_client *m, uint64_t ino, uint64_t session_id);
int gd_ns_statfs(struct gd_meta_client *m, uint64_t ino, struct statvfs *out);

/* *value is gd_malloc'd (may be NULL when *len is 0). */
int gd_ns_getxattr(struct gd_meta_client *m, uint64_t ino, const char *name,
		   void **value, size_t *len);
int gd_ns_listxattr(struct gd_meta_client *m, uint64_t ino, void **value, size_t *len);
int gd_ns_setxattr(struct gd_meta_client *m, uint64_t ino, const char *name,
		   const void *value, size_t len, uint32_t flags);
int gd_ns_removexattr(struct gd_meta_client *m, uint64_t ino, const char *name);

#endif
