/* The gateway's metrics (see gw_metrics.h). */
#include "gw_metrics.h"

#include <stdio.h>
#include <string.h>

#include "gd_metrics.h"
#include "gw.h"
#include "gw_req.h"
#include "gw_route.h"
#include "gw_sessions.h"

static struct gd_metric *requests, *duration;
static struct gd_mseries *in_flight, *sent, *received, *limited;

static void sessions_collect(void *ctx, struct gd_metrics_emit *e)
{
	struct gw *gw = ctx;
	gd_metrics_emit(e, gw->sessions ? (double)gw_sessions_count(gw->sessions) : 0);
}

void gw_metrics_init(struct gw *gw)
{
	struct gd_metrics *reg = gd_metrics_global();
	requests = gd_metrics_counter(reg, "godfs_gateway_http_requests_total",
				      "HTTP requests answered, by method, route and status.",
				      "method,route,code");
	duration = gd_metrics_histogram(reg, "godfs_gateway_http_request_duration_seconds",
					"Seconds from the request line to the end of the answer.",
					"method,route", NULL, 0);
	in_flight = gd_metric_at(gd_metrics_gauge(reg, "godfs_gateway_http_requests_in_flight",
						  "HTTP requests being served.", NULL));
	sent = gd_metric_at(gd_metrics_counter(reg, "godfs_gateway_http_sent_bytes_total",
					       "Bytes of answer bodies sent.", NULL));
	received = gd_metric_at(gd_metrics_counter(reg, "godfs_gateway_http_received_bytes_total",
						   "Bytes of request bodies received.", NULL));
	limited = gd_metric_at(gd_metrics_counter(reg, "godfs_gateway_rate_limited_total",
						  "Requests refused by the rate limit (429).", NULL));
	gd_metrics_collector(reg, "godfs_gateway_sessions", "API-key client sessions open.",
			     GD_METRIC_GAUGE, NULL, sessions_collect, gw);
}

void gw_metrics_request_begin(void)
{
	gd_mseries_gauge_add(in_flight, 1);
}

static const char *method_label(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

void gw_metrics_request_end(const struct gw_req *r)
{
	char code[8];
	const char *m = method_label(r->method), *route = r->route ? r->route->name : "none";
	snprintf(code, sizeof(code), "%d", r->responded ? r->status : 0);
	gd_mseries_gauge_add(in_flight, -1);
	gd_mseries_inc(gd_metric_at(requests, m, route, code));
	gd_mseries_observe(gd_metric_at(duration, m, route),
			   (double)(gw_now_ns() - r->start_ns) / 1e9);
	gd_mseries_add(sent, r->sent_bytes);
	gd_mseries_add(received, r->received_bytes);
}

void gw_metrics_rate_limited(void)
{
	gd_mseries_inc(limited);
}
