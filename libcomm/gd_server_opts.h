/* The limits of gd_server (gd_server_limits) as options of a daemon, read the
 * gd_config way (flag > env GODFS_* > conf file > default), so that
 * godfs-meta and godfs-chunkd spell and check them alike (man pages,
 * docs/configuration.md "Limits against hostile clients").
 *
 * Use: put GD_SERVER_OPTS_LONGOPTS into the program's struct option table
 * (their vals are GD_SERVER_OPTS_VAL_BASE and up: keep the program's own
 * vals below it), print GD_SERVER_OPTS_USAGE in its usage text, and call
 * gd_server_opts_read() after gd_config_load(). */
#ifndef GD_SERVER_OPTS_H
#define GD_SERVER_OPTS_H

#include "gd_config.h"
#include "gd_server.h"

#define GD_SERVER_OPTS_VAL_BASE 7000

#define GD_SERVER_OPTS_LONGOPTS \
	{ "send-timeout-ms", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 0 }, \
	{ "idle-timeout-ms", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 1 }, \
	{ "frame-timeout-ms", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 2 }, \
	{ "max-conns", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 3 }, \
	{ "max-conns-per-addr", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 4 }, \
	{ "max-conn-requests", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 5 }, \
	{ "max-requests", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 6 }, \
	{ "max-request-bytes", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 7 }, \
	{ "max-conn-output", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 8 }, \
	{ "max-total-output", required_argument, NULL, GD_SERVER_OPTS_VAL_BASE + 9 }

#define GD_SERVER_OPTS_USAGE \
	"limits against hostile clients (see docs/configuration.md):\n" \
	"  --send-timeout-ms N      a queued reply not read within this: cut (10000)\n" \
	"  --idle-timeout-ms N      a connection with no request for this: cut (300000)\n" \
	"  --frame-timeout-ms N     a started frame not whole within this: cut (30000)\n" \
	"  --max-conns N            open connections in total (4096)\n" \
	"  --max-conns-per-addr N   open connections from one IP address (256)\n" \
	"  --max-conn-requests N    requests in progress per connection (256)\n" \
	"  --max-requests N         requests in progress in total (16384)\n" \
	"  --max-request-bytes B    bytes of those requests in total (1G)\n" \
	"  --max-conn-output B      reply bytes queued per connection (64M)\n" \
	"  --max-total-output B     reply bytes queued on all connections (1G)\n"

/* Fills *l from cfg (every field set, defaults included). Returns 0, or
 * GD_EINVAL for junk or a value out of range (logged with the option). */
int gd_server_opts_read(const struct gd_config *cfg, struct gd_server_limits *l);

#endif
