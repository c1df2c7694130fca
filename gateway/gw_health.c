/* Health and readiness (see gw_health.h). */
#include "gw_health.h"

#include "gd_ns.h"
#include "gd_status.h"
#include "gw.h"
#include "gw_error.h"
#include "gw_req.h"

int gw_health_live(struct gw_req *r)
{
	return gw_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

int gw_health_ready(struct gw_req *r)
{
	struct gd_attr a;
	int rc = gd_ns_getattr(gd_client_meta(r->gw->client), 1, &a);
	if (rc < 0)
		return gw_reply_error(r, 503, GW_UNAVAILABLE, "the meta does not answer: %s",
				      gd_strerror(rc));
	return gw_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}
