/* API paths: "/" or "/a/b", relative to the caller's root (the subtree of
 * its key; "/" is that subtree). The rules (docs/gateway.md): starts with
 * "/", no empty, "." or ".." component, no NUL (the query decoder refuses
 * %00), at most GW_NAME_MAX bytes per component and GW_PATH_MAX in all.
 * Resolution walks the components with LOOKUP from the root inode, so the
 * meta checks every step as it would for a mount. Thread-safe. */
#ifndef GW_PATH_H
#define GW_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "gd_client.h"

#define GW_PATH_MAX 4096
#define GW_NAME_MAX 255

struct gw_req;

/* 0, or GD_EINVAL / GD_ENAMETOOLONG with why (a sentence) set. */
int gw_path_check(const char *path, char *why, size_t whylen);

/* The path argument of a request checked: 0 and *out, or (after a 400
 * answer, "invalid_path" or "name_too_long") GD_EINVAL. `what` names it
 * in the message ("path", "new_path"); a NULL path is "missing". */
int gw_path_take(struct gw_req *r, const char *what, const char *path, const char **out);

/* The attributes of path (checked) under root. GD_ENOENT, GD_ENOTDIR... */
int gw_path_resolve(struct gd_meta_client *m, uint64_t root, const char *path,
		    struct gd_attr *out);

/* The parent directory of path (checked, not "/") and its last component,
 * copied into name (GW_NAME_MAX + 1 bytes). */
int gw_path_resolve_parent(struct gd_meta_client *m, uint64_t root, const char *path,
			   struct gd_attr *parent, char *name);

#endif
