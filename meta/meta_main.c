/* godfs-meta: reads the options (man/godfs-meta.8) through gd_config (flag >
 * GODFS_* environment > /etc/godfs/godfs-meta.conf > default), prepares the
 * data directory and runs the daemon (meta_server.c) until SIGTERM/SIGINT.
 * Only this file exits: 0 after a clean stop, 1 when the daemon cannot start
 * (bad option, data directory, port in use, a full disk) or stopped on an
 * error (a leader that cannot write its log: fail-stop). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_config.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_log_opts.h"
#include "gd_server_opts.h"
#include "gd_status.h"
#include "meta_ns.h"
#include "meta_server.h"

#define PROGRAM "godfs-meta"
#define DEFAULT_LISTEN "0.0.0.0:9090"
#define DEFAULT_RAFT_LISTEN "127.0.0.1:9091"
#define CHUNK_SIZE_UNIT (64u << 10)
#define CHUNK_SIZE_MAX (64u << 20)
#define MAX_PEERS 9
#define RAFT_SEGMENT_UNIT (64u << 10)

static const struct option meta_opts[] = {
	{ "data-dir", required_argument, NULL, 'd' },
	{ "listen", required_argument, NULL, 'l' },
	{ "raft-listen", required_argument, NULL, 'r' },
	{ "node-id", required_argument, NULL, 'n' },
	{ "chunk-size", required_argument, NULL, 'c' },
	{ "default-goal", required_argument, NULL, 'g' },
	{ "peers", required_argument, NULL, 'p' },
	{ "session-timeout-ms", required_argument, NULL, 1001 },
	{ "lease-ms", required_argument, NULL, 1002 },
	{ "node-dead-ms", required_argument, NULL, 1003 },
	{ "grace-ms", required_argument, NULL, 1004 },
	{ "snapshot-threshold", required_argument, NULL, 1005 },
	{ "snapshot-trailing", required_argument, NULL, 1006 },
	{ "raft-segment-size", required_argument, NULL, 1010 },
	{ "cap-lifetime-ms", required_argument, NULL, 1007 },
	{ "join", no_argument, NULL, 1008 },
	{ "repl-max-per-node", required_argument, NULL, 1009 },
	{ "rebalance-threshold", required_argument, NULL, 1020 },
	{ "rebalance-rate", required_argument, NULL, 1021 },
	{ "metrics-listen", required_argument, NULL, 1030 },
	{ "log-level", required_argument, NULL, 'L' },
	GD_LOG_OPTS_LONGOPTS,
	{ "config", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	GD_SERVER_OPTS_LONGOPTS,
	GD_CRED_DAEMON_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static void meta_usage(FILE *f)
{
	fprintf(f,
		"usage: " PROGRAM " --data-dir DIR [options]\n"
		"  --data-dir DIR              Raft log, snapshots, format (created when missing)\n"
		"  --listen HOST:PORT          client and chunkd RPC (default " DEFAULT_LISTEN ")\n"
		"  --raft-listen HOST:PORT     Raft transport (default: this node's --peers entry,\n"
		"                              else " DEFAULT_RAFT_LISTEN ")\n"
		"  --node-id N                 Raft id of this node (default 1)\n"
		"  --chunk-size BYTES          chunk size at format time (default 64M; a multiple\n"
		"                              of 64K, at most 64M)\n"
		"  --default-goal N            root goal at format time (default 3, 1..16)\n"
		"  --peers ID@RAFT[@CLIENT],.. the voters of a new cluster (default: this node alone)\n"
		"  --join                      a new voter for a live cluster: start empty, do not\n"
		"                              bootstrap, wait for `godfs-admin masters add`\n"
		"  --session-timeout-ms N      a client session not renewed expires (default 60000)\n"
		"  --lease-ms N                write lease length (default 30000)\n"
		"  --node-dead-ms N            a silent chunkd is dead after (default 6000)\n"
		"  --grace-ms N                after a leader starts: no expiry (default 10000)\n"
		"  --snapshot-threshold N      entries between snapshots (default 8192)\n"
		"  --snapshot-trailing N       entries kept after a snapshot (default 4096)\n"
		"  --rebalance-threshold PCT   move copies off a disk whose used space is more\n"
		"                              than PCT points from the mean (default 10; 0 = never)\n"
		"  --rebalance-rate N          copies moved per second for disk balance and labels\n"
		"                              (default 4; 0 = none; drains are not limited by it)\n"
		"  --raft-segment-size BYTES   Raft log segment files, preallocated (default\n"
		"                              libraft's 8M; a multiple of 64K)\n"
		"  --cap-lifetime-ms N         chunk capabilities of locations last this long,\n"
		"                              those of leases the lease plus up to 60 s\n"
		"                              (default 300000)\n"
		"  --repl-max-per-node N       re-replication copies on their way to one chunkd\n"
		"                              at most (default 32; its rate limit is the\n"
		"                              chunkd's --repl-rate-limit)\n"
		"  --metrics-listen HOST:PORT  serve /metrics, /status (HTTP, read-only; keep it\n"
		"                              on a private address) (default: off)\n"
		"  --log-level LEVEL           error, warn, info (default) or debug\n"
		"  --log-format FORMAT         text (default) or json: one JSON object a line\n"
		"  --config FILE               configuration file (default /etc/godfs/" PROGRAM ".conf)\n"
		GD_SERVER_OPTS_USAGE
		"authentication (docs/security.md):\n"
		GD_CRED_USAGE_DAEMON
		"See godfs-meta(8).\n");
}

/* Reads an unsigned option in [min, max] (size suffixes allowed). */
static int get_u64(const struct gd_config *cfg, const char *name, uint64_t def,
		   uint64_t min, uint64_t max, uint64_t *out)
{
	if (gd_config_get_u64(cfg, name, NULL, def, out) < 0)
		return GD_EINVAL;
	if (*out < min || *out > max) {
		fprintf(stderr, PROGRAM ": --%s %" PRIu64 " is outside %" PRIu64 "..%" PRIu64 "\n",
			name, *out, min, max);
		return GD_EINVAL;
	}
	return 0;
}

static int get_u32(const struct gd_config *cfg, const char *name, uint32_t def,
		   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int rc = get_u64(cfg, name, def, min, max, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

static void free_peers(struct meta_raft_peer *peers, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		gd_free(peers[i].raft_addr);
		gd_free(peers[i].client_addr);
	}
	gd_free(peers);
}

/* Checks one HOST:PORT of --peers (port required). */
static int check_addr(const char *addr, const char *what, const char *entry)
{
	char host[256];
	int port;

	if (gd_parse_hostport(addr, -1, host, sizeof(host), &port) < 0 || host[0] == '\0' ||
	    port == 0) {
		fprintf(stderr, PROGRAM ": --peers entry \"%s\": bad %s address \"%s\" (HOST:PORT)\n",
			entry, what, addr);
		return GD_EINVAL;
	}
	return 0;
}

/* Parses --peers "ID@RAFTHOST:PORT[@CLIENTHOST:PORT],...". */
static int parse_peers(const char *s, struct meta_raft_peer **out, size_t *n_out)
{
	struct meta_raft_peer *peers;
	char *copy, *save = NULL, *tok;
	size_t n = 0, i;
	int rc = 0;

	copy = gd_strdup(s);
	peers = gd_calloc(MAX_PEERS, sizeof(*peers));
	if (copy == NULL || peers == NULL) {
		gd_free(copy);
		gd_free(peers);
		return GD_ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *raft, *client, *end;
		char entry[256];
		unsigned long long id;

		if (n == MAX_PEERS) {
			fprintf(stderr, PROGRAM ": --peers: at most %d voters\n", MAX_PEERS);
			rc = GD_EINVAL;
			break;
		}
		snprintf(entry, sizeof(entry), "%s", tok);
		raft = strchr(tok, '@');
		if (raft == NULL) {
			fprintf(stderr, PROGRAM ": --peers entry \"%s\" is not ID@RAFT[@CLIENT]\n", tok);
			rc = GD_EINVAL;
			break;
		}
		*raft++ = '\0';
		client = strchr(raft, '@');
		if (client != NULL)
			*client++ = '\0';
		errno = 0;
		id = strtoull(tok, &end, 10);
		if (errno != 0 || end == tok || *end != '\0' || id == 0 || tok[0] == '-') {
			fprintf(stderr, PROGRAM ": --peers: bad node id \"%s\" (1, 2, ...)\n", tok);
			rc = GD_EINVAL;
			break;
		}
		for (i = 0; i < n; i++) {
			if (peers[i].id == id) {
				fprintf(stderr, PROGRAM ": --peers: node id %llu twice\n", id);
				rc = GD_EINVAL;
			}
		}
		if (rc == 0)
			rc = check_addr(raft, "Raft", entry);
		if (rc == 0 && client != NULL)
			rc = check_addr(client, "client", entry);
		if (rc != 0)
			break;
		peers[n].id = id;
		peers[n].raft_addr = gd_strdup(raft);
		peers[n].client_addr = client != NULL ? gd_strdup(client) : NULL;
		n++;
		if (peers[n - 1].raft_addr == NULL || (client != NULL && peers[n - 1].client_addr == NULL))
			rc = GD_ENOMEM;
	}
	gd_free(copy);
	if (rc == 0 && n == 0) {
		fprintf(stderr, PROGRAM ": --peers is empty\n");
		rc = GD_EINVAL;
	}
	if (rc != 0) {
		free_peers(peers, n);
		return rc;
	}
	*out = peers;
	*n_out = n;
	return 0;
}

/* mkdir -p for one level, with a message. */
static int make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	fprintf(stderr, PROGRAM ": cannot create the directory %s: %s\n", path,
		errno == EEXIST ? "a file of that name exists" : strerror(errno));
	return GD_EIO;
}

/* Reads every option into opt; 0 or GD_EINVAL (the reason is printed). */
static int read_options(struct gd_config *cfg, struct meta_options *opt, char **raft_listen_buf)
{
	const char *v;
	uint64_t u;
	size_t i;

	memset(opt, 0, sizeof(*opt));
	opt->data_dir = gd_config_get(cfg, "data-dir", NULL, NULL);
	if (opt->data_dir == NULL || opt->data_dir[0] == '\0') {
		fprintf(stderr, PROGRAM ": --data-dir is required\n");
		return GD_EINVAL;
	}
	opt->listen = gd_config_get(cfg, "listen", NULL, DEFAULT_LISTEN);
	if (get_u64(cfg, "node-id", 1, 1, UINT64_MAX, &opt->node_id) < 0)
		return GD_EINVAL;
	/* Chunk size and goal stay 0 when not given, so that a formatted data
	 * directory's own values are used without a warning. */
	if (gd_config_get(cfg, "chunk-size", NULL, NULL) != NULL &&
	    get_u64(cfg, "chunk-size", CHUNK_SIZE_MAX, CHUNK_SIZE_UNIT, CHUNK_SIZE_MAX,
		    &opt->chunk_size) < 0)
		return GD_EINVAL;
	if (opt->chunk_size % CHUNK_SIZE_UNIT != 0) {
		fprintf(stderr, PROGRAM ": --chunk-size %" PRIu64 " is not a multiple of 64K\n",
			opt->chunk_size);
		return GD_EINVAL;
	}
	if ((gd_config_get(cfg, "default-goal", NULL, NULL) != NULL &&
	     get_u32(cfg, "default-goal", 3, 1, META_NS_GOAL_MAX, &opt->default_goal) < 0) ||
	    get_u32(cfg, "session-timeout-ms", 60000, 1000, 86400000, &opt->session_timeout_ms) < 0 ||
	    get_u32(cfg, "lease-ms", 30000, 1000, 3600000, &opt->lease_ms) < 0 ||
	    get_u32(cfg, "node-dead-ms", 6000, 500, 3600000, &opt->node_dead_ms) < 0 ||
	    get_u32(cfg, "grace-ms", 10000, 0, 3600000, &opt->grace_ms) < 0 ||
	    get_u32(cfg, "cap-lifetime-ms", 300000, 1000, 3600000, &opt->cap_lifetime_ms) < 0 ||
	    get_u32(cfg, "repl-max-per-node", 32, 1, 4096, &opt->repl_max_per_node) < 0 ||
	    get_u32(cfg, "rebalance-threshold", 10, 0, 100, &opt->rebalance_pct) < 0 ||
	    get_u32(cfg, "rebalance-rate", 4, 0, 1000, &opt->rebalance_rate) < 0)
		return GD_EINVAL;
	if (get_u64(cfg, "snapshot-threshold", 8192, 16, 1u << 30, &u) < 0)
		return GD_EINVAL;
	opt->snapshot_threshold = (unsigned)u;
	if (get_u64(cfg, "snapshot-trailing", 4096, 0, 1u << 30, &u) < 0)
		return GD_EINVAL;
	opt->snapshot_trailing = (unsigned)u;
	/* libraft preallocates each open segment at this size: a small disk
	 * (or a test filling one) needs smaller ones than its 8 MiB. */
	if (gd_config_get(cfg, "raft-segment-size", NULL, NULL) != NULL) {
		if (get_u64(cfg, "raft-segment-size", 0, RAFT_SEGMENT_UNIT, 1u << 30, &u) < 0)
			return GD_EINVAL;
		if (u % RAFT_SEGMENT_UNIT != 0) {
			fprintf(stderr, PROGRAM ": --raft-segment-size %" PRIu64
				" is not a multiple of %u\n", u, RAFT_SEGMENT_UNIT);
			return GD_EINVAL;
		}
		opt->raft_segment_size = (size_t)u;
	}
	if (gd_server_opts_read(cfg, &opt->limits) < 0)
		return GD_EINVAL;

	{
		int join = 0;

		if (gd_config_get_bool(cfg, "join", NULL, 0, &join) < 0)
			return GD_EINVAL;
		opt->join = join != 0;
	}
	v = gd_config_get(cfg, "peers", NULL, NULL);
	if (v != NULL && v[0] != '\0') {
		bool self = false;

		if (parse_peers(v, &opt->peers, &opt->n_peers) < 0)
			return GD_EINVAL;
		for (i = 0; i < opt->n_peers; i++) {
			if (opt->peers[i].id == opt->node_id) {
				self = true;
				*raft_listen_buf = gd_strdup(opt->peers[i].raft_addr);
			}
		}
		if (!self) {
			fprintf(stderr, PROGRAM ": --peers does not name this node (--node-id %" PRIu64
				")\n", opt->node_id);
			return GD_EINVAL;
		}
	}
	opt->raft_listen = gd_config_get(cfg, "raft-listen", NULL,
					 *raft_listen_buf != NULL ? *raft_listen_buf
								  : DEFAULT_RAFT_LISTEN);
	{
		char host[256];
		int port;

		if (gd_parse_hostport(opt->listen, -1, host, sizeof(host), &port) < 0) {
			fprintf(stderr, PROGRAM ": --listen \"%s\" is not HOST:PORT\n", opt->listen);
			return GD_EINVAL;
		}
		opt->metrics_listen = gd_config_get(cfg, "metrics-listen", NULL, NULL);
		if (opt->metrics_listen != NULL && opt->metrics_listen[0] == '\0')
			opt->metrics_listen = NULL;
		if (opt->metrics_listen != NULL &&
		    gd_parse_hostport(opt->metrics_listen, -1, host, sizeof(host), &port) < 0) {
			fprintf(stderr, PROGRAM ": --metrics-listen \"%s\" is not HOST:PORT\n",
				opt->metrics_listen);
			return GD_EINVAL;
		}
		if (gd_parse_hostport(opt->raft_listen, -1, host, sizeof(host), &port) < 0 ||
		    host[0] == '\0' || port == 0) {
			fprintf(stderr, PROGRAM ": --raft-listen \"%s\" is not HOST:PORT\n",
				opt->raft_listen);
			return GD_EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct gd_config cfg;
	struct meta_options opt;
	char *raft_listen_buf = NULL;
	char raft_dir[PATH_MAX];
	int c, rc, status = 1;

	signal(SIGPIPE, SIG_IGN);
	gd_log_init(PROGRAM, NULL);
	gd_config_init(&cfg);
	memset(&opt, 0, sizeof(opt));
	while ((c = getopt_long(argc, argv, "h", meta_opts, NULL)) != -1) {
		if (c == 'h') {
			meta_usage(stdout);
			status = 0;
			goto out;
		}
		if (c == '?' || gd_config_getopt(&cfg, meta_opts, c, optarg) < 0) {
			meta_usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROGRAM ": unexpected argument \"%s\"\n", argv[optind]);
		meta_usage(stderr);
		goto out;
	}
	if (gd_config_load(&cfg, PROGRAM, gd_config_get(&cfg, "config", NULL, NULL)) < 0) {
		fprintf(stderr, PROGRAM ": cannot read the configuration file\n");
		goto out;
	}
	if (gd_log_opts_read(&cfg, PROGRAM, "info") < 0)
		goto out;
	/* Before anything listens: no key, no daemon (unless --insecure). */
	if (gd_cred_setup(&cfg, GD_CRED_DAEMON) < 0) {
		fprintf(stderr, PROGRAM ": not started: see the message above\n");
		goto out;
	}
	if (read_options(&cfg, &opt, &raft_listen_buf) < 0)
		goto out;
	if ((size_t)snprintf(raft_dir, sizeof(raft_dir), "%s/raft", opt.data_dir) >=
	    sizeof(raft_dir)) {
		fprintf(stderr, PROGRAM ": --data-dir is too long\n");
		goto out;
	}
	if (make_dir(opt.data_dir) < 0 || make_dir(raft_dir) < 0)
		goto out;
	rc = meta_server_run(&opt);
	if (rc == 0)
		status = 0;
	else
		fprintf(stderr, PROGRAM ": cannot start or stopped on an error: %s (see the log above)\n",
			gd_strerror(rc));
out:
	free_peers(opt.peers, opt.n_peers);
	gd_free(raft_listen_buf);
	gd_config_release(&cfg);
	return status;
}
