/* Logging to stderr with a level. The level is tested before the arguments are
 * evaluated, so a disabled debug line costs one comparison. */
#ifndef GD_LOG_H
#define GD_LOG_H

enum gd_log_level { GD_LOG_ERROR = 0, GD_LOG_WARN, GD_LOG_INFO, GD_LOG_DEBUG };

extern int gd_log_level_current;

/* Sets the program name shown on every line and the level ("error", "warn",
 * "info", "debug"); returns GD_EINVAL for an unknown level name. */
int gd_log_init(const char *program, const char *level);
void gd_log_set_level(enum gd_log_level level);

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

#endif
