/* godfs-gateway: the REST gateway (/v1) of godfs (man/godfs-gateway.8,
 * docs/gateway.md). main() reads the options, proves itself to the
 * cluster with the cluster key (role gateway), opens its own client
 * session, starts the HTTP server and waits for SIGTERM/SIGINT. */
#include "gw.h"
#include "gw_accesslog.h"
#include "gw_auth.h"
#include "gw_janitor.h"
#include "gw_mem.h"
#include "gw_metrics.h"
#include "gw_multipart.h"
#include "gw_ratelimit.h"
#include "gw_server.h"
#include "gw_sessions.h"

#include "gd_alloc.h"
#include "gd_client.h"
#include "gd_config.h"
#include "gd_cred.h"
#include "gd_daemon.h"
#include "gd_log.h"
#include "gd_log_opts.h"
#include "gd_meta_client.h"
#include "gd_metrics_serve.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define PROGRAM "godfs-gateway"
#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_META "127.0.0.1:9090"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROGRAM " [options]\n"
		"  --meta HOST:PORT[,...]   meta servers (default " DEFAULT_META ")\n"
		"  --listen HOST:PORT       HTTP address (default " DEFAULT_LISTEN ")\n"
		"  --tls-cert FILE          serve HTTPS with this PEM certificate (chain)...\n"
		"  --tls-key FILE           ...and this PEM private key\n"
		"  --access-log PATH|-      one line per request (default: off; - = stdout)\n"
		"  --cors-origins LIST      browser origins allowed (comma-separated, or *)\n"
		"  --rate-limit RPS         requests per second per API key (or per client\n"
		"                           address without one); default 0 = no limit\n"
		"  --rate-burst N           requests allowed at once above the rate (default 20)\n"
		"  --read-ahead-mem BYTES   read-ahead of all downloads together (default 512M);\n"
		"                           beyond it a download reads 1 MiB at a time\n"
		"  --upload-mem BYTES       buffers of all uploads together (default 512M);\n"
		"                           beyond it an upload sends 1 MiB at a time\n"
		"  --max-sessions N         API keys with an open session at once (default 256)\n"
		"  --max-upload BYTES       largest PUT body (default 0 = no limit)\n"
		"  --max-connections N      open HTTP connections (default 1024)\n"
		"  --max-connections-per-ip N  from one client address (default 32)\n"
		"  --conn-timeout S         an idle or stalled connection is closed after S\n"
		"                           seconds (default 60)\n"
		"  --header-timeout S       a request's line and headers are due within S\n"
		"                           seconds of the connection or its last request\n"
		"                           (default 10; 0 = only --conn-timeout)\n"
		"  --header-limit BYTES     request line + headers (default 64K; more is 431)\n"
		"  --put-stale S            temporary files of PUTs older than S seconds that\n"
		"                           no gateway writes any more are removed (default 86400)\n"
		"  --janitor-interval S     how often the janitor looks for them (default 3600;\n"
		"                           0 = never)\n"
		"  --metrics-listen HOST:PORT  serve /metrics (HTTP, read-only, no credential:\n"
		"                           keep it on a private address, e.g. 127.0.0.1:9103)\n"
		GW_MULTIPART_USAGE
		"  --log-level LEVEL        error, warn, info (default) or debug\n"
		GD_LOG_OPTS_USAGE
		"  --config FILE            configuration file (default /etc/godfs/" PROGRAM
		".conf)\n"
		"authentication (docs/security.md):\n"
		GD_CRED_USAGE_DAEMON);
}

static int get_double(const struct gd_config *cfg, const char *name, double def, double max,
		      double *out)
{
	const char *v = gd_config_get(cfg, name, NULL, NULL);
	char *end;
	*out = def;
	if (!v)
		return 0;
	double d = strtod(v, &end);
	if (end == v || *end || !(d >= 0) || d > max) {
		gd_error("--%s %s: a number from 0 to %g", name, v, max);
		return GD_EINVAL;
	}
	*out = d;
	return 0;
}

/* Reads the options into gw->opt; GD_EINVAL (logged) on a bad one. */
static int read_options(const struct gd_config *cfg, struct gw *gw)
{
	struct gw_options *o = &gw->opt;
	long max_conn, max_ip, timeout_s, header_s, max_sessions;
	uint64_t header, stale;
	o->listen = gd_config_get(cfg, "listen", NULL, DEFAULT_LISTEN);
	o->tls_cert = gd_config_get(cfg, "tls-cert", NULL, NULL);
	o->tls_key = gd_config_get(cfg, "tls-key", NULL, NULL);
	o->access_log = gd_config_get(cfg, "access-log", NULL, NULL);
	o->cors_origins = gd_config_get(cfg, "cors-origins", NULL, NULL);
	if (o->tls_cert && !*o->tls_cert)
		o->tls_cert = NULL;
	if (o->tls_key && !*o->tls_key)
		o->tls_key = NULL;
	if (!o->tls_cert != !o->tls_key) {
		gd_error("--tls-cert and --tls-key go together");
		return GD_EINVAL;
	}
	if (get_double(cfg, "rate-limit", 0, 1e9, &o->rate_limit) < 0 ||
	    get_double(cfg, "rate-burst", 20, 1e9, &o->rate_burst) < 0 ||
	    gd_config_get_u64(cfg, "max-upload", NULL, 0, &o->max_upload) < 0 ||
	    gd_config_get_int(cfg, "max-connections", NULL, 1024, 1, 65536, &max_conn) < 0 ||
	    gd_config_get_int(cfg, "max-connections-per-ip", NULL, 32, 1, 65536, &max_ip) < 0 ||
	    gd_config_get_int(cfg, "conn-timeout", NULL, 60, 1, 86400, &timeout_s) < 0 ||
	    gd_config_get_int(cfg, "header-timeout", NULL, 10, 0, 3600, &header_s) < 0 ||
	    gd_config_get_int(cfg, "max-sessions", NULL, GW_SESSIONS_DEFAULT_MAX, 1, 65536,
			      &max_sessions) < 0 ||
	    gd_config_get_u64(cfg, "header-limit", NULL, 64 << 10, &header) < 0 ||
	    gd_config_get_u64(cfg, "put-stale", NULL, 86400, &stale) < 0 ||
	    gd_config_get_u64(cfg, "read-ahead-mem", NULL, 512u << 20, &o->read_ahead_mem) < 0 ||
	    gd_config_get_u64(cfg, "upload-mem", NULL, GW_UPLOAD_MEM_DEFAULT, &o->upload_mem) < 0)
		return GD_EINVAL;
	if (header < 4096 || header > (16u << 20)) {
		gd_error("--header-limit %" PRIu64 ": from 4K to 16M", header);
		return GD_EINVAL;
	}
	o->max_connections = (unsigned)max_conn;
	o->max_sessions = (unsigned)max_sessions;
	o->max_per_ip = (unsigned)max_ip;
	o->conn_timeout_s = (unsigned)timeout_s;
	o->header_timeout_s = (unsigned)header_s;
	/* MHD keeps the request's headers and its read buffer in one pool of
	 * this size: twice the header limit leaves room to read the body. */
	o->header_mem = (unsigned)(header * 2);
	o->put_stale_s = stale;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "meta", required_argument, NULL, 'm' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "access-log", required_argument, NULL, 'A' },
		{ "cors-origins", required_argument, NULL, 'O' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "rate-burst", required_argument, NULL, 'b' },
		{ "max-upload", required_argument, NULL, 'u' },
		{ "max-sessions", required_argument, NULL, 'S' },
		{ "read-ahead-mem", required_argument, NULL, 'R' },
		{ "upload-mem", required_argument, NULL, 'U' },
		{ "max-connections", required_argument, NULL, 'n' },
		{ "max-connections-per-ip", required_argument, NULL, 'i' },
		{ "conn-timeout", required_argument, NULL, 't' },
		{ "header-timeout", required_argument, NULL, 'T' },
		{ "header-limit", required_argument, NULL, 'H' },
		{ "put-stale", required_argument, NULL, 's' },
		{ "janitor-interval", required_argument, NULL, 'J' },
		{ "metrics-listen", required_argument, NULL, 'P' },
		{ "upload-expiry", required_argument, NULL, 'e' },
		{ "log-level", required_argument, NULL, 'v' },
		GD_LOG_OPTS_LONGOPTS,
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		GD_CRED_DAEMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	static const struct gd_daemon self = { PROGRAM, opts, usage };
	struct gd_config cfg;
	struct gw gw = { 0 };
	struct gw_server *server = NULL;
	struct gw_janitor *janitor = NULL;
	struct gd_http *metrics_http = NULL;
	const char *metrics_listen;
	uint64_t janitor_s = 0;
	sigset_t sigs;
	int ret = 1, rc;
	char host[256], cred[200];

	/* the cluster key too: API-key secrets derive from it (no key, no
	 * gateway, unless --insecure for a throw-away cluster) */
	if (!gd_daemon_init(&self, argc, argv, &cfg, &ret))
		goto out_config;
	if (read_options(&cfg, &gw) < 0 ||
	    gd_config_get_u64(&cfg, "janitor-interval", NULL, 3600, &janitor_s) < 0) {
		ret = 2;
		goto out_config;
	}
	if (getrandom(&gw.instance, sizeof(gw.instance), 0) != sizeof(gw.instance))
		gw.instance = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);

	gd_daemon_signals(&sigs);

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "gateway");
	host[sizeof(host) - 1] = '\0';
	struct gd_client_config ccfg = {
		.meta_addrs = gd_config_get(&cfg, "meta", NULL, DEFAULT_META),
		.host = host,
		.mountpoint = "godfs-gateway",
		/* ROLE_CLIENT: the gateway's own session is a client session
		 * like a mount's (open files, leases, exactly-once records),
		 * proved with the cluster key, which may prove any role. (The
		 * meta opens a session for ROLE_GATEWAY too now; keys_meta, the
		 * role-gateway connection, only reads API keys.) */
		.role = GODFS__ROLE__ROLE_CLIENT,
	};
	rc = gd_client_open(&ccfg, &gw.client);
	if (rc < 0) {
		gd_error("cannot open a session at the meta %s: %s", ccfg.meta_addrs,
			 gd_strerror(rc));
		goto out_config;
	}
	gw.chunk_size = (uint32_t)gd_client_chunk_size(gw.client);
	if (!gd_cred_insecure()) {
		/* API keys: their fields come from the meta (TOKEN_GET, role
		 * gateway), each key's requests go through a session of its own */
		struct gd_meta_client_config mc = {
			.addrs = ccfg.meta_addrs, .role = GODFS__ROLE__ROLE_GATEWAY,
			.host = host, .mountpoint = "godfs-gateway keys",
		};
		rc = gd_meta_client_open(&mc, &gw.keys_meta);
		if (rc < 0) {
			gd_error("cannot open the key session at the meta %s: %s",
				 ccfg.meta_addrs, gd_strerror(rc));
			goto out_client;
		}
		struct gw_auth_config ac = { .keys = gd_cred_keys(), .fetch = gw_auth_fetch_meta,
					     .fetch_ctx = gw.keys_meta };
		struct gw_sessions_config sc = { .meta_addrs = ccfg.meta_addrs, .host = host,
						 .max_sessions = gw.opt.max_sessions };
		if (gw_auth_new(&ac, &gw.auth) < 0 || gw_sessions_new(&sc, &gw.sessions) < 0) {
			gd_error("cannot set up API keys: out of memory");
			goto out_auth;
		}
	} else {
		gd_warn("--insecure: no API keys; every request acts through the gateway's own "
			"session, as root over the whole tree, without a credential");
	}
	if (gw_accesslog_open(&gw, gw.opt.access_log) < 0)
		goto out_auth;
	if (gw.opt.rate_limit > 0 &&
	    gw_ratelimit_new(gw.opt.rate_limit, gw.opt.rate_burst, &gw.rl) < 0)
		goto out_log;
	gw_metrics_init(&gw);
	metrics_listen = gd_config_get(&cfg, "metrics-listen", NULL, NULL);
	if (metrics_listen && *metrics_listen && gd_metrics_serve(metrics_listen, &metrics_http) < 0)
		goto out_rl;   /* gd_metrics_serve said why */
	if (gw_multipart_start(&gw, &cfg) < 0)
		goto out_metrics;
	if (gw_server_start(&gw, &server) < 0)
		goto out_mp;
	if (janitor_s && gw_janitor_start(&gw, janitor_s, gw.opt.put_stale_s, &janitor) < 0)
		goto out_server;
	gd_cred_describe(cred, sizeof(cred));
	gd_info("serving HTTP%s on %s, meta %s, session %" PRIu64 ", presenting %s",
		gw.opt.tls_cert ? "S" : "", gw.opt.listen, ccfg.meta_addrs,
		gd_client_session(gw.client), cred);

	gd_daemon_wait(&sigs);
	ret = 0;

	gw_janitor_stop(janitor);
out_server:
	gw_server_stop(server);
out_mp:
	gw_multipart_stop(&gw);
out_metrics:
	if (metrics_http)
		gd_http_stop(metrics_http);
out_rl:
	gw_ratelimit_free(gw.rl);
out_log:
	gw_accesslog_close(&gw);
out_auth:
	if (gw.sessions)
		gw_sessions_free(gw.sessions);
	gw_auth_free(gw.auth);
	if (gw.keys_meta)
		gd_meta_client_close(gw.keys_meta);
out_client:
	gd_client_close(gw.client);
out_config:
	gd_config_release(&cfg);
	return ret;
}
