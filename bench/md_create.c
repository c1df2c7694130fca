/* md_create: times creates of empty files, one process or several at once.
 *
 *   md_create DIR NPROC NFILES
 *
 * NPROC processes each create NFILES empty files (open O_CREAT|O_EXCL, close)
 * in DIR/pK (made here; DIR must exist), all started together. Prints one line:
 * creates/s over the whole run and the latency of one create (open + close)
 * as mean, median, p90 and p99 in microseconds, over every create of every
 * process. Used by bench/meta_commit.sh; build: cc -O2 -o md_create md_create.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One process's share: NFILES creates, each latency into lat[]. */
static int creator(const char *dir, int k, int n, double *lat)
{
	char path[4096];

	for (int i = 0; i < n; i++) {
		double t0;
		int fd;

		snprintf(path, sizeof(path), "%s/p%d/f%d", dir, k, i);
		t0 = now_s();
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || close(fd) != 0) {
			fprintf(stderr, "md_create: %s: %s\n", path, strerror(errno));
			return 1;
		}
		lat[i] = (now_s() - t0) * 1e6;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	double *lat, t0, elapsed, sum = 0;
	int np, n, failed = 0;
	size_t total;

	if (argc != 4 || (np = atoi(argv[2])) < 1 || (n = atoi(argv[3])) < 1 || np > 1024) {
		fprintf(stderr, "usage: md_create DIR NPROC NFILES\n");
		return 2;
	}
	total = (size_t)np * (size_t)n;
	/* shared with the children: each writes its own slice */
	lat = mmap(NULL, total * sizeof(*lat), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED) {
		perror("md_create: mmap");
		return 1;
	}
	for (int k = 0; k < np; k++) {
		snprintf(path, sizeof(path), "%s/p%d", argv[1], k);
		if (mkdir(path, 0755) != 0) {
			fprintf(stderr, "md_create: mkdir %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	t0 = now_s();
	for (int k = 0; k < np; k++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("md_create: fork");
			return 1;
		}
		if (pid == 0)
			_exit(creator(argv[1], k, n, lat + (size_t)k * (size_t)n));
	}
	for (int k = 0; k < np; k++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
	}
	elapsed = now_s() - t0;
	if (failed)
		return 1;
	qsort(lat, total, sizeof(*lat), cmp_double);
	for (size_t i = 0; i < total; i++)
		sum += lat[i];
	printf("creates nproc=%d n=%zu creates/s=%.0f mean=%.0f p50=%.0f p90=%.0f p99=%.0f us\n",
	       np, total, (double)total / elapsed, sum / (double)total, lat[total / 2],
	       lat[total * 9 / 10], lat[total * 99 / 100]);
	return 0;
}
