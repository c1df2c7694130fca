/*
 * mdtest_lite: the metadata and small-file phases of bench/fsbench.sh.
 *
 *   mdtest_lite [-d] md    DIR N        create/stat/readdir/unlink N empty files
 *   mdtest_lite [-d] small DIR N SIZE   write N files of SIZE bytes, read back
 *
 * DIR must not exist; it is created and removed again.
 * -d: "sync; echo 3 > /proc/sys/vm/drop_caches" (untimed) before each read
 *     phase (stat, readdir, small-file read), so that they are cold.
 *
 * Output, one figure per line:   metric<TAB>value<TAB>unit
 *   md:    md_create md_stat md_readdir md_unlink            (ops/s)
 *   small: smallfile_write smallfile_write_incl_syncfs
 *          smallfile_read smallfile_unlink                    (files/s)
 * Each phase is timed with CLOCK_MONOTONIC as a whole, on one thread, so a
 * figure is the rate one application sees, not a parallel throughput.
 * Exit status: 0, 1 on a failed call or a wrong count/size, 2 on usage.
 */
#ifndef _GNU_SOURCE /* the project's build defines it; a bare cc does not */
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* File names are DIR/fNNNNNNN: DIR is bounded to leave room for them. */
#define MDT_PATH_MAX 4096
#define MDT_DIR_MAX (MDT_PATH_MAX - 16)
/* Counts and sizes the harness uses are far below these; they keep a typo
 * from filling the file system under test. */
#define MDT_N_MAX 10000000L
#define MDT_SIZE_MAX (64L << 20)

static int drop;
static int drop_failed;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reports a failed call with errno and returns -1, for "return fail(...)". */
static int fail(const char *what, const char *path)
{
	fprintf(stderr, "mdtest_lite: %s %s: %s\n", what, path ? path : "", strerror(errno));
	return -1;
}

/* Empties the page, dentry and inode caches (untimed) so that the next phase
 * reads from the file system, not from the kernel; warns once when not root. */
static void drop_caches(void)
{
	int fd;

	if (!drop)
		return;
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "3\n", 2) != 2) {
		if (!drop_failed)
			fprintf(stderr, "mdtest_lite: drop_caches not allowed: %s\n", strerror(errno));
		drop_failed = 1;
	}
	if (fd >= 0)
		close(fd);
}

static void report(const char *metric, double ops, double secs, const char *unit)
{
	printf("%s\t%.1f\t%s\n", metric, secs > 0 ? ops / secs : 0.0, unit);
	fflush(stdout);
	fprintf(stderr, "mdtest_lite: %s: %.0f ops in %.3f s\n", metric, ops, secs);
}

static void name(char *buf, const char *dir, long i)
{
	snprintf(buf, MDT_PATH_MAX, "%s/f%07ld", dir, i);
}

/* Creates, stats, lists and unlinks N empty files in a new directory. */
static int run_md(const char *dir, long n)
{
	char path[MDT_PATH_MAX];
	struct dirent *de;
	struct stat st;
	double t, dt;
	long i, cnt = 0;
	DIR *d;
	int fd;

	if (mkdir(dir, 0755) < 0)
		return fail("mkdir", dir);

	t = now();
	for (i = 0; i < n; i++) {
		name(path, dir, i);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return fail("create", path);
		if (close(fd) < 0)
			return fail("close", path);
	}
	report("md_create", (double)n, now() - t, "ops/s");

	drop_caches();
	t = now();
	for (i = 0; i < n; i++) {
		name(path, dir, i);
		if (stat(path, &st) < 0)
			return fail("stat", path);
	}
	report("md_stat", (double)n, now() - t, "ops/s");

	drop_caches();
	t = now();
	d = opendir(dir);
	if (!d)
		return fail("opendir", dir);
	errno = 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			cnt++;
	if (errno) {
		fail("readdir", dir);
		closedir(d);
		return -1;
	}
	closedir(d);
	dt = now() - t;
	if (cnt != n) {
		fprintf(stderr, "mdtest_lite: readdir saw %ld entries, expected %ld\n", cnt, n);
		return -1;
	}
	report("md_readdir", (double)cnt, dt, "entries/s");

	t = now();
	for (i = 0; i < n; i++) {
		name(path, dir, i);
		if (unlink(path) < 0)
			return fail("unlink", path);
	}
	report("md_unlink", (double)n, now() - t, "ops/s");

	if (rmdir(dir) < 0)
		return fail("rmdir", dir);
	return 0;
}

/* Times one syncfs() of DIR's file system. On a FUSE mount syncfs does not
 * reach the daemon (the kernel flushes only its own dirty pages), so this
 * mostly matters for local file systems. */
static int time_syncfs(const char *dir, double *secs)
{
	double t;
	int dfd, rc = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail("open", dir);
	t = now();
	if (syncfs(dfd) < 0)
		rc = fail("syncfs", dir);
	*secs = now() - t;
	close(dfd);
	return rc;
}

/* Reads PATH to its end into BUF (SIZE + 1 bytes) and checks it held SIZE. */
static int read_back(const char *path, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open", path);
	while ((r = read(fd, buf, size + 1)) > 0)
		got += (size_t)r;
	if (r < 0) {
		fail("read", path);
		close(fd);
		return -1;
	}
	close(fd);
	if (got != size) {
		fprintf(stderr, "mdtest_lite: %s: read %zu bytes, expected %zu\n", path, got, size);
		return -1;
	}
	return 0;
}

/* Writes N files of SIZE bytes (create + one write + close each), reads them
 * back cold and unlinks them. */
static int run_small(const char *dir, long n, size_t size, char *buf)
{
	char path[MDT_PATH_MAX];
	double t, tw, ts = 0;
	long i;
	int fd;

	for (size_t k = 0; k < size; k++)
		buf[k] = (char)(k * 131 + 7);
	if (mkdir(dir, 0755) < 0)
		return fail("mkdir", dir);

	t = now();
	for (i = 0; i < n; i++) {
		name(path, dir, i);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return fail("create", path);
		if (write(fd, buf, size) != (ssize_t)size) {
			fail("write", path);
			close(fd);
			return -1;
		}
		if (close(fd) < 0)
			return fail("close", path);
	}
	tw = now() - t;
	report("smallfile_write", (double)n, tw, "files/s");
	if (time_syncfs(dir, &ts) < 0)
		return -1;
	report("smallfile_write_incl_syncfs", (double)n, tw + ts, "files/s");

	drop_caches();
	t = now();
	for (i = 0; i < n; i++) {
		name(path, dir, i);
		if (read_back(path, buf, size) < 0)
			return -1;
	}
	report("smallfile_read", (double)n, now() - t, "files/s");

	t = now();
	for (i = 0; i < n; i++) {
		name(path, dir, i);
		if (unlink(path) < 0)
			return fail("unlink", path);
	}
	report("smallfile_unlink", (double)n, now() - t, "files/s");
	if (rmdir(dir) < 0)
		return fail("rmdir", dir);
	return 0;
}

/* Parses a decimal count in [1, max]; -1 when it is not one. */
static long parse_count(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return -1;
	return v;
}

static int usage(void)
{
	fprintf(stderr, "usage: mdtest_lite [-d] md DIR N\n"
			"       mdtest_lite [-d] small DIR N SIZE\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *mode, *dir;
	long n, size;
	char *buf;
	int a = 1, rc;

	if (a < argc && !strcmp(argv[a], "-d")) {
		drop = 1;
		a++;
	}
	if (argc - a < 3)
		return usage();
	mode = argv[a];
	dir = argv[a + 1];
	n = parse_count(argv[a + 2], MDT_N_MAX);
	if (n < 0 || strlen(dir) > MDT_DIR_MAX)
		return usage();
	if (!strcmp(mode, "md") && argc - a == 3) {
		rc = run_md(dir, n);
	} else if (!strcmp(mode, "small") && argc - a == 4) {
		size = parse_count(argv[a + 3], MDT_SIZE_MAX);
		if (size < 0)
			return usage();
		buf = malloc((size_t)size + 1);
		if (!buf) {
			fail("malloc", NULL);
			return 1;
		}
		rc = run_small(dir, n, (size_t)size, buf);
		free(buf);
	} else {
		return usage();
	}
	if (drop_failed)
		fprintf(stderr, "mdtest_lite: WARNING: drop_caches failed, read phases were warm\n");
	return rc < 0 ? 1 : 0;
}
