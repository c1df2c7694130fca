/* Completing a multipart upload: the staged parts become the target file,
 * which appears whole or not at all (docs/gateway.md "Multipart uploads").
 *
 *   1. the target's directory is resolved through the KEY's session (its
 *      subtree, its checks), an existing target refused unless overwrite;
 *   2. the upload's complete lock is taken (one complete at a time, whatever
 *      the gateway), the request checked against the staged parts
 *      (gw_mp_plan_complete);
 *   3. the key's session creates the temp file ".godfs-upload-<id>" in the
 *      target's directory; then either
 *        zero-copy: every part already sits at its offset of the upload's
 *          data file: each part is re-hashed from there, the data file is
 *          truncated to the total, given the key's owner, and moved by the
 *          gateway's session over the temp file (no byte copied), or
 *        one copy: each part is read from staging, re-hashed and written
 *          into the temp file through the key's session, then fsync'd;
 *   4. the key's session renames the temp file to the target (no-replace
 *      unless overwrite), and the staging directory goes.
 * A gateway dying at any step leaves the target untouched; the temp file is
 * named in the lock, and removed with the upload (abort, janitor). One that
 * died after the zero-copy move left the finished file at the temp name and
 * no data file in staging: the next complete (once the lock is abandoned)
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
