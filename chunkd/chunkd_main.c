/* godfs-chunkd: the chunk server (man/godfs-chunkd.8).
 *
 * main() reads the configuration, opens the chunk store, the write pipeline
 * and the RPC server (chunkd_rpc_client_handle on a worker pool, so that the
 * requests of one connection run side by side), starts the meta thread
 * (registration, heartbeats, orders) and waits for SIGTERM or SIGINT; then it
 * stops everything in reverse order and exits 0. */
#include "chunkd_meta.h"
#include "chunkd_metrics.h"
#include "chunkd_pipeline.h"
#include "chunkd_rate.h"
#include "chunkd_rpc_client.h"
#include "chunkd_scrub.h"
#include "chunkd_store.h"

#include "gd_alloc.h"
#include "gd_cap.h"
#include "gd_config.h"
#include "gd_cred.h"
#include "gd_daemon.h"
#include "gd_label.h"
#include "gd_log.h"
#include "gd_log_opts.h"
#include "gd_server.h"
#include "gd_server_opts.h"
#include "gd_status.h"

#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define PROGRAM "godfs-chunkd"
#define DEFAULT_LISTEN "0.0.0.0:8000"
#define DEFAULT_META "127.0.0.1:9090"
#define DEFAULT_WORKERS 16
#define DEFAULT_HEARTBEAT_MS 1000
#define DEFAULT_SCRUB_RATE (16u << 20)
#define DEFAULT_SCRUB_DELAY_MS 60000
#define SCRUB_PASS_PAUSE_MS 60000
/* A copy not written for this long is synced and its header marked clean:
 * after a crash, only copies written in the last few seconds are checked
 * block by block at start (docs/chunkd.md, "On-disk format and crash safety"). */
#define SETTLE_MS 5000
#define RESERVE_MAX (64ull << 20)
#define ADDR_LEN 300
/* Every request body (up to 8 MiB + 1 MiB of protobuf) stays below this, so
 * it comes from the heap rather than from its own mmap. */
#define MALLOC_MMAP_MAX (32 << 20)
/* Freed heap memory is kept up to this much rather than given back. */
#define MALLOC_TRIM_AT (512 << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROGRAM " --data-dir DIR[,DIR...] [options]\n"
		"  --data-dir DIR[,DIR...]  data directories, one per disk (required)\n"
		"  --listen HOST:PORT       RPC address (default " DEFAULT_LISTEN ")\n"
		"  --advertise HOST:PORT    address clients and peers use (default: the listen\n"
		"                           address; 127.0.0.1:PORT when listening on 0.0.0.0)\n"
		"  --meta HOST:PORT[,...]   meta servers (default " DEFAULT_META ")\n"
		"  --label rack=R[,zone=Z]  where this chunkd stands: the meta spreads the copies\n"
		"                           of a chunk over racks and zones (a bare R is the rack)\n"
		"  --heartbeat-ms N         heartbeat period (default 1000)\n"
		"  --workers N              request worker threads (default 16)\n"
		"  --reserve BYTES          free space kept on each data dir (default: 5%% of\n"
		"                           the smallest data dir, at most 64M)\n"
		"  --force-pread            use pread/pwrite, never io_uring\n"
		"  --chunk-format N         format of new chunk copies: 3 (a checksum per\n"
		"                           4 KiB, default) or 2 (per 64 KiB, the old one)\n"
		"  --scrub-rate BYTES       background checksum scan, bytes per second\n"
		"                           (default 16M; 0 = off)\n"
		"  --scrub-delay-ms N       before the first scan (default 60000)\n"
		"  --repl-rate-limit BYTES  re-replication copies this chunkd makes, bytes\n"
		"                           per second (default 0 = no limit)\n"
		"  --cap-skew-ms N          clock skew allowed when checking the expiry of\n"
		"                           chunk capabilities (default 30000; nodes need NTP)\n"
		"  --metrics-listen HOST:PORT  serve /metrics (HTTP, read-only; keep it on a\n"
		"                           private address) (default: off)\n"
		"  --log-level LEVEL        error, warn, info (default) or debug\n"
		GD_LOG_OPTS_USAGE
		"  --config FILE            configuration file (default /etc/godfs/" PROGRAM
		".conf)\n"
		GD_SERVER_OPTS_USAGE
		"authentication (docs/security.md):\n"
		GD_CRED_USAGE_DAEMON);
}

/* The default reserve: 5% of the smallest data dir's file system, at most
 * 64 MiB (a small test file system stays usable, a disk keeps 64 MiB). */
static uint64_t default_reserve(const char *dirs)
{
	uint64_t best = RESERVE_MAX;
	char *copy = gd_strdup(dirs), *save = NULL;

	if (!copy)
		return best;
	for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
		struct statvfs sv;

		if (statvfs(d, &sv) == 0) {
			uint64_t r = (uint64_t)sv.f_blocks * sv.f_frsize / 20;
			if (r < best)
				best = r;
		}
	}
	gd_free(copy);
	return best ? best : 1;
}

/* Picks the advertised address: --advertise, else the listen address with
 * 127.0.0.1 for a wildcard host. */
static int make_advertise(const char *listen, const char *adv, char *out, size_t len)
{
	char host[256];
	int port;

	if (adv && *adv) {
		if (gd_parse_hostport(adv, -1, host, sizeof(host), &port) < 0 || !host[0] ||
		    port == 0) {
			gd_error("--advertise %s: not a HOST:PORT", adv);
			return GD_EINVAL;
		}
		snprintf(out, len, "%s", adv);
		return 0;
	}
	if (gd_parse_hostport(listen, 8000, host, sizeof(host), &port) < 0) {
		gd_error("--listen %s: not a HOST:PORT", listen);
		return GD_EINVAL;
	}
	if (port == 0) {
		gd_error("--listen with port 0 needs --advertise");
		return GD_EINVAL;
	}
	if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 ||
	    strcmp(host, "::") == 0)
		snprintf(out, len, "127.0.0.1:%d", port);
	else if (strchr(host, ':'))
		snprintf(out, len, "[%s]:%d", host, port);
	else
		snprintf(out, len, "%s:%d", host, port);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "advertise", required_argument, NULL, 'a' },
		{ "meta", required_argument, NULL, 'm' },
		{ "label", required_argument, NULL, 'L' },
		{ "heartbeat-ms", required_argument, NULL, 'H' },
		{ "workers", required_argument, NULL, 'w' },
		{ "reserve", required_argument, NULL, 'r' },
		{ "force-pread", no_argument, NULL, 'p' },
		{ "chunk-format", required_argument, NULL, 'F' },
		{ "scrub-rate", required_argument, NULL, 's' },
		{ "scrub-delay-ms", required_argument, NULL, 'S' },
		{ "cap-skew-ms", required_argument, NULL, 'K' },
		{ "repl-rate-limit", required_argument, NULL, 'R' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "log-level", required_argument, NULL, 'v' },
		GD_LOG_OPTS_LONGOPTS,
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		GD_SERVER_OPTS_LONGOPTS,
		GD_CRED_DAEMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct gd_server_limits limits;
	struct chunkd_meta *meta = NULL;
	struct chunkd_store *store = NULL;
	struct chunkd_pipeline *pipe = NULL;
	struct gd_server *server = NULL;
	struct gd_http *http = NULL;
	struct chunkd_scrub *scrub = NULL;
	struct chunkd_rpc rpc;
	static const struct gd_daemon self = { PROGRAM, opts, usage };
	struct gd_config cfg;
	const char *data_dirs, *listen, *meta_addrs, *label;
	struct gd_label parsed_label;
	char advertise[ADDR_LEN];
	long heartbeat_ms, workers, scrub_delay_ms, cap_skew_ms, chunk_format;
	uint64_t reserve, scrub_rate, repl_rate_limit;
	struct chunkd_rate repl_rate;
	int force_pread, rc, ret = 1, served = 0;
	sigset_t sigs;

	/* Each write arrives in a fresh 1 MiB buffer: with glibc's defaults the
	 * freed buffers go back to the kernel and every new one costs 256 page
	 * faults, which on a VM halved the pipeline's throughput (measured:
	 * chain of 3, 8 writes in flight, ~100 -> ~200 MiB/s). */
	mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_MAX);
	mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_AT);
	if (!gd_daemon_init(&self, argc, argv, &cfg, &ret))
		goto out_config;
	data_dirs = gd_config_get(&cfg, "data-dir", NULL, NULL);
	if (!data_dirs || !*data_dirs) {
		gd_error("--data-dir is required");
		usage(stderr);
		ret = 2;
		goto out_config;
	}
	listen = gd_config_get(&cfg, "listen", NULL, DEFAULT_LISTEN);
	meta_addrs = gd_config_get(&cfg, "meta", NULL, DEFAULT_META);
	label = gd_config_get(&cfg, "label", NULL, "");
	if (gd_label_parse(label, &parsed_label) != 0) {
		gd_error("--label %.300s: use rack=NAME[,zone=NAME], names of letters, digits,"
			 " '.', '_', '-' (at most %d bytes each)", label, GD_LABEL_VALUE_MAX);
		ret = 2;
		goto out_config;
	}
	if (gd_config_get_int(&cfg, "heartbeat-ms", NULL, DEFAULT_HEARTBEAT_MS, 10, 600000,
			      &heartbeat_ms) < 0 ||
	    gd_config_get_int(&cfg, "workers", NULL, DEFAULT_WORKERS, 1, 1024, &workers) < 0 ||
	    gd_config_get_bool(&cfg, "force-pread", NULL, 0, &force_pread) < 0 ||
	    gd_config_get_int(&cfg, "chunk-format", NULL, CHUNKD_FORMAT_VERSION, 2,
			      CHUNKD_FORMAT_VERSION, &chunk_format) < 0 ||
	    gd_config_get_u64(&cfg, "reserve", NULL, 0, &reserve) < 0 ||
	    gd_config_get_u64(&cfg, "scrub-rate", NULL, DEFAULT_SCRUB_RATE, &scrub_rate) < 0 ||
	    gd_config_get_u64(&cfg, "repl-rate-limit", NULL, 0, &repl_rate_limit) < 0 ||
	    gd_config_get_int(&cfg, "scrub-delay-ms", NULL, DEFAULT_SCRUB_DELAY_MS, 0,
			      86400000L, &scrub_delay_ms) < 0 ||
	    gd_server_opts_read(&cfg, &limits) < 0 ||
	    gd_config_get_int(&cfg, "cap-skew-ms", NULL, GD_CAP_SKEW_MS, 0, 3600000L,
			      &cap_skew_ms) < 0) {
		ret = 2;
		goto out_config;
	}
	if (make_advertise(listen, gd_config_get(&cfg, "advertise", NULL, NULL), advertise,
			   sizeof(advertise)) < 0) {
		ret = 2;
		goto out_config;
	}

	/* Every thread started from here on inherits the mask: only
	 * gd_daemon_wait below sees SIGTERM and SIGINT. */
	gd_daemon_signals(&sigs);

	struct chunkd_meta_config mcfg = {
		.meta_addrs = meta_addrs,
		.advertise = advertise,
		.label = label,
		.heartbeat_ms = (int)heartbeat_ms,
	};
	rc = chunkd_meta_create(&mcfg, &meta);
	if (rc < 0) {
		gd_error("cannot set up the meta link: %s", gd_strerror(rc));
		goto out_config;
	}
	if (reserve == 0)
		reserve = default_reserve(data_dirs);
	struct chunkd_store_opts so = {
		.data_dirs = data_dirs,
		.force_pread = force_pread,
		.new_format = (unsigned)chunk_format,
		.reserve_bytes = reserve,
		.settle_ms = SETTLE_MS,
		.on_corrupt = chunkd_meta_report_bad,
		.ctx = meta,
	};
	rc = chunkd_store_open(&so, &store);
	if (rc < 0)
		goto out_meta;   /* the store said why */
	chunkd_rate_init(&repl_rate, repl_rate_limit, chunkd_rate_clock_ns());
	if (repl_rate_limit)
		gd_info("re-replication copies limited to %" PRIu64 " bytes per second",
			repl_rate_limit);
	struct chunkd_pipeline_config pc = { .store = store, .self = advertise,
					     .repl_rate = &repl_rate };
	rc = chunkd_pipeline_create(&pc, &pipe);
	if (rc < 0) {
		gd_error("cannot set up the write pipeline: %s", gd_strerror(rc));
		goto out_rate;
	}
	/* With the cluster key, every data request needs a chunk capability
	 * signed by the meta; --insecure turns the check off with the rest. */
	rpc = (struct chunkd_rpc){
		.store = store,
		.pipe = pipe,
		.cap_keys = gd_cred_insecure() ? NULL : gd_cred_keys(),
		.cap_skew_ms = (uint32_t)cap_skew_ms,
	};
	if (!rpc.cap_keys)
		gd_warn("chunk capabilities are not checked (%s): anyone who reaches this "
			"chunkd may read, write and delete any chunk",
			gd_cred_insecure() ? "--insecure" : "no cluster key");
	/* The process's policy (gd_cred_setup above), and client tokens: a
	 * token mount reads and writes here too. A token is checked by its MAC
	 * under the cluster key and its expiry (no table here: the meta keeps
	 * the revocations, and what a client may touch is the meta's to say). */
	struct gd_auth_policy auth = *gd_cred_policy();
	auth.tokens = true;
	struct gd_server_config sc = {
		.listen = listen,
		.handler = chunkd_rpc_client_handle,
		.ctx = &rpc,
		.serves = GD_SERVE_CHUNKD,
		.workers = (int)workers,
		.limits = limits,
		.auth = &auth,  /* outlives the server: both live until main returns */
		.auth_timeout_ms = gd_cred_auth_timeout_ms(),
	};
	rc = chunkd_metrics_start(store, gd_config_get(&cfg, "metrics-listen", NULL, NULL), &http);
	if (rc < 0)
		goto out_pipe;   /* gd_http said why */
	rc = gd_server_start(&sc, &server);
	if (rc < 0)
		goto out_pipe;   /* gd_server said why */
	rc = chunkd_meta_start(meta, store, pipe);
	if (rc < 0) {
		gd_error("cannot start the meta thread: %s", gd_strerror(rc));
		goto out_server;
	}
	struct chunkd_scrub_config scfg = {
		.store = store, .rate_bytes = scrub_rate,
		.start_delay_ms = (int)scrub_delay_ms, .pass_pause_ms = SCRUB_PASS_PAUSE_MS,
	};
	rc = chunkd_scrub_start(&scfg, &scrub);
	if (rc < 0) {
		gd_error("cannot start the scrubber: %s", gd_strerror(rc));
		goto out_server;
	}
	gd_info("node %s serving on %s (advertised as %s), %" PRIu64 " chunks, meta %s, "
		"%s I/O, %ld workers, reserve %" PRIu64 " bytes",
		chunkd_store_node_id(store), listen, advertise, chunkd_store_count(store),
		meta_addrs, chunkd_store_uring_active(store) ? "io_uring" : "pread/pwrite",
		workers, reserve);

	gd_daemon_wait(&sigs);
	ret = 0;
	served = 1;

out_server:
	gd_server_stop(server);
	/* The scrubber reads the store and reports through the meta thread. */
	chunkd_scrub_stop(scrub);
out_pipe:
	/* It reads the store. */
	gd_http_stop(http);
	/* The meta thread's orders use the pipeline: stop it first. */
	chunkd_meta_destroy(meta);
	meta = NULL;
	chunkd_pipeline_destroy(pipe);
out_rate:
	chunkd_rate_destroy(&repl_rate);
	chunkd_store_close(store);
out_meta:
	chunkd_meta_destroy(meta);
out_config:
	gd_config_release(&cfg);
	if (served)
		gd_info("stopped");
	return ret;
}
