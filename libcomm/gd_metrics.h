/* Prometheus metrics: a small registry of counters, gauges and histograms and
 * their text exposition (format 0.0.4, with # HELP and # TYPE), served by
 * gd_http on a daemon's --metrics-listen address (docs/observability.md lists
 * every metric godfs exports).
 *
 * A metric (a "family": one name, one type, fixed label names) holds series,
 * one per set of label values. Code asks for a series once and keeps the
 * pointer; updating a series is one atomic operation (no lock), so the hot
 * path of a request pays a few atomic adds:
 *
 *     static struct gd_metric *req;      // at start-up
 *     req = gd_metrics_counter(gd_metrics_global(), "godfs_x_requests_total",
 *                              "Requests answered.", "method,code");
 *     struct gd_mseries *s = gd_metric_at(req, "GET", "200");   // cache it
 *     gd_mseries_inc(s);
 *
 * Label sets are bounded: a family keeps at most max_series series (default
 * GD_METRICS_DEFAULT_MAX_SERIES, gd_metric_set_max_series); the label sets
 * that come after that share one series whose values are all "other", so a
 * label fed from the network cannot make memory grow. Label values are
 * copied, cut to GD_METRICS_VALUE_MAX bytes (bytes that are not UTF-8 become
 * '?') and escaped on output.
 *
 * Values that another thread owns (the meta loop's Raft state, a cache size)
 * are either pushed into a gauge by that thread (gd_mseries_set) or read at
 * scrape time by a collector callback (gd_metrics_collector), which must take
 * whatever lock guards them.
 *
 * Ownership and threads: a registry owns its families and their series; they
 * live until gd_metrics_free (the global registry lives until the process
 * exits), so the pointers handed out never dangle. Every function is
 * thread-safe. Functions given a NULL family or series do nothing, so a
 * metric whose registration failed (a name used twice with another type:
 * logged) costs its callers no checks. */
#ifndef GD_METRICS_H
#define GD_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct gd_metrics;
struct gd_metric;
struct gd_mseries;
struct gd_metrics_emit;

enum gd_metric_type {
	GD_METRIC_COUNTER,
	GD_METRIC_GAUGE,
	GD_METRIC_HISTOGRAM,
};

#define GD_METRICS_MAX_LABELS 4
#define GD_METRICS_DEFAULT_MAX_SERIES 256
#define GD_METRICS_VALUE_MAX 256     /* bytes of a label value kept */
#define GD_METRICS_MAX_BUCKETS 32

/* The default histogram buckets, in seconds: 100 us .. 10 s. */
extern const double gd_metrics_seconds_buckets[];
extern const size_t gd_metrics_seconds_nbuckets;

/* A new empty registry (tests; daemons use the global one). 0 or GD_ENOMEM. */
int gd_metrics_new(struct gd_metrics **out);
void gd_metrics_free(struct gd_metrics *reg);
/* The process's registry, made on first use (NULL only when out of memory). */
struct gd_metrics *gd_metrics_global(void);

/* Registers a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: one line of text;
 * labels: comma-separated label names ("method,code", at most
 * GD_METRICS_MAX_LABELS), or NULL/"" for none. Registering a name again with
 * the same type and labels returns the existing family; anything else wrong
 * returns NULL (logged). Output lists families in registration order. */
struct gd_metric *gd_metrics_counter(struct gd_metrics *reg, const char *name,
				     const char *help, const char *labels);
struct gd_metric *gd_metrics_gauge(struct gd_metrics *reg, const char *name,
				   const char *help, const char *labels);
/* bounds: nbounds increasing upper bounds (the +Inf bucket is implicit);
 * NULL = gd_metrics_seconds_buckets. */
struct gd_metric *gd_metrics_histogram(struct gd_metrics *reg, const char *name,
				       const char *help, const char *labels,
				       const double *bounds, size_t nbounds);

/* A family whose series are produced at each scrape by fn (type counter or
 * gauge), which calls gd_metrics_emit once per series. fn runs on the
 * scraping thread and must not call into the registry except gd_metrics_emit;
 * ctx must outlive the registry. */
typedef void (*gd_metrics_collect_fn)(void *ctx, struct gd_metrics_emit *e);
struct gd_metric *gd_metrics_collector(struct gd_metrics *reg, const char *name,
				       const char *help, enum gd_metric_type type,
				       const char *labels, gd_metrics_collect_fn fn, void *ctx);
/* One series of a collector: its value and then exactly one label value per
 * label name of the family. */
#define gd_metrics_emit(e, value, ...) \
	gd_metrics_emit_((e), (value), ##__VA_ARGS__, (const char *)NULL)
void gd_metrics_emit_(struct gd_metrics_emit *e, double value, ...);

/* Bounds the family's series (at least 1; the "other" series comes on top). */
void gd_metric_set_max_series(struct gd_metric *m, size_t max_series);

/* The series of m with these label values, one per label name (none for a
 * family without labels), made on first use. NULL when m is NULL, the count
 * of values is wrong (logged) or memory ran out. */
#define gd_metric_at(m, ...) gd_metric_at_((m), ##__VA_ARGS__, (const char *)NULL)
struct gd_mseries *gd_metric_at_(struct gd_metric *m, ...);

/* Counters: add n (counters only go up). */
void gd_mseries_add(struct gd_mseries *s, uint64_t n);
static inline void gd_mseries_inc(struct gd_mseries *s) { gd_mseries_add(s, 1); }
/* Gauges: set, or add a (possibly negative) delta. */
void gd_mseries_set(struct gd_mseries *s, double v);
void gd_mseries_gauge_add(struct gd_mseries *s, double delta);
/* Histograms: one observation (seconds for the default buckets). */
void gd_mseries_observe(struct gd_mseries *s, double v);
/* The current value of a counter or gauge, or the observation count of a
 * histogram (tests, status pages). */
double gd_mseries_value(const struct gd_mseries *s);

/* The text exposition of every family: *out is malloc'd (gd_free), *len
 * bytes, NUL-terminated. 0, GD_ENOMEM, or GD_E2BIG past GD_TEXT_MAX_DEFAULT. */
int gd_metrics_render(struct gd_metrics *reg, char **out, size_t *len);

/* The Content-Type of that text. */
#define GD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
