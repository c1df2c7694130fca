/* The gateway's routes: one table of (method, path) -> handler steps
 * (gw_req.h says what begin, body and finish do). Constant; thread-safe. */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct gw_req;

/* gw_route.flags */
#define GW_ROUTE_PUBLIC      1u  /* no credential needed (health, ready) */
#define GW_ROUTE_PREFIX      2u  /* path is a prefix ("/v1/fs/multipart/") */
#define GW_ROUTE_BODY_JSON   4u  /* a JSON object body of at most GW_JSON_BODY_MAX */
#define GW_ROUTE_BODY_STREAM 8u  /* the body goes to route->body piece by piece */
#define GW_ROUTE_WRITES     16u  /* changes the file system (refused to read-only keys) */

struct gw_route {
	const char *method;          /* "GET"; a GET route also serves HEAD unless one exists */
	const char *path;
	unsigned flags;
	const char *name;            /* for logs and metrics: "fs_stat" */
	int (*begin)(struct gw_req *r);
	int (*body)(struct gw_req *r, const char *data, size_t len);
	int (*finish)(struct gw_req *r);
};

/* The route of (method, path): the route, or NULL with *path_known set when
 * some route has that path (405, and allow receives its methods, e.g.
 * "GET, HEAD, PUT") or clear (404). */
const struct gw_route *gw_route_find(const char *method, const char *path, bool *path_known,
				     char *allow, size_t allow_len);

#endif
