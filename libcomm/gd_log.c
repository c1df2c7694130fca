#include "gd_log.h"
#include "gd_status.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int gd_log_level_current = GD_LOG_INFO;
static char gd_log_program[32] = "godfs";
static const char *const gd_log_names[] = { "error", "warn", "info", "debug" };

int gd_log_init(const char *program, const char *level)
{
	if (program)
		snprintf(gd_log_program, sizeof(gd_log_program), "%s", program);
	if (!level)
		return 0;
	for (int i = 0; i <= GD_LOG_DEBUG; i++) {
		if (strcmp(level, gd_log_names[i]) == 0) {
			gd_log_level_current = i;
			return 0;
		}
	}
	return GD_EINVAL;
}

void gd_log_set_level(enum gd_log_level level)
{
	gd_log_level_current = level;
}

void gd_log_write(enum gd_log_level level, const char *file, int line,
		  const char *fmt, ...)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	const char *base = strrchr(file, '/');
	/* One fprintf per line so that lines from several threads do not mix. */
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s:%d: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, gd_log_program,
		gd_log_names[level], base ? base + 1 : file, line, msg);
}

bool gd_log_limit_allow(struct gd_log_limit *l, unsigned *dropped)
{
	struct timespec ts;
	uint64_t now;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	pthread_mutex_lock(&l->lock);
	if (now - l->window_ms >= 1000u) {
		l->window_ms = now;
		l->lines = 0;
	}
	ok = l->lines < GD_LOG_LIMIT_BURST;
	*dropped = 0;
	if (ok) {
		l->lines++;
		*dropped = l->dropped;
		l->dropped = 0;
	} else {
		l->dropped++;
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}
