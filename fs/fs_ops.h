/* The FUSE low-level operations of mount.godfs and the state they share. */
#ifndef FS_OPS_H
#define FS_OPS_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs_data.h"
#include "fs_inode.h"
#include "gd_client.h"

struct fs_locks;

/* One mount. Fixed once the session runs (the parts have their own locks). */
struct fs_mount {
	struct gd_client *gc;
	struct gd_meta_client *meta;
	struct fs_itable *it;
	struct fs_data *data;
	uint64_t root;           /* the meta inode shown as FUSE_ROOT_ID (subdir) */
	double attr_timeout;     /* seconds the kernel may keep attributes */
	double entry_timeout;    /* seconds the kernel may keep names */
	unsigned max_write;      /* bytes per FUSE write */
	bool posix_acl;          /* ask the kernel for FUSE_CAP_POSIX_ACL */
	atomic_int inited;       /* the FUSE INIT was answered */
	struct fuse_session *_Atomic se; /* set once the session exists (notifications) */
	struct fs_locks *locks;  /* cluster-wide locks (fs_locks.h) */
	/* Whether a create asks for the write lease of chunk 0 (M_CREATE):
	 * yes while the file created last got a write (tar, cp: every file
	 * is written), no after one that did not (touch, mdtest's creates),
	 * so that a run of empty files costs no lease given back each. */
	_Atomic uint64_t create_last_ino;  /* meta inode of the last create */
	atomic_bool create_no_write;       /* it got no write (so far) */
};

extern const struct fuse_lowlevel_ops fs_ops;

/* gd_open_inodes_fn for the client library: the inodes open here. */
size_t fs_ops_open_inodes(void *ctx, uint64_t *ino, size_t max);

#endif
