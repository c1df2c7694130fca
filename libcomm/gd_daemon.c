/* The start-up and shutdown steps of a daemon (see gd_daemon.h). */
#include "gd_daemon.h"

#include "gd_cred.h"
#include "gd_log.h"
#include "gd_log_opts.h"

#include <pthread.h>

bool gd_daemon_init(const struct gd_daemon *d, int argc, char **argv, struct gd_config *cfg,
		    int *status)
{
	int c;

	gd_log_init(d->program, "info");
	gd_config_init(cfg);
	while ((c = getopt_long(argc, argv, "h", d->opts, NULL)) != -1) {
		if (c == 'h') {
			d->usage(stdout);
			*status = 0;
			return false;
		}
		if (c == '?' || gd_config_getopt(cfg, d->opts, c, optarg) < 0) {
			d->usage(stderr);
			*status = 2;
			return false;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument: %s\n", d->program, argv[optind]);
		d->usage(stderr);
		*status = 2;
		return false;
	}
	if (gd_config_load(cfg, d->program, gd_config_get(cfg, "config", NULL, NULL)) < 0) {
		*status = 1;   /* gd_config said why */
		return false;
	}
	if (gd_log_opts_read(cfg, d->program, "info") < 0) {
		*status = 2;
		return false;
	}
	/* Before anything listens or connects: no key, no daemon (unless --insecure). */
	if (gd_cred_setup(cfg, GD_CRED_DAEMON) < 0) {
		fprintf(stderr, "%s: not started: see the message above\n", d->program);
		*status = 1;
		return false;
	}
	return true;
}

void gd_daemon_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int gd_daemon_wait(const sigset_t *sigs)
{
	int sig = 0;

	for (;;) {
		if (sigwait(sigs, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}
	gd_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	return sig;
}
