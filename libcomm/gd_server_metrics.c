/* gd_server's RPC metrics (see gd_server_metrics.h). */
#include "gd_server_metrics.h"

#include "gd_methods.h"
#include "gd_metrics.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* ---- status code names ---- */

#define CODE_LEN 24

struct code_row {
	int status;
	char name[CODE_LEN];
};

static struct code_row codes[] = {
#define CODE_ROW(name, num, err, msg) { -(num), #name },
	GD_STATUS_TABLE(CODE_ROW)
#undef CODE_ROW
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static pthread_once_t codes_once = PTHREAD_ONCE_INIT;

/* "GD_ENOENT" -> "enoent", once. */
static void codes_lower(void)
{
	for (size_t i = 0; i < NCODES; i++) {
		char *n = codes[i].name;
		size_t j, k = strncmp(n, "GD_", 3) == 0 ? 3 : 0;

		for (j = 0; n[k + j]; j++)
			n[j] = (char)tolower((unsigned char)n[k + j]);
		n[j] = '\0';
	}
}

/* The row index of status, or NCODES. */
static size_t code_index(int status)
{
	size_t i;

	pthread_once(&codes_once, codes_lower);
	for (i = 0; i < NCODES; i++)
		if (codes[i].status == status)
			break;
	return i;
}

const char *gd_status_code_name(int status)
{
	size_t i = code_index(status);

	return i < NCODES ? codes[i].name : "unknown";
}

/* ---- the families and the series cached per method ---- */

static struct {
	struct gd_metric *requests, *errors, *duration;
	struct gd_mseries *received, *sent;
} fam;
static pthread_once_t fam_once = PTHREAD_ONCE_INIT;
#define NMETHODS (GD_METHOD_ID_MAX + 1)
static _Atomic(struct gd_mseries *) req_s[NMETHODS];
static _Atomic(struct gd_mseries *) dur_s[NMETHODS];
static _Atomic(struct gd_mseries *) err_s[NMETHODS][NCODES + 1];

static void fam_make(void)
{
	struct gd_metrics *reg = gd_metrics_global();

	fam.requests = gd_metrics_counter(reg, "godfs_rpc_requests_total",
					  "RPC requests answered, by method.", "method");
	fam.errors = gd_metrics_counter(reg, "godfs_rpc_errors_total",
					"RPC requests answered with an error status, by method "
					"and status code.", "method,code");
	fam.duration = gd_metrics_histogram(reg, "godfs_rpc_request_duration_seconds",
					    "Time from an RPC request read whole to its answer "
					    "sent, by method.", "method", NULL, 0);
	fam.received = gd_metric_at(gd_metrics_counter(reg, "godfs_rpc_received_bytes_total",
						       "Bytes of RPC request frames received.",
						       NULL));
	fam.sent = gd_metric_at(gd_metrics_counter(reg, "godfs_rpc_sent_bytes_total",
						   "Bytes of RPC response frames sent.", NULL));
	/* methods x codes stays below the bound: never "other" */
	gd_metric_set_max_series(fam.errors, NMETHODS * 8);
}

/* The cached series of cache[i] of family m for these labels. */
static struct gd_mseries *cached(_Atomic(struct gd_mseries *) *slot, struct gd_metric *m,
				 const char *method, const char *code)
{
	struct gd_mseries *s = atomic_load_explicit(slot, memory_order_acquire);

	if (s)
		return s;
	s = code ? gd_metric_at(m, method, code) : gd_metric_at(m, method);
	/* a race makes the same series twice over: gd_metric_at returns one */
	atomic_store_explicit(slot, s, memory_order_release);
	return s;
}

uint64_t gd_server_metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gd_server_metrics_received(size_t bytes)
{
	pthread_once(&fam_once, fam_make);
	gd_mseries_add(fam.received, bytes);
}

/* A varint at *p (below end): 0 and *v, or -1 when cut short. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	unsigned shift = 0;

	*v = 0;
	while (*p < end && shift < 64) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
		shift += 7;
	}
	return -1;
}

int gd_server_metrics_status(uint32_t method, const uint8_t *pb, size_t pb_len)
{
	uint32_t want = method == GODFS__METHOD__M_PING ? 2 : 1;
	const uint8_t *p = pb, *end = pb + pb_len;
	uint64_t key, v;

	while (pb && p < end) {
		if (varint(&p, end, &key) < 0)
			return 0;
		switch (key & 7) {
		case 0:
			if (varint(&p, end, &v) < 0)
				return 0;
			if ((key >> 3) == want)
				return (int)(int32_t)(uint32_t)v;
			break;
		case 1:
			p += (size_t)(end - p) < 8 ? (size_t)(end - p) : 8;
			break;
		case 2:
			if (varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
				return 0;
			p += v;
			break;
		case 5:
			p += (size_t)(end - p) < 4 ? (size_t)(end - p) : 4;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

void gd_server_metrics_replied(uint32_t method, const uint8_t *pb, size_t pb_len,
			       size_t frame_bytes, uint64_t start_ns)
{
	const char *name;
	uint64_t now;
	int status;

	pthread_once(&fam_once, fam_make);
	gd_mseries_add(fam.sent, frame_bytes);
	if (method >= NMETHODS)
		return;
	name = gd_method_name(method);
	gd_mseries_inc(cached(&req_s[method], fam.requests, name, NULL));
	now = gd_server_metrics_now_ns();
	if (start_ns && now >= start_ns)
		gd_mseries_observe(cached(&dur_s[method], fam.duration, name, NULL),
				   (double)(now - start_ns) / 1e9);
	status = gd_server_metrics_status(method, pb, pb_len);
	if (status < 0) {
		size_t i = code_index(status);

		gd_mseries_inc(cached(&err_s[method][i], fam.errors, name,
				      i < NCODES ? codes[i].name : "unknown"));
	}
}
