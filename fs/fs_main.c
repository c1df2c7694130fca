/* mount.godfs: parses the command line (as mount(8) calls it), opens the
 * client session, resolves the subdirectory, mounts with FUSE, detaches
 * (unless -f) once the mount is up, and runs libfuse's multi-threaded loop
 * until umount or a signal. See man/mount.godfs.8. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_locks.h"
#include "fs_metrics.h"
#include "fs_ops.h"
#include "gd_alloc.h"
#include "gd_config.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_log_opts.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define OPTS_MAX 4096

/* What the command line asks for. */
struct fs_args {
	const char *spec;
	const char *mountpoint;
	int foreground;
	char kernel_opts[OPTS_MAX];     /* options passed to the kernel / libfuse */
	int allow_other;                /* -1: default */
	int default_permissions;
	int ro;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mount.godfs HOST:PORT[,HOST:PORT...][:/SUBDIR] MOUNTPOINT [-o OPTIONS] [-f]\n"
		"  -f            stay in the foreground, log to stderr\n"
		"  -o OPTIONS    comma-separated: ro, rw, nosuid, nodev, noexec, noatime, ...\n"
		"                allow_other, noallow_other, default_permissions,\n"
		"                no_default_permissions, attr_timeout=SEC, entry_timeout=SEC,\n"
		"                log_level=error|warn|info|debug, log_file=PATH,\n"
		"                log_format=text|json,\n"
		"                meta_timeout=MS, write_buffer=SIZE, readahead=SIZE,\n"
		"                mem_budget=SIZE (write buffers + read-ahead, default 64M),\n"
		"                io_threads=N, read_ahead_kb=KB,\n"
		"                key_file=PATH (the cluster key, default\n"
		"                " GD_CRED_DEFAULT_KEY_FILE "),\n"
		"                token_file=PATH (a client token instead of the key),\n"
		"                insecure (for a cluster whose daemons run with --insecure),\n"
		"                tls (TLS on every connection: the cluster runs with --tls),\n"
		"                metrics_listen=HOST:PORT (Prometheus /metrics, default off);\n"
		"                defaults, _netdev, noauto, user... are ignored\n"
		"  -h, --help    this text;  -V, --version  the version\n");
}

static int opts_append(char *buf, const char *opt)
{
	size_t used = strlen(buf), n = strlen(opt);
	if (used + n + 2 > OPTS_MAX)
		return -1;
	if (used)
		buf[used++] = ',';
	memcpy(buf + used, opt, n + 1);
	return 0;
}

/* Options the kernel (through libfuse) understands. */
static int is_kernel_opt(const char *o)
{
	static const char *const k[] = {
		"nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime", "atime",
		"relatime", "norelatime", "strictatime", "nostrictatime", "nodiratime",
		"diratime", "sync", "async", "dirsync", "lazytime", "nolazytime",
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (strcmp(o, k[i]) == 0)
			return 1;
	return 0;
}

/* Generic options of mount(8) and fstab that mean nothing to us. */
static int is_ignored_opt(const char *o)
{
	static const char *const ign[] = {
		"rw", "defaults", "_netdev", "noauto", "auto", "user", "users", "nouser",
		"owner", "group", "nofail", "bg", "fg", "loop", "silent", "loud", "nosymfollow",
	};
	for (size_t i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
		if (strcmp(o, ign[i]) == 0)
			return 1;
	return strncmp(o, "x-", 2) == 0 || strncmp(o, "comment=", 8) == 0 ||
	       strncmp(o, "user=", 5) == 0 || strncmp(o, "helper=", 7) == 0;
}

/* Our own options (name=value), recorded as configuration flags. */
static const char *const own_opts[] = {
	"attr_timeout", "entry_timeout", "log_level", "log_file", "meta_timeout",
	"write_buffer", "readahead", "io_threads", "goal", "read_ahead_kb",
	"key_file", "token_file", "metrics_listen", "mem_budget",
	"log_format",
};

/* Sorts one -o list into kernel options, own options and ignored ones. */
static int parse_opts(struct fs_args *a, struct gd_config *cfg, const char *list)
{
	char *copy = gd_strdup(list);
	if (!copy)
		return -1;
	int rc = 0;
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		if (strcmp(o, "ro") == 0) {
			a->ro = 1;
		} else if (strcmp(o, "allow_other") == 0) {
			a->allow_other = 1;
		} else if (strcmp(o, "noallow_other") == 0) {
			a->allow_other = 0;
		} else if (strcmp(o, "default_permissions") == 0) {
			a->default_permissions = 1;
		} else if (strcmp(o, "no_default_permissions") == 0) {
			a->default_permissions = 0;
		} else if (strcmp(o, "insecure") == 0 || strcmp(o, "tls") == 0) {
			if (gd_config_set_flag(cfg, o, "1"))
				rc = -1;
		} else if (is_kernel_opt(o)) {
			if (opts_append(a->kernel_opts, o))
				rc = -1;
		} else if (is_ignored_opt(o)) {
			continue;
		} else {
			size_t nl = eq ? (size_t)(eq - o) : strlen(o);
			int known = 0;
			for (size_t i = 0; i < sizeof(own_opts) / sizeof(own_opts[0]); i++)
				if (strlen(own_opts[i]) == nl && strncmp(o, own_opts[i], nl) == 0)
					known = 1;
			if (!known || !eq) {
				fprintf(stderr, "mount.godfs: unknown option '%s' (ignored)\n", o);
				continue;
			}
			*eq = '\0';
			if (gd_config_set_flag(cfg, o, eq + 1))
				rc = -1;
		}
	}
	gd_free(copy);
	return rc;
}

/* The command line of mount.godfs and of mount(8)'s helper convention:
 * SPEC DIR [-sfnv] [-N NS] [-o OPTIONS] [-t TYPE]. Returns 0, 1 (done: help
 * or version) or -1 (error, reported). */
static int parse_args(int argc, char **argv, struct fs_args *a, struct gd_config *cfg)
{
	a->allow_other = -1;
	a->default_permissions = 1;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
			printf("mount.godfs (godfs) %s\n", PACKAGE_VERSION);
			return 1;
		} else if (strcmp(s, "-f") == 0 || strcmp(s, "-d") == 0) {
			a->foreground = 1;
		} else if (strcmp(s, "-s") == 0 || strcmp(s, "-n") == 0 || strcmp(s, "-v") == 0) {
			continue;
		} else if (strcmp(s, "-o") == 0 || strcmp(s, "-t") == 0 || strcmp(s, "-N") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "mount.godfs: %s needs an argument\n", s);
				return -1;
			}
			if (s[1] == 'o' && parse_opts(a, cfg, argv[i + 1]))
				return -1;
			i++;
		} else if (strncmp(s, "-o", 2) == 0) {
			if (parse_opts(a, cfg, s + 2))
				return -1;
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "mount.godfs: unknown flag %s\n", s);
			usage(stderr);
			return -1;
		} else if (!a->spec) {
			a->spec = s;
		} else if (!a->mountpoint) {
			a->mountpoint = s;
		} else {
			fprintf(stderr, "mount.godfs: too many arguments (%s)\n", s);
			return -1;
		}
	}
	if (!a->spec || !a->mountpoint) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Splits SPEC into the meta addresses and the subdirectory ("" = root). */
static int split_spec(const char *spec, char **addrs, const char **subdir)
{
	const char *p = strstr(spec, ":/");
	size_t n = p ? (size_t)(p - spec) : strlen(spec);
	if (n == 0)
		return -1;
	*addrs = gd_strndup(spec, n);
	*subdir = p ? p + 1 : "";
	return *addrs ? 0 : -1;
}

/* Walks subdir from directory `top` with LOOKUPs; *ino is its inode. */
static int resolve_subdir(struct gd_meta_client *meta, uint64_t top, const char *subdir,
			  uint64_t *ino)
{
	char *copy = gd_strdup(subdir);
	if (!copy)
		return GD_ENOMEM;
	uint64_t cur = top;
	int rc = 0;
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			rc = GD_EINVAL;
			break;
		}
		struct gd_attr a;
		rc = gd_ns_lookup(meta, cur, c, &a);
		if (rc)
			break;
		if (!S_ISDIR(a.mode)) {
			rc = GD_ENOTDIR;
			break;
		}
		cur = a.ino;
	}
	gd_free(copy);
	if (rc == 0)
		*ino = cur;
	return rc;
}

/* fsname=SPEC with libfuse's escapes for ',' and '\'. */
static int fsname_opt(const char *spec, char *out, size_t cap)
{
	size_t n = 0;
	const char *pre = "fsname=";
	for (const char *p = pre; *p; p++)
		out[n++] = *p;
	for (const char *p = spec; *p; p++) {
		if (n + 3 >= cap)
			return -1;
		if (*p == ',' || *p == '\\')
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n] = '\0';
	return 0;
}

/* Detaches: the parent waits on a pipe for the child's word that the mount
 * is up (or failed) and exits with it. Returns the write end in the child. */
static int daemonize(void)
{
	int p[2];
	if (pipe(p) != 0) {
		perror("mount.godfs: pipe");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("mount.godfs: fork");
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		char c = 1;
		ssize_t r;
		do
			r = read(p[0], &c, 1);
		while (r < 0 && errno == EINTR);
		_exit(r == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void notify_parent(int *fd, char status)
{
	if (*fd < 0)
		return;
	ssize_t r;
	do
		r = write(*fd, &status, 1);
	while (r < 0 && errno == EINTR);
	close(*fd);
	*fd = -1;
}

/* After the mount is up in the background: no terminal any more. */
static void detach_stdio(const char *log_file)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (!log_file)
			dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (log_file) {
		int lf = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (lf >= 0) {
			dup2(lf, 2);
			close(lf);
		}
	}
	if (chdir("/") != 0)
		gd_warn("chdir /: %s", strerror(errno));
}

/* Lets the kernel read ahead kb KiB per file on this mount (its default of
 * 128 KiB makes a FUSE request per 128 KiB; 1 MiB requests cost 8 times
 * fewer round trips). The mount's bdi is named after its device number,
 * read from /proc/self/mountinfo. Best effort: only root may write it. */
static void set_read_ahead(const char *mp, unsigned long kb)
{
	FILE *mi = fopen("/proc/self/mountinfo", "r");
	char line[PATH_MAX + 512], dev[64] = "";
	if (!mi)
		return;
	while (fgets(line, sizeof(line), mi)) {
		char d[64], point[PATH_MAX + 1];
		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*u %*u %63s %*s %4096s", d, point) == 2 && strcmp(point, mp) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(mi);
	if (!dev[0])
		return;
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	FILE *f = fopen(path, "w");
	if (!f) {
		gd_debug("%s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%lu\n", kb);
	if (fclose(f) != 0)
		gd_debug("%s: %s", path, strerror(errno));
	else
		gd_debug("read-ahead of the kernel: %lu KiB (%s)", kb, path);
}

struct ra_job {
	struct fs_mount *m;
	char mp[PATH_MAX];
	unsigned long kb;
};

/* The kernel sets the mount's read-ahead when it takes libfuse's INIT
 * answer: wait for that, then raise it. */
static void *ra_thread(void *arg)
{
	struct ra_job *j = arg;
	for (int i = 0; i < 600 && !atomic_load(&j->m->inited); i++)
		usleep(50000);
	usleep(100000);
	if (atomic_load(&j->m->inited))
		set_read_ahead(j->mp, j->kb);
	gd_free(j);
	return NULL;
}

static int get_double(const struct gd_config *cfg, const char *name, double def, double *out)
{
	const char *v = gd_config_get(cfg, name, NULL, NULL);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || d < 0 || d > 86400) {
		fprintf(stderr, "mount.godfs: bad value for %s: '%s'\n", name, v);
		return -1;
	}
	*out = d;
	return 0;
}

/* glibc gives each thread that allocates an arena of its own, and a large
 * block freed in one stays in its heap: with twenty threads that kept
 * ~60 MiB the mount no longer used. A few arenas, and blocks from 256 KiB up
 * (write buffers, read-ahead blocks, read replies) mapped apart and given
 * back when freed (a fixed threshold: glibc would otherwise raise it to the
 * largest block freed); fs_budget keeps the blocks worth reusing. */
static void bound_malloc(void)
{
	mallopt(M_ARENA_MAX, 4);
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
}

int main(int argc, char **argv)
{
	struct fs_args a;
	struct gd_config cfg;
	struct fs_mount m;
	struct gd_client *gc = NULL;
	struct fuse_session *se = NULL;
	struct gd_http *http = NULL;
	const struct fuse_lowlevel_ops *ops = &fs_ops;
	char *addrs = NULL;
	const char *subdir = "";
	int notify_fd = -1;
	int ret = 1;
	char hostname[256];

	bound_malloc();
	memset(&a, 0, sizeof(a));
	memset(&m, 0, sizeof(m));
	gd_config_init(&cfg);
	int prc = parse_args(argc, argv, &a, &cfg);
	if (prc) {
		gd_config_release(&cfg);
		return prc > 0 ? 0 : 1;
	}
	if (gd_config_load(&cfg, "mount.godfs", NULL) < 0)
		goto out_cfg;
	if (gd_log_opts_read(&cfg, "mount.godfs", "info") < 0)
		goto out_cfg;
	const char *log_file = gd_config_get(&cfg, "log-file", NULL, NULL);
	long meta_timeout = 0, io_threads = 0, ra_kb = 0;
	uint64_t wbuf = 0, ra = 0, budget = 0;
	if (get_double(&cfg, "attr-timeout", 1.0, &m.attr_timeout) ||
	    get_double(&cfg, "entry-timeout", 1.0, &m.entry_timeout) ||
	    gd_config_get_int(&cfg, "meta-timeout", NULL, 30000, 100, 3600000, &meta_timeout) ||
	    gd_config_get_int(&cfg, "io-threads", NULL, 4, 1, 64, &io_threads) ||
	    gd_config_get_int(&cfg, "read-ahead-kb", NULL, 1024, 0, 65536, &ra_kb) ||
	    gd_config_get_u64(&cfg, "write-buffer", NULL, 8u << 20, &wbuf) ||
	    gd_config_get_u64(&cfg, "readahead", NULL, 32u << 20, &ra) ||
	    gd_config_get_u64(&cfg, "mem-budget", NULL, 64u << 20, &budget))
		goto out_cfg;
	if (wbuf < (1u << 20) || wbuf > (64u << 20) || ra > (256u << 20)) {
		fprintf(stderr, "mount.godfs: write_buffer must be 1M..64M, readahead at most 256M\n");
		goto out_cfg;
	}
	/* Room for a write buffer being filled and one being sent. */
	if (budget < 2 * wbuf || budget > ((uint64_t)64 << 30)) {
		fprintf(stderr, "mount.godfs: mem_budget must be 2 x write_buffer .. 64G\n");
		goto out_cfg;
	}
	/* The credential is read once, before anything connects; a missing key
	 * stops the mount here with the reason. */
	if (gd_cred_setup(&cfg, GD_CRED_CLIENT) < 0)
		goto out_cfg;
	if (gd_config_get(&cfg, "goal", NULL, NULL))
		gd_info("option goal is accepted but not applied by the client: "
			"set goals with godfs-admin goal");
	if (split_spec(a.spec, &addrs, &subdir)) {
		fprintf(stderr, "mount.godfs: bad file system spec '%s' (HOST:PORT[:/SUBDIR])\n",
			a.spec);
		goto out_cfg;
	}
	char mp_real[PATH_MAX];
	if (!realpath(a.mountpoint, mp_real)) {
		fprintf(stderr, "mount.godfs: mount point %s: %s\n", a.mountpoint, strerror(errno));
		goto out_addrs;
	}
	struct stat mst;
	if (stat(mp_real, &mst) != 0 || !S_ISDIR(mst.st_mode)) {
		fprintf(stderr, "mount.godfs: mount point %s is not a directory\n", mp_real);
		goto out_addrs;
	}

	if (!a.foreground) {
		notify_fd = daemonize();
		if (notify_fd < 0)
			goto out_addrs;
	}
	signal(SIGPIPE, SIG_IGN);
	if (gethostname(hostname, sizeof(hostname)) != 0)
		strcpy(hostname, "localhost");
	hostname[sizeof(hostname) - 1] = '\0';

	if (fs_itable_new(&m.it))
		goto out_addrs;
	if (fs_locks_new(&m.locks))
		goto out_table;
	struct gd_client_config cc = {
		.meta_addrs = addrs,
		.host = hostname,
		.mountpoint = mp_real,
		.meta_timeout_ms = (int)meta_timeout,
		.open_inodes = fs_ops_open_inodes,
		.open_inodes_ctx = &m,
		.meta_push = fs_locks_push,
		.meta_connected = fs_locks_connected,
		.meta_push_ctx = m.locks,
	};
	int rc = gd_client_open(&cc, &gc);
	if (rc == GD_EAUTH) {
		gd_error("not mounted: the meta at %s refused our credential (see above)", addrs);
		goto out_table;
	}
	if (rc) {
		gd_error("cannot reach the meta at %s: %s", addrs, gd_strerror(rc));
		goto out_table;
	}
	m.gc = gc;
	m.meta = gd_client_meta(gc);
	if (fs_locks_start(m.locks, m.meta))
		goto out_client;
	/* A token opens one directory: the mount's root is that directory (the
	 * FUSE root swaps with it in fs_ops.c's to_meta/to_fuse, the only place
	 * where numbers are mapped), and SPEC's subdirectory is below it. */
	const struct gd_cred *cred = gd_cred_self();
	uint64_t top = cred->kind == GD_AUTH_TOKEN && cred->token ? cred->token->subtree : 1;
	rc = resolve_subdir(m.meta, top, subdir, &m.root);
	if (rc) {
		gd_error("subdirectory %s: %s", subdir, gd_strerror(rc));
		goto out_client;
	}
	m.max_write = 1u << 20;
	/* The kernel enforces ACLs only with default_permissions (it would turn
	 * that on): with no_default_permissions they stay plain xattrs to it. */
	m.posix_acl = a.default_permissions != 0;
	struct fs_data_config dc = {
		.wbuf_size = (size_t)wbuf,
		.ra_block = 4u << 20,
		.ra_window = (unsigned)(ra / (4u << 20)),
		.threads = (unsigned)io_threads,
		.mem_budget = (size_t)budget,
	};
	if (ra < (4u << 20))
		dc.ra_window = 1;
	if (fs_data_new(gc, m.it, &dc, &m.data))
		goto out_client;
	const char *metrics_listen = gd_config_get(&cfg, "metrics-listen", NULL, NULL);
	if (metrics_listen && *metrics_listen) {
		if (fs_metrics_start(&m, metrics_listen, &http))
			goto out_data;
		ops = fs_metrics_ops(&fs_ops);
	}

	/* libfuse's own options: name, type, permissions, kernel flags. */
	char fsname[OPTS_MAX];
	char fopts[OPTS_MAX * 2 + 128] = "";
	if (fsname_opt(a.spec, fsname, sizeof(fsname)))
		goto out_data;
	if (a.allow_other < 0)
		a.allow_other = geteuid() == 0;
	snprintf(fopts, sizeof(fopts), "%s,subtype=godfs%s%s%s%s%s", fsname,
		 a.allow_other ? ",allow_other" : "",
		 a.default_permissions ? ",default_permissions" : "", a.ro ? ",ro" : "",
		 a.kernel_opts[0] ? "," : "", a.kernel_opts);
	char *fargv[] = { argv[0], "-o", fopts, NULL };
	struct fuse_args fa = FUSE_ARGS_INIT(3, fargv);
	se = fuse_session_new(&fa, ops, sizeof(*ops), &m);
	atomic_store(&m.se, se);
	fuse_opt_free_args(&fa);
	if (!se) {
		gd_error("cannot start the FUSE session (options %s)", fopts);
		goto out_data;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, mp_real) != 0) {
		gd_error("cannot mount on %s", mp_real);
		goto out_signals;
	}
	gd_info("mounted %s on %s (root inode %llu, session %llu)", a.spec, mp_real,
		(unsigned long long)m.root, (unsigned long long)gd_client_session(gc));
	if (!a.foreground) {
		notify_parent(&notify_fd, 0);
		detach_stdio(log_file);
	}

	if (ra_kb > 0) {
		struct ra_job *j = gd_calloc(1, sizeof(*j));
		pthread_t t;
		if (j) {
			j->m = &m;
			j->kb = (unsigned long)ra_kb;
			snprintf(j->mp, sizeof(j->mp), "%s", mp_real);
			if (pthread_create(&t, NULL, ra_thread, j) == 0)
				pthread_detach(t);
			else
				gd_free(j);
		}
	}
	struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 16 };
	rc = fuse_session_loop_mt(se, &lc);
	if (rc != 0)
		gd_warn("FUSE loop ended with %d", rc);
	gd_info("unmounting %s", mp_real);
	fuse_session_unmount(se);
	ret = 0;
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_data:
	gd_http_stop(http);
	fs_data_free(m.data);
out_client:
	fs_locks_stop(m.locks);
	gd_client_close(gc);
out_table:
	fs_locks_free(m.locks);
	fs_itable_free(m.it);
out_addrs:
	gd_free(addrs);
out_cfg:
	gd_config_release(&cfg);
	notify_parent(&notify_fd, 1);
	return ret;
}
