/* The start-up and shutdown steps that godfs daemons share (godfs-chunkd,
 * godfs-gateway), so that each reads its options, logs, proves itself and
 * stops the same way:
 *
 *   gd_daemon_init     log to stderr as the program; options (getopt_long,
 *                      recorded in a gd_config: flag > env > conf file);
 *                      --help; the conf file (--config, or
 *                      /etc/godfs/<program>.conf); --log-level and
 *                      --log-format (gd_log_opts.h); the cluster
 *                      credential (gd_cred_setup, GD_CRED_DAEMON: no key, no
 *                      daemon unless --insecure).
 *   gd_daemon_signals  before the first thread starts: SIGTERM and SIGINT
 *                      blocked (every thread inherits the mask, so only
 *                      gd_daemon_wait sees them), SIGPIPE ignored.
 *   gd_daemon_wait     sleeps until SIGTERM or SIGINT, and logs which.
 *
 * Only main() calls these, once, before (init, signals) and after (wait) the
 * daemon's own threads run. */
#ifndef GD_DAEMON_H
#define GD_DAEMON_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "gd_config.h"

struct gd_daemon {
	const char *program;            /* on log lines; names the default conf file */
	const struct option *opts;      /* getopt_long's table, recorded with
					 * gd_config_getopt: "help" must map to 'h'
					 * and "config" must be there */
	void (*usage)(FILE *f);         /* prints the options */
};

/* Initialises *cfg (release it with gd_config_release whatever this
 * returns) and runs the start-up steps above on argv. Returns true when the
 * daemon should go on (*status untouched); false when main should return
 * *status: 0 after --help, 2 for a bad option, argument, log level or
 * format, 1 when the conf file or the credential is not usable (each said on
 * stderr or in the log). */
bool gd_daemon_init(const struct gd_daemon *d, int argc, char **argv, struct gd_config *cfg,
		    int *status);

/* Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it
 * starts afterwards) into *sigs, and ignores SIGPIPE. */
void gd_daemon_signals(sigset_t *sigs);

/* Waits for SIGTERM or SIGINT (blocked by gd_daemon_signals), logs
 * "SIGTERM: stopping" (or SIGINT) and returns the signal. */
int gd_daemon_wait(const sigset_t *sigs);

#endif
