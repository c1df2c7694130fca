/* raft_alone: libraft by itself on a disk, the floor for godfs-meta's commits.
 *
 *   raft_alone DIR N INFLIGHT
 *
 * One libraft voter (raft_uv storage in DIR, which must exist and be empty; TCP
 * transport on 127.0.0.1:RAFT_ALONE_PORT, default 39871) applies N entries of
 * 128 bytes (about a godfs create) with INFLIGHT proposals outstanding at
 * a time, snapshots as godfs-meta takes them (threshold 8192, trailing 4096).
 * Prints applies/s and the latency of one apply (raft_apply to its callback:
 * the log write and the apply) as mean, median, p90, p99 in microseconds.
 * Used by bench/meta_commit.sh; build:
 *   cc -O2 -o raft_alone raft_alone.c $(pkg-config --cflags --libs raft libuv) */
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define ENTRY_LEN 128

struct prop {
	struct raft_apply req;
	double t0;
};

static struct raft raft;
static struct raft_io io;
static struct raft_uv_transport transport;
static uv_loop_t loop;
static uv_timer_t wait_leader;
static unsigned n_total, inflight, issued, done;
static double *lat, start;
static unsigned long long applied;   /* the state machine: a counter */

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

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	(void)fsm;
	(void)buf;
	applied++;
	*result = NULL;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	(void)fsm;
	*bufs = raft_malloc(sizeof(**bufs));
	if (*bufs == NULL)
		return RAFT_NOMEM;
	(*bufs)->len = sizeof(applied);
	(*bufs)->base = raft_malloc(sizeof(applied));
	if ((*bufs)->base == NULL) {
		raft_free(*bufs);
		return RAFT_NOMEM;
	}
	memcpy((*bufs)->base, &applied, sizeof(applied));
	*n = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	(void)fsm;
	raft_free(buf->base);
	return 0;
}

static void report_and_stop(void)
{
	double elapsed = now_s() - start, sum = 0;

	qsort(lat, n_total, sizeof(*lat), cmp_double);
	for (unsigned i = 0; i < n_total; i++)
		sum += lat[i];
	printf("raft_alone inflight=%u n=%u applies/s=%.0f mean=%.0f p50=%.0f p90=%.0f p99=%.0f us\n",
	       inflight, n_total, n_total / elapsed, sum / n_total, lat[n_total / 2],
	       lat[n_total * 9 / 10], lat[n_total * 99 / 100]);
	fflush(stdout);
	exit(0);   /* a benchmark: the OS reclaims the rest */
}

static void issue(void);

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct prop *p = req->data;

	(void)result;
	if (status != 0) {
		fprintf(stderr, "raft_alone: apply: %s\n", raft_strerror(status));
		exit(1);
	}
	lat[done++] = (now_s() - p->t0) * 1e6;
	free(p);
	if (done == n_total)
		report_and_stop();
	issue();
}

/* Keeps INFLIGHT proposals outstanding until N were made. */
static void issue(void)
{
	while (issued < n_total && issued - done < inflight) {
		struct prop *p = calloc(1, sizeof(*p));
		struct raft_buffer b = { raft_malloc(ENTRY_LEN), ENTRY_LEN };

		if (p == NULL || b.base == NULL) {
			fprintf(stderr, "raft_alone: out of memory\n");
			exit(1);
		}
		memset(b.base, 0x5a, ENTRY_LEN);
		p->req.data = p;
		p->t0 = now_s();
		issued++;
		if (raft_apply(&raft, &p->req, &b, 1, apply_cb) != 0) {
			fprintf(stderr, "raft_alone: raft_apply: %s\n", raft_errmsg(&raft));
			exit(1);
		}
	}
}

static void wait_leader_cb(uv_timer_t *t)
{
	if (raft_state(&raft) != RAFT_LEADER)
		return;
	uv_timer_stop(t);
	start = now_s();
	issue();
}

int main(int argc, char **argv)
{
	static struct raft_fsm fsm = {
		.version = 1, .apply = fsm_apply, .snapshot = fsm_snapshot, .restore = fsm_restore,
	};
	struct raft_configuration conf;
	char addr[64];
	const char *port = getenv("RAFT_ALONE_PORT");

	if (argc != 4 || atoi(argv[2]) < 1 || atoi(argv[3]) < 1) {
		fprintf(stderr, "usage: raft_alone DIR N INFLIGHT\n");
		return 2;
	}
	n_total = (unsigned)atoi(argv[2]);
	inflight = (unsigned)atoi(argv[3]);
	lat = calloc(n_total, sizeof(*lat));
	snprintf(addr, sizeof(addr), "127.0.0.1:%s", port != NULL ? port : "39871");
	if (lat == NULL || uv_loop_init(&loop) != 0 || raft_uv_tcp_init(&transport, &loop) != 0 ||
	    raft_uv_init(&io, &loop, argv[1], &transport) != 0 ||
	    raft_init(&raft, &io, &fsm, 1, addr) != 0) {
		fprintf(stderr, "raft_alone: cannot set up libraft in %s\n", argv[1]);
		return 1;
	}
	raft_set_snapshot_threshold(&raft, 8192);
	raft_set_snapshot_trailing(&raft, 4096);
	raft_configuration_init(&conf);
	if (raft_configuration_add(&conf, 1, addr, RAFT_VOTER) != 0 ||
	    raft_bootstrap(&raft, &conf) != 0 || raft_start(&raft) != 0) {
		fprintf(stderr, "raft_alone: cannot start: %s\n", raft_errmsg(&raft));
		return 1;
	}
	raft_configuration_close(&conf);
	uv_timer_init(&loop, &wait_leader);
	uv_timer_start(&wait_leader, wait_leader_cb, 1, 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	return 0;
}
