/* Completing a multipart upload: the staged parts become the target file,
 * which appears whole or not at all (docs/gateway.md "Multipart uploads").
 *
 *   1. the target's directory is resolved through the KEY's session (its
 *      subtree, its checks), an existing target refused unless overwrite;
 *   2. the upload's complete lock is taken (one complete at a time, whatever
 *      the gateway; gw_mp_store.h), no part upload may be running (their
 *      markers: 409 otherwise), the request checked against the staged
 *      parts (gw_mp_plan_complete);
 *   3. the key's session creates this attempt's temp file
 *      ".godfs-upload-<id>.<16 hex>" (named in the lock) in the target's
 *      directory: what the meta gives it (group of a set-group-id
 *      directory, goal, inherited ACL) is what a create there gives; then
 *        zero-copy: every part already sits at its offset of the upload's
 *          data file: each part is re-hashed from there, the data file is
 *          truncated to the total, given the temp file's mode, owner,
 *          group, goal and ACL, and moved by the gateway's session over the
 *          temp file (no byte copied), or
 *        one copy: each part is read from staging, re-hashed and written
 *          into the temp file through the key's session, then fsync'd;
 *   4. with overwrite, the replaced file's mode, owner, xattrs, ACL and goal
 *      go onto the temp file (gw_keep.h); the key's session renames it to
 *      the target (no-replace unless overwrite), and the staging directory
 *      goes.
 * Before the move of step 3 and the rename of step 4, the complete checks
 * that the lock is still its own: one that stalled past
 * GW_MP_LOCK_STALE_S and was taken over stops (GD_EBUSY) and leaves the
 * upload to the taker. A gateway dying at any step leaves the target
 * untouched; the temp file is named in the lock, and removed with the
 * upload (abort, janitor). One that died after the zero-copy move left the
 * finished file at its temp name and no data file in staging: the next
 * complete (taking the abandoned lock over, whose note names that file)
 * renames it into place.
 * Thread-safe (all state is in the arguments). */
#ifndef GW_MP_COMPLETE_H
#define GW_MP_COMPLETE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_client.h"
#include "gw_mp_rules.h"
#include "gw_mp_store.h"

struct gw_mp_complete_in {
	struct gw_mp_store *store;
	const struct gw_mp_upload *u;
	struct gd_client *kc;           /* the key's session */
	uint64_t root;                  /* inode of the key's "/" */
	uint32_t uid, gid;              /* the key's identity: owner of the file */
	bool overwrite;
	struct gw_mp_want *want;        /* the request's parts (reordered) */
	size_t nwant;
	uint64_t max_total;             /* bytes the file may have */
	size_t block;                   /* bytes per buffer (two): GW_MP_BLOCK, or less
					 * past --upload-mem (0: GW_MP_BLOCK) */
};

struct gw_mp_complete_out {
	struct gd_attr attr;            /* the target, once renamed */
	bool zero_copy;                 /* no byte was copied */
	char why[256];                  /* for the client, on GD_EINVAL / GD_EFBIG */
};

/* 0 and *out; or GD_EINVAL (the request does not match the parts: why),
 * GD_EFBIG, GD_EEXIST (target exists, no overwrite), GD_EISDIR, GD_ENOENT
 * (the target's directory is missing), GD_EBUSY (another complete runs),
 * or the error of a cluster call. The upload stays staged on any error. */
int gw_mp_complete(const struct gw_mp_complete_in *in, struct gw_mp_complete_out *out);

#endif
