/* meta_repl_plan: the order in which chunks under goal are copied (fewest
 * live copies first, then the longest under goal), the census of chunks by
 * live copies, the confirmed-copy rate and the ETA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_repl_plan.h"

#include <stdlib.h>
#include <string.h>

static struct meta_repl_cand cand(uint64_t id, uint32_t live, uint32_t goal, uint64_t since)
{
	struct meta_repl_cand c = { .chunk_id = id, .live = live, .goal = goal,
				    .under_since_ms = since, .bytes = 1000 };
	return c;
}

/* One copy left goes before two left, whatever the order of the scan, the
 * age or the goal; among equals, the oldest under goal, then the chunk id. */
static void test_priority(void **state)
{
	struct meta_repl_plan p;
	struct meta_repl_cand in[] = {
		cand(10, 2, 3, 100), cand(11, 1, 3, 900), cand(12, 2, 3, 50),
		cand(13, 1, 2, 900), cand(14, 1, 3, 200), cand(15, 3, 5, 1),
		cand(9, 1, 3, 900),
	};
	const uint64_t want[] = { 14, 9, 11, 13, 12, 10, 15 };
	size_t i;

	(void)state;
	meta_repl_plan_init(&p);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_int_equal(meta_repl_plan_add(&p, &in[i]), 0);
	meta_repl_plan_sort(&p);
	assert_int_equal(p.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < p.n; i++)
		assert_int_equal(p.v[i].chunk_id, want[i]);
	/* the comparator is a total order: antisymmetric, reflexive zero */
	for (i = 0; i < p.n; i++) {
		assert_int_equal(meta_repl_cand_cmp(&p.v[i], &p.v[i]), 0);
		if (i + 1 < p.n) {
			assert_true(meta_repl_cand_cmp(&p.v[i], &p.v[i + 1]) < 0);
			assert_true(meta_repl_cand_cmp(&p.v[i + 1], &p.v[i]) > 0);
		}
	}
	meta_repl_plan_release(&p);
	assert_null(p.v);
	assert_int_equal(p.n, 0);
}

/* Many candidates in a shuffled order: every one-copy chunk comes out before
 * every two-copy chunk. */
static void test_priority_many(void **state)
{
	struct meta_repl_plan p;
	size_t i;
	unsigned seed = 7;

	(void)state;
	meta_repl_plan_init(&p);
	for (i = 0; i < 5000; i++) {
		struct meta_repl_cand c = cand(i + 1, 1 + (uint32_t)(rand_r(&seed) % 3), 4,
					       (uint64_t)(rand_r(&seed) % 10000));
		assert_int_equal(meta_repl_plan_add(&p, &c), 0);
	}
	meta_repl_plan_sort(&p);
	for (i = 1; i < p.n; i++) {
		assert_true(p.v[i - 1].live <= p.v[i].live);
		if (p.v[i - 1].live == p.v[i].live)
			assert_true(p.v[i - 1].under_since_ms <= p.v[i].under_since_ms);
	}
	meta_repl_plan_release(&p);
}

/* Taking entries moves the head past them, in any order; left counts what
 * is not taken; reset empties and keeps the memory; swap exchanges. */
static void test_take_swap(void **state)
{
	struct meta_repl_plan a, b;
	struct meta_repl_cand c;
	size_t i;

	(void)state;
	meta_repl_plan_init(&a);
	meta_repl_plan_init(&b);
	for (i = 0; i < 5; i++) {
		c = cand(i + 1, 1, 3, i);
		assert_int_equal(meta_repl_plan_add(&a, &c), 0);
	}
	meta_repl_plan_sort(&a);
	assert_int_equal(meta_repl_plan_left(&a), 5);
	meta_repl_plan_take(&a, 1);
	assert_int_equal(a.head, 0);
	assert_int_equal(meta_repl_plan_left(&a), 4);
	meta_repl_plan_take(&a, 0);
	assert_int_equal(a.head, 2);
	meta_repl_plan_take(&a, 99);    /* out of range: nothing */
	assert_int_equal(meta_repl_plan_left(&a), 3);
	meta_repl_plan_swap(&a, &b);
	assert_int_equal(a.n, 0);
	assert_int_equal(meta_repl_plan_left(&b), 3);
	meta_repl_plan_reset(&b);
	assert_int_equal(b.n, 0);
	assert_non_null(b.v);
	meta_repl_plan_release(&a);
	meta_repl_plan_release(&b);
}

/* A failed allocation leaves the plan as it was. */
static void test_add_enomem(void **state)
{
	struct meta_repl_plan p;
	struct meta_repl_cand c = cand(1, 1, 2, 0);
	size_t i;

	(void)state;
	meta_repl_plan_init(&p);
	gd_alloc_fail_after(1);
	assert_int_equal(meta_repl_plan_add(&p, &c), GD_ENOMEM);
	gd_alloc_fail_after(0);
	assert_int_equal(p.n, 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(meta_repl_plan_add(&p, &c), 0);
	gd_alloc_fail_after(1);
	assert_int_equal(meta_repl_plan_add(&p, &c), GD_ENOMEM);   /* the array must grow */
	gd_alloc_fail_after(0);
	assert_int_equal(p.n, 64);
	meta_repl_plan_release(&p);
}

static void test_census(void **state)
{
	struct meta_repl_census c;

	(void)state;
	memset(&c, 0, sizeof(c));
	meta_repl_census_add(&c, 0, 3, 100);
	meta_repl_census_add(&c, 1, 3, 100);
	meta_repl_census_add(&c, 1, 2, 50);
	meta_repl_census_add(&c, 2, 3, 10);
	meta_repl_census_add(&c, 3, 3, 10);
	meta_repl_census_add(&c, 4, 3, 10);
	meta_repl_census_add(&c, 9, 12, 1);
	assert_int_equal(c.under_goal, 5);
	assert_int_equal(c.at_goal, 1);
	assert_int_equal(c.over_goal, 1);
	assert_int_equal(c.under_by_live[0], 1);
	assert_int_equal(c.under_by_live[1], 2);
	assert_int_equal(c.under_by_live[2], 1);
	assert_int_equal(c.under_by_live[META_REPL_HIST - 1], 1);   /* 9 live: the last */
	assert_int_equal(c.copies_todo, 3 + 2 + 1 + 1 + 3);
	assert_int_equal(c.bytes_todo, 300 + 200 + 50 + 10 + 3);
}

static void test_chunk_bytes(void **state)
{
	(void)state;
	assert_int_equal(meta_repl_chunk_bytes(0, 0, 64), 0);
	assert_int_equal(meta_repl_chunk_bytes(10, 0, 64), 10);
	assert_int_equal(meta_repl_chunk_bytes(64, 0, 64), 64);
	assert_int_equal(meta_repl_chunk_bytes(64, 1, 64), 0);
	assert_int_equal(meta_repl_chunk_bytes(200, 1, 64), 64);
	assert_int_equal(meta_repl_chunk_bytes(200, 3, 64), 8);
	assert_int_equal(meta_repl_chunk_bytes(200, 4, 64), 0);
	assert_int_equal(meta_repl_chunk_bytes(200, UINT64_MAX, 64), 0);   /* no overflow */
	assert_int_equal(meta_repl_chunk_bytes(200, 0, 0), 0);
}

/* The rate over the window: a steady stream gives its rate; a stream that
 * began a moment ago is not diluted; old seconds fall out. */
static void test_rate(void **state)
{
	struct meta_repl_rate r;
	uint64_t bps, mcps, t;

	(void)state;
	meta_repl_rate_init(&r);
	meta_repl_rate_get(&r, 5000, &bps, &mcps);
	assert_int_equal(bps, 0);
	assert_int_equal(mcps, 0);
	/* 20 copies of 1 MB a second for 30 s */
	for (t = 100000; t < 130000; t += 50)
		meta_repl_rate_add(&r, t, 1000000);
	meta_repl_rate_get(&r, 130000, &bps, &mcps);
	assert_in_range(bps, 19000000, 21000000);
	assert_in_range(mcps, 19000, 21000);
	assert_int_equal(r.total_copies, 600);
	/* a new stream 2 s old at 5 copies a second: not 1 per second */
	meta_repl_rate_init(&r);
	for (t = 200000; t < 202000; t += 200)
		meta_repl_rate_add(&r, t, 10);
	meta_repl_rate_get(&r, 202000, &bps, &mcps);
	assert_in_range(mcps, 4500, 5500);
	/* 20 s later nothing is left in the window */
	meta_repl_rate_get(&r, 222000, &bps, &mcps);
	assert_int_equal(bps, 0);
	assert_int_equal(mcps, 0);
}

static void test_eta(void **state)
{
	(void)state;
	assert_int_equal(meta_repl_eta_s(0, 0, 0, 0), 0);
	assert_int_equal(meta_repl_eta_s(10, 1000, 0, 0), META_REPL_ETA_UNKNOWN);
	/* bytes bound: 1000 B at 100 B/s = 10 s although copies go fast */
	assert_int_equal(meta_repl_eta_s(10, 1000, 100, 100000), 10);
	/* copies bound: 100 empty copies at 2.5 copies/s = 40 s */
	assert_int_equal(meta_repl_eta_s(100, 0, 0, 2500), 40);
	assert_int_equal(meta_repl_eta_s(100, 10, 1000000, 2500), 40);
	/* rounds up */
	assert_int_equal(meta_repl_eta_s(1, 1001, 1000, 1000000), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_priority_many),
		cmocka_unit_test(test_take_swap),
		cmocka_unit_test(test_add_enomem),
		cmocka_unit_test(test_census),
		cmocka_unit_test(test_chunk_bytes),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_eta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
