/* gw_mp_rules: upload ids, part ETags, part records and manifests as the
 * staging area stores them, and the plan of a complete (which requests are
 * refused, and when the staged bytes are already the final file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "gw_mp_rules.h"

#include <stdio.h>
#include <string.h>

static void test_ids(void **state)
{
	(void)state;
	assert_true(gw_mp_id_valid("0123456789abcdef0123456789abcdef"));
	assert_false(gw_mp_id_valid("0123456789abcdef0123456789abcde"));   /* short */
	assert_false(gw_mp_id_valid("0123456789abcdef0123456789abcdef0")); /* long */
	assert_false(gw_mp_id_valid("0123456789ABCDEF0123456789abcdef")); /* upper */
	assert_false(gw_mp_id_valid("../456789abcdef0123456789abcdef01"));
	assert_false(gw_mp_id_valid(""));
}

static void test_etags(void **state)
{
	uint8_t sha[GW_MP_SHA_LEN], back[GW_MP_SHA_LEN];
	char etag[GW_MP_ETAG_SIZE];
	(void)state;
	for (int i = 0; i < GW_MP_SHA_LEN; i++)
		sha[i] = (uint8_t)(i * 37 + 1);
	gw_mp_etag_format(sha, etag);
	assert_int_equal(strlen(etag), GW_MP_ETAG_SIZE - 1);
	assert_true(strncmp(etag, "\"sha256-", 8) == 0);
	assert_int_equal(etag[GW_MP_ETAG_SIZE - 2], '"');
	/* quoted, unquoted, without the prefix, upper case: all the same */
	assert_int_equal(gw_mp_etag_parse(etag, back), 0);
	assert_memory_equal(sha, back, GW_MP_SHA_LEN);
	char bare[80];
	snprintf(bare, sizeof(bare), "%.*s", 71, etag + 1);
	assert_int_equal(gw_mp_etag_parse(bare, back), 0);
	assert_memory_equal(sha, back, GW_MP_SHA_LEN);
	for (char *p = bare; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(gw_mp_etag_parse(bare + 7, back), 0);
	assert_memory_equal(sha, back, GW_MP_SHA_LEN);
	/* wrong length, not hex, a lone quote */
	assert_int_equal(gw_mp_etag_parse("\"sha256-abc\"", back), GD_EINVAL);
	bare[20] = 'g';
	assert_int_equal(gw_mp_etag_parse(bare, back), GD_EINVAL);
	assert_int_equal(gw_mp_etag_parse("\"", back), GD_EINVAL);
	assert_int_equal(gw_mp_etag_parse("", back), GD_EINVAL);
}

static void test_records(void **state)
{
	struct gw_mp_part p = { .number = 7, .size = 5u << 20, .where = GW_MP_IN_DATA }, q;
	char rec[GW_MP_RECORD_SIZE];
	(void)state;
	memset(p.sha, 0xab, sizeof(p.sha));
	size_t n = gw_mp_record_format(&p, rec);
	assert_true(n > 0 && n < sizeof(rec));
	assert_int_equal(gw_mp_record_parse(rec, n, &q), 0);
	assert_int_equal(q.size, p.size);
	assert_int_equal(q.where, GW_MP_IN_DATA);
	assert_memory_equal(q.sha, p.sha, GW_MP_SHA_LEN);
	p.where = GW_MP_IN_FILE;
	p.size = 0;
	n = gw_mp_record_format(&p, rec);
	assert_int_equal(gw_mp_record_parse(rec, n, &q), 0);
	assert_int_equal(q.where, GW_MP_IN_FILE);
	assert_int_equal(q.size, 0);
	/* bytes from the meta are taken as they are: short, long, junk, NUL */
	assert_int_equal(gw_mp_record_parse(rec, n - 1, &q), GD_EINVAL);
	assert_int_equal(gw_mp_record_parse(rec, 0, &q), GD_EINVAL);
	assert_int_equal(gw_mp_record_parse("v1 -1 ab file", 13, &q), GD_EINVAL);
	assert_int_equal(gw_mp_record_parse("v2 1 ab file", 12, &q), GD_EINVAL);
	char big[300];
	memset(big, 'x', sizeof(big));
	assert_int_equal(gw_mp_record_parse(big, sizeof(big), &q), GD_EINVAL);
	memcpy(big, rec, n);
	big[n] = '\0';
	assert_int_equal(gw_mp_record_parse(big, n + 1, &q), GD_EINVAL);
	snprintf(big, sizeof(big), "v1 6000000000 %064d data", 0);   /* over the part limit */
	assert_int_equal(gw_mp_record_parse(big, strlen(big), &q), GD_EINVAL);
	snprintf(big, sizeof(big), "v1 1 %064d disk", 0);
	assert_int_equal(gw_mp_record_parse(big, strlen(big), &q), GD_EINVAL);
	snprintf(big, sizeof(big), "v1 1 %064d file ", 0);          /* trailing junk */
	assert_int_equal(gw_mp_record_parse(big, strlen(big), &q), GD_EINVAL);
}

static void test_part_names(void **state)
{
	(void)state;
	assert_int_equal(gw_mp_part_name_number("part-1"), 1);
	assert_int_equal(gw_mp_part_name_number("part-10000"), 10000);
	assert_int_equal(gw_mp_part_name_number("part-10001"), 0);
	assert_int_equal(gw_mp_part_name_number("part-0"), 0);
	assert_int_equal(gw_mp_part_name_number("part-01"), 0);
	assert_int_equal(gw_mp_part_name_number("part-"), 0);
	assert_int_equal(gw_mp_part_name_number("part-3.tmp-0011223344556677"), 0);
	assert_int_equal(gw_mp_part_name_number("part-99999999999"), 0);
	assert_int_equal(gw_mp_part_name_number("manifest"), 0);
}

static void test_manifest(void **state)
{
	struct gw_mp_manifest m = { .key_id = 42, .part_size = 8u << 20, .zero_copy = true,
				    .created = 1700000000, .expires = 1700086400 }, b;
	char *json = NULL;
	(void)state;
	strcpy(m.id, "00112233445566778899aabbccddeeff");
	strcpy(m.path, "/dir/na\"me \xc3\xa9\n");
	assert_int_equal(gw_mp_manifest_encode(&m, &json), 0);
	assert_int_equal(gw_mp_manifest_decode(json, strlen(json), &b), 0);
	assert_string_equal(b.id, m.id);
	assert_string_equal(b.path, m.path);
	assert_int_equal(b.key_id, 42);
	assert_int_equal(b.part_size, m.part_size);
	assert_true(b.zero_copy);
	assert_int_equal(b.created, m.created);
	assert_int_equal(b.expires, m.expires);
	/* truncated, not JSON, wrong id, a relative path, a missing field */
	assert_int_equal(gw_mp_manifest_decode(json, strlen(json) - 1, &b), GD_EINVAL);
	gd_free(json);
	assert_int_equal(gw_mp_manifest_decode("nope", 4, &b), GD_EINVAL);
	const char *bad[] = {
		"{\"version\":1,\"upload_id\":\"xyz\",\"key_id\":1,\"path\":\"/a\",\"part_size\":0,"
		"\"zero_copy\":false,\"created\":1,\"expires\":2}",
		"{\"version\":1,\"upload_id\":\"00112233445566778899aabbccddeeff\",\"key_id\":1,"
		"\"path\":\"a\",\"part_size\":0,\"zero_copy\":false,\"created\":1,\"expires\":2}",
		"{\"version\":1,\"upload_id\":\"00112233445566778899aabbccddeeff\",\"key_id\":1,"
		"\"path\":\"/a\",\"zero_copy\":false,\"created\":1,\"expires\":2}",
		"{\"version\":2,\"upload_id\":\"00112233445566778899aabbccddeeff\",\"key_id\":1,"
		"\"path\":\"/a\",\"part_size\":0,\"zero_copy\":false,\"created\":1,\"expires\":2}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(gw_mp_manifest_decode(bad[i], strlen(bad[i]), &b), GD_EINVAL);
}

#define PS (4u << 20)

static struct gw_mp_part part(uint32_t n, uint64_t size, enum gw_mp_where where)
{
	struct gw_mp_part p = { .number = n, .size = size, .where = where };
	memset(p.sha, (int)n, sizeof(p.sha));
	return p;
}

static struct gw_mp_want want(uint32_t n)
{
	struct gw_mp_want w = { .number = n };
	return w;
}

/* Parts given in any order are sorted; the offsets follow the sizes; every
 * part in the data file at full size but the last: zero-copy. */
static void test_plan_zero_copy(void **state)
{
	struct gw_mp_manifest m = { .part_size = PS, .zero_copy = true };
	struct gw_mp_part st[] = { part(3, 100, GW_MP_IN_DATA), part(1, PS, GW_MP_IN_DATA),
				   part(2, PS, GW_MP_IN_DATA), part(4, PS, GW_MP_IN_DATA) };
	struct gw_mp_want w[] = { want(2), want(3), want(1) };
	struct gw_mp_plan plan;
	char why[128];
	(void)state;
	w[1].has_etag = true;
	memset(w[1].sha, 3, GW_MP_SHA_LEN);
	assert_int_equal(gw_mp_plan_complete(w, 3, st, 4, &m, UINT64_MAX, &plan, why,
					     sizeof(why)), 0);
	assert_int_equal(plan.n, 3);
	assert_int_equal(plan.total, 2ull * PS + 100);
	assert_true(plan.zero_copy);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(plan.steps[i].part.number, i + 1);
		assert_int_equal(plan.steps[i].dst_off, (uint64_t)i * PS);
	}
	gw_mp_plan_release(&plan);
	assert_null(plan.steps);

	/* a short part that is not the last: one copy */
	st[1].size = PS - 1;
	assert_int_equal(gw_mp_plan_complete(w, 3, st, 4, &m, UINT64_MAX, &plan, why,
					     sizeof(why)), 0);
	assert_false(plan.zero_copy);
	assert_int_equal(plan.steps[1].dst_off, PS - 1);
	gw_mp_plan_release(&plan);
	st[1].size = PS;
	/* a part in its own file: one copy */
	st[2].where = GW_MP_IN_FILE;
	assert_int_equal(gw_mp_plan_complete(w, 3, st, 4, &m, UINT64_MAX, &plan, why,
					     sizeof(why)), 0);
	assert_false(plan.zero_copy);
	gw_mp_plan_release(&plan);
	/* an upload without a declared part size never is */
	st[2].where = GW_MP_IN_DATA;
	m.zero_copy = false;
	assert_int_equal(gw_mp_plan_complete(w, 3, st, 4, &m, UINT64_MAX, &plan, why,
					     sizeof(why)), 0);
	assert_false(plan.zero_copy);
	gw_mp_plan_release(&plan);
}

static void expect_refused(struct gw_mp_want *w, size_t nw, const struct gw_mp_part *st,
			   size_t ns, uint64_t max, int want_rc, const char *want_why)
{
	struct gw_mp_manifest m = { .part_size = PS };
	struct gw_mp_plan plan;
	char why[128] = "";
	assert_int_equal(gw_mp_plan_complete(w, nw, st, ns, &m, max, &plan, why, sizeof(why)),
			 want_rc);
	assert_non_null(strstr(why, want_why));
	assert_null(plan.steps);
}

static void test_plan_refusals(void **state)
{
	struct gw_mp_part st[] = { part(1, 10, GW_MP_IN_FILE), part(2, 10, GW_MP_IN_FILE),
				   part(4, 10, GW_MP_IN_FILE) };
	(void)state;
	expect_refused(NULL, 0, st, 3, UINT64_MAX, GD_EINVAL, "no part");
	struct gw_mp_want dup[] = { want(1), want(2), want(2) };
	expect_refused(dup, 3, st, 3, UINT64_MAX, GD_EINVAL, "part 2 is listed twice");
	struct gw_mp_want gap[] = { want(4), want(1), want(2) };
	expect_refused(gap, 3, st, 3, UINT64_MAX, GD_EINVAL, "part 3 is missing");
	struct gw_mp_want zero[] = { want(0), want(1) };
	expect_refused(zero, 2, st, 3, UINT64_MAX, GD_EINVAL, "out of range");
	struct gw_mp_want unstaged[] = { want(1), want(2), want(3) };
	expect_refused(unstaged, 3, st, 3, UINT64_MAX, GD_EINVAL, "part 3 was not uploaded");
	struct gw_mp_want badtag[] = { want(1), want(2) };
	badtag[1].has_etag = true;
	memset(badtag[1].sha, 1, GW_MP_SHA_LEN);   /* part 1's hash given for part 2 */
	expect_refused(badtag, 2, st, 3, UINT64_MAX, GD_EINVAL, "part 2: the ETag does not match");
	struct gw_mp_want big[] = { want(1), want(2) };
	expect_refused(big, 2, st, 3, 19, GD_EFBIG, "larger than 19 bytes");
	struct gw_mp_want ok[] = { want(1), want(2) };
	struct gw_mp_manifest m = { 0 };
	struct gw_mp_plan plan;
	char why[64];
	assert_int_equal(gw_mp_plan_complete(ok, 2, st, 3, &m, 20, &plan, why, sizeof(why)), 0);
	assert_int_equal(plan.total, 20);
	gw_mp_plan_release(&plan);
}

/* Allocation failures give GD_ENOMEM and leak nothing. */
static void test_plan_nomem(void **state)
{
	struct gw_mp_part st[] = { part(1, 10, GW_MP_IN_FILE) };
	struct gw_mp_want w[] = { want(1) };
	struct gw_mp_manifest m = { 0 };
	struct gw_mp_plan plan;
	char why[64];
	(void)state;
	for (long n = 1; n <= 2; n++) {
		gd_alloc_fail_after(n);
		assert_int_equal(gw_mp_plan_complete(w, 1, st, 1, &m, UINT64_MAX, &plan, why,
						     sizeof(why)), GD_ENOMEM);
		gd_alloc_fail_after(0);
		assert_null(plan.steps);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_etags),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_part_names),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_plan_zero_copy),
		cmocka_unit_test(test_plan_refusals),
		cmocka_unit_test(test_plan_nomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
