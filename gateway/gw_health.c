/* Health and readiness (see gw_health.h). */
#include "gw_health.h"

#include <pthread.h>
#include <stdbool.h>

#include "gd_ns.h"
#include "gd_status.h"
#include "gw.h"
#include "gw_error.h"
#include "gw_req.h"

int gw_health_live(struct gw_req *r)
{
	return gw_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* The last readiness check, shared by every request: /v1/ready is public,
 * so a flood of it must not become a flood of meta calls. */
static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ready_at_ns;      /* ready_mu: when ready_rc was learned; 0 = never */
static int ready_rc;              /* ready_mu */
static bool ready_busy;           /* ready_mu: a check is under way */

/* The meta answers (a GETATTR of the root), asked at most once per
 * GW_READY_CACHE_NS whatever the number of callers: 0 or its error. */
static int ready_check(struct gw *gw)
{
	uint64_t now = gw_now_ns();
	struct gd_attr a;
	int rc;

	pthread_mutex_lock(&ready_mu);
	if (ready_at_ns && (now - ready_at_ns < GW_READY_CACHE_NS || ready_busy)) {
		rc = ready_rc;   /* fresh, or being refreshed: the last answer */
		pthread_mutex_unlock(&ready_mu);
		return rc;
	}
	ready_busy = true;
	pthread_mutex_unlock(&ready_mu);
	rc = gd_ns_getattr(gd_client_meta(gw->client), 1, &a);
	pthread_mutex_lock(&ready_mu);
	ready_rc = rc < 0 ? rc : 0;
	ready_at_ns = gw_now_ns();
	ready_busy = false;
	pthread_mutex_unlock(&ready_mu);
	return rc < 0 ? rc : 0;
}

int gw_health_ready(struct gw_req *r)
{
	int rc = ready_check(r->gw);
	if (rc < 0)
		return gw_reply_error(r, 503, GW_UNAVAILABLE, "the meta does not answer: %s",
				      gd_strerror(rc));
	return gw_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}
