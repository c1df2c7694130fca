/* gd_text: appends build one NUL-terminated text; the first failure (no
 * memory, past the bound) is kept, later appends do nothing and finish
 * reports it with nothing to free; gd_text_bytes writes sizes for people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "gd_text.h"

static void test_append(void **state)
{
	struct gd_text t;
	char *out;
	size_t len;

	(void)state;
	gd_text_init(&t, 0);
	gd_text_str(&t, "a");
	gd_text_mem(&t, "bcX", 2);
	gd_text_fmt(&t, " %d-%s\n", 42, "x");
	assert_int_equal(t.err, 0);
	assert_int_equal(gd_text_finish(&t, &out, &len), 0);
	assert_int_equal(len, 9);
	assert_string_equal(out, "abc 42-x\n");
	assert_null(t.p);
	gd_free(out);
}

/* Past the first 4 KiB the buffer grows by doubling; the text stays whole. */
static void test_grows(void **state)
{
	struct gd_text t;
	char *out;
	size_t len;

	(void)state;
	gd_text_init(&t, 0);
	for (int i = 0; i < 10000; i++)
		gd_text_fmt(&t, "%04d,", i % 10000);
	assert_int_equal(gd_text_finish(&t, &out, &len), 0);
	assert_int_equal(len, 50000);
	assert_int_equal(strlen(out), 50000);
	assert_memory_equal(out + 5 * 9999, "9999,", 5);
	gd_free(out);
}

static void test_empty_is_a_string(void **state)
{
	struct gd_text t;
	char *out;
	size_t len = 7;

	(void)state;
	gd_text_init(&t, 0);
	assert_int_equal(gd_text_finish(&t, &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	gd_free(out);
}

/* A text may reach its bound exactly; one byte more fails for good. */
static void test_bound(void **state)
{
	struct gd_text t;
	char *out = (char *)1;
	size_t len = 1;

	(void)state;
	gd_text_init(&t, 10);
	gd_text_str(&t, "0123456789");
	assert_int_equal(t.err, 0);
	gd_text_str(&t, "x");
	assert_int_equal(t.err, GD_E2BIG);
	assert_int_equal(t.len, 10);
	gd_text_fmt(&t, "%s", "");   /* nothing more is taken after a failure */
	assert_int_equal(gd_text_finish(&t, &out, &len), GD_E2BIG);
	assert_null(out);
	assert_int_equal(len, 0);

	gd_text_init(&t, 10);
	gd_text_fmt(&t, "%011d", 1);
	assert_int_equal(gd_text_finish(&t, &out, &len), GD_E2BIG);
	assert_null(out);
}

/* A failed allocation in the middle: the first error stays, nothing leaks
 * (ASan checks), later appends are ignored. */
static void test_no_memory(void **state)
{
	struct gd_text t;
	char big[5000], *out;
	size_t len;

	(void)state;
	memset(big, 'x', sizeof(big));
	gd_text_init(&t, 0);
	gd_text_str(&t, "first");            /* the 4 KiB allocation */
	gd_alloc_fail_after(1);
	gd_text_mem(&t, big, sizeof(big));   /* the growth to 8 KiB fails */
	gd_alloc_fail_after(0);
	assert_int_equal(t.err, GD_ENOMEM);
	gd_text_str(&t, "later");
	assert_int_equal(t.len, 5);
	gd_text_fail(&t, GD_EIO);            /* the first failure is the one kept */
	assert_int_equal(gd_text_finish(&t, &out, &len), GD_ENOMEM);
	assert_null(out);

	gd_text_init(&t, 0);
	gd_text_fail(&t, GD_ENOMEM);         /* a copy of the caller's failed */
	gd_text_str(&t, "x");
	assert_int_equal(gd_text_finish(&t, &out, &len), GD_ENOMEM);
	assert_null(out);
}

static void test_release(void **state)
{
	struct gd_text t;

	(void)state;
	gd_text_init(&t, 100);
	gd_text_str(&t, "dropped");
	gd_text_release(&t);
	assert_null(t.p);
	assert_int_equal(t.len, 0);
	assert_int_equal(t.max, 100);
}

static void test_bytes(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(gd_text_bytes(0, b, sizeof(b)), "0 B");
	assert_string_equal(gd_text_bytes(1023, b, sizeof(b)), "1023 B");
	assert_string_equal(gd_text_bytes(1024, b, sizeof(b)), "1.0 KiB");
	assert_string_equal(gd_text_bytes(1536, b, sizeof(b)), "1.5 KiB");
	assert_string_equal(gd_text_bytes(80ull << 30, b, sizeof(b)), "80.0 GiB");
	assert_string_equal(gd_text_bytes(3ull << 60, b, sizeof(b)), "3.0 EiB");
	assert_string_equal(gd_text_bytes(UINT64_MAX, b, sizeof(b)), "16.0 EiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_empty_is_a_string),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_no_memory),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
