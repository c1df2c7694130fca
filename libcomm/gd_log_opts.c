/* The log options of every program (see gd_log_opts.h). */
#include "gd_log_opts.h"

#include "gd_log.h"
#include "gd_status.h"

#include <stdio.h>

int gd_log_opts_read(const struct gd_config *cfg, const char *program,
		     const char *default_level)
{
	const char *level = gd_config_get(cfg, "log-level", NULL, default_level);
	const char *format = gd_config_get(cfg, "log-format", NULL, "text");

	if (gd_log_init(program, level) < 0) {
		fprintf(stderr, "%s: --log-level %s: use error, warn, info or debug\n", program,
			level);
		return GD_EINVAL;
	}
	if (gd_log_set_format(format) < 0) {
		fprintf(stderr, "%s: --log-format %s: use text or json\n", program, format);
		return GD_EINVAL;
	}
	return 0;
}
