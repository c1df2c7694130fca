/* Multipart uploads, S3-style (docs/gateway.md "Multipart uploads"):
 *
 *   POST   /v1/fs/multipart                 {"path", "part_size"?} -> upload
 *   PUT    /v1/fs/multipart/{id}?partNumber=N   raw body -> ETag "sha256-<hex>"
 *   GET    /v1/fs/multipart/{id}/parts      the staged parts
 *   POST   /v1/fs/multipart/{id}/complete[?overwrite=1]  {"parts": [...]}
 *   DELETE /v1/fs/multipart/{id}            abort
 *
 * Uploads are staged inside godfs (gw_mp_store.h), so any gateway serves any
 * step; the key that started an upload is the only one that sees it (another
 * key gets 404, as for an id that does not exist). A janitor thread in every
 * gateway removes expired uploads (--upload-expiry, default 24 h).
 *
 * The route steps (gw_route.h) run on the request's thread; the module's
 * state is set up once by gw_multipart_start before the HTTP server starts. */
#ifndef GW_MULTIPART_H
#define GW_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

struct gw;
struct gw_req;
struct gd_config;
struct gw_multipart;

#define GW_MP_EXPIRY_DEFAULT (24 * 3600)
/* the code of a 409 when another complete of the upload is running */
#define GW_MP_BUSY "upload_busy"

#define GW_MULTIPART_USAGE \
	"  --upload-expiry S        a multipart upload not completed S seconds after\n" \
	"                           its start is removed (default 86400)\n"

/* Reads upload-expiry from cfg, sets gw->mp and starts the janitor. Logs why
 * and returns a GD_E* code on failure. */
int gw_multipart_start(struct gw *gw, const struct gd_config *cfg);
/* Stops the janitor and frees gw->mp (after the HTTP server stopped). */
void gw_multipart_stop(struct gw *gw);

/* Route steps. */
int gw_multipart_init(struct gw_req *r);        /* POST /v1/fs/multipart (finish) */
int gw_multipart_part_begin(struct gw_req *r);  /* PUT /v1/fs/multipart/{id} */
int gw_multipart_part_body(struct gw_req *r, const char *data, size_t len);
int gw_multipart_part_finish(struct gw_req *r);
int gw_multipart_get(struct gw_req *r);         /* GET .../{id}/parts */
int gw_multipart_post(struct gw_req *r);        /* POST .../{id}/complete (finish) */
int gw_multipart_delete(struct gw_req *r);      /* DELETE .../{id} */

#endif
