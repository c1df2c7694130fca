/* POSIX ACLs of the meta: system.posix_acl_access and system.posix_acl_default
 * in the Linux xattr form (a little-endian header {u32 version = 2}, then
 * entries {u16 tag, u16 perm, u32 id} sorted by tag, and by id within the
 * named users and the named groups), checked as the kernel checks them, and
 * the rules that keep an inode's mode and its access ACL the same thing, as
 * the kernel's local file systems do (fs/posix_acl.c):
 *   - setting the access ACL sets the mode's permission bits from it (group
 *     bits from the mask when there is one); an ACL that says no more than
 *     the mode is not stored;
 *   - chmod rewrites the access ACL's owner, mask (or group) and other entries;
 *   - a new inode in a directory with a default ACL gets that ACL, masked by
 *     the create mode, as its access ACL, and a new directory also as its
 *     default ACL; the umask is not applied then (only without a default ACL).
 * With FUSE_CAP_POSIX_ACL the kernel enforces ACLs but leaves all of this to
 * the file system. meta_fsm.c calls these from apply, so that mode and ACL
 * change in one Raft entry and no client ever sees them disagree.
 *
 * Pure: no I/O. Not thread-safe: the meta's loop owns the inodes. */
#ifndef META_ACL_H
#define META_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_ns.h"

#define META_ACL_ACCESS "system.posix_acl_access"
#define META_ACL_DEFAULT "system.posix_acl_default"
#define META_ACL_VERSION 2
/* The kernel sends at most a page of ACL (fs/fuse/acl.c): 511 entries. */
#define META_ACL_MAX_BYTES 4096
#define META_ACL_HEADER_BYTES 4
#define META_ACL_ENTRY_BYTES 8

/* Entry tags and the id of entries that name nobody (include/uapi/linux/posix_acl.h). */
#define META_ACL_USER_OBJ 0x01
#define META_ACL_USER 0x02
#define META_ACL_GROUP_OBJ 0x04
#define META_ACL_GROUP 0x08
#define META_ACL_MASK 0x10
#define META_ACL_OTHER 0x20
#define META_ACL_UNDEFINED_ID 0xffffffffu

enum meta_acl_type {
	META_ACL_NONE = 0,      /* any other xattr */
	META_ACL_TYPE_ACCESS,
	META_ACL_TYPE_DEFAULT,
};

/* Which ACL an xattr name is. */
enum meta_acl_type meta_acl_type(const char *name);

/* Checks an ACL xattr value (bytes from the network): 0, GD_E2BIG (over
 * META_ACL_MAX_BYTES) or GD_EINVAL (not whole entries, another version, no
 * entries, an unknown tag or permission bit, entries out of order or twice,
 * not exactly one owner, group and other entry, named entries without a mask). */
int meta_acl_check(const void *value, size_t len);

/* Sets the ACL xattr `name` (meta_acl_type not NONE) of in to value[len]
 * with the rules above: the access ACL also sets in->mode, and is not stored
 * (an old one is removed) when the mode says it all; with kill_sgid (the
 * caller is outside the file's group and not privileged: the client knows)
 * it also clears the set-group-id bit, as posix_acl_update_mode() does.
 * 0, the errors of meta_acl_check, GD_EACCES (a default ACL on anything but
 * a directory), GD_ENOTSUP (a symlink), or those of meta_ns_xattr_set; on
 * error the inode is unchanged. */
int meta_acl_set(struct meta_ns_inode *in, const char *name, const void *value, size_t len,
		 bool kill_sgid);

/* chmod: sets in's mode bits (07777 of mode) and rewrites its access ACL in
 * place to match (one that is then no more than the mode, stored before
 * godfs handled ACLs, is removed). Cannot fail. */
void meta_acl_chmod(struct meta_ns_inode *in, uint32_t mode);

/* The kernel's posix_acl_permission() on in's access ACL: whether uid/gid
 * (no supplementary groups) gets every bit of want (07: r 4, w 2, x 1). The
 * owner is decided by the entry matching in->uid, the owning group by
 * in->gid; a named user's, the owning group's and a named group's entry
 * count only through the mask; a caller in a group entry that does not grant
 * want is refused rather than judged by "other". 0 or GD_EACCES;
 * GD_ENODATA when in has no access ACL, or one meta_acl_check refuses (one
 * stored before godfs handled ACLs): the mode bits decide then. */
int meta_acl_permission(const struct meta_ns_inode *in, uint32_t uid, uint32_t gid,
			uint32_t want);

/* At create: in is new (type and requested permission bits in in->mode, no
 * xattrs yet), parent its directory. With a default ACL on parent, in gets
 * its ACLs and mode from it; without one, umask (0 for none) clears mode
 * bits. Symlinks are left alone. 0 or GD_ENOMEM (then in may hold some
 * xattrs: the caller frees it). */
int meta_acl_inherit(struct meta_ns_inode *in, const struct meta_ns_inode *parent,
		     uint32_t umask);

#endif
