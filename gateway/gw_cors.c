/* CORS (see gw_cors.h). */
#include "gw_cors.h"

#include <string.h>

#include "gw.h"
#include "gw_req.h"

#define CORS_METHODS "GET, HEAD, POST, PUT, DELETE, OPTIONS"
#define CORS_HEADERS "Authorization, Content-Type, Range, If-Range, If-Match, If-None-Match, " \
	"If-Modified-Since, If-Unmodified-Since, X-Request-ID"
#define CORS_EXPOSE "ETag, Last-Modified, Content-Range, Accept-Ranges, Content-Length, " \
	"X-Request-ID, Retry-After"

bool gw_cors_origin_allowed(const char *list, const char *origin)
{
	if (!list || !*list || !origin || !*origin)
		return false;
	if (strcmp(list, "*") == 0)
		return true;
	size_t olen = strlen(origin);
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *last = end;
		while (last > p && last[-1] == ' ')
			last--;
		if ((size_t)(last - p) == olen && strncmp(p, origin, olen) == 0)
			return true;
		p = end;
	}
	return false;
}

static const char *allowed_origin(const struct gw_req *r)
{
	const char *origin = gw_req_header(r, "Origin");
	return gw_cors_origin_allowed(r->gw->opt.cors_origins, origin) ? origin : NULL;
}

void gw_cors_apply(struct gw_req *r, struct MHD_Response *resp)
{
	const char *origin = allowed_origin(r);
	if (!origin)
		return;
	/* the origin itself, never "*": answers depend on the Authorization header */
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(resp, "Vary", "Origin");
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE);
}

bool gw_cors_is_preflight(const struct gw_req *r)
{
	return strcmp(r->method, "OPTIONS") == 0 &&
	       gw_req_header(r, "Access-Control-Request-Method") != NULL;
}

int gw_cors_preflight(struct gw_req *r)
{
	if (allowed_origin(r)) {
		gw_reply_header(r, "Access-Control-Allow-Methods", CORS_METHODS);
		gw_reply_header(r, "Access-Control-Allow-Headers", CORS_HEADERS);
		gw_reply_header(r, "Access-Control-Max-Age", "600");
	}
	return gw_reply_empty(r, 204);
}
