/* chunkd_rate: the re-replication token bucket holds its rate over any
 * stretch (burst + rate x t + one piece at most), lets a burst through at
 * once, never waits without a limit, and does not overflow on long idles or
 * huge rates. The clock is the test's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chunkd_rate.h"

#define NS 1000000000ull
#define MiB (1024ull * 1024)

static void test_unlimited(void **state)
{
	struct chunkd_rate r;

	(void)state;
	chunkd_rate_init(&r, 0, 0);
	assert_int_equal(chunkd_rate_debit(&r, 0, 1ull << 40), 0);
	chunkd_rate_take(&r, 1ull << 40);   /* returns at once */
	chunkd_rate_take(NULL, 1);
	chunkd_rate_destroy(&r);
}

/* A caller that reads 1 MiB pieces and sleeps what it is told: the bytes
 * done by each moment never pass burst + rate x t + one piece, and the
 * whole takes at least (bytes - burst) / rate. */
static void test_holds_rate(void **state)
{
	const uint64_t rate = 10 * MiB, piece = MiB, total = 200 * MiB;
	struct chunkd_rate r;
	uint64_t now = 5 * NS, start = now, done = 0;

	(void)state;
	chunkd_rate_init(&r, rate, now);
	assert_true(r.burst >= 64 * 1024);
	while (done < total) {
		done += piece;
		now += chunkd_rate_debit(&r, now, piece);
		now += 1000;   /* the read itself */
		assert_true(done <= r.burst + (now - start) / 1000 * rate / 1000000 + piece);
	}
	assert_true(now - start >= (total - r.burst) / rate * NS - NS / 100);
	/* and not much more than needed */
	assert_true(now - start <= total / rate * NS + NS / 10);
	chunkd_rate_destroy(&r);
}

/* Small copies under the burst pass without waiting; an idle period fills
 * the bucket up to the burst only, not more. */
static void test_burst_and_idle(void **state)
{
	struct chunkd_rate r;
	uint64_t now = NS, waited = 0;
	int i;

	(void)state;
	chunkd_rate_init(&r, 100 * MiB, now);
	for (i = 0; i < 10; i++)
		waited += chunkd_rate_debit(&r, now, 4096);
	assert_int_equal(waited, 0);
	now += 3600 * NS;   /* an hour idle */
	assert_int_equal(chunkd_rate_debit(&r, now, r.burst), 0);
	/* the bucket is empty: the next byte waits */
	assert_true(chunkd_rate_debit(&r, now, MiB) > 0);
	chunkd_rate_destroy(&r);
}

/* Extremes: a rate of 1 byte per second with a big debit waits at most an
 * hour per call; a huge rate after a long idle neither overflows nor waits. */
static void test_extremes(void **state)
{
	struct chunkd_rate r;

	(void)state;
	chunkd_rate_init(&r, 1, 0);
	assert_int_equal(chunkd_rate_debit(&r, 0, 10ull * MiB), 3600 * NS);
	chunkd_rate_destroy(&r);
	chunkd_rate_init(&r, UINT64_MAX / 2, 0);
	assert_int_equal(chunkd_rate_debit(&r, UINT64_MAX / 2, MiB), 0);
	chunkd_rate_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_holds_rate),
		cmocka_unit_test(test_burst_and_idle),
		cmocka_unit_test(test_extremes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
