/* A daemon's metrics listener: the process metrics every godfs program
 * exports (godfs_build_info, process_*), and gd_http serving the global
 * registry (gd_metrics.h) at /metrics. Used by godfs-meta, godfs-chunkd,
 * mount.godfs and godfs-gateway for --metrics-listen.
 *
 * Threads: call from main (or any one thread) at start-up; the listener is
 * the caller's until gd_http_stop. */
#ifndef GD_METRICS_SERVE_H
#define GD_METRICS_SERVE_H

#include "gd_http.h"
#include "gd_metrics.h"

/* Registers godfs_build_info{version} and process_resident_memory_bytes,
 * process_cpu_seconds_total, process_open_fds, process_start_time_seconds
 * (read from /proc/self at each scrape) in reg. Safe to call twice. */
void gd_metrics_process_register(struct gd_metrics *reg);

/* The /metrics handler of gd_http: ctx is the registry. */
void gd_metrics_http_handler(void *ctx, const char *path, const char *query,
			     struct gd_http_reply *out);

/* Registers the process metrics in the global registry, listens on listen
 * ("host:port") and serves /metrics there. Returns 0 and *out (more routes
 * may be added to it), or the error of gd_http_start (logged). */
int gd_metrics_serve(const char *listen, struct gd_http **out);

#endif
