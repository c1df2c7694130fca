/* What a file keeps when the gateway replaces it (docs/gateway.md "What a
 * replaced file keeps"). A PUT, and a multipart complete with overwrite,
 * write a NEW inode and rename it over the target, so that readers see the
 * old file or the new one; without this, the new inode would have the
 * mode, owner, group, goal and xattrs of a fresh create. gw_keep_attrs
 * gives it the target's instead, before the rename:
 *   - owner and group: when the key acts as root (uid 0); a key acting as
 *     another uid may not give files away, so the file is the key's;
 *   - the permission bits; set-user-id and set-group-id only for a key
 *     acting as root (a write by anyone else drops them on Linux too);
 *   - user.* xattrs and the access ACL (system.posix_acl_access);
 *     security.* (file capabilities...) and trusted.* are not copied, as a
 *     write to the file would drop security.capability;
 *   - the replication goal (an operator's setting; through the gateway's
 *     own session, since only the operator may set a goal).
 * Every change but the goal goes through the KEY's session, so the meta
 * checks it as it would the key's own chown/chmod/setxattr.
 * Thread-safe (all state is in the arguments). */
#ifndef GW_KEEP_H
#define GW_KEEP_H

#include <stdint.h>

#include "gd_client.h"

struct gw_keep_in {
	struct gd_client *kc;          /* the key's session: owner, mode, xattrs */
	struct gd_client *sys;         /* the gateway's session: the goal */
	uint32_t key_uid;              /* the identity the key acts as */
	const struct gd_attr *target;  /* the file being replaced, as last looked up */
	uint64_t ino;                  /* the new file, not yet renamed */
	const char *what;              /* for the log: the path */
};

/* 0, or the error of the step that failed (owner, mode or ACL: the caller
 * must not rename then, or the file would lose its protection). user.*
 * xattrs the key may not read, and the goal, are best effort (logged). */
int gw_keep_attrs(const struct gw_keep_in *in);

/* RENAME of tmp over name in dir through the key's session c, flags as
 * Rename.flags; with if_target (may be NULL), only while the target is
 * that inode with that ctime (Rename.if_target_ino: checked by the meta
 * when it applies the rename): GD_ESTALE otherwise. */
int gw_keep_rename(struct gd_client *c, uint64_t dir, const char *tmp, const char *name,
		   uint32_t flags, const struct gd_attr *if_target);

/* The goal of ino set to goal through session c (the operator's right);
 * 0 or the meta's error. */
int gw_keep_set_goal(struct gd_client *c, uint64_t ino, uint32_t goal);

#endif
