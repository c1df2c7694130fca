/* The namespace endpoints (docs/gateway.md): GET /v1/fs/stat, GET
 * /v1/fs/list, POST /v1/fs/mkdir, POST /v1/fs/file, DELETE /v1/fs, POST
 * /v1/fs/rename. Each is one route `finish` step (gw_req.h), acting
 * through the request's session on paths under the principal's root. */
#ifndef GW_FS_H
#define GW_FS_H

#include <jansson.h>

#include "gd_client.h"

struct gw_req;

#define GW_LIST_DEFAULT 1000
#define GW_LIST_MAX 10000
#define GW_DELETE_MAX 100000     /* entries one recursive DELETE removes at most */

int gw_fs_stat(struct gw_req *r);
int gw_fs_list(struct gw_req *r);
int gw_fs_mkdir(struct gw_req *r);
int gw_fs_file(struct gw_req *r);
int gw_fs_delete(struct gw_req *r);
int gw_fs_rename(struct gw_req *r);

/* The JSON of a stat answer (also used by PUT and multipart complete). */
json_t *gw_fs_attr_json(const char *path, const struct gd_attr *a);

#endif
