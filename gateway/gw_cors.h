/* CORS (--cors-origins): which browser origins may call the gateway. Off
 * when the option is unset: no Access-Control-* header is ever sent. */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <microhttpd.h>
#include <stdbool.h>

struct gw_req;

/* Adds the Access-Control-* headers of an actual request's answer when its
 * Origin is allowed (called for every answer by gw_req.c). */
void gw_cors_apply(struct gw_req *r, struct MHD_Response *resp);

/* Whether r is a CORS preflight (OPTIONS with Access-Control-Request-Method). */
bool gw_cors_is_preflight(const struct gw_req *r);
/* Answers a preflight: 204 with the allowed methods and headers when the
 * origin is allowed, a bare 204 otherwise (the browser then refuses). */
int gw_cors_preflight(struct gw_req *r);

/* Whether origin is in the comma-separated list (or the list is "*"). */
bool gw_cors_origin_allowed(const char *list, const char *origin);

#endif
