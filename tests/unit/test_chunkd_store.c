/* The chunk store on a temp dir: data round trips across block boundaries,
 * corruption detection, versions, truncate, rescan, replication import, disk
 * full. Every test runs three times: new copies in format 3 (4 KiB blocks)
 * through io_uring and through pread/pwrite, and in the old format 2 (64 KiB
 * blocks, written by the old code path) through io_uring. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"
#include "chunkd_store.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define KiB 1024u
#define MiB (1024u * 1024u)

struct fixture {
	int force_pread;
	unsigned format;      /* of new copies */
	uint32_t bs;          /* its block size */
	uint64_t data_off;    /* where its data starts in a chunk file */
	char dir[256];
	char dirs[600];       /* "dir/a,dir/b" */
	struct chunkd_store *s;
	int corrupt_calls;
	uint64_t corrupt_id, corrupt_ver, corrupt_block;
};

struct mode {
	int force_pread;
	unsigned format;
};
static struct mode m_uring = { 0, 3 }, m_pread = { 1, 3 }, m_v2 = { 0, 2 };

static void on_corrupt(void *ctx, uint64_t id, uint64_t ver, uint64_t block)
{
	struct fixture *f = ctx;
	f->corrupt_calls++;
	f->corrupt_id = id;
	f->corrupt_ver = ver;
	f->corrupt_block = block;
}

static int open_store(struct fixture *f, uint64_t reserve)
{
	struct chunkd_store_opts o = {
		.data_dirs = f->dirs, .force_pread = f->force_pread, .fd_cache = 3,
		.reserve_bytes = reserve, .on_corrupt = on_corrupt, .ctx = f,
		.new_format = f->format,
	};
	return chunkd_store_open(&o, &f->s);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const struct mode *mode = *state;

	f->force_pread = mode ? mode->force_pread : 0;
	f->format = mode ? mode->format : 3;
	f->bs = f->format == 3 ? CHUNKD_BLOCK_SIZE : CHUNKD_V2_BLOCK_SIZE;
	f->data_off = f->format == 3 ? CHUNKD_DATA_OFF : CHUNKD_V2_DATA_OFF;
	snprintf(f->dir, sizeof(f->dir), "/tmp/godfs-chunkd-test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->dirs, sizeof(f->dirs), "%s/a,%s/b", f->dir, f->dir);
	if (open_store(f, 1) != 0)
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

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Finds the file of a chunk copy under the fixture's dirs ("" when none). */
static int find_file(struct fixture *f, const char *suffix, char *out, size_t outlen)
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find %s -name '*%s' | head -1", f->dir, suffix);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	out[0] = '\0';
	if (!fgets(out, (int)outlen, p))
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	return out[0] ? 0 : -1;
}

static void chunk_name(uint64_t id, uint64_t ver, char *out, size_t n)
{
	snprintf(out, n, "%016" PRIx64 "_%016" PRIx64 ".chk", id, ver);
}

static void check_read(struct chunkd_store *s, uint64_t id, uint64_t ver, const uint8_t *model,
		       uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	size_t got = 0;

	assert_int_equal(chunkd_store_read(s, id, ver, off, len, buf, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(buf, model + off, len);
	free(buf);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	const uint64_t cs = 4 * MiB, id = 0x1234;
	uint8_t *model = calloc(1, cs), *data = malloc(3 * MiB);
	struct { uint64_t off; size_t len; } w[] = {
		{ 0, 1 * MiB },                 /* whole blocks */
		{ 100, 10 },                    /* inside one block */
		{ 64 * KiB - 7, 20 },           /* across a block boundary */
		{ 1 * MiB + 4096, 300 * KiB },  /* partial head and tail */
		{ 3 * MiB + 5, 1 * MiB - 5 },   /* up to the end of the chunk */
		{ 2 * MiB, 64 * KiB },          /* one whole block after a hole */
		{ 500 * KiB, 2 * MiB },         /* overwrite across everything */
		{ 8 * KiB, 4 * KiB },           /* one aligned 4 KiB page */
		{ 4 * KiB - 7, 20 },            /* across a 4 KiB boundary */
		{ 12 * KiB + 100, 4 * KiB },    /* two 4 KiB pages in part */
		{ 3 * MiB - 3, 6 },             /* past the data so far, in part */
	};

	/* The engine is the one asked for (io_uring is enabled on this kind of host). */
	assert_int_equal(chunkd_store_uring_active(f->s), !f->force_pread);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		fill_random(data, w[i].len, (unsigned)i + 1);
		assert_int_equal(chunkd_store_write(f->s, id, 1, 0, cs, w[i].off, data, w[i].len), 0);
		memcpy(model + w[i].off, data, w[i].len);
		check_read(f->s, id, 1, model, w[i].off, w[i].len);
	}
	check_read(f->s, id, 1, model, 0, cs);
	check_read(f->s, id, 1, model, 1, 100);
	check_read(f->s, id, 1, model, 64 * KiB - 1, 2);
	check_read(f->s, id, 1, model, 128 * KiB, 64 * KiB);
	check_read(f->s, id, 1, model, 3 * MiB + 1, 1 * MiB - 1);

	/* A read past the chunk size is clamped to it. */
	size_t got = 0;
	assert_int_equal(chunkd_store_read(f->s, id, 1, cs - 10, 1 * MiB, data, &got), 0);
	assert_int_equal(got, 10);
	assert_memory_equal(data, model + cs - 10, 10);
	assert_int_equal(chunkd_store_read(f->s, id, 1, cs, 100, data, &got), 0);
	assert_int_equal(got, 0);

	/* A chunk never written reads as zeros. */
	assert_int_equal(chunkd_store_write(f->s, 77, 3, 0, cs, 2 * MiB, "x", 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 77, 3, 0, 1 * MiB, data, &got), 0);
	assert_int_equal(got, 1 * MiB);
	for (size_t i = 0; i < 1 * MiB; i++)
		assert_int_equal(data[i], 0);

	assert_int_equal(chunkd_store_fsync(f->s, id, 1, 0), 0);
	assert_int_equal(chunkd_store_count(f->s), 2);
	free(model);
	free(data);
}

/* The metrics' view of the data dirs (chunkd_store_dir_stats), summed. */
static struct chunkd_store_dir_stats dirs_sum(struct chunkd_store *s)
{
	struct chunkd_store_dir_stats st, sum = { 0 };

	assert_true(chunkd_store_ndirs(s) >= 1);
	for (size_t i = 0; i < chunkd_store_ndirs(s); i++) {
		chunkd_store_dir_stats(s, i, &st);
		assert_non_null(st.path);
		assert_true(st.total > 0 && st.free <= st.total);
		sum.chunks += st.chunks;
		sum.io_errors += st.io_errors;
		sum.checksum_errors += st.checksum_errors;
	}
	return sum;
}

static void test_corrupt_bit(void **state)
{
	struct fixture *f = *state;
	const uint64_t id = 0xc0ffee;
	uint8_t *data = malloc(1 * MiB), *buf = malloc(1 * MiB);
	char name[64], path[1024], lf[1024];
	size_t got;
	int fd;
	uint8_t byte;

	fill_random(data, 1 * MiB, 42);
	assert_int_equal(chunkd_store_write(f->s, id, 7, 0, 0, 0, data, 1 * MiB), 0);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, 1 * MiB, buf, &got), 0);

	/* Flip one bit in the 5th block of the data area. */
	const uint64_t B = f->bs;
	chunk_name(id, 7, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	off_t at = (off_t)(f->data_off + 4 * B + 1234);
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);

	/* A read that does not touch the block is fine... */
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, B, buf, &got), 0);
	assert_int_equal(f->corrupt_calls, 0);
	/* ...one that touches it (only in part) is not. */
	assert_int_equal(chunkd_store_read(f->s, id, 7, 4 * B + 10, 100, buf, &got),
			 GD_ECORRUPT);
	assert_int_equal(f->corrupt_calls, 1);
	assert_int_equal(f->corrupt_id, id);
	assert_int_equal(f->corrupt_ver, 7);
	assert_int_equal(f->corrupt_block, 4);
	assert_int_equal(dirs_sum(f->s).checksum_errors, 1);
	assert_int_equal(dirs_sum(f->s).chunks, 1);
	assert_int_equal(dirs_sum(f->s).io_errors, 0);

	/* The copy stays (block-level, not copy-level): its other blocks read on,
	 * the bad one keeps failing and is reported once. */
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(find_file(f, ".corrupt", lf, sizeof(lf)), -1);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, 4 * B, buf, &got), 0);
	assert_memory_equal(buf, data, 4 * B);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 5 * B, B, buf, &got), 0);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, 1 * MiB, buf, &got), GD_ECORRUPT);
	assert_int_equal(f->corrupt_calls, 1);
	assert_int_equal(chunkd_store_count(f->s), 1);
	/* A partial write into the bad block fails too (its old bytes are unknown)... */
	assert_int_equal(chunkd_store_write(f->s, id, 7, 0, 0, 4 * B + 5, "x", 1),
			 GD_ECORRUPT);
	/* ...a write of the whole block repairs it. */
	assert_int_equal(chunkd_store_write(f->s, id, 7, 0, 0, 4 * B,
					    data + 4 * B, B), 0);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, 1 * MiB, buf, &got), 0);
	assert_memory_equal(buf, data, 1 * MiB);

	/* An import at the same version replaces a copy with a bad block. */
	assert_int_equal(pread(fd = open(path, O_RDWR), &byte, 1, at), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, 1 * MiB, buf, &got), GD_ECORRUPT);
	struct chunkd_import *imp;
	assert_int_equal(chunkd_store_import_begin(f->s, id, 7, &imp), 0);
	assert_int_equal(chunkd_store_import_write(imp, 0, data, 1 * MiB), 0);
	assert_int_equal(chunkd_store_import_commit(imp, CHUNKD_MAX_CHUNK), 0);
	assert_int_equal(chunkd_store_read(f->s, id, 7, 0, 1 * MiB, buf, &got), 0);
	assert_memory_equal(buf, data, 1 * MiB);
	/* each bad block counted once; the copy replaced, still one; deleted, none */
	assert_int_equal(dirs_sum(f->s).checksum_errors, 2);
	assert_int_equal(dirs_sum(f->s).chunks, 1);
	assert_int_equal(chunkd_store_delete(f->s, id, 0), 0);
	assert_int_equal(dirs_sum(f->s).chunks, 0);
	free(data);
	free(buf);
}

static void test_corrupt_table(void **state)
{
	struct fixture *f = *state;
	uint8_t data[1000], buf[1000];
	char name[64], path[1024];
	size_t got;
	int fd;
	uint8_t byte;

	fill_random(data, sizeof(data), 9);
	assert_int_equal(chunkd_store_write(f->s, 5, 1, 0, 0, 0, data, sizeof(data)), 0);
	/* Close so that the table is read again from disk. */
	chunkd_store_close(f->s);
	chunk_name(5, 1, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, CHUNKD_HDR_SIZE + 3), 1);
	byte ^= 1;
	assert_int_equal(pwrite(fd, &byte, 1, CHUNKD_HDR_SIZE + 3), 1);
	close(fd);
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 5, 1, 0, sizeof(buf), buf, &got), GD_ECORRUPT);
	assert_int_equal(f->corrupt_calls, 1);
}

static void test_versions(void **state)
{
	struct fixture *f = *state;
	uint8_t a[100], b[100], buf[200];
	char name[64], path[1024];
	size_t got;
	uint64_t v;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	assert_int_equal(chunkd_store_write(f->s, 9, 1, 0, 0, 0, a, sizeof(a)), 0);
	/* Create again at another version with prev 0: a copy exists. */
	assert_int_equal(chunkd_store_write(f->s, 9, 2, 0, 0, 0, a, sizeof(a)), GD_ESTALE);
	/* prev_version that is not ours. */
	assert_int_equal(chunkd_store_write(f->s, 9, 5, 3, 0, 0, a, sizeof(a)), GD_ESTALE);
	/* A chunk we do not have with prev_version != 0. */
	assert_int_equal(chunkd_store_write(f->s, 10, 5, 4, 0, 0, a, sizeof(a)), GD_ESTALE);
	assert_int_equal(chunkd_store_version(f->s, 10, &v), GD_ENOCHUNK);

	/* 1 -> 2: a rename, then the write. */
	assert_int_equal(chunkd_store_write(f->s, 9, 2, 1, 0, 100, b, sizeof(b)), 0);
	chunk_name(9, 1, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), -1);
	chunk_name(9, 2, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	assert_int_equal(chunkd_store_version(f->s, 9, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(chunkd_store_read(f->s, 9, 1, 0, 200, buf, &got), GD_ESTALE);
	assert_int_equal(chunkd_store_read(f->s, 9, 3, 0, 200, buf, &got), GD_ESTALE);
	assert_int_equal(chunkd_store_read(f->s, 9, 2, 0, 200, buf, &got), 0);
	assert_memory_equal(buf, a, 100);
	assert_memory_equal(buf + 100, b, 100);
	/* A write at the current version with a prev_version is plain. */
	assert_int_equal(chunkd_store_write(f->s, 9, 2, 1, 0, 0, b, sizeof(b)), 0);

	/* fsync and truncate follow the same rule. */
	assert_int_equal(chunkd_store_fsync(f->s, 9, 4, 1), GD_ESTALE);
	assert_int_equal(chunkd_store_fsync(f->s, 9, 3, 2), 0);
	assert_int_equal(chunkd_store_truncate(f->s, 9, 4, 2, 10), GD_ESTALE);
	assert_int_equal(chunkd_store_truncate(f->s, 9, 4, 3, 150), 0);
	assert_int_equal(chunkd_store_read(f->s, 9, 4, 0, 200, buf, &got), 0);
	assert_memory_equal(buf, b, 100);
	assert_memory_equal(buf + 100, b, 50);
	for (int i = 150; i < 200; i++)
		assert_int_equal(buf[i], 0);

	/* Delete: not a newer copy; then gone. */
	assert_int_equal(chunkd_store_delete(f->s, 9, 3), GD_ESTALE);
	assert_int_equal(chunkd_store_delete(f->s, 9, 4), 0);
	assert_int_equal(chunkd_store_delete(f->s, 9, 4), GD_ENOCHUNK);
	assert_int_equal(chunkd_store_read(f->s, 9, 4, 0, 200, buf, &got), GD_ENOCHUNK);
	chunk_name(9, 4, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), -1);
	/* Version 0 is never valid. */
	assert_int_equal(chunkd_store_write(f->s, 11, 0, 0, 0, 0, a, 1), GD_EINVAL);
}

static void test_truncate(void **state)
{
	struct fixture *f = *state;
	const size_t n = 200 * KiB;
	uint8_t *data = malloc(n), *model = calloc(1, n), *buf = malloc(n);
	size_t got;

	memset(data, 0xab, n);
	assert_int_equal(chunkd_store_write(f->s, 3, 1, 0, 0, 0, data, n), 0);
	memcpy(model, data, n);

	/* Down to the middle of a block: the tail reads as zeros. */
	assert_int_equal(chunkd_store_truncate(f->s, 3, 1, 0, 70000), 0);
	memset(model + 70000, 0, n - 70000);
	assert_int_equal(chunkd_store_read(f->s, 3, 1, 0, n, buf, &got), 0);
	assert_int_equal(got, n);
	assert_memory_equal(buf, model, n);

	/* Up again: still zeros, checksums still good. */
	assert_int_equal(chunkd_store_truncate(f->s, 3, 1, 0, 190 * KiB), 0);
	check_read(f->s, 3, 1, model, 0, n);

	/* Down to a block boundary, then a partial write past the end. */
	assert_int_equal(chunkd_store_truncate(f->s, 3, 1, 0, 64 * KiB), 0);
	memset(model + 64 * KiB, 0, n - 64 * KiB);
	assert_int_equal(chunkd_store_write(f->s, 3, 1, 0, 0, 150 * KiB, "hello", 5), 0);
	memcpy(model + 150 * KiB, "hello", 5);
	check_read(f->s, 3, 1, model, 0, n);

	/* To zero. */
	assert_int_equal(chunkd_store_truncate(f->s, 3, 1, 0, 0), 0);
	memset(model, 0, n);
	check_read(f->s, 3, 1, model, 0, n);

	/* Beyond the chunk size. */
	assert_int_equal(chunkd_store_truncate(f->s, 3, 1, 0, CHUNKD_MAX_CHUNK + 1ull),
			 GD_EINVAL);
	free(data);
	free(model);
	free(buf);
}

static void test_rescan(void **state)
{
	struct fixture *f = *state;
	uint8_t data[5000];
	char name[64], path[1024], copy[1100], cmd[2400];
	struct chunkd_chunk_info *list;
	size_t n, got;
	uint64_t v;
	const char *node;
	char node_before[17];

	fill_random(data, sizeof(data), 3);
	for (uint64_t id = 1; id <= 20; id++)
		assert_int_equal(chunkd_store_write(f->s, id, id + 100, 0, 1 * MiB, id * 1000,
						    data, sizeof(data)), 0);
	/* Chunk 5 moves to version 200. */
	assert_int_equal(chunkd_store_write(f->s, 5, 200, 105, 1 * MiB, 0, data, 10), 0);
	snprintf(node_before, sizeof(node_before), "%s", chunkd_store_node_id(f->s));
	assert_int_equal(strlen(node_before), 16);

	chunkd_store_close(f->s);
	f->s = NULL;
	/* A stale duplicate of chunk 7 (older version) next to it. */
	chunk_name(7, 107, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	snprintf(copy, sizeof(copy), "%.*s/%016" PRIx64 "_%016" PRIx64 ".chk",
		 (int)(strrchr(path, '/') - path), path, (uint64_t)7, (uint64_t)90);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, copy);
	assert_int_equal(system(cmd), 0);
	/* A leftover temp file is cleared. */
	snprintf(cmd, sizeof(cmd), "touch %s/a/tmp/junk.tmp", f->dir);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(open_store(f, 1), 0);
	node = chunkd_store_node_id(f->s);
	assert_string_equal(node, node_before);
	assert_int_equal(chunkd_store_count(f->s), 20);
	assert_int_equal(chunkd_store_list(f->s, &list, &n), 0);
	assert_int_equal(n, 20);
	for (size_t i = 0; i < n; i++) {
		uint64_t want = list[i].chunk_id == 5 ? 200 : list[i].chunk_id + 100;
		assert_int_equal(list[i].version, want);
	}
	gd_free(list);
	assert_int_equal(access(copy, F_OK), -1);
	snprintf(cmd, sizeof(cmd), "%s/a/tmp/junk.tmp", f->dir);
	assert_int_equal(access(cmd, F_OK), -1);

	for (uint64_t id = 1; id <= 20; id++) {
		uint8_t buf[5000];
		uint64_t ver = id == 5 ? 200 : id + 100;
		assert_int_equal(chunkd_store_version(f->s, id, &v), 0);
		assert_int_equal(v, ver);
		assert_int_equal(chunkd_store_read(f->s, id, ver, id * 1000, sizeof(buf), buf, &got), 0);
		assert_int_equal(got, sizeof(buf));
		if (id == 5)
			assert_memory_equal(buf + 10, data + 10, sizeof(buf) - 10);
		else
			assert_memory_equal(buf, data, sizeof(buf));
	}
	/* The chunk size (1 MiB) was kept: a read is clamped to it. */
	uint8_t big[100];
	assert_int_equal(chunkd_store_read(f->s, 1, 101, 1 * MiB - 50, 100, big, &got), 0);
	assert_int_equal(got, 50);
}

static void test_bounds(void **state)
{
	struct fixture *f = *state;
	uint8_t d[100] = { 0 };

	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 1 * MiB, 1 * MiB - 10, d, 20), GD_EINVAL);
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 1 * MiB, 2 * MiB, d, 1), GD_EINVAL);
	/* A larger chunk size from the request is bounded to 64 MiB. */
	assert_int_equal(chunkd_store_write(f->s, 2, 1, 0, 1ull << 30, CHUNKD_MAX_CHUNK, d, 1),
			 GD_EINVAL);
	assert_int_equal(chunkd_store_write(f->s, 2, 1, 0, 1ull << 30, CHUNKD_MAX_CHUNK - 100, d, 100), 0);
	/* The chunk made with 1 MiB keeps it. */
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 1 * MiB, 0, d, 1), 0);
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 0, 1 * MiB, d, 1), GD_EINVAL);
	assert_int_equal(chunkd_store_count(f->s), 2);
}

static void test_nospace(void **state)
{
	struct fixture *f = *state;
	uint8_t d[4096], buf[4096];
	size_t got;

	memset(d, 7, sizeof(d));
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 0, 0, d, sizeof(d)), 0);
	chunkd_store_close(f->s);
	/* A reserve no disk has: every write is refused before it happens. */
	assert_int_equal(open_store(f, 1ull << 62), 0);
	uint8_t other[4096];
	memset(other, 9, sizeof(other));
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 0, 0, other, sizeof(other)), GD_ENOSPC);
	assert_int_equal(chunkd_store_write(f->s, 2, 1, 0, 0, 0, other, sizeof(other)), GD_ENOSPC);
	assert_int_equal(chunkd_store_read(f->s, 1, 1, 0, sizeof(buf), buf, &got), 0);
	assert_memory_equal(buf, d, sizeof(d));
	assert_int_equal(chunkd_store_read(f->s, 2, 1, 0, sizeof(buf), buf, &got), GD_ENOCHUNK);
	assert_int_equal(chunkd_store_count(f->s), 1);
}

static void test_import(void **state)
{
	struct fixture *f = *state;
	const size_t cs = 2 * MiB;
	uint8_t *src = calloc(1, cs), *buf = malloc(cs);
	struct chunkd_import *imp;
	size_t got;
	uint64_t v;

	fill_random(src, 300 * KiB, 5);          /* data, then zeros, then data */
	fill_random(src + 1 * MiB + 100, 1000, 6);
	/* An older local copy that the import replaces. */
	assert_int_equal(chunkd_store_write(f->s, 50, 3, 0, cs, 0, "old", 3), 0);
	assert_int_equal(chunkd_store_import_begin(f->s, 50, 4, &imp), 0);
	for (size_t at = 0; at < cs; at += 1 * MiB)
		assert_int_equal(chunkd_store_import_write(imp, at, src + at, 1 * MiB), 0);
	assert_int_equal(chunkd_store_import_commit(imp, cs), 0);
	assert_int_equal(chunkd_store_version(f->s, 50, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(chunkd_store_read(f->s, 50, 4, 0, cs, buf, &got), 0);
	assert_int_equal(got, cs);
	assert_memory_equal(buf, src, cs);
	assert_int_equal(chunkd_store_read(f->s, 50, 3, 0, 10, buf, &got), GD_ESTALE);

	/* An import older than the local copy is dropped. */
	assert_int_equal(chunkd_store_import_begin(f->s, 50, 2, &imp), 0);
	assert_int_equal(chunkd_store_import_write(imp, 0, src, 1000), 0);
	assert_int_equal(chunkd_store_import_commit(imp, cs), 0);
	assert_int_equal(chunkd_store_version(f->s, 50, &v), 0);
	assert_int_equal(v, 4);
	/* Unaligned pieces are refused; abort leaves nothing behind. */
	assert_int_equal(chunkd_store_import_begin(f->s, 51, 1, &imp), 0);
	assert_int_equal(chunkd_store_import_write(imp, 100, src, 10), GD_EINVAL);
	chunkd_store_import_abort(imp);
	assert_int_equal(chunkd_store_version(f->s, 51, &v), GD_ENOCHUNK);

	/* After a restart the imported copy is still there and still checks. */
	chunkd_store_close(f->s);
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 50, 4, 0, cs, buf, &got), 0);
	assert_memory_equal(buf, src, cs);
	assert_int_equal(chunkd_store_count(f->s), 1);
	free(src);
	free(buf);
}

struct writer_arg {
	struct chunkd_store *s;
	int k;
};

/* Each thread owns every 4th 48 KiB slice of one chunk (slices straddle blocks,
 * so neighbours do read-modify-write of shared blocks). */
static void *writer(void *p)
{
	struct writer_arg *a = p;
	uint8_t d[48 * KiB];

	for (int i = a->k; i < 40; i += 4) {
		memset(d, 'A' + i % 26, sizeof(d));
		if (chunkd_store_write(a->s, 99, 1, 0, 0, (uint64_t)i * sizeof(d), d, sizeof(d)) != 0)
			return (void *)1;
		size_t got;
		uint8_t r[48 * KiB];
		if (chunkd_store_read(a->s, 99, 1, (uint64_t)i * sizeof(d), sizeof(r), r, &got) != 0 ||
		    memcmp(r, d, sizeof(d)) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	struct writer_arg a[4];
	uint8_t *buf = malloc(40 * 48 * KiB);
	size_t got;

	/* Create first, so that the threads only write. */
	assert_int_equal(chunkd_store_write(f->s, 99, 1, 0, 0, 0, NULL, 0), 0);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct writer_arg){ f->s, i };
		assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	assert_int_equal(chunkd_store_read(f->s, 99, 1, 0, 40 * 48 * KiB, buf, &got), 0);
	for (int i = 0; i < 40; i++)
		for (size_t j = 0; j < 48 * KiB; j++)
			if (buf[(size_t)i * 48 * KiB + j] != 'A' + i % 26)
				fail_msg("slice %d byte %zu", i, j);
	free(buf);
}

/* The two I/O paths leave byte-identical files for the same writes. */
static void test_paths_identical(void **state)
{
	char d1[] = "/tmp/godfs-chunkd-cmp1.XXXXXX", d2[] = "/tmp/godfs-chunkd-cmp2.XXXXXX";
	struct chunkd_store *s1, *s2;
	uint8_t *data = malloc(1 * MiB);
	char cmd[512];

	assert_non_null(mkdtemp(d1));
	assert_non_null(mkdtemp(d2));
	struct chunkd_store_opts o1 = { .data_dirs = d1, .force_pread = 0, .reserve_bytes = 1 };
	struct chunkd_store_opts o2 = { .data_dirs = d2, .force_pread = 1, .reserve_bytes = 1 };
	assert_int_equal(chunkd_store_open(&o1, &s1), 0);
	assert_int_equal(chunkd_store_open(&o2, &s2), 0);
	for (int i = 0; i < 8; i++) {
		uint64_t off = (uint64_t)i * 333333;
		size_t len = 1 * MiB - (size_t)i * 1000;
		fill_random(data, len, (unsigned)i);
		assert_int_equal(chunkd_store_write(s1, 8, 1, 0, 0, off, data, len), 0);
		assert_int_equal(chunkd_store_write(s2, 8, 1, 0, 0, off, data, len), 0);
	}
	assert_int_equal(chunkd_store_truncate(s1, 8, 1, 0, 2 * MiB + 17), 0);
	assert_int_equal(chunkd_store_truncate(s2, 8, 1, 0, 2 * MiB + 17), 0);
	assert_int_equal(chunkd_store_fsync(s1, 8, 1, 0), 0);
	assert_int_equal(chunkd_store_fsync(s2, 8, 1, 0), 0);
	chunkd_store_close(s1);
	chunkd_store_close(s2);
	snprintf(cmd, sizeof(cmd),
		 "cmp $(find %s -name '*.chk') $(find %s -name '*.chk')", d1, d2);
	assert_int_equal(system(cmd), 0);
	test_tmpdir_remove(d1);
	test_tmpdir_remove(d2);
	free(data);
}

/* Reads a whole file into a malloc'd buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
	close(fd);
}

/* The case: a partial-block write whose data reached the disk in
 * part (torn at 4 KiB) while its checksum did not, after the block was
 * fsynced. The disk image after the "crash" is made by hand: the synced file,
 * plus every other 4 KiB page of the new data, old checksum table. After a
 * restart every fsynced byte outside the write reads back, each byte inside
 * it is old or new, and nothing is reported corrupt or moved aside. Before
 * the store marked copies open, this read GD_ECORRUPT and lost the copy. */
static void test_crash_torn_write(void **state)
{
	struct fixture *f = *state;
	const size_t len0 = 200 * KiB, woff = 70000, wlen = 30000;
	uint8_t *d0 = malloc(len0), *d1 = malloc(wlen), *buf = malloc(len0);
	char name[64], path[1024], lf[1024];
	size_t slen, wimg_len, got;
	uint8_t *synced, *written;

	fill_random(d0, len0, 1);
	fill_random(d1, wlen, 2);
	assert_int_equal(chunkd_store_write(f->s, 9, 1, 0, 0, 0, d0, len0), 0);
	assert_int_equal(chunkd_store_fsync(f->s, 9, 1, 0), 0);
	chunk_name(9, 1, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	synced = slurp(path, &slen);
	assert_int_equal(chunkd_store_write(f->s, 9, 1, 0, 0, woff, d1, wlen), 0);
	written = slurp(path, &wimg_len);
	assert_int_equal(wimg_len, slen);
	chunkd_store_close(f->s);
	f->s = NULL;

	/* the crash image: synced state, every other data page of the write */
	for (size_t p = (f->data_off + woff) / 4096; p * 4096 < f->data_off + woff + wlen;
	     p += 2)
		memcpy(synced + p * 4096, written + p * 4096, 4096);
	spit(path, synced, slen);
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 9, 1, 0, len0, buf, &got), 0);
	assert_int_equal(got, len0);
	for (size_t i = 0; i < len0; i++) {
		int in = i >= woff && i < woff + wlen;
		if (buf[i] != d0[i] && !(in && buf[i] == d1[i - woff]))
			fail_msg("byte %zu: %u, fsynced %u", i, buf[i], d0[i]);
	}
	assert_int_equal(f->corrupt_calls, 0);
	assert_int_equal(find_file(f, ".corrupt", lf, sizeof(lf)), -1);
	/* recovered: settled, and a bit flipped now is rot again */
	chunkd_store_close(f->s);
	f->s = NULL;
	synced = (free(synced), slurp(path, &slen));
	synced[f->data_off + 5] ^= 1;
	spit(path, synced, slen);
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 9, 1, 0, len0, buf, &got), GD_ECORRUPT);
	assert_int_equal(f->corrupt_calls, 1);
	free(synced);
	free(written);
	free(d0);
	free(d1);
	free(buf);
}

/* The header's state on disk: open from the first write until settled,
 * clean after chunkd_store_settle and after close; a file of format 1 (no
 * state) reads as before and becomes format 2 at its next header write. */
static void test_open_mark(void **state)
{
	struct fixture *f = *state;
	char name[64], path[1024];
	uint8_t h[CHUNKD_HDR_SIZE], buf[100];
	size_t got;
	int fd;

	assert_int_equal(chunkd_store_write(f->s, 10, 1, 0, 0, 0, "hello", 5), 0);
	chunk_name(10, 1, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[8], f->format);
	assert_int_equal(h[48], 1);                       /* open */
	assert_int_equal(chunkd_store_settle(f->s, 60000), 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[48], 1);                       /* written just now: stays open */
	assert_int_equal(chunkd_store_settle(f->s, 0), 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[48], 0);                       /* clean */
	assert_int_equal(chunkd_store_write(f->s, 10, 1, 0, 0, 5, " world", 6), 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[48], 1);
	chunkd_store_close(f->s);
	f->s = NULL;
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[48], 0);
	if (f->format != 2) {
		close(fd);
		return;   /* format 1 had 64 KiB blocks: only a format 2 file becomes one */
	}

	/* rewrite the header as format 1 (no state field) */
	h[8] = 1;
	memset(h + 48, 0, 4);
	uint64_t sum = XXH3_64bits(h, CHUNKD_HDR_SIZE - 8);
	memcpy(h + CHUNKD_HDR_SIZE - 8, &sum, 8);
	assert_int_equal(pwrite(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 10, 1, 0, 11, buf, &got), 0);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(chunkd_store_write(f->s, 10, 1, 0, 0, 0, "H", 1), 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[8], 2);
	assert_int_equal(h[48], 1);
	close(fd);
}

/* Flips one bit of a chunk file at byte `at`. */
static void flip_bit(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t byte;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0x04;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

/* Format 3 on disk: 4 KiB blocks, data 4 KiB aligned after a 128 KiB table
 * whose entries are XXH3-64(block) ^ XXH3-64(zeros), a tiny chunk costing one
 * table page; a bad 4 KiB block is found exactly (its neighbours read on), an
 * aligned 4 KiB write over it needs no read (and repairs it), an unaligned
 * one reads it (and fails). */
static void test_format3_layout(void **state)
{
	struct fixture *f = *state;
	const uint64_t id = 0xf3;
	uint8_t h[CHUNKD_HDR_SIZE], *data = malloc(64 * KiB), *buf = malloc(64 * KiB);
	uint8_t zeros[4096] = { 0 };
	char name[64], path[1024];
	struct stat st;
	uint64_t e;
	size_t got;
	int fd;

	assert_int_equal(CHUNKD_DATA_OFF % 4096, 0);
	assert_int_equal(CHUNKD_DATA_OFF, 132 * KiB);
	fill_random(data, 64 * KiB, 77);
	assert_int_equal(chunkd_store_write(f->s, id, 1, 0, 0, 0, data, 100), 0);
	assert_int_equal(chunkd_store_block_size(f->s, id), 4096);
	assert_int_equal(chunkd_store_fsync(f->s, id, 1, 0), 0);
	chunk_name(id, 1, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[8], 3);
	assert_int_equal(h[12] | h[13] << 8 | h[14] << 16, 4096);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, CHUNKD_DATA_OFF + 100);
	/* header, one table page, one data page: the rest of the table is a hole */
	assert_true((uint64_t)st.st_blocks * 512 <= 16 * KiB);
	assert_int_equal(pread(fd, &e, 8, CHUNKD_HDR_SIZE), 8);
	memcpy(zeros, data, 100);
	{
		uint8_t z[4096] = { 0 };
		assert_int_equal(le64toh(e), XXH3_64bits(zeros, 4096) ^ XXH3_64bits(z, 4096));
	}
	close(fd);

	/* 64 KiB of data, then a bit flipped in the 4 KiB block 5 */
	assert_int_equal(chunkd_store_write(f->s, id, 1, 0, 0, 0, data, 64 * KiB), 0);
	flip_bit(path, (off_t)(CHUNKD_DATA_OFF + 5 * 4096 + 77));
	assert_int_equal(chunkd_store_read(f->s, id, 1, 0, 5 * 4096, buf, &got), 0);
	assert_memory_equal(buf, data, 5 * 4096);
	assert_int_equal(chunkd_store_read(f->s, id, 1, 6 * 4096, 10 * 4096, buf, &got), 0);
	assert_memory_equal(buf, data + 6 * 4096, 10 * 4096);
	assert_int_equal(f->corrupt_calls, 0);
	assert_int_equal(chunkd_store_read(f->s, id, 1, 5 * 4096 + 4095, 1, buf, &got),
			 GD_ECORRUPT);
	assert_int_equal(f->corrupt_calls, 1);
	assert_int_equal(f->corrupt_block, 5);
	assert_int_equal(chunkd_store_bad_blocks(f->s, id), 1);
	/* unaligned: reads the bad block, fails; aligned: reads nothing, repairs */
	assert_int_equal(chunkd_store_write(f->s, id, 1, 0, 0, 5 * 4096 + 1, "x", 1),
			 GD_ECORRUPT);
	assert_int_equal(chunkd_store_write(f->s, id, 1, 0, 0, 5 * 4096, data + 5 * 4096, 4096),
			 0);
	assert_int_equal(chunkd_store_bad_blocks(f->s, id), 0);
	assert_int_equal(chunkd_store_read(f->s, id, 1, 0, 64 * KiB, buf, &got), 0);
	assert_memory_equal(buf, data, 64 * KiB);
	free(data);
	free(buf);
}

/* Copies written in format 2 by the old code path (a store told to write
 * it) stay format 2 for life in a store that writes format 3: read, written
 * in part (64 KiB read-modify-write), truncated, rescanned, found corrupt per
 * 64 KiB block; a new copy beside them is format 3, and an import replacing
 * the old copy writes format 3. (Torn-write recovery of format 2 copies:
 * test_crash_torn_write in its m_v2 run.) */
static void test_old_format_copy(void **state)
{
	struct fixture *f = *state;
	const size_t n = 300 * KiB;
	uint8_t *model = calloc(1, n), *data = malloc(n), *buf = malloc(n);
	uint8_t h[CHUNKD_HDR_SIZE];
	char name[64], path[1024];
	size_t got;
	int fd;

	/* the old code path */
	chunkd_store_close(f->s);
	f->format = 2;
	assert_int_equal(open_store(f, 1), 0);
	fill_random(data, n, 11);
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 0, 0, data, n), 0);
	memcpy(model, data, n);
	assert_int_equal(chunkd_store_write(f->s, 2, 1, 0, 0, 0, data, n), 0);
	chunk_name(1, 1, name, sizeof(name));
	assert_int_equal(find_file(f, name, path, sizeof(path)), 0);
	chunkd_store_close(f->s);
	f->format = 3;
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_block_size(f->s, 1), CHUNKD_V2_BLOCK_SIZE);
	check_read(f->s, 1, 1, model, 0, n);

	/* a 4 KiB write into it: the old 64 KiB block is merged */
	fill_random(data, 4 * KiB, 12);
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 0, 68 * KiB, data, 4 * KiB), 0);
	memcpy(model + 68 * KiB, data, 4 * KiB);
	check_read(f->s, 1, 1, model, 0, n);
	/* truncate inside a 64 KiB block, then grow by a write past the end */
	assert_int_equal(chunkd_store_truncate(f->s, 1, 1, 0, 100000), 0);
	memset(model + 100000, 0, n - 100000);
	assert_int_equal(chunkd_store_write(f->s, 1, 1, 0, 0, 200 * KiB + 3, "abc", 3), 0);
	memcpy(model + 200 * KiB + 3, "abc", 3);
	check_read(f->s, 1, 1, model, 0, n);
	/* a new copy beside it is format 3 */
	assert_int_equal(chunkd_store_write(f->s, 3, 1, 0, 0, 0, "new", 3), 0);
	assert_int_equal(chunkd_store_block_size(f->s, 3), CHUNKD_BLOCK_SIZE);
	assert_int_equal(chunkd_store_fsync(f->s, 1, 1, 0), 0);
	chunkd_store_close(f->s);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	assert_int_equal(h[8], 2);
	close(fd);

	/* rescanned; a flipped bit is found in its 64 KiB block (block 1) */
	flip_bit(path, (off_t)(CHUNKD_V2_DATA_OFF + 70 * KiB));
	assert_int_equal(open_store(f, 1), 0);
	assert_int_equal(chunkd_store_read(f->s, 1, 1, 0, 64 * KiB, buf, &got), 0);
	assert_int_equal(chunkd_store_read(f->s, 1, 1, 127 * KiB, 10, buf, &got), GD_ECORRUPT);
	assert_int_equal(f->corrupt_block, 1);
	check_read(f->s, 1, 1, model, 128 * KiB, n - 128 * KiB);

	/* an import at the same version replaces it, in format 3 */
	struct chunkd_import *imp;
	assert_int_equal(chunkd_store_import_begin(f->s, 1, 1, &imp), 0);
	assert_int_equal(chunkd_store_import_write(imp, 0, model, n), 0);
	assert_int_equal(chunkd_store_import_commit(imp, CHUNKD_MAX_CHUNK), 0);
	assert_int_equal(chunkd_store_block_size(f->s, 1), CHUNKD_BLOCK_SIZE);
	check_read(f->s, 1, 1, model, 0, n);
	/* the other old copy still reads after all that */
	fill_random(data, n, 11);
	check_read(f->s, 2, 1, data, 0, n);
	chunkd_store_close(f->s);
	assert_int_equal(open_store(f, 1), 0);
	check_read(f->s, 1, 1, model, 0, n);
	check_read(f->s, 2, 1, data, 0, n);
	free(model);
	free(data);
	free(buf);
}

#define BOTH(t) \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &m_uring), \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &m_pread), \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &m_v2)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_round_trip),
		BOTH(test_corrupt_bit),
		BOTH(test_corrupt_table),
		BOTH(test_crash_torn_write),
		BOTH(test_open_mark),
		BOTH(test_versions),
		BOTH(test_truncate),
		BOTH(test_rescan),
		BOTH(test_bounds),
		BOTH(test_nospace),
		BOTH(test_import),
		BOTH(test_threads),
		cmocka_unit_test(test_paths_identical),
		cmocka_unit_test_prestate_setup_teardown(test_format3_layout, setup, teardown,
							 &m_uring),
		cmocka_unit_test_prestate_setup_teardown(test_old_format_copy, setup, teardown,
							 &m_uring),
		cmocka_unit_test_prestate_setup_teardown(test_old_format_copy, setup, teardown,
							 &m_pread),
	};

	gd_log_init("test_chunkd_store", getenv("GD_TEST_LOG") ? getenv("GD_TEST_LOG") : "error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
