/* The namespace calls of mount.godfs: one function per meta method, built
 * on gd_meta_call. They return 0 or a negative GD_E* code; fs_meta_errno()
 * is the one place where such a code becomes the errno FUSE replies with. */
#ifndef FS_META_H
#define FS_META_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "gd_client.h"

#define FS_NAME_MAX 255          /* bytes in a name, as on Linux file systems */
#define FS_SYMLINK_MAX 4095      /* bytes in a symlink target */
#define FS_XATTR_NAME_MAX 255
#define FS_XATTR_VALUE_MAX 65536
/* setxattr flag beside XATTR_CREATE/REPLACE (wire.proto Xattr): setting the
 * access ACL also clears the set-group-id bit. */
#define FS_XATTR_ACL_KILL_SGID 4u

/* The positive errno for a status (0 or a negative GD_E* code). */
int fs_meta_errno(int status);

/* 0, or GD_ENAMETOOLONG / GD_EINVAL for a name the meta must never see. */
int fs_meta_name_check(const char *name);

/* Fills st from attributes; st_ino is `ino` (the number the kernel knows). */
void fs_meta_attr_to_stat(const struct gd_attr *a, uint64_t ino, struct stat *st);

int fs_meta_lookup(struct gd_meta_client *m, uint64_t parent, const char *name,
		   struct gd_attr *out);
int fs_meta_getattr(struct gd_meta_client *m, uint64_t ino, struct gd_attr *out);

/* What M_SETATTR changes: `valid` is a set of SA_* bits (wire.proto). */
struct fs_meta_setattr {
	uint64_t ino;
	uint32_t valid;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	struct timespec atime;
	struct timespec mtime;
};
int fs_meta_setattr(struct gd_meta_client *m, const struct fs_meta_setattr *sa,
		    struct gd_attr *out);

/* M_MKNOD, M_MKDIR or M_SYMLINK (method) of name in parent. */
struct fs_meta_mknod {
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
};
int fs_meta_mknod(struct gd_meta_client *m, uint16_t method,
		  const struct fs_meta_mknod *req, struct gd_attr *out);
int fs_meta_link(struct gd_meta_client *m, uint64_t ino, uint64_t newparent,
		 const char *newname, struct gd_attr *out);
/* M_UNLINK or M_RMDIR (method). */
int fs_meta_remove(struct gd_meta_client *m, uint16_t method, uint64_t parent,
		   const char *name, uint64_t session_id);
int fs_meta_rename(struct gd_meta_client *m, uint64_t parent, const char *name,
		   uint64_t newparent, const char *newname, uint32_t flags,
		   uint64_t session_id);
/* *target is gd_malloc'd (the caller frees it). */
int fs_meta_readlink(struct gd_meta_client *m, uint64_t ino, char **target);

/* One directory entry as the meta sends it (name bounded and checked). */
struct fs_meta_dirent {
	const char *name;        /* points into the response */
	uint64_t ino;
	uint32_t type;           /* S_IF* bits */
	uint64_t cookie;
	int has_attr;
	struct gd_attr attr;
};
/* A page of entries after `cookie` (0: from the start); release it with
 * fs_meta_readdir_release. */
struct fs_meta_dirpage {
	struct fs_meta_dirent *ents;
	size_t n;
	int eof;
	void *resp;              /* the unpacked response the names point into */
};
int fs_meta_readdir(struct gd_meta_client *m, uint64_t ino, uint64_t cookie,
		    uint32_t max_entries, int plus, struct fs_meta_dirpage *out);
void fs_meta_readdir_release(struct fs_meta_dirpage *p);

int fs_meta_open(struct gd_meta_client *m, uint64_t ino, uint32_t flags,
		 uint64_t session_id, struct gd_attr *out);
int fs_meta_release(struct gd_meta_client *m, uint64_t ino, uint64_t session_id);
int fs_meta_statfs(struct gd_meta_client *m, uint64_t ino, struct statvfs *out);

/* *value is gd_malloc'd (may be NULL when *len is 0). */
int fs_meta_getxattr(struct gd_meta_client *m, uint64_t ino, const char *name,
		     void **value, size_t *len);
int fs_meta_listxattr(struct gd_meta_client *m, uint64_t ino, void **value, size_t *len);
int fs_meta_setxattr(struct gd_meta_client *m, uint64_t ino, const char *name,
		     const void *value, size_t len, uint32_t flags);
int fs_meta_removexattr(struct gd_meta_client *m, uint64_t ino, const char *name);

#endif
