/* The route table (see gw_route.h). Handlers live in one file per area:
 * gw_health.c, gw_fs.c (namespace), gw_content.c (GET/HEAD), gw_put.c (PUT),
 * gw_multipart.c (multipart uploads), gw_presign.c. */
#include "gw_route.h"

#include <string.h>

#include "gw_content.h"
#include "gw_fs.h"
#include "gw_health.h"
#include "gw_presign.h"
#include "gw_multipart.h"

static const struct gw_route routes[] = {
	{ "GET", "/v1/health", GW_ROUTE_PUBLIC, "health", NULL, NULL, gw_health_live },
	{ "GET", "/v1/ready", GW_ROUTE_PUBLIC, "ready", NULL, NULL, gw_health_ready },
	{ "GET", "/v1/fs/stat", 0, "fs_stat", NULL, NULL, gw_fs_stat },
	{ "GET", "/v1/fs/list", 0, "fs_list", NULL, NULL, gw_fs_list },
	{ "POST", "/v1/fs/mkdir", GW_ROUTE_BODY_JSON | GW_ROUTE_WRITES, "fs_mkdir", NULL, NULL,
	  gw_fs_mkdir },
	{ "POST", "/v1/fs/file", GW_ROUTE_BODY_JSON | GW_ROUTE_WRITES, "fs_file", NULL, NULL,
	  gw_fs_file },
	{ "DELETE", "/v1/fs", GW_ROUTE_WRITES, "fs_delete", NULL, NULL, gw_fs_delete },
	{ "POST", "/v1/fs/rename", GW_ROUTE_BODY_JSON | GW_ROUTE_WRITES, "fs_rename", NULL,
	  NULL, gw_fs_rename },
	{ "GET", "/v1/fs/content", 0, "fs_content", NULL, NULL, gw_content_get },
	{ "PUT", "/v1/fs/content", GW_ROUTE_BODY_STREAM | GW_ROUTE_WRITES, "fs_content_put",
	  gw_put_begin, gw_put_body, gw_put_finish },
	{ "POST", "/v1/presign", GW_ROUTE_BODY_JSON, "presign", NULL, NULL, gw_presign },
	{ "POST", "/v1/fs/multipart", GW_ROUTE_BODY_JSON | GW_ROUTE_WRITES, "multipart_init", NULL,
	  NULL, gw_multipart_init },
	{ "PUT", "/v1/fs/multipart/", GW_ROUTE_PREFIX | GW_ROUTE_BODY_STREAM | GW_ROUTE_WRITES,
	  "multipart_part", gw_multipart_part_begin, gw_multipart_part_body,
	  gw_multipart_part_finish },
	{ "GET", "/v1/fs/multipart/", GW_ROUTE_PREFIX, "multipart_parts", NULL, NULL,
	  gw_multipart_get },
	{ "POST", "/v1/fs/multipart/", GW_ROUTE_PREFIX | GW_ROUTE_BODY_JSON | GW_ROUTE_WRITES,
	  "multipart_complete", NULL, NULL, gw_multipart_post },
	{ "DELETE", "/v1/fs/multipart/", GW_ROUTE_PREFIX | GW_ROUTE_WRITES, "multipart_abort",
	  NULL, NULL, gw_multipart_delete },
};

static bool path_matches(const struct gw_route *rt, const char *path)
{
	if (rt->flags & GW_ROUTE_PREFIX)
		return strncmp(path, rt->path, strlen(rt->path)) == 0;
	return strcmp(path, rt->path) == 0;
}

static bool method_matches(const struct gw_route *rt, const char *method)
{
	return strcmp(rt->method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

static void allow_add(char *allow, size_t len, const char *method)
{
	if (len == 0 || strstr(allow, method))
		return;
	size_t used = strlen(allow);
	const char *sep = used ? ", " : "";
	if (used + strlen(sep) + strlen(method) + 1 > len)
		return;
	strcat(allow, sep);
	strcat(allow, method);
}

const struct gw_route *gw_route_find(const char *method, const char *path, bool *path_known,
				     char *allow, size_t allow_len)
{
	const struct gw_route *head_fallback = NULL;
	*path_known = false;
	if (allow_len)
		allow[0] = '\0';
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct gw_route *rt = &routes[i];
		if (!path_matches(rt, path))
			continue;
		*path_known = true;
		allow_add(allow, allow_len, rt->method);
		if (strcmp(rt->method, "GET") == 0)
			allow_add(allow, allow_len, "HEAD");
		if (strcmp(rt->method, method) == 0)
			return rt;
		if (!head_fallback && method_matches(rt, method))
			head_fallback = rt;
	}
	return head_fallback;
}
