/* Logging to stderr with a level. The level is tested before the arguments are
 * evaluated, so a disabled debug line costs one comparison.
 *
 * One line format for every godfs program (docs/observability.md, "Logs and
 * request ids"):
 *
 *   2026-12-06T10:00:00.123Z godfs-meta[4242] info meta_raft.c:88: message req=ID
 *
 * (UTC with milliseconds, program[pid], level, source file:line, the message,
 * and ` req=<id>` when the thread has a request id, gd_trace.h; control
 * characters of the message written as \n, \r, \t or \xNN, so that one
 * call is one line whatever names it holds), or, with the
 * JSON format, one object per line:
 *
 *   {"ts":"2026-12-06T10:00:00.123Z","prog":"godfs-meta","pid":4242,
 *    "level":"info","src":"meta_raft.c:88","msg":"message","req":"ID"}
 *
 * ("req" only when set; strings escaped, bytes that are not UTF-8 written as
 * U+FFFD, so that every line parses). The format comes from
 * GODFS_LOG_FORMAT at gd_log_init, then from gd_log_opts.h's option. */
#ifndef GD_LOG_H
#define GD_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gd_log_level { GD_LOG_ERROR = 0, GD_LOG_WARN, GD_LOG_INFO, GD_LOG_DEBUG };
enum gd_log_format { GD_LOG_TEXT = 0, GD_LOG_JSON };

extern int gd_log_level_current;

/* Sets the program name shown on every line and the level ("error", "warn",
 * "info", "debug"); returns GD_EINVAL for an unknown level name. The first
 * call also takes the format from env GODFS_LOG_FORMAT when it is set and
 * valid (an invalid one is left to gd_log_opts_read to refuse). */
int gd_log_init(const char *program, const char *level);
void gd_log_set_level(enum gd_log_level level);
/* "text" or "json"; returns GD_EINVAL for anything else (format unchanged).
 * Call before other threads log. */
int gd_log_set_format(const char *name);
enum gd_log_format gd_log_get_format(void);

/* Formats one line as gd_log_write would (without the newline) into out
 * (always NUL-terminated, truncated to fit); for tests. */
void gd_log_format_line(char *out, size_t len, enum gd_log_level level, const char *file,
			int line, const char *msg);

void gd_log_write(enum gd_log_level level, const char *file, int line,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define gd_log(level, ...)                                                  \
	do {                                                                \
		if ((int)(level) <= gd_log_level_current)                   \
			gd_log_write((level), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#define gd_error(...) gd_log(GD_LOG_ERROR, __VA_ARGS__)
#define gd_warn(...) gd_log(GD_LOG_WARN, __VA_ARGS__)
#define gd_info(...) gd_log(GD_LOG_INFO, __VA_ARGS__)
#define gd_debug(...) gd_log(GD_LOG_DEBUG, __VA_ARGS__)

/* A budget of log lines for what a stranger can provoke at will (refused
 * requests): at most GD_LOG_LIMIT_BURST lines a second per limiter, so that a
 * flood of bad requests cannot flood the log. Thread-safe. */
#define GD_LOG_LIMIT_BURST 10
struct gd_log_limit {
	pthread_mutex_t lock;
	uint64_t window_ms;        /* start of the current second */
	unsigned lines;            /* lines logged in this second */
	unsigned dropped;          /* lines not logged since the last one that was */
};
#define GD_LOG_LIMIT_INIT { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 }

/* Whether one more line may be logged now; *dropped receives how many were
 * not logged before it (to say so on the line), and is reset. */
bool gd_log_limit_allow(struct gd_log_limit *l, unsigned *dropped);

#endif
