/* The log options of every godfs program, read the gd_config way (flag >
 * env GODFS_* > conf file > default), so that each spells and checks them
 * alike (docs/observability.md, "Logs and request ids"):
 *
 *   --log-format text|json   (env GODFS_LOG_FORMAT, conf log-format; text)
 *   --log-level LEVEL        (env GODFS_LOG_LEVEL, conf log-level; info)
 *
 * Use: put GD_LOG_OPTS_LONGOPTS (--log-format) into the program's struct
 * option table, and GD_LOG_OPTS_LEVEL_LONGOPT too unless the program has
 * its own --log-level entry (their vals are GD_LOG_OPTS_VAL_BASE and up:
 * keep the program's own below); print GD_LOG_OPTS_USAGE; call
 * gd_log_opts_read() after gd_config_load(). */
#ifndef GD_LOG_OPTS_H
#define GD_LOG_OPTS_H

#include "gd_config.h"

#define GD_LOG_OPTS_VAL_BASE 7300

#define GD_LOG_OPTS_LONGOPTS \
	{ "log-format", required_argument, NULL, GD_LOG_OPTS_VAL_BASE + 0 }
#define GD_LOG_OPTS_LEVEL_LONGOPT \
	{ "log-level", required_argument, NULL, GD_LOG_OPTS_VAL_BASE + 1 }

#define GD_LOG_OPTS_USAGE \
	"  --log-format FORMAT      text (default) or json: one JSON object a line\n"

/* Applies log-level (default_level when unset; NULL = leave the level) and
 * log-format (default text) to gd_log, with program as the name on each
 * line. Returns 0, or GD_EINVAL for a bad value (said on stderr with the
 * option's name). */
int gd_log_opts_read(const struct gd_config *cfg, const char *program,
		     const char *default_level);

#endif
