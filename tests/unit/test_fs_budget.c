/* fs_budget: the count never passes the limit (less what a caller keeps
 * free), idle blocks count and are dropped for whoever needs their room,
 * reuse of an idle block is free, and a failed allocation uncounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fs_budget.h"
#include "gd_alloc.h"

#define MIB ((size_t)1 << 20)

static void test_limit(void **state)
{
	struct fs_budget *b;
	void *w[4] = { NULL };

	(void)state;
	assert_int_equal(fs_budget_new(16 * MIB, 4 * MIB, 2 * MIB, &b), 0);
	assert_int_equal(fs_budget_limit(b), 16 * MIB);
	assert_int_equal(fs_budget_block_size(b, FS_BUDGET_WRITE), 4 * MIB);
	for (int i = 0; i < 4; i++) {
		w[i] = fs_budget_block(b, FS_BUDGET_WRITE, 0);
		assert_non_null(w[i]);
		memset(w[i], i, 4 * MIB);
	}
	assert_int_equal(fs_budget_used(b), 16 * MIB);
	/* Full: no block, no bytes, of either kind. */
	assert_null(fs_budget_block(b, FS_BUDGET_WRITE, 0));
	assert_null(fs_budget_block(b, FS_BUDGET_READ, 0));
	assert_false(fs_budget_take(b, 1, 0));
	assert_int_equal(fs_budget_used(b), 16 * MIB);
	/* One back: it stays counted while idle, and is reused for free. */
	fs_budget_block_put(b, FS_BUDGET_WRITE, w[3]);
	assert_int_equal(fs_budget_used(b), 16 * MIB);
	w[3] = fs_budget_block(b, FS_BUDGET_WRITE, 0);
	assert_non_null(w[3]);
	assert_int_equal(fs_budget_used(b), 16 * MIB);
	for (int i = 0; i < 4; i++)
		fs_budget_block_put(b, FS_BUDGET_WRITE, w[i]);
	fs_budget_free(b);
}

static void test_idle_dropped_for_others(void **state)
{
	struct fs_budget *b;
	void *w[3], *r[4];

	(void)state;
	assert_int_equal(fs_budget_new(12 * MIB, 4 * MIB, 2 * MIB, &b), 0);
	for (int i = 0; i < 3; i++)
		assert_non_null(w[i] = fs_budget_block(b, FS_BUDGET_WRITE, 0));
	for (int i = 0; i < 3; i++)
		fs_budget_block_put(b, FS_BUDGET_WRITE, w[i]);
	assert_int_equal(fs_budget_used(b), 12 * MIB);
	/* Read-ahead wants room: idle write blocks go, one by one. */
	assert_non_null(r[0] = fs_budget_block(b, FS_BUDGET_READ, 0));
	assert_int_equal(fs_budget_used(b), 10 * MIB);
	/* keep: read-ahead leaves room for a write block (4 MiB); the
	 * other idle write blocks make way. */
	assert_non_null(r[1] = fs_budget_block(b, FS_BUDGET_READ, 4 * MIB));
	assert_int_equal(fs_budget_used(b), 8 * MIB);
	assert_non_null(r[2] = fs_budget_block(b, FS_BUDGET_READ, 4 * MIB));
	assert_int_equal(fs_budget_used(b), 6 * MIB);
	assert_null(fs_budget_block(b, FS_BUDGET_READ, 4 * MIB + 1));
	assert_int_equal(fs_budget_used(b), 6 * MIB);
	/* Bytes for a growing buffer: up to the limit, not one more. */
	assert_false(fs_budget_take(b, 6 * MIB + 1, 0));
	assert_true(fs_budget_take(b, 6 * MIB, 0));
	assert_int_equal(fs_budget_used(b), 12 * MIB);
	assert_null(r[3] = fs_budget_block(b, FS_BUDGET_READ, 0));
	fs_budget_give(b, 6 * MIB);
	for (int i = 0; i < 3; i++)
		fs_budget_block_put(b, FS_BUDGET_READ, r[i]);
	assert_int_equal(fs_budget_used(b), 6 * MIB);
	fs_budget_free(b);
}

static void test_idle_bounded(void **state)
{
	struct fs_budget *b;
	void *r[FS_BUDGET_IDLE + 2];

	(void)state;
	assert_int_equal(fs_budget_new(64 * MIB, 4 * MIB, 1 * MIB, &b), 0);
	for (int i = 0; i < FS_BUDGET_IDLE + 2; i++)
		assert_non_null(r[i] = fs_budget_block(b, FS_BUDGET_READ, 0));
	for (int i = 0; i < FS_BUDGET_IDLE + 2; i++)
		fs_budget_block_put(b, FS_BUDGET_READ, r[i]);
	/* Past FS_BUDGET_IDLE, blocks given back are freed and uncounted. */
	assert_int_equal(fs_budget_used(b), FS_BUDGET_IDLE * MIB);
	fs_budget_free(b);
}

static void test_malloc_fails(void **state)
{
	struct fs_budget *b;

	(void)state;
	assert_int_equal(fs_budget_new(8 * MIB, 4 * MIB, 1 * MIB, &b), 0);
	gd_alloc_fail_after(1);
	assert_null(fs_budget_block(b, FS_BUDGET_WRITE, 0));
	gd_alloc_fail_after(0);
	assert_int_equal(fs_budget_used(b), 0);
	fs_budget_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_idle_dropped_for_others),
		cmocka_unit_test(test_idle_bounded),
		cmocka_unit_test(test_malloc_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
