/* The gateway's pure HTTP pieces: Range parsing, validators and
 * conditionals (gw_range), strict query decoding (gw_query), API path rules
 * (gw_path_check), CORS origin lists, the rate limiter's buckets and the
 * GD_E* -> HTTP table. */
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../gateway/gw_cors.h"
#include "../../gateway/gw_error.h"
#include "../../gateway/gw_path.h"
#include "../../gateway/gw_query.h"
#include "../../gateway/gw_range.h"
#include "../../gateway/gw_guard.h"
#include "../../gateway/gw_ratelimit.h"
#include "gd_status.h"

static void test_range_single(void **state)
{
	struct gw_range r[GW_RANGES_MAX];
	size_t n;
	assert_int_equal(gw_range_parse("bytes=0-99", 1000, r, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].first, 0);
	assert_int_equal(r[0].last, 99);
	/* clipped to the size */
	assert_int_equal(gw_range_parse("bytes=900-5000", 1000, r, &n), 1);
	assert_int_equal(r[0].last, 999);
	/* open and suffix */
	assert_int_equal(gw_range_parse("bytes=10-", 1000, r, &n), 1);
	assert_int_equal(r[0].first, 10);
	assert_int_equal(r[0].last, 999);
	assert_int_equal(gw_range_parse("bytes=-10", 1000, r, &n), 1);
	assert_int_equal(r[0].first, 990);
	assert_int_equal(gw_range_parse("bytes=-5000", 1000, r, &n), 1);
	assert_int_equal(r[0].first, 0);
	assert_int_equal(gw_range_parse(" bytes = 1-2 , 5-6 ", 1000, r, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].first, 5);
}

static void test_range_bad(void **state)
{
	struct gw_range r[GW_RANGES_MAX];
	size_t n;
	char many[256] = "bytes=";
	for (int i = 0; i < 17; i++)
		sprintf(many + strlen(many), "%s%d-%d", i ? "," : "", i, i);
	assert_int_equal(gw_range_parse("bytes=1000-", 1000, r, &n), -1); /* past the end */
	assert_int_equal(gw_range_parse("bytes=5-2", 1000, r, &n), -1);
	assert_int_equal(gw_range_parse("bytes=-0", 1000, r, &n), -1);
	assert_int_equal(gw_range_parse("bytes=-", 1000, r, &n), -1);
	assert_int_equal(gw_range_parse("bytes=a-b", 1000, r, &n), -1);
	assert_int_equal(gw_range_parse("bytes=1-2,", 1000, r, &n), -1);
	assert_int_equal(gw_range_parse("bytes=99999999999999999999-", 1000, r, &n), -1);
	assert_int_equal(gw_range_parse(many, 1000, r, &n), -1);
	assert_int_equal(gw_range_parse("bytes=0-0", 0, r, &n), -1);     /* empty file */
	/* one satisfiable range among unsatisfiable ones is served */
	assert_int_equal(gw_range_parse("bytes=2000-3000,0-0", 1000, r, &n), 1);
	assert_int_equal(n, 1);
	/* another unit: ignored */
	assert_int_equal(gw_range_parse("items=0-1", 1000, r, &n), 0);
}

static void test_dates(void **state)
{
	char d[GW_HTTP_DATE_LEN];
	time_t t;
	gw_http_date(784111777, d);
	assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	assert_int_equal(gw_http_date_parse(d, &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(gw_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), -1);
	assert_int_equal(gw_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &t), -1);
	assert_int_equal(gw_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMTx", &t), -1);
}

static void test_etags(void **state)
{
	const char *e = "\"1-2-3\"";
	assert_true(gw_etag_list_match("*", e, false));
	assert_true(gw_etag_list_match("\"x\", \"1-2-3\"", e, false));
	assert_false(gw_etag_list_match("W/\"1-2-3\"", e, false));
	assert_true(gw_etag_list_match("W/\"1-2-3\"", e, true));
	assert_false(gw_etag_list_match("\"1-2-3", e, true));
	assert_false(gw_etag_list_match("\"1-2-4\"", e, true));
	assert_true(gw_if_range_holds("\"1-2-3\"", e, 100));
	assert_false(gw_if_range_holds("W/\"1-2-3\"", e, 100));
	assert_true(gw_if_range_holds("Thu, 01 Jan 1970 00:01:40 GMT", e, 100));
	assert_false(gw_if_range_holds("Thu, 01 Jan 1970 00:01:39 GMT", e, 100));
	/* a later date is no validator of this representation (RFC 9110 13.1.5) */
	assert_false(gw_if_range_holds("Thu, 01 Jan 1970 00:01:41 GMT", e, 100));

	/* the file's tag: every field counts, ctime too (a user may put mtime back) */
	char t1[GW_ETAG_LEN], t2[GW_ETAG_LEN];
	struct timespec m = { 1700000000, 5 }, c = { 1700000000, 5 }, c2 = { 1700000009, 1 };
	gw_etag_format(0x10, 1, 4, &m, &c, t1, sizeof(t1));
	assert_string_equal(t1, "\"10-1-4-17979cfe362a0005-17979cfe362a0005\"");
	gw_etag_format(0x10, 1, 4, &m, &c2, t2, sizeof(t2));
	assert_string_not_equal(t1, t2);
	gw_etag_format(0x10, 2, 4, &m, &c, t2, sizeof(t2));
	assert_string_not_equal(t1, t2);
	struct timespec big = { INT32_MAX * 4ll, 999999999 };
	gw_etag_format(UINT64_MAX, UINT64_MAX, UINT64_MAX, &big, &big, t2, sizeof(t2));
	assert_int_equal(t2[strlen(t2) - 1], '"');
}

static void test_conditionals(void **state)
{
	struct gw_cond_in c = { .exists = true, .etag = "\"a\"", .mtime = 100, .get = true };
	assert_int_equal(gw_cond_eval(&c), GW_COND_GO);
	c.if_none_match = "\"a\"";
	assert_int_equal(gw_cond_eval(&c), GW_COND_NOT_MODIFIED);
	c.get = false;
	assert_int_equal(gw_cond_eval(&c), GW_COND_FAILED);
	c = (struct gw_cond_in){ .exists = true, .etag = "\"a\"", .mtime = 100, .get = true };
	c.if_match = "\"b\"";
	assert_int_equal(gw_cond_eval(&c), GW_COND_FAILED);
	c.if_match = "\"a\"";
	/* If-Match wins over If-Unmodified-Since */
	c.if_unmodified_since = "Thu, 01 Jan 1970 00:00:01 GMT";
	assert_int_equal(gw_cond_eval(&c), GW_COND_GO);
	c.if_match = NULL;
	assert_int_equal(gw_cond_eval(&c), GW_COND_FAILED);
	c.if_unmodified_since = NULL;
	c.if_modified_since = "Thu, 01 Jan 1970 00:01:40 GMT";
	assert_int_equal(gw_cond_eval(&c), GW_COND_NOT_MODIFIED);
	c.if_modified_since = "Thu, 01 Jan 1970 00:01:39 GMT";
	assert_int_equal(gw_cond_eval(&c), GW_COND_GO);
	/* If-None-Match present: If-Modified-Since is ignored */
	c.if_modified_since = "Thu, 01 Jan 1970 00:01:40 GMT";
	c.if_none_match = "\"other\"";
	assert_int_equal(gw_cond_eval(&c), GW_COND_GO);
	/* PUT create-only */
	c = (struct gw_cond_in){ .exists = false, .if_none_match = "*" };
	assert_int_equal(gw_cond_eval(&c), GW_COND_GO);
	c.exists = true;
	c.etag = "\"a\"";
	assert_int_equal(gw_cond_eval(&c), GW_COND_FAILED);
	c = (struct gw_cond_in){ .exists = false, .if_match = "*" };
	assert_int_equal(gw_cond_eval(&c), GW_COND_FAILED);
}

static void test_query(void **state)
{
	struct gw_arg a[GW_MAX_ARGS];
	size_t n;
	char why[128];
	assert_int_equal(gw_query_parse("/v1/x?path=%2Fa%20b+c&flag&x=", a, &n, why,
					sizeof(why)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(a[0].name, "path");
	assert_string_equal(a[0].value, "/a b c");
	assert_string_equal(a[1].name, "flag");
	assert_string_equal(a[1].value, "");
	gw_query_free(a, n);
	assert_int_equal(gw_query_parse("/v1/x", a, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gw_query_parse("/v1/x?path=%00", a, &n, why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_query_parse("/v1/x?path=%zz", a, &n, why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_query_parse("/v1/x?path=%2", a, &n, why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_query_parse("/v1/x?a=1&a=2", a, &n, why, sizeof(why)), GD_EINVAL);
	char many[512] = "/x?";
	for (int i = 0; i <= GW_MAX_ARGS; i++)
		sprintf(many + strlen(many), "a%d=1&", i);
	assert_int_equal(gw_query_parse(many, a, &n, why, sizeof(why)), GD_EINVAL);
	assert_int_equal(n, 0);
}

static void test_paths(void **state)
{
	char why[128], name[300], path[5000];
	assert_int_equal(gw_path_check("/", why, sizeof(why)), 0);
	assert_int_equal(gw_path_check("/a/b.c/..d", why, sizeof(why)), 0);
	assert_int_equal(gw_path_check("", why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_path_check("a", why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_path_check("/a/../b", why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_path_check("/a/./b", why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_path_check("/..", why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_path_check("//a", why, sizeof(why)), GD_EINVAL);
	assert_int_equal(gw_path_check("/a/", why, sizeof(why)), GD_EINVAL);
	memset(name, 'n', 256);
	name[0] = '/';
	name[256] = '\0';
	assert_int_equal(gw_path_check(name, why, sizeof(why)), 0);       /* 255 bytes */
	name[256] = 'n';
	name[257] = '\0';
	assert_int_equal(gw_path_check(name, why, sizeof(why)), GD_ENAMETOOLONG);
	for (int i = 0; i < 4096; i += 2)
		memcpy(path + i, "/a", 2);
	path[4096] = '\0';
	assert_int_equal(gw_path_check(path, why, sizeof(why)), 0);
	memcpy(path + 4096, "/a", 3);
	assert_int_equal(gw_path_check(path, why, sizeof(why)), GD_ENAMETOOLONG);
}

static void test_cors(void **state)
{
	assert_true(gw_cors_origin_allowed("*", "https://a"));
	assert_true(gw_cors_origin_allowed("https://a, https://b", "https://b"));
	assert_false(gw_cors_origin_allowed("https://a,https://b", "https://c"));
	assert_false(gw_cors_origin_allowed("https://ab", "https://a"));
	assert_false(gw_cors_origin_allowed(NULL, "https://a"));
	assert_false(gw_cors_origin_allowed("*", NULL));
}

static void test_ratelimit(void **state)
{
	struct gw_ratelimit *rl;
	unsigned retry = 0;
	uint64_t t = 1000000000ull;
	assert_int_equal(gw_ratelimit_new(2, 3, &rl), 0);
	for (int i = 0; i < 3; i++)
		assert_true(gw_ratelimit_take(rl, "key:1", t, &retry));
	assert_false(gw_ratelimit_take(rl, "key:1", t, &retry));
	assert_true(retry >= 1);
	assert_true(gw_ratelimit_take(rl, "key:2", t, &retry));   /* buckets are per key */
	/* 2 per second: half a second later, one more */
	assert_true(gw_ratelimit_take(rl, "key:1", t + 500000000ull, &retry));
	assert_false(gw_ratelimit_take(rl, "key:1", t + 500000000ull, &retry));
	/* many keys: the table stays bounded (oldest dropped) */
	char k[32];
	for (int i = 0; i < GW_RL_MAX_BUCKETS + 10; i++) {
		snprintf(k, sizeof(k), "ip:%d", i);
		assert_true(gw_ratelimit_take(rl, k, t + 600000000ull, &retry));
	}
	gw_ratelimit_free(rl);
}

static void test_ratelimit_keys(void **state)
{
	struct gw_ratelimit *rl;
	char k[GW_RL_CLIENT_KEY_MAX];
	unsigned retry = 0;
	uint64_t t = 1000000000ull;
	(void)state;
	gw_ratelimit_client_key("192.0.2.7", k);
	assert_string_equal(k, "ip:192.0.2.7");
	gw_ratelimit_client_key("::ffff:192.0.2.7", k);   /* the same client */
	assert_string_equal(k, "ip:192.0.2.7");
	/* IPv6: one bucket per /64, whatever the host part */
	gw_ratelimit_client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k);
	assert_string_equal(k, "ip6:2001:db8:1:2::/64");
	gw_ratelimit_client_key("2001:db8:1:2::1", k);
	assert_string_equal(k, "ip6:2001:db8:1:2::/64");
	gw_ratelimit_client_key("2001:db8:1:3::1", k);
	assert_string_equal(k, "ip6:2001:db8:1:3::/64");
	gw_ratelimit_client_key("", k);
	assert_string_equal(k, "ip:");
	/* peek takes nothing */
	assert_int_equal(gw_ratelimit_new(1, 2, &rl), 0);
	for (int i = 0; i < 5; i++)
		assert_true(gw_ratelimit_peek(rl, "ip:x", t, &retry));
	assert_true(gw_ratelimit_take(rl, "ip:x", t, &retry));
	assert_true(gw_ratelimit_take(rl, "ip:x", t, &retry));
	assert_false(gw_ratelimit_peek(rl, "ip:x", t, &retry));
	assert_true(retry >= 1);
	gw_ratelimit_free(rl);
}

static void test_guard(void **state)
{
	struct gw_guard *g;
	void *ctx_slow = NULL, *ctx_fast = NULL;
	int slow[2], fast[2];
	char c;
	unsigned retry = 0;
	uint64_t t = 1000000000ull;
	(void)state;
	/* failed authentications: GW_GUARD_FAIL_BURST, then refused before the
	 * credential is looked at; per /64 for IPv6; another address is free */
	assert_int_equal(gw_guard_new(1, &g), 0);
	for (int i = 0; i < (int)GW_GUARD_FAIL_BURST; i++) {
		assert_true(gw_guard_auth_allowed(g, "2001:db8::1", t, &retry));
		gw_guard_auth_failed(g, "2001:db8::1", t);
	}
	assert_false(gw_guard_auth_allowed(g, "2001:db8::2", t, &retry));
	assert_true(gw_guard_auth_allowed(g, "2001:db8:0:1::1", t, &retry));
	assert_true(gw_guard_auth_allowed(g, "192.0.2.1", t, &retry));
	assert_true(gw_guard_auth_allowed(g, "2001:db8::2", t + 1000000000ull, &retry));

	/* the header deadline (1 s): a connection that never completes its
	 * headers is shut; one whose headers came in is left alone */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, slow), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fast), 0);
	gw_guard_conn_started(g, slow[0], &ctx_slow);
	gw_guard_conn_started(g, fast[0], &ctx_fast);
	gw_guard_headers_done(g, ctx_fast);
	usleep(1600 * 1000);
	assert_int_equal(gw_guard_cut_count(g), 1);
	assert_int_equal(read(slow[1], &c, 1), 0);   /* EOF: shut down */
	assert_int_equal(send(fast[1], "x", 1, MSG_DONTWAIT), 1);
	assert_int_equal(recv(fast[0], &c, 1, MSG_DONTWAIT), 1);
	/* its request over, a kept-alive connection's next headers are due */
	gw_guard_request_done(g, ctx_fast);
	usleep(1600 * 1000);
	assert_int_equal(gw_guard_cut_count(g), 2);
	gw_guard_conn_closed(g, &ctx_slow);
	gw_guard_conn_closed(g, &ctx_fast);
	assert_null(ctx_slow);
	gw_guard_free(g);
	for (int i = 0; i < 2; i++) {
		close(slow[i]);
		close(fast[i]);
	}
}

static void test_errors(void **state)
{
	assert_int_equal(gw_error_from_status(GD_ENOENT).http, 404);
	assert_string_equal(gw_error_from_status(GD_ENOENT).code, GW_NOT_FOUND);
	assert_int_equal(gw_error_from_status(GD_EEXIST).http, 409);
	assert_int_equal(gw_error_from_status(GD_EACCES).http, 403);
	assert_int_equal(gw_error_from_status(GD_EROFS).http, 403);
	assert_int_equal(gw_error_from_status(GD_EAUTH).http, 401);
	assert_int_equal(gw_error_from_status(GD_ENOSPC).http, 507);
	assert_int_equal(gw_error_from_status(GD_ENOSERVERS).http, 503);
	assert_int_equal(gw_error_from_status(GD_ETIMEDOUT).http, 504);
	assert_int_equal(gw_error_from_status(GD_ENOTLEADER).http, 503);
	assert_int_equal(gw_error_from_status(GD_ECORRUPT).http, 500);
	assert_int_equal(gw_error_from_status(0).http, 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_single), cmocka_unit_test(test_range_bad),
		cmocka_unit_test(test_dates),        cmocka_unit_test(test_etags),
		cmocka_unit_test(test_conditionals), cmocka_unit_test(test_query),
		cmocka_unit_test(test_paths),        cmocka_unit_test(test_cors),
		cmocka_unit_test(test_ratelimit),    cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ratelimit_keys), cmocka_unit_test(test_guard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
