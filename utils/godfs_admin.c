/* godfs-admin: the operator's command line over the meta's RPCs.
 *
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] status [--json]
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] nodes ... (godfs_admin_nodes.h)
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] chunks [--json]
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] chunks --placement [--json]
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] placement [--json] (the same)
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] goal PATH [N]
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] token ... (godfs_admin_token.h)
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] apikey ... (godfs_admin_apikey.h)
 *   godfs-admin [--meta HOST:PORT[,...]] [--timeout SEC] masters ... (godfs_admin_masters.h)
 *   godfs-admin key generate PATH
 *
 * It opens an admin session (gd_meta_client, role ROLE_ADMIN: it follows the
 * leader on its own), makes one or two calls and prints the answer for a human
 * or, with --json, for a script. It proves itself with the cluster key
 * (--key-file, gd_cred). Exit codes, in one place (admin_exit):
 * 0 success, 1 an error from the cluster (or no cluster), 2 a usage error. */
#include "gd_alloc.h"
#include "gd_config.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_log_opts.h"
#include "gd_meta_client.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "godfs_admin_chunks.h"
#include "godfs_admin_fmt.h"
#include "godfs_admin_masters.h"
#include "godfs_admin_nodes.h"
#include "godfs_admin_token.h"
#include "godfs_admin_apikey.h"
#include "proto/wire.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_DEFAULT_META "127.0.0.1:9090"
#define ADMIN_ROOT_INO 1
#define ADMIN_MAX_GOAL 16 /* the meta refuses more (META_NS_GOAL_MAX) */
#define ADMIN_MAX_DEPTH 4096

enum admin_exit { ADMIN_OK = 0, ADMIN_ERR_CLUSTER = 1, ADMIN_ERR_USAGE = 2 };

/* What one run was asked to do. */
struct admin {
	struct gd_meta_client *meta;
	const char *addrs;
	int json;
};

static void admin_usage(FILE *f)
{
	fprintf(f,
		"usage: godfs-admin [--meta HOST:PORT[,HOST:PORT...]] [--timeout SEC]\n"
		"                   [--key-file PATH] [--insecure] [--request-id ID]\n"
		"                   [--log-format text|json] COMMAND\n"
		"commands:\n"
		"  status [--json]     the meta: leader, Raft index and term, inodes, chunks,\n"
		"                      sessions, chunks under their goal and why, copies\n"
		"                      being made\n"
		"  goal PATH [N]       show (or set to N) the replication goal of PATH,\n"
		"                      a path from the root of the file system or on a\n"
		"                      local godfs mount (/mnt/godfs/dir)\n"
		"  key generate PATH   create a new cluster key file (mode 0600; refuses to\n"
		"                      overwrite one) to copy to every node\n");
	admin_nodes_usage(f);
	admin_chunks_usage(f);
	admin_token_usage(f);
	admin_apikey_usage(f);
	admin_masters_usage(f);
	fprintf(f,
		"options:\n"
		"  --request-id ID          send ID (1..64 of A-Z a-z 0-9 . _ : -) with every\n"
		"                           request, to find them in the daemons' logs\n"
		GD_LOG_OPTS_USAGE
		GD_CRED_USAGE_CLIENT
		"The meta address also comes from GODFS_META or meta = ... in\n"
		"/etc/godfs/godfs-admin.conf (default " ADMIN_DEFAULT_META "), the key file\n"
		"from GODFS_KEY_FILE or key-file = ... there.\n"
		"Exit status: 0 success, 1 error from the cluster, 2 usage error.\n");
}

/* Prints s as a JSON string (quotes included), escaping what JSON requires. */
void admin_json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* Reports a failed call once, with what was being done. */
static int admin_fail(const char *what, int rc)
{
	fprintf(stderr, "godfs-admin: %s: %s\n", what, gd_strerror(rc));
	return ADMIN_ERR_CLUSTER;
}

/* One M_ADMIN_STATUS call; *out is freed by the caller. */
static int admin_fetch_status(struct admin *a, Godfs__AdminStatusResp **out)
{
	Godfs__AdminStatus req = GODFS__ADMIN_STATUS__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.has_verbose = 1;
	req.verbose = 1;
	rc = gd_meta_call(a->meta, GODFS__METHOD__M_ADMIN_STATUS, &req.base,
			  &godfs__admin_status_resp__descriptor, &resp);
	if (rc < 0) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return rc;
	}
	*out = (Godfs__AdminStatusResp *)resp;
	return 0;
}

static size_t admin_alive_nodes(const Godfs__AdminStatusResp *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		n += s->nodes[i]->alive ? 1 : 0;
	return n;
}

static int admin_cmd_status(struct admin *a)
{
	Godfs__AdminStatusResp *s = NULL;
	const char *leader;
	char cur[300];
	int rc;

	rc = admin_fetch_status(a, &s);
	if (rc < 0)
		return admin_fail("status", rc);
	/* A leader that answered may name itself; otherwise it is the address
	 * the session ended up on (the leader it followed). */
	gd_meta_client_address(a->meta, cur, sizeof(cur));
	leader = s->leader && s->leader[0] ? s->leader : cur[0] ? cur : a->addrs;
	if (a->json) {
		printf("{\"leader\":");
		admin_json_str(leader);
		printf(",\"raft_index\":%" PRIu64 ",\"raft_term\":%" PRIu64
		       ",\"inodes\":%" PRIu64 ",\"chunks\":%" PRIu64
		       ",\"under_goal\":%" PRIu64 ",\"sessions\":%" PRIu64
		       ",\"chunk_servers\":%zu,\"chunk_servers_alive\":%zu"
		       ",\"repl_pending\":%" PRIu64 ",\"repl_done\":%" PRIu64
		       ",\"repl_failed\":%" PRIu64 ",\"repl_last_error\":",
		       s->raft_index, s->raft_term, s->inodes, s->chunks,
		       s->under_goal, s->sessions, s->n_nodes, admin_alive_nodes(s),
		       s->repl_pending, s->repl_done, s->repl_failed);
		admin_json_str(s->repl_last_error ? s->repl_last_error : "");
		printf(",\"under_goal_why\":[");
		for (size_t i = 0; i < s->n_under_goal_why; i++) {
			printf(i ? "," : "");
			admin_json_str(s->under_goal_why[i]);
		}
		printf("]}\n");
	} else {
		printf("leader         %s\n", leader);
		printf("raft           index %" PRIu64 ", term %" PRIu64 "\n",
		       s->raft_index, s->raft_term);
		printf("inodes         %" PRIu64 "\n", s->inodes);
		printf("chunks         %" PRIu64 " (%" PRIu64 " under goal)\n",
		       s->chunks, s->under_goal);
		printf("sessions       %" PRIu64 "\n", s->sessions);
		printf("chunk servers  %zu (%zu alive)\n", s->n_nodes, admin_alive_nodes(s));
		printf("replication    %" PRIu64 " copying, %" PRIu64 " done, %" PRIu64
		       " not confirmed in time\n", s->repl_pending, s->repl_done, s->repl_failed);
		if (s->repl_last_error && s->repl_last_error[0])
			printf("last failure   %s\n", s->repl_last_error);
		for (size_t i = 0; i < s->n_under_goal_why; i++)
			printf("under goal     %s\n", s->under_goal_why[i]);
	}
	protobuf_c_message_free_unpacked(&s->base, NULL);
	return ADMIN_OK;
}

/* One M_LOOKUP of name in parent; *attr is freed by the caller. */
static int admin_lookup(struct admin *a, uint64_t parent, const char *name,
			Godfs__AttrResp **out)
{
	Godfs__Lookup req = GODFS__LOOKUP__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.has_parent = 1;
	req.parent = parent;
	req.name = (char *)name;
	rc = gd_meta_call(a->meta, GODFS__METHOD__M_LOOKUP, &req.base,
			  &godfs__attr_resp__descriptor, &resp);
	if (rc == 0 && !((Godfs__AttrResp *)resp)->attr)
		rc = GD_EPROTO;
	if (rc < 0) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return rc;
	}
	*out = (Godfs__AttrResp *)resp;
	return 0;
}

/* M_GETATTR of an inode (for the root, which has no name). */
static int admin_getattr(struct admin *a, uint64_t ino, Godfs__AttrResp **out)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.has_ino = 1;
	req.ino = ino;
	rc = gd_meta_call(a->meta, GODFS__METHOD__M_GETATTR, &req.base,
			  &godfs__attr_resp__descriptor, &resp);
	if (rc == 0 && !((Godfs__AttrResp *)resp)->attr)
		rc = GD_EPROTO;
	if (rc < 0) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return rc;
	}
	*out = (Godfs__AttrResp *)resp;
	return 0;
}

/* Resolves path (from the root of the file system, symlinks not followed)
 * to its attributes, component by component with M_LOOKUP from inode 1.
 * ".." goes back up the path walked so far (never above the root). */
static int admin_resolve(struct admin *a, const char *path, Godfs__AttrResp **out)
{
	uint64_t stack[ADMIN_MAX_DEPTH];
	size_t depth = 0;
	Godfs__AttrResp *cur = NULL;
	char *copy, *save = NULL, *name;
	int rc = 0;

	copy = gd_strdup(path);
	if (!copy)
		return GD_ENOMEM;
	stack[depth++] = ADMIN_ROOT_INO;
	for (name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if (depth > 1)
				depth--;
			continue;
		}
		if (depth == ADMIN_MAX_DEPTH) {
			rc = GD_ENAMETOOLONG;
			goto out_free_copy;
		}
		if (cur)
			protobuf_c_message_free_unpacked(&cur->base, NULL);
		cur = NULL;
		rc = admin_lookup(a, stack[depth - 1], name, &cur);
		if (rc < 0)
			goto out_free_copy;
		stack[depth++] = cur->attr->ino;
	}
	/* The walk ended on a ".." or at the root: fetch that inode itself. */
	if (!cur || cur->attr->ino != stack[depth - 1]) {
		if (cur)
			protobuf_c_message_free_unpacked(&cur->base, NULL);
		cur = NULL;
		rc = admin_getattr(a, stack[depth - 1], &cur);
		if (rc < 0)
			goto out_free_copy;
	}
	*out = cur;
	cur = NULL;
out_free_copy:
	if (cur)
		protobuf_c_message_free_unpacked(&cur->base, NULL);
	gd_free(copy);
	return rc;
}

/* An operator naturally names a file by where it is mounted
 * (/mnt/godfs/dir): when path lies on a local godfs mount (fuse.godfs in
 * /proc/self/mounts, the longest matching mount point), rewrites it as a path
 * from the root of the file system (the mount's /SUBDIR + the rest) into
 * fs_path and puts the mount's meta address ("HOST:PORT[,...]", its spec
 * without the subdir) in meta_addr. Returns 1 when it did, 0 when path is not
 * on a godfs mount (fs_path = path), or GD_ENAMETOOLONG. */
static int admin_mount_path(const char *path, char *fs_path, size_t cap, char *meta_addr,
			    size_t meta_cap)
{
	char real[PATH_MAX];
	char best_dir[PATH_MAX] = "";
	char best_spec[PATH_MAX] = "";
	size_t best_len = 0;
	struct mntent *me;
	FILE *mf;

	if (snprintf(fs_path, cap, "%s", path) >= (int)cap)
		return GD_ENAMETOOLONG;
	if (path[0] != '/' || !realpath(path, real))
		return 0;
	mf = setmntent("/proc/self/mounts", "r");
	if (!mf)
		return 0;
	while ((me = getmntent(mf)) != NULL) {
		size_t n = strlen(me->mnt_dir);
		if (strcmp(me->mnt_type, "fuse.godfs") != 0 || n < best_len)
			continue;
		if (strncmp(real, me->mnt_dir, n) != 0 ||
		    (real[n] != '\0' && real[n] != '/' && strcmp(me->mnt_dir, "/") != 0))
			continue;
		if (strlen(me->mnt_fsname) >= sizeof(best_spec))
			continue;
		best_len = n;
		snprintf(best_dir, sizeof(best_dir), "%s", me->mnt_dir);
		snprintf(best_spec, sizeof(best_spec), "%s", me->mnt_fsname);
	}
	endmntent(mf);
	if (!best_dir[0])
		return 0;
	/* The spec is HOST:PORT[,HOST:PORT...][:/SUBDIR]. */
	char *sub = strstr(best_spec, ":/");
	const char *rest = real + (strcmp(best_dir, "/") == 0 ? 0 : best_len);
	if (sub)
		*sub++ = '\0';
	if (snprintf(fs_path, cap, "%s%s", sub ? sub : "", rest) >= (int)cap ||
	    snprintf(meta_addr, meta_cap, "%s", best_spec) >= (int)meta_cap)
		return GD_ENAMETOOLONG;
	if (!fs_path[0])
		snprintf(fs_path, cap, "/");
	return 1;
}

/* path: as the user gave it (for messages); fs_path: from the file system's root. */
static int admin_cmd_goal(struct admin *a, const char *path, const char *fs_path,
			  const char *goal_arg)
{
	Godfs__AttrResp *at = NULL;
	ProtobufCMessage *resp = NULL;
	unsigned long goal = 0;
	char what[PATH_MAX + 16];
	int rc, ret = ADMIN_OK;

	if (goal_arg) {
		char *end;

		goal = strtoul(goal_arg, &end, 10);
		if (!*goal_arg || *end || goal < 1 || goal > ADMIN_MAX_GOAL) {
			fprintf(stderr, "godfs-admin: goal: N must be a number from 1 to %d\n",
				ADMIN_MAX_GOAL);
			return ADMIN_ERR_USAGE;
		}
	}
	snprintf(what, sizeof(what), "%s", path);
	rc = admin_resolve(a, fs_path, &at);
	if (rc < 0)
		return admin_fail(what, rc);
	if (goal_arg) {
		Godfs__SetAttr req = GODFS__SET_ATTR__INIT;
		uint32_t old = at->attr->goal;

		req.has_ino = 1;
		req.ino = at->attr->ino;
		req.has_valid = 1;
		req.valid = GODFS__SET_ATTR_BITS__SA_GOAL;
		req.has_goal = 1;
		req.goal = (uint32_t)goal;
		req.has_session_id = 1;
		req.session_id = gd_meta_client_session(a->meta);
		rc = gd_meta_call(a->meta, GODFS__METHOD__M_SETATTR, &req.base,
				  &godfs__attr_resp__descriptor, &resp);
		if (rc < 0) {
			ret = admin_fail(what, rc);
			goto out_free;
		}
		const Godfs__Attr *na = ((Godfs__AttrResp *)resp)->attr;
		uint32_t now = na ? na->goal : (uint32_t)goal;
		if (a->json) {
			printf("{\"path\":");
			admin_json_str(path);
			printf(",\"ino\":%" PRIu64 ",\"goal\":%u,\"previous_goal\":%u}\n",
			       at->attr->ino, now, old);
		} else {
			printf("%s: goal %u (was %u)\n", path, now, old);
		}
	} else if (a->json) {
		printf("{\"path\":");
		admin_json_str(path);
		printf(",\"ino\":%" PRIu64 ",\"goal\":%u}\n", at->attr->ino, at->attr->goal);
	} else {
		printf("%s: goal %u\n", path, at->attr->goal);
	}
out_free:
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	protobuf_c_message_free_unpacked(&at->base, NULL);
	return ret;
}

/* --request-id (env GODFS_REQUEST_ID): every request of this run carries
 * the id (gd_trace.h), so that an operator finds what each daemon did for
 * it with one grep. An id the daemons would not take is refused here, not
 * replaced: the operator would grep for the wrong one. */
static int admin_request_id(const struct gd_config *cfg)
{
	const char *id = gd_config_get(cfg, "request-id", NULL, NULL);

	if (!id)
		return 0;
	if (!gd_trace_valid(id, strlen(id))) {
		fprintf(stderr, "godfs-admin: --request-id \"%s\": use 1..%d characters of "
			"A-Z a-z 0-9 . _ : -\n", id, GD_TRACE_MAX);
		return GD_EINVAL;
	}
	gd_trace_set(id);
	return 0;
}

/* `key generate PATH`: a new cluster key file; its directory is made when
 * missing (a fresh /etc/godfs). An existing file is never overwritten. */
static int admin_cmd_key_generate(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int rc;

	if (slash && slash != path && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "godfs-admin: key generate: %s: %s\n", dir, strerror(errno));
			return ADMIN_ERR_CLUSTER;
		}
	}
	rc = gd_keyring_generate(path);
	if (rc == GD_EEXIST) {
		fprintf(stderr, "godfs-admin: key generate: %s exists: not overwriting it "
			"(to replace a key, rotate it: docs/security.md)\n", path);
		return ADMIN_ERR_CLUSTER;
	}
	if (rc < 0) {
		fprintf(stderr, "godfs-admin: key generate: %s: %s\n", path, gd_strerror(rc));
		return ADMIN_ERR_CLUSTER;
	}
	printf("created %s (mode 0600): copy it to every node of the cluster as "
	       GD_CRED_DEFAULT_KEY_FILE ", or name it with --key-file\n", path);
	return ADMIN_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "meta", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "placement", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "request-id", required_argument, NULL, 'R' },
		GD_LOG_OPTS_LONGOPTS,
		GD_CRED_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct gd_meta_client_config mc = { 0 };
	struct gd_config cfg;
	struct admin a = { 0 };
	const char *cmd;
	char goal_path[PATH_MAX + 1] = "";
	char mount_meta[PATH_MAX] = "";
	char host[256];
	long timeout_s;
	int c, ret = ADMIN_ERR_USAGE, rc, i, full_argc = argc;
	bool placement = false;   /* chunks --placement */

	gd_log_init("godfs-admin", "error");
	gd_config_init(&cfg);
	/* `token` and `apikey` have options of their own: the general options
	 * are the ones before it (getopt must not see --subtree...). */
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "token") == 0 || strcmp(argv[i], "apikey") == 0) &&
		    strcmp(argv[i - 1], "-m") != 0 &&
		    strcmp(argv[i - 1], "--meta") != 0 && strcmp(argv[i - 1], "-t") != 0 &&
		    strcmp(argv[i - 1], "--timeout") != 0 && strcmp(argv[i - 1], "--key-file") != 0 &&
		    strcmp(argv[i - 1], "--request-id") != 0 &&
		    strcmp(argv[i - 1], "--log-format") != 0) {
			argc = i + 1;
			break;
		}
	}
	while ((c = getopt_long(argc, argv, "m:t:jh", opts, NULL)) != -1) {
		if (c == 'h') {
			admin_usage(stdout);
			ret = ADMIN_OK;
			goto out_release;
		}
		if (c == 'P') {
			placement = true;
			continue;
		}
		if (c == '?' || gd_config_getopt(&cfg, opts, c, optarg) < 0) {
			admin_usage(stderr);
			goto out_release;
		}
	}
	if (gd_config_load(&cfg, "godfs-admin", NULL) < 0)
		goto out_release;
	if (gd_log_opts_read(&cfg, "godfs-admin", "error") < 0 || admin_request_id(&cfg) < 0)
		goto out_release;
	a.addrs = gd_config_get(&cfg, "meta", NULL, ADMIN_DEFAULT_META);
	if (gd_config_get_bool(&cfg, "json", NULL, 0, &a.json) < 0)
		goto out_release;
	if (gd_config_get_int(&cfg, "timeout", NULL, 10, 1, 3600, &timeout_s) < 0)
		goto out_release;

	if (optind >= argc) {
		admin_usage(stderr);
		goto out_release;
	}
	cmd = argv[optind];
	int nargs = argc - optind - 1;
	if (placement && strcmp(cmd, "chunks") != 0) {
		fprintf(stderr, "godfs-admin: --placement goes with `chunks`\n");
		admin_usage(stderr);
		goto out_release;
	}
	if (strcmp(cmd, "key") == 0) {
		if (nargs == 2 && strcmp(argv[optind + 1], "generate") == 0) {
			ret = admin_cmd_key_generate(argv[optind + 2]);
		} else {
			fprintf(stderr, "godfs-admin: key: use `key generate PATH`\n");
			admin_usage(stderr);
		}
		goto out_release;
	}
	if (strcmp(cmd, "token") == 0) {
		nargs = full_argc - optind - 1;
		if (admin_token_check_args(nargs, argv + optind + 1))
			goto out_release;
	} else if (strcmp(cmd, "apikey") == 0) {
		nargs = full_argc - optind - 1;
		if (admin_apikey_check_args(nargs, argv + optind + 1))
			goto out_release;
	} else if (strcmp(cmd, "masters") == 0) {
		if (admin_masters_check_args(nargs, argv + optind + 1))
			goto out_release;
	} else if (!((strcmp(cmd, "status") == 0 && nargs == 0) ||
	      (strcmp(cmd, "nodes") == 0 && admin_nodes_check_args(nargs, argv + optind + 1) == 0) ||
	      (strcmp(cmd, "chunks") == 0 && nargs == 0) ||
	      (strcmp(cmd, "placement") == 0 && nargs == 0) ||
	      (strcmp(cmd, "goal") == 0 && (nargs == 1 || nargs == 2)))) {
		fprintf(stderr, "godfs-admin: unknown command or wrong arguments: %s\n", cmd);
		admin_usage(stderr);
		goto out_release;
	}

	if (strcmp(cmd, "goal") == 0) {
		/* A path on a local godfs mount is taken from that mount, and so is
		 * the meta address unless one was configured. */
		int mp = admin_mount_path(argv[optind + 1], goal_path, sizeof(goal_path),
					  mount_meta, sizeof(mount_meta));
		if (mp < 0) {
			fprintf(stderr, "godfs-admin: goal: %s: %s\n", argv[optind + 1],
				gd_strerror(mp));
			ret = ADMIN_ERR_USAGE;
			goto out_release;
		}
		if (mp == 1 && !gd_config_get(&cfg, "meta", NULL, NULL))
			a.addrs = mount_meta;
	}
	if (gd_cred_setup(&cfg, GD_CRED_CLIENT) < 0) {
		ret = ADMIN_ERR_CLUSTER;   /* gd_cred said why */
		goto out_release;
	}
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	mc.addrs = a.addrs;
	mc.role = GODFS__ROLE__ROLE_ADMIN;
	mc.host = host;
	mc.timeout_ms = (int)timeout_s * 1000;
	rc = gd_meta_client_open(&mc, &a.meta);
	if (rc == GD_EAUTH) {
		fprintf(stderr, "godfs-admin: the meta at %s did not let us in (see above)\n",
			a.addrs);
		ret = ADMIN_ERR_CLUSTER;
		goto out_release;
	}
	if (rc < 0) {
		fprintf(stderr, "godfs-admin: cannot reach the meta at %s: %s\n", a.addrs,
			gd_strerror(rc));
		ret = ADMIN_ERR_CLUSTER;
		goto out_release;
	}
	if (strcmp(cmd, "status") == 0)
		ret = admin_cmd_status(&a);
	else if (strcmp(cmd, "nodes") == 0)
		ret = admin_nodes_run(a.meta, a.json, nargs, argv + optind + 1);
	else if (strcmp(cmd, "chunks") == 0 && placement)
		ret = admin_placement_run(a.meta, a.json);
	else if (strcmp(cmd, "chunks") == 0)
		ret = admin_chunks_run(a.meta, a.json);
	else if (strcmp(cmd, "placement") == 0)
		ret = admin_placement_run(a.meta, a.json);
	else if (strcmp(cmd, "token") == 0)
		ret = admin_token_run(a.meta, a.json, nargs, argv + optind + 1);
	else if (strcmp(cmd, "apikey") == 0)
		ret = admin_apikey_run(a.meta, a.json, nargs, argv + optind + 1);
	else if (strcmp(cmd, "masters") == 0)
		ret = admin_masters_run(a.meta, a.json, nargs, argv + optind + 1);
	else
		ret = admin_cmd_goal(&a, argv[optind + 1], goal_path,
				     nargs == 2 ? argv[optind + 2] : NULL);
	gd_meta_client_close(a.meta);
out_release:
	gd_config_release(&cfg);
	return ret;
}
