/* The gateway's Prometheus metrics (docs/observability.md), in the global
 * registry that --metrics-listen serves with the process metrics:
 *   godfs_gateway_http_requests_total{method,route,code}
 *   godfs_gateway_http_request_duration_seconds{method,route} (histogram)
 *   godfs_gateway_http_requests_in_flight
 *   godfs_gateway_http_sent_bytes_total, godfs_gateway_http_received_bytes_total
 *   godfs_gateway_rate_limited_total
 *   godfs_gateway_sessions (API-key sessions open)
 * Labels come from fixed sets (a method outside GET, HEAD, PUT, POST,
 * DELETE, OPTIONS is "other"; route is the route's name or "none"), so a
 * client cannot grow them. Thread-safe (atomic updates). */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdbool.h>

struct gw;
struct gw_req;

/* Registers the families (once, at start; the sessions gauge reads
 * gw->sessions at each scrape). */
void gw_metrics_init(struct gw *gw);
void gw_metrics_request_begin(void);
/* The request ended (answered or not): counts it, its duration and bytes. */
void gw_metrics_request_end(const struct gw_req *r);
void gw_metrics_rate_limited(void);

#endif
