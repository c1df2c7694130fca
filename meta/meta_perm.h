/* Permission checks for sessions with a forced identity (API keys: the REST
 * gateway's sessions, docs/security.md "API keys"). A mount needs none of
 * this: its kernel checks mode bits and ACLs (default_permissions) before a
 * request leaves the machine. A key's session has no kernel in front of it,
 * so the meta decides, exactly as Linux decides for a process whose fsuid
 * and fsgid are the key's uid and gid and which has no supplementary groups:
 *   - generic_permission(): owner bits, else the access ACL (meta_acl.h) when
 *     the group bits are not 0, else group or other bits;
 *   - path walk: search (x) on every directory from the key's subtree root
 *     down to the inode a request names (a request naming an inode number
 *     is judged as if the path to it had been walked), x on the directory
 *     of a LOOKUP, r on a READDIR (r and x with attributes);
 *   - create (MKNOD, MKDIR, SYMLINK, LINK's new name) w and x on the
 *     directory; never a device node (EPERM, for a uid-0 key too: its root
 *     ends at its subtree, a mount may allow dev), no set-user-id bit from
 *     a non-root key (EPERM, as for chmod); UNLINK, RMDIR, RENAME (may_delete) w and x on the directory
 *     and the sticky-bit rule (EPERM unless owning the entry or the
 *     directory); RENAME of a directory to another parent w on it (its ".."
 *     changes), with RENAME_EXCHANGE both ways; LINK by a non-owner only of a
 *     regular file it may read and write that is not set-id
 *     (fs.protected_hardlinks = 1, Debian's default);
 *   - OPEN r / w by its access mode, O_TRUNC w; CHUNK_LOCATE (the capability
 *     to read) r; WRITE_LEASE, WRITE_COMMIT, CHUNK_FAILED w. Checked at every
 *     call, not at open as the kernel does, so a chmod between open and read
 *     takes effect at once for a key;
 *   - SETATTR (setattr_prepare, may_setattr): chmod, explicit times owner
 *     (EPERM); a mode with the set-user-id bit (EPERM: a key acts through
 *     the gateway, which has no use for one); chown only to the owner itself by the owner, chgrp by the owner
 *     to the file's group or its own (EPERM); times "now" owner or w
 *     (EACCES); size w; the replication goal is the operator's (EPERM);
 *   - xattrs (xattr_permission, cap_inode_setxattr): user.* r to read, w to
 *     change, only on files and directories, on a sticky directory only by
 *     its owner; trusted.* invisible (ENODATA) and unchangeable (EPERM);
 *     security.* readable, unchangeable (EPERM); system.posix_acl_* readable,
 *     changed only by the owner (EPERM); other system.* names likewise.
 * uid 0 is root with root's powers inside the subtree, as root on a token
 * mount: everything passes.
 *
 * Which check a method gets is one switch; a method it does not know is
 * refused (GD_EPERM), so a method added later cannot reach a key's session
 * unchecked.
 *
 * Pure: reads the state, no I/O, no clock. Not thread-safe: the meta's loop
 * owns the state. */
#ifndef META_PERM_H
#define META_PERM_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "meta_ns.h"

/* The kernel's MAY_* bits, which are also the rwx bits of a mode triple. */
#define META_PERM_X 1u
#define META_PERM_W 2u
#define META_PERM_R 4u

/* Who a request acts as, and from where it walks. */
struct meta_perm_who {
	uint32_t uid;
	uint32_t gid;           /* the only group: no supplementary groups */
	uint64_t root;          /* the session's root directory (a key's subtree) */
};

/* generic_permission() of in for uid/gid: 0 when every bit of want (META_PERM_*)
 * is granted, else GD_EACCES. uid 0 gets everything (this layer never asks
 * for x on a file, where root too would need an x bit). */
int meta_perm_inode(const struct meta_ns_inode *in, uint32_t uid, uint32_t gid, uint32_t want);

/* Checks one request (method of wire.proto, req its unpacked message) that
 * meta_scope_check already passed for who->root. 0 when allowed; GD_EACCES or
 * GD_EPERM as Linux would answer (*why a static reason, *bad_ino the inode
 * refused or 0); GD_ENOENT when an inode it names is gone. A request that
 * fails for another reason (a name that does not exist, a malformed name)
 * passes: the handler answers it as for anyone. */
int meta_perm_check(const struct meta_ns_state *st, const struct meta_perm_who *who,
		    uint16_t method, const ProtobufCMessage *req, const char **why,
		    uint64_t *bad_ino);

/* Apply time (meta_fsm.c, for an entry proposed for a forced identity:
 * fsm.proto as_uid/as_gid): what Linux changes rather than refuses. A chmod
 * by a non-root caller outside the file's group (its new group when the
 * same SETATTR changes it) loses S_ISGID (setattr_prepare), and setting the
 * access ACL then also clears it (posix_acl_update_mode: Xattr.flags
 * ACL_KILL_SGID, which a key's request cannot leave out); a group-executable
 * set-group-id file created (MKNOD) in a set-group-id directory by a caller
 * outside the directory's group is created without S_ISGID
 * (mode_strip_sgid). Judged on the state the entry applies to, so every
 * replica decides the same. req is changed;
 * other methods, root and unknown inodes are left alone. */
void meta_perm_apply(const struct meta_ns_state *st, uint32_t uid, uint32_t gid,
		     uint32_t method, ProtobufCMessage *req);

#endif
