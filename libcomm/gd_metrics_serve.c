/* The process metrics and the /metrics listener (see gd_metrics_serve.h). */
#include "gd_metrics_serve.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

static void collect_rss(void *ctx, struct gd_metrics_emit *e)
{
	unsigned long long size, rss;
	FILE *f = fopen("/proc/self/statm", "r");

	(void)ctx;
	if (!f)
		return;
	if (fscanf(f, "%llu %llu", &size, &rss) == 2)
		gd_metrics_emit(e, (double)rss * (double)sysconf(_SC_PAGESIZE));
	fclose(f);
}

static void collect_cpu(void *ctx, struct gd_metrics_emit *e)
{
	struct rusage ru;

	(void)ctx;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return;
	gd_metrics_emit(e, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
}

static void collect_fds(void *ctx, struct gd_metrics_emit *e)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	long n = 0;

	(void)ctx;
	if (!d)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	gd_metrics_emit(e, (double)(n - 1));    /* not the one opendir holds */
}

/* Seconds since the epoch when this process started: its start in clock
 * ticks after boot (/proc/self/stat, field 22) plus the boot time. */
static double start_time(void)
{
	char buf[1024], line[256];
	unsigned long long ticks = 0, btime = 0;
	const char *p;
	size_t n;
	int field;
	FILE *f = fopen("/proc/self/stat", "r");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces: count fields after its ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	ticks = strtoull(p, NULL, 10);
	f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
	fclose(f);
	return (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* Set once by the first gd_metrics_process_register (start-up, one thread). */
static double process_start;

static void collect_start(void *ctx, struct gd_metrics_emit *e)
{
	(void)ctx;
	gd_metrics_emit(e, process_start);
}

void gd_metrics_process_register(struct gd_metrics *reg)
{
	if (process_start == 0)
		process_start = start_time();
	gd_mseries_set(gd_metric_at(gd_metrics_gauge(reg, "godfs_build_info",
						     "Always 1; the godfs version as a label.",
						     "version"), PACKAGE_VERSION), 1);
	gd_metrics_collector(reg, "process_resident_memory_bytes", "Resident memory size in bytes.",
			     GD_METRIC_GAUGE, NULL, collect_rss, NULL);
	gd_metrics_collector(reg, "process_cpu_seconds_total",
			     "Total user and system CPU time spent in seconds.",
			     GD_METRIC_COUNTER, NULL, collect_cpu, NULL);
	gd_metrics_collector(reg, "process_open_fds", "Number of open file descriptors.",
			     GD_METRIC_GAUGE, NULL, collect_fds, NULL);
	gd_metrics_collector(reg, "process_start_time_seconds",
			     "Start time of the process since unix epoch in seconds.",
			     GD_METRIC_GAUGE, NULL, collect_start, NULL);
}

void gd_metrics_http_handler(void *ctx, const char *path, const char *query,
			     struct gd_http_reply *out)
{
	(void)path;
	(void)query;
	if (gd_metrics_render(ctx, &out->body, &out->len) != 0) {
		out->status = 500;
		return;
	}
	out->content_type = GD_METRICS_CONTENT_TYPE;
}

int gd_metrics_serve(const char *listen, struct gd_http **out)
{
	struct gd_metrics *reg = gd_metrics_global();
	struct gd_http *h;
	int rc;

	if (!reg)
		return GD_ENOMEM;
	gd_metrics_process_register(reg);
	rc = gd_http_start(listen, &h);
	if (rc < 0)
		return rc;
	rc = gd_http_route(h, "/metrics", gd_metrics_http_handler, reg);
	if (rc < 0) {
		gd_http_stop(h);
		return rc;
	}
	gd_info("metrics on http://%s/metrics", listen);
	*out = h;
	return 0;
}
