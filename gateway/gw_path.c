/* API paths (see gw_path.h). */
#include "gw_path.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_ns.h"
#include "gd_status.h"
#include "gw_error.h"
#include "gw_req.h"

int gw_path_check(const char *path, char *why, size_t whylen)
{
	size_t len = strnlen(path, GW_PATH_MAX + 1);
	if (len == 0 || path[0] != '/') {
		snprintf(why, whylen, "must start with \"/\"");
		return GD_EINVAL;
	}
	if (len > GW_PATH_MAX) {
		snprintf(why, whylen, "longer than %d bytes", GW_PATH_MAX);
		return GD_ENAMETOOLONG;
	}
	if (len == 1)
		return 0;
	const char *p = path + 1;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0) {
			snprintf(why, whylen, "empty component (\"//\" or a trailing \"/\")");
			return GD_EINVAL;
		}
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(why, whylen, "\".\" and \"..\" components are not allowed");
			return GD_EINVAL;
		}
		if (n > GW_NAME_MAX) {
			snprintf(why, whylen, "a component is longer than %d bytes", GW_NAME_MAX);
			return GD_ENAMETOOLONG;
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

int gw_path_take(struct gw_req *r, const char *what, const char *path, const char **out)
{
	char why[128];
	if (!path) {
		gw_reply_error(r, 400, GW_INVALID_PATH, "missing %s", what);
		return GD_EINVAL;
	}
	int rc = gw_path_check(path, why, sizeof(why));
	if (rc) {
		gw_reply_error(r, 400, rc == GD_ENAMETOOLONG ? GW_NAME_TOO_LONG : GW_INVALID_PATH,
			       "invalid %s: %s", what, why);
		return GD_EINVAL;
	}
	*out = path;
	return 0;
}

/* Walks path[0..len) from root; *out gets the last inode's attributes. */
static int walk(struct gd_meta_client *m, uint64_t root, const char *path, size_t len,
		struct gd_attr *out)
{
	char name[GW_NAME_MAX + 1];
	int rc = gd_ns_getattr(m, root, out);
	size_t i = 1;
	while (rc == 0 && i < len) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t n = slash ? (size_t)(slash - (path + i)) : len - i;
		if (n == 0 || n > GW_NAME_MAX)
			return GD_EINVAL;  /* gw_path_check let it through: a bug */
		if (!S_ISDIR(out->mode))
			return GD_ENOTDIR;
		memcpy(name, path + i, n);
		name[n] = '\0';
		rc = gd_ns_lookup(m, out->ino, name, out);
		i += n + 1;
	}
	return rc;
}

int gw_path_resolve(struct gd_meta_client *m, uint64_t root, const char *path,
		    struct gd_attr *out)
{
	char why[128];
	int rc = gw_path_check(path, why, sizeof(why));
	if (rc)
		return rc;
	return walk(m, root, path, strlen(path), out);
}

int gw_path_resolve_parent(struct gd_meta_client *m, uint64_t root, const char *path,
			   struct gd_attr *parent, char *name)
{
	char why[128];
	int rc = gw_path_check(path, why, sizeof(why));
	if (rc)
		return rc;
	const char *last = strrchr(path, '/');
	size_t plen = (size_t)(last - path);
	if (last[1] == '\0')
		return GD_EINVAL;   /* "/" has no parent here */
	snprintf(name, GW_NAME_MAX + 1, "%s", last + 1);
	rc = walk(m, root, path, plen == 0 ? 1 : plen, parent);
	if (rc == 0 && !S_ISDIR(parent->mode))
		rc = GD_ENOTDIR;
	return rc;
}
