/* GET /v1/health (the process answers) and GET /v1/ready (it can reach the
 * meta: a GETATTR of the root through its own session, asked at most once
 * per GW_READY_CACHE_NS; callers in between get the last answer). Both
 * public: a load balancer probes them without a key; they say nothing
 * about the file system. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#define GW_READY_CACHE_NS 1000000000ull

struct gw_req;

int gw_health_live(struct gw_req *r);
int gw_health_ready(struct gw_req *r);

#endif
