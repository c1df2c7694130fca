/* gd_metrics, gd_http, gd_server_metrics: the exposition parses back to the
 * values put in (counters, gauges, collectors, histograms whose buckets are
 * cumulative and agree with _count); label values and HELP are escaped, cut
 * and made UTF-8; a family keeps at most its bound of series, the rest going
 * to one "other" series; wrong label counts and clashing registrations are
 * refused; an allocation failure during a scrape is an error, not a crash;
 * the status of a packed response is read for the error counter; gd_http
 * answers GET and HEAD on its routes, 404 elsewhere and 405 to other methods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_alloc.h"
#include "gd_http.h"
#include "gd_metrics.h"
#include "gd_metrics_serve.h"
#include "gd_net.h"
#include "gd_server_metrics.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a small parser of the text format ---- */

#define MAX_SAMPLES 256

struct sample {
	char key[640];   /* name{labels} as printed */
	double value;
};

struct parsed {
	struct sample s[MAX_SAMPLES];
	size_t n;
};

/* Parses text: every sample line's family has a # TYPE line before it; a
 * sample's value is the part after its last space. */
static void parse(const char *text, struct parsed *p)
{
	char typed[64][128];
	size_t ntyped = 0;
	const char *line = text;

	p->n = 0;
	while (*line) {
		const char *end = strchr(line, '\n');
		char buf[600];
		size_t len;

		assert_non_null(end);   /* every line ends with \n */
		len = (size_t)(end - line);
		assert_true(len < sizeof(buf));
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = end + 1;
		if (strncmp(buf, "# TYPE ", 7) == 0) {
			assert_true(ntyped < 64);
			sscanf(buf + 7, "%127s", typed[ntyped++]);
			continue;
		}
		if (buf[0] == '#')
			continue;
		{
			char *sp = strrchr(buf, ' ');
			size_t i, nl = strcspn(buf, "{ ");
			int found = 0;

			assert_non_null(sp);
			*sp = '\0';
			for (i = 0; i < ntyped; i++) {
				size_t tl = strlen(typed[i]);
				if (strncmp(buf, typed[i], tl) == 0 &&
				    (nl == tl || strcmp(buf + tl, "_bucket") == 0 ||
				     strncmp(buf + tl, "_bucket{", 8) == 0 ||
				     strncmp(buf + tl, "_sum", 4) == 0 ||
				     strncmp(buf + tl, "_count", 6) == 0))
					found = 1;
			}
			assert_true(found);
			assert_true(p->n < MAX_SAMPLES);
			snprintf(p->s[p->n].key, sizeof(p->s[p->n].key), "%s", buf);
			p->s[p->n].value = strcmp(sp + 1, "+Inf") == 0 ? INFINITY : strtod(sp + 1, NULL);
			p->n++;
		}
	}
}

/* The value of sample key; fails the test when absent. */
static double get(const struct parsed *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->s[i].key, key) == 0)
			return p->s[i].value;
	fail_msg("no sample %s", key);
	return 0;
}

static int has(const struct parsed *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->s[i].key, key) == 0)
			return 1;
	return 0;
}

static char *render(struct gd_metrics *reg, struct parsed *p)
{
	char *text;
	size_t len;

	assert_int_equal(gd_metrics_render(reg, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	parse(text, p);
	return text;
}

static struct parsed P;

/* ---- tests ---- */

static void test_counter_gauge(void **state)
{
	struct gd_metrics *reg;
	struct gd_metric *c, *g;
	char *text;

	(void)state;
	assert_int_equal(gd_metrics_new(&reg), 0);
	c = gd_metrics_counter(reg, "t_requests_total", "Requests.", "method");
	g = gd_metrics_gauge(reg, "t_temp", "A gauge.", NULL);
	assert_non_null(c);
	assert_non_null(g);
	gd_mseries_add(gd_metric_at(c, "GET"), 3);
	gd_mseries_inc(gd_metric_at(c, "GET"));
	gd_mseries_inc(gd_metric_at(c, "PUT"));
	gd_mseries_set(gd_metric_at(g), 2.5);
	gd_mseries_gauge_add(gd_metric_at(g), -4);
	/* counters do not take gauge calls and the other way round */
	gd_mseries_set(gd_metric_at(c, "GET"), 100);
	gd_mseries_add(gd_metric_at(g), 100);
	text = render(reg, &P);
	assert_non_null(strstr(text, "# HELP t_requests_total Requests.\n"
				     "# TYPE t_requests_total counter\n"));
	assert_non_null(strstr(text, "# TYPE t_temp gauge\n"));
	assert_true(get(&P, "t_requests_total{method=\"GET\"}") == 4);
	assert_true(get(&P, "t_requests_total{method=\"PUT\"}") == 1);
	assert_true(get(&P, "t_temp") == -1.5);
	assert_true(gd_mseries_value(gd_metric_at(c, "GET")) == 4);
	gd_free(text);
	gd_metrics_free(reg);
}

static void test_escaping(void **state)
{
	struct gd_metrics *reg;
	struct gd_metric *c;
	char long_value[600], *text;

	(void)state;
	assert_int_equal(gd_metrics_new(&reg), 0);
	c = gd_metrics_counter(reg, "t_esc_total", "Back\\slash and\nnewline \"kept\".", "dir");
	gd_mseries_inc(gd_metric_at(c, "a\"b\\c\nd"));
	gd_mseries_inc(gd_metric_at(c, "bad\xff\xfe utf8 \xc3\xa9t\xc3\xa9"));
	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	gd_mseries_inc(gd_metric_at(c, long_value));
	gd_mseries_inc(gd_metric_at(c, long_value));    /* the same (cut) series */
	text = render(reg, &P);
	assert_non_null(strstr(text, "# HELP t_esc_total Back\\\\slash and\\nnewline \"kept\".\n"));
	assert_true(get(&P, "t_esc_total{dir=\"a\\\"b\\\\c\\nd\"}") == 1);
	assert_true(get(&P, "t_esc_total{dir=\"bad?? utf8 \xc3\xa9t\xc3\xa9\"}") == 1);
	{
		char key[512];

		snprintf(key, sizeof(key), "t_esc_total{dir=\"%.*s\"}", GD_METRICS_VALUE_MAX,
			 long_value);
		assert_true(get(&P, key) == 2);
	}
	assert_int_equal(P.n, 3);
	gd_free(text);
	gd_metrics_free(reg);
}

static void test_histogram(void **state)
{
	struct gd_metrics *reg;
	struct gd_metric *h;
	struct gd_mseries *s;
	char *text;
	static const double b[] = { 1, 2, 5 };

	(void)state;
	assert_int_equal(gd_metrics_new(&reg), 0);
	h = gd_metrics_histogram(reg, "t_latency_seconds", "Latency.", "op", NULL, 0);
	s = gd_metric_at(h, "read");
	gd_mseries_observe(s, 0.00005);
	gd_mseries_observe(s, 0.003);
	gd_mseries_observe(s, 0.003);
	gd_mseries_observe(s, 0.0001);   /* on a bound: in that bucket (le) */
	gd_mseries_observe(s, 20);
	text = render(reg, &P);
	assert_true(get(&P, "t_latency_seconds_bucket{op=\"read\",le=\"0.0001\"}") == 2);
	assert_true(get(&P, "t_latency_seconds_bucket{op=\"read\",le=\"0.0025\"}") == 2);
	assert_true(get(&P, "t_latency_seconds_bucket{op=\"read\",le=\"0.005\"}") == 4);
	assert_true(get(&P, "t_latency_seconds_bucket{op=\"read\",le=\"10\"}") == 4);
	assert_true(get(&P, "t_latency_seconds_bucket{op=\"read\",le=\"+Inf\"}") == 5);
	assert_true(get(&P, "t_latency_seconds_count{op=\"read\"}") == 5);
	assert_true(fabs(get(&P, "t_latency_seconds_sum{op=\"read\"}") - 20.00615) < 1e-9);
	/* cumulative: never going down */
	{
		double last = 0;
		for (size_t i = 0; i < P.n; i++)
			if (strstr(P.s[i].key, "_bucket")) {
				assert_true(P.s[i].value >= last);
				last = P.s[i].value;
			}
	}
	gd_free(text);
	/* own bounds; bounds that do not increase are refused */
	h = gd_metrics_histogram(reg, "t_size", "Sizes.", NULL, b, 3);
	gd_mseries_observe(gd_metric_at(h), 3);
	assert_null(gd_metrics_histogram(reg, "t_bad", "x", NULL, (double[]){ 2, 1 }, 2));
	text = render(reg, &P);
	assert_true(get(&P, "t_size_bucket{le=\"2\"}") == 0);
	assert_true(get(&P, "t_size_bucket{le=\"5\"}") == 1);
	assert_true(get(&P, "t_size_count") == 1);
	gd_free(text);
	gd_metrics_free(reg);
}

static void test_bounds_and_misuse(void **state)
{
	struct gd_metrics *reg;
	struct gd_metric *c;
	char *text;

	(void)state;
	assert_int_equal(gd_metrics_new(&reg), 0);
	c = gd_metrics_counter(reg, "t_by_user_total", "By user.", "user,op");
	gd_metric_set_max_series(c, 2);
	gd_mseries_inc(gd_metric_at(c, "a", "x"));
	gd_mseries_inc(gd_metric_at(c, "b", "x"));
	gd_mseries_inc(gd_metric_at(c, "c", "x"));
	gd_mseries_inc(gd_metric_at(c, "d", "y"));
	gd_mseries_inc(gd_metric_at(c, "a", "x"));     /* an existing one still counts */
	/* wrong number of label values */
	assert_null(gd_metric_at(c, "a"));
	assert_null(gd_metric_at(c, "a", "b", "c"));
	gd_mseries_inc(NULL);                          /* a no-op */
	/* same name: same family when the shape is the same, else refused */
	assert_ptr_equal(gd_metrics_counter(reg, "t_by_user_total", "again", "user,op"), c);
	assert_null(gd_metrics_gauge(reg, "t_by_user_total", "x", "user,op"));
	assert_null(gd_metrics_counter(reg, "t_by_user_total", "x", "user"));
	/* bad names */
	assert_null(gd_metrics_counter(reg, "9lives", "x", NULL));
	assert_null(gd_metrics_counter(reg, "has-dash", "x", NULL));
	assert_null(gd_metrics_counter(reg, "t_ok", "x", "le"));
	assert_null(gd_metrics_counter(reg, "t_ok2", "x", "a,b,c,d,e"));
	text = render(reg, &P);
	assert_true(get(&P, "t_by_user_total{user=\"a\",op=\"x\"}") == 2);
	assert_true(get(&P, "t_by_user_total{user=\"b\",op=\"x\"}") == 1);
	assert_true(get(&P, "t_by_user_total{user=\"other\",op=\"other\"}") == 2);
	assert_false(has(&P, "t_by_user_total{user=\"c\",op=\"x\"}"));
	assert_int_equal(P.n, 3);
	gd_free(text);
	gd_metrics_free(reg);
}

static void collect(void *ctx, struct gd_metrics_emit *e)
{
	int *n = ctx;

	gd_metrics_emit(e, 1, "n1", "10.0.0.1:8000");
	gd_metrics_emit(e, 0, "n2", "10.0.0.2:8000");
	gd_metrics_emit(e, 7, "n3");      /* wrong count: dropped (logged) */
	(*n)++;
}

static void test_collector_and_process(void **state)
{
	struct gd_metrics *reg;
	char *text;
	int calls = 0;

	(void)state;
	assert_int_equal(gd_metrics_new(&reg), 0);
	assert_non_null(gd_metrics_collector(reg, "t_up", "Up.", GD_METRIC_GAUGE, "node,addr",
					     collect, &calls));
	assert_null(gd_metrics_collector(reg, "t_h", "x", GD_METRIC_HISTOGRAM, NULL, collect,
					 &calls));
	gd_metrics_process_register(reg);
	gd_metrics_process_register(reg);    /* twice is harmless */
	text = render(reg, &P);
	assert_int_equal(calls, 1);
	assert_true(get(&P, "t_up{node=\"n1\",addr=\"10.0.0.1:8000\"}") == 1);
	assert_true(get(&P, "t_up{node=\"n2\",addr=\"10.0.0.2:8000\"}") == 0);
	assert_true(get(&P, "process_resident_memory_bytes") > 1e5);
	assert_true(get(&P, "process_open_fds") >= 3);
	assert_true(get(&P, "process_cpu_seconds_total") >= 0);
	assert_true(fabs(get(&P, "process_start_time_seconds") - (double)time(NULL)) < 3600);
	assert_true(has(&P, "godfs_build_info{version=\"" PACKAGE_VERSION "\"}"));
	assert_int_equal(P.n, 7);
	gd_free(text);
	gd_metrics_free(reg);
}

static void test_render_out_of_memory(void **state)
{
	struct gd_metrics *reg;
	struct gd_metric *c;
	char *text = NULL;
	size_t len, i;
	int failed = 0;

	(void)state;
	assert_int_equal(gd_metrics_new(&reg), 0);
	c = gd_metrics_counter(reg, "t_x_total", "X.", "k");
	for (i = 0; i < 200; i++) {
		char v[32];
		snprintf(v, sizeof(v), "value-%zu", i);
		gd_mseries_inc(gd_metric_at(c, v));
	}
	for (i = 1; i < 8; i++) {
		gd_alloc_fail_after((long)i);
		if (gd_metrics_render(reg, &text, &len) == GD_ENOMEM)
			failed++;
		else
			gd_free(text);
		gd_alloc_fail_after(0);
	}
	assert_true(failed > 0);
	gd_metrics_free(reg);
}

static void test_status_of_reply(void **state)
{
	Godfs__StatusResp r = GODFS__STATUS_RESP__INIT;
	Godfs__Ping p = GODFS__PING__INIT;
	uint8_t buf[64];
	size_t n;

	(void)state;
	r.has_status = 1;
	r.status = GD_ENOENT;
	n = protobuf_c_message_pack(&r.base, buf);
	assert_int_equal(gd_server_metrics_status(GODFS__METHOD__M_LOOKUP, buf, n), GD_ENOENT);
	r.status = 0;
	n = protobuf_c_message_pack(&r.base, buf);
	assert_int_equal(gd_server_metrics_status(GODFS__METHOD__M_LOOKUP, buf, n), 0);
	assert_int_equal(gd_server_metrics_status(GODFS__METHOD__M_LOOKUP, NULL, 0), 0);
	/* cut short: no status, no crash */
	r.status = GD_ECONN;
	n = protobuf_c_message_pack(&r.base, buf);
	assert_int_equal(gd_server_metrics_status(GODFS__METHOD__M_LOOKUP, buf, 3), 0);
	p.has_status = 1;
	p.status = GD_EAUTH;
	n = protobuf_c_message_pack(&p.base, buf);
	assert_int_equal(gd_server_metrics_status(GODFS__METHOD__M_PING, buf, n), GD_EAUTH);
	assert_string_equal(gd_status_code_name(GD_ENOENT), "enoent");
	assert_string_equal(gd_status_code_name(GD_ENOTLEADER), "enotleader");
	assert_string_equal(gd_status_code_name(-9999), "unknown");
}

/* ---- gd_http over loopback ---- */

static void page(void *ctx, const char *path, const char *query, struct gd_http_reply *out)
{
	char text[256];

	snprintf(text, sizeof(text), "%s path=%s query=%s\n", (const char *)ctx, path, query);
	out->body = gd_strdup(text);
	out->len = strlen(text);
	out->content_type = "text/x-test";
}

/* Sends req to port and returns the whole answer (malloc'd). */
static char *http(int port, const char *req)
{
	char addr[64], *out = calloc(1, 65536);
	size_t got = 0;
	ssize_t n;
	int fd;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(gd_net_connect(addr, 2000, &fd), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(fd, out + got, 65535 - got)) > 0)
		got += (size_t)n;
	close(fd);
	return out;
}

static void test_http(void **state)
{
	struct gd_http *h;
	char *a;
	int port;

	(void)state;
	assert_int_equal(gd_http_start("127.0.0.1:nope", &h), GD_EINVAL);
	assert_int_equal(gd_http_start("127.0.0.1:0", &h), 0);
	port = gd_http_port(h);
	assert_true(port > 0);
	assert_int_equal(gd_http_route(h, "/page", page, "hello"), 0);
	assert_int_equal(gd_http_route(h, "/page", page, "again"), GD_EEXIST);
	assert_int_equal(gd_http_route(h, "relative", page, "x"), GD_EINVAL);

	a = http(port, "GET /page?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "Content-Type: text/x-test"));
	assert_non_null(strstr(a, "hello path=/page query=a=1&b=%20\n"));
	free(a);
	a = http(port, "HEAD /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_null(strstr(a, "hello"));
	free(a);
	a = http(port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 404"));
	free(a);
	a = http(port, "POST /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		       "Content-Length: 3\r\n\r\nabc");
	assert_non_null(strstr(a, "HTTP/1.1 405"));
	assert_non_null(strstr(a, "Allow: GET, HEAD"));
	free(a);
	/* a route added while it serves; /metrics of a registry */
	{
		struct gd_metrics *reg;

		assert_int_equal(gd_metrics_new(&reg), 0);
		gd_mseries_inc(gd_metric_at(gd_metrics_counter(reg, "t_hits_total", "Hits.", NULL)));
		assert_int_equal(gd_http_route(h, "/metrics", gd_metrics_http_handler, reg), 0);
		a = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
		assert_non_null(strstr(a, "200"));
		assert_non_null(strstr(a, "Content-Type: " GD_METRICS_CONTENT_TYPE));
		assert_non_null(strstr(a, "\nt_hits_total 1\n"));
		free(a);
		gd_http_stop(h);
		gd_metrics_free(reg);
	}
	/* the port is free again: the listening socket was closed */
	{
		char addr[64];

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		assert_int_equal(gd_http_start(addr, &h), 0);
		gd_http_stop(h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_bounds_and_misuse),
		cmocka_unit_test(test_collector_and_process),
		cmocka_unit_test(test_render_out_of_memory),
		cmocka_unit_test(test_status_of_reply),
		cmocka_unit_test(test_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
