/* The scrubber on a temp store: a block flipped on disk is found without any
 * client read (each bad block is reported once, in the copy's block size, for
 * copies of format 3 and of format 2; the copy stays), good
 * copies are left alone, rate 0 starts nothing, and stop is prompt even in
 * the middle of a slow pass. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"
#include "chunkd_scrub.h"
#include "chunkd_store.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024u * 1024u)

struct fixture {
	char dir[256];
	struct chunkd_store *s;
	atomic_int corrupt_calls;
	atomic_ullong corrupt_id;
	atomic_ullong block_sum;  /* of the blocks reported */
	unsigned format;          /* of new copies */
};

static char found[512];   /* nftw has no context pointer */

static void on_corrupt(void *ctx, uint64_t id, uint64_t ver, uint64_t block)
{
	struct fixture *f = ctx;

	(void)ver;
	atomic_fetch_add(&f->block_sum, block);
	atomic_store(&f->corrupt_id, id);
	atomic_fetch_add(&f->corrupt_calls, 1);
}

static unsigned format3 = 3, format2 = 2;

/* A store writing new copies in the format *state points to. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->format = *state ? *(unsigned *)*state : 3;
	snprintf(f->dir, sizeof(f->dir), "/tmp/godfs-scrub-test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	struct chunkd_store_opts o = { .data_dirs = f->dir, .reserve_bytes = 1,
				       .on_corrupt = on_corrupt, .ctx = f,
				       .new_format = f->format };
	if (chunkd_store_open(&o, &f->s) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	chunkd_store_close(f->s);
	test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static int find_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F && strstr(p, "0000000000000007_") && !strstr(p, "lost+found"))
		snprintf(found, sizeof(found), "%s", p);
	return 0;
}

static void write_chunk(struct fixture *f, uint64_t id, size_t len)
{
	uint8_t *data = malloc(len);

	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 13 + id);
	assert_int_equal(chunkd_store_write(f->s, id, 1, 0, 0, 0, data, len), 0);
	free(data);
}

static void test_finds_flipped_block(void **state)
{
	struct fixture *f = *state;
	struct chunkd_scrub *sc;
	uint64_t v;
	int fd;

	write_chunk(f, 6, 3 * MiB);
	write_chunk(f, 7, 3 * MiB);
	write_chunk(f, 8, 3 * MiB);
	found[0] = '\0';
	nftw(f->dir, find_cb, 16, FTW_PHYS);
	assert_true(found[0] != '\0');
	fd = open(found, O_WRONLY);
	assert_true(fd >= 0);
	/* A byte in the data of the third block of the second MiB, and one in
	 * the fifth: both are found and reported, one report each, in the
	 * copy's block size. */
	uint64_t bs = f->format == 3 ? CHUNKD_BLOCK_SIZE : CHUNKD_V2_BLOCK_SIZE;
	uint64_t doff = f->format == 3 ? CHUNKD_DATA_OFF : CHUNKD_V2_DATA_OFF;
	assert_int_equal(chunkd_store_block_size(f->s, 7), bs);
	assert_int_equal(pwrite(fd, "\xff", 1, (off_t)(doff + MiB + 2 * bs + 5)), 1);
	assert_int_equal(pwrite(fd, "\xff", 1, (off_t)(doff + MiB + 4 * bs + 5)), 1);
	close(fd);

	struct chunkd_scrub_config cfg = { .store = f->s, .rate_bytes = 256 * MiB,
					   .start_delay_ms = 0, .pass_pause_ms = 60000 };
	assert_int_equal(chunkd_scrub_start(&cfg, &sc), 0);
	assert_non_null(sc);
	for (int i = 0; i < 200 && atomic_load(&f->corrupt_calls) < 2; i++) {
		struct timespec ts = { 0, 25 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	chunkd_scrub_stop(sc);
	assert_int_equal(atomic_load(&f->corrupt_calls), 2);
	assert_int_equal(atomic_load(&f->corrupt_id), 7);
	assert_int_equal(atomic_load(&f->block_sum), 2 * (MiB / bs) + 2 + 4);
	/* the copy with bad blocks stays until a good replica replaces it */
	assert_int_equal(chunkd_store_version(f->s, 7, &v), 0);
	assert_int_equal(chunkd_store_version(f->s, 6, &v), 0);
	assert_int_equal(chunkd_store_version(f->s, 8, &v), 0);
}

static void test_rate_zero_and_prompt_stop(void **state)
{
	struct fixture *f = *state;
	struct chunkd_scrub *sc = (struct chunkd_scrub *)1;
	uint64_t t0;

	struct chunkd_scrub_config off = { .store = f->s, .rate_bytes = 0 };
	assert_int_equal(chunkd_scrub_start(&off, &sc), 0);
	assert_null(sc);
	chunkd_scrub_stop(sc);

	/* 1 KiB/s: the first piece alone would take many minutes. */
	write_chunk(f, 9, 2 * MiB);
	struct chunkd_scrub_config slow = { .store = f->s, .rate_bytes = 1024,
					    .start_delay_ms = 0, .pass_pause_ms = 60000 };
	assert_int_equal(chunkd_scrub_start(&slow, &sc), 0);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	t0 = gd_net_now_ms();
	chunkd_scrub_stop(sc);
	assert_true(gd_net_now_ms() - t0 < 2000);
	assert_int_equal(atomic_load(&f->corrupt_calls), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate_setup_teardown(test_finds_flipped_block, setup, teardown,
							 &format3),
		cmocka_unit_test_prestate_setup_teardown(test_finds_flipped_block, setup, teardown,
							 &format2),
		cmocka_unit_test_setup_teardown(test_rate_zero_and_prompt_stop, setup, teardown),
	};

	gd_log_init("test_chunkd_scrub", getenv("GD_TEST_LOG") ? getenv("GD_TEST_LOG") : "error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
