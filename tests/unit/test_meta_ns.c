/* Unit tests of the meta namespace data structures (meta/meta_ns.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_ns.h"

/* A fixed-seed generator, so that failures repeat. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void *val_of(uint64_t k)
{
	return (void *)(uintptr_t)(k * 2 + 1);
}

static void test_map_grow_and_delete(void **state)
{
	struct meta_ns_map m;
	const uint64_t n = 100000;
	uint64_t k, key;
	size_t pos = 0, seen = 0;
	void *v;

	(void)state;
	meta_ns_map_init(&m);
	assert_null(meta_ns_map_get(&m, 1));
	assert_int_equal(meta_ns_map_put(&m, 0, val_of(0)), GD_EINVAL);
	assert_int_equal(meta_ns_map_put(&m, 5, NULL), GD_EINVAL);
	for (k = 1; k <= n; k++)
		assert_int_equal(meta_ns_map_put(&m, k, val_of(k)), 0);
	assert_int_equal(m.count, n);
	assert_true(m.cap >= n * 4 / 3);
	assert_int_equal(m.cap & (m.cap - 1), 0);
	for (k = 1; k <= n; k++)
		assert_ptr_equal(meta_ns_map_get(&m, k), val_of(k));
	assert_null(meta_ns_map_get(&m, n + 1));
	/* replace keeps the count */
	assert_int_equal(meta_ns_map_put(&m, 7, val_of(70)), 0);
	assert_int_equal(m.count, n);
	assert_ptr_equal(meta_ns_map_get(&m, 7), val_of(70));
	assert_int_equal(meta_ns_map_put(&m, 7, val_of(7)), 0);
	/* delete every odd key: backward shifting must keep the rest reachable */
	for (k = 1; k <= n; k += 2)
		assert_ptr_equal(meta_ns_map_del(&m, k), val_of(k));
	assert_null(meta_ns_map_del(&m, 1));
	assert_int_equal(m.count, n / 2);
	for (k = 1; k <= n; k++) {
		if (k % 2)
			assert_null(meta_ns_map_get(&m, k));
		else
			assert_ptr_equal(meta_ns_map_get(&m, k), val_of(k));
	}
	while ((v = meta_ns_map_next(&m, &pos, &key))) {
		assert_ptr_equal(v, val_of(key));
		assert_int_equal(key % 2, 0);
		seen++;
	}
	assert_int_equal(seen, n / 2);
	meta_ns_map_release(&m);
}

/* Random keys (large, clustered in the hash) inserted and deleted in random
 * order against a shadow array. */
static void test_map_random(void **state)
{
	struct meta_ns_map m;
	enum { N = 20000 };
	static uint64_t keys[N];
	static int present[N];
	size_t i, round;

	(void)state;
	meta_ns_map_init(&m);
	for (i = 0; i < N; i++) {
		keys[i] = (rng() | 1) & ~0xffULL; /* low byte 0: stress the mixer */
		if (!keys[i])
			keys[i] = 0x100;
		present[i] = 0;
	}
	for (round = 0; round < 200000; round++) {
		i = rng() % N;
		if (present[i]) {
			assert_ptr_equal(meta_ns_map_del(&m, keys[i]), val_of(keys[i]));
			present[i] = 0;
		} else if (!meta_ns_map_get(&m, keys[i])) {
			assert_int_equal(meta_ns_map_put(&m, keys[i], val_of(keys[i])), 0);
			present[i] = 1;
		}
	}
	for (i = 0; i < N; i++) {
		if (present[i])
			assert_ptr_equal(meta_ns_map_get(&m, keys[i]), val_of(keys[i]));
	}
	meta_ns_map_release(&m);
}

static void test_map_alloc_failure(void **state)
{
	struct meta_ns_map m;
	uint64_t k;

	(void)state;
	meta_ns_map_init(&m);
	for (k = 1; k <= 12; k++)
		assert_int_equal(meta_ns_map_put(&m, k, val_of(k)), 0);
	/* the 13th needs a bigger table */
	gd_alloc_fail_after(1);
	assert_int_equal(meta_ns_map_put(&m, 13, val_of(13)), GD_ENOMEM);
	gd_alloc_fail_after(0);
	assert_int_equal(m.count, 12);
	for (k = 1; k <= 12; k++)
		assert_ptr_equal(meta_ns_map_get(&m, k), val_of(k));
	assert_null(meta_ns_map_get(&m, 13));
	meta_ns_map_release(&m);
}

static void test_name_check(void **state)
{
	char name[300];

	(void)state;
	assert_int_equal(meta_ns_name_check("a", 1), 0);
	assert_int_equal(meta_ns_name_check("...", 3), 0);
	assert_int_equal(meta_ns_name_check(".hidden", 7), 0);
	assert_int_equal(meta_ns_name_check("", 0), GD_EINVAL);
	assert_int_equal(meta_ns_name_check(NULL, 0), GD_EINVAL);
	assert_int_equal(meta_ns_name_check(".", 1), GD_EINVAL);
	assert_int_equal(meta_ns_name_check("..", 2), GD_EINVAL);
	assert_int_equal(meta_ns_name_check("a/b", 3), GD_EINVAL);
	assert_int_equal(meta_ns_name_check("a\0b", 3), GD_EINVAL);
	memset(name, 'x', sizeof(name));
	assert_int_equal(meta_ns_name_check(name, 255), 0);
	assert_int_equal(meta_ns_name_check(name, 256), GD_ENAMETOOLONG);
	name[10] = '/';
	assert_int_equal(meta_ns_name_check(name, 256), GD_ENAMETOOLONG);
}

static void add_name(struct meta_ns_dir *d, unsigned i, uint64_t *cookie)
{
	char name[32];
	struct meta_ns_dirent *de = NULL;
	int n = snprintf(name, sizeof(name), "entry-%u", i);
	assert_int_equal(meta_ns_dir_add(d, name, (size_t)n, 1000 + i, S_IFREG, &de), 0);
	assert_non_null(de);
	if (cookie)
		*cookie = de->cookie;
}

static int remove_name(struct meta_ns_dir *d, unsigned i)
{
	char name[32];
	int n = snprintf(name, sizeof(name), "entry-%u", i);
	return meta_ns_dir_remove(d, name, (size_t)n);
}

static void test_dir_basic(void **state)
{
	struct meta_ns_dir d;
	struct meta_ns_dirent *de;
	uint64_t c, last = 0;
	unsigned i, n = 0;

	(void)state;
	meta_ns_dir_init(&d);
	assert_null(meta_ns_dir_next(&d, 0));
	assert_null(meta_ns_dir_lookup(&d, "x", 1));
	assert_int_equal(meta_ns_dir_remove(&d, "x", 1), GD_ENOENT);
	for (i = 0; i < 1000; i++) {
		add_name(&d, i, &c);
		assert_int_equal(c, META_NS_FIRST_COOKIE + i);
	}
	assert_int_equal(d.count, 1000);
	de = meta_ns_dir_lookup(&d, "entry-517", 9);
	assert_non_null(de);
	assert_int_equal(de->ino, 1517);
	assert_string_equal(de->name, "entry-517");
	/* lengths count: "entry-51" is its own entry, not a prefix match of
	 * "entry-517", and names that were never added are absent */
	de = meta_ns_dir_lookup(&d, "entry-517", 8);
	assert_non_null(de);
	assert_int_equal(de->ino, 1051);
	assert_null(meta_ns_dir_lookup(&d, "entry-5170", 10));
	assert_null(meta_ns_dir_lookup(&d, "entry-1000", 10));
	assert_null(meta_ns_dir_lookup(&d, "entry-", 6));
	/* remove the even ones; a removed name's cookie is never given again */
	for (i = 0; i < 1000; i += 2)
		assert_int_equal(remove_name(&d, i), 0);
	assert_int_equal(remove_name(&d, 0), GD_ENOENT);
	assert_int_equal(d.count, 500);
	add_name(&d, 0, &c);
	assert_int_equal(c, META_NS_FIRST_COOKIE + 1000);
	for (de = meta_ns_dir_next(&d, 0); de; de = meta_ns_dir_next(&d, de->cookie)) {
		assert_true(de->cookie > last);
		last = de->cookie;
		n++;
	}
	assert_int_equal(n, 501);
	assert_null(meta_ns_dir_lookup(&d, "entry-2", 7));
	assert_non_null(meta_ns_dir_lookup(&d, "entry-3", 7));
	meta_ns_dir_release(&d);
}

/* A readdir walk that resumes by cookie while entries come and go (with
 * compactions of the tombstones in between) sees every entry that lived
 * through the whole walk exactly once, in cookie order, and none that was
 * removed before the walk reached it. */
static void test_dir_walk_during_changes(void **state)
{
	enum { N = 3000, MAXN = 20000 };
	static int alive[MAXN], seen[MAXN], removed_ever[MAXN];
	struct meta_ns_dir d;
	struct meta_ns_dirent *de;
	uint64_t after = 0, last = 0;
	unsigned next_name = N, i, steps = 0;

	(void)state;
	memset(alive, 0, sizeof(alive));
	memset(seen, 0, sizeof(seen));
	memset(removed_ever, 0, sizeof(removed_ever));
	meta_ns_dir_init(&d);
	for (i = 0; i < N; i++) {
		add_name(&d, i, NULL);
		alive[i] = 1;
	}
	for (;;) {
		unsigned k;
		/* one page of up to 7 entries */
		for (k = 0; k < 7; k++) {
			de = meta_ns_dir_next(&d, after);
			if (!de)
				break;
			assert_true(de->cookie > last);
			last = after = de->cookie;
			i = (unsigned)(de->ino - 1000);
			assert_true(alive[i]);
			assert_int_equal(seen[i], 0);
			seen[i] = 1;
		}
		if (k < 7)
			break;
		/* between pages: remove 5 random live entries, add 3 new ones */
		for (k = 0; k < 5; k++) {
			unsigned j = (unsigned)(rng() % next_name);
			if (alive[j]) {
				assert_int_equal(remove_name(&d, j), 0);
				alive[j] = 0;
				removed_ever[j] = 1;
			}
		}
		for (k = 0; k < 3 && next_name < MAXN; k++) {
			add_name(&d, next_name, NULL);
			alive[next_name++] = 1;
		}
		steps++;
	}
	assert_true(steps > 100);
	for (i = 0; i < N; i++) {
		if (alive[i] && !removed_ever[i])
			assert_int_equal(seen[i], 1);
	}
	/* entries added during the walk have larger cookies: all of them that
	 * are still there were seen too (they were appended after the cursor) */
	for (i = N; i < next_name; i++) {
		if (alive[i])
			assert_int_equal(seen[i], 1);
	}
	assert_true(d.n_order <= 2 * d.count + 17 + 3);
	meta_ns_dir_release(&d);
}

static void test_dir_add_cookie(void **state)
{
	struct meta_ns_dir d;

	(void)state;
	meta_ns_dir_init(&d);
	assert_int_equal(meta_ns_dir_add_cookie(&d, "a", 1, 10, S_IFREG, 5), 0);
	assert_int_equal(meta_ns_dir_add_cookie(&d, "b", 1, 11, S_IFREG, 5), GD_EPROTO);
	assert_int_equal(meta_ns_dir_add_cookie(&d, "b", 1, 11, S_IFREG, 4), GD_EPROTO);
	assert_int_equal(meta_ns_dir_add_cookie(&d, "a", 1, 11, S_IFREG, 9), GD_EPROTO);
	assert_int_equal(meta_ns_dir_add_cookie(&d, "b", 1, 11, S_IFDIR, 9), 0);
	assert_int_equal(d.next_cookie, 10);
	assert_int_equal(meta_ns_dir_next(&d, 5)->ino, 11);
	assert_int_equal(meta_ns_dir_next(&d, 0)->ino, 10);
	assert_null(meta_ns_dir_next(&d, 9));
	meta_ns_dir_release(&d);
}

static void test_dir_alloc_failure(void **state)
{
	struct meta_ns_dir d;
	unsigned i;
	long n;

	(void)state;
	meta_ns_dir_init(&d);
	for (i = 0; i < 8; i++)
		add_name(&d, i, NULL);
	/* the 9th entry needs bigger buckets and order array and the entry
	 * itself: fail each allocation in turn, the directory stays as it was */
	for (n = 1;; n++) {
		int rc;
		gd_alloc_fail_after(n);
		rc = meta_ns_dir_add(&d, "new", 3, 5, S_IFREG, NULL);
		gd_alloc_fail_after(0);
		if (rc == 0)
			break;
		assert_int_equal(rc, GD_ENOMEM);
		assert_int_equal(d.count, 8);
		assert_null(meta_ns_dir_lookup(&d, "new", 3));
	}
	assert_true(n > 2);
	assert_int_equal(d.count, 9);
	for (i = 0; i < 8; i++) {
		char name[32];
		int l = snprintf(name, sizeof(name), "entry-%u", i);
		assert_non_null(meta_ns_dir_lookup(&d, name, (size_t)l));
	}
	meta_ns_dir_release(&d);
}

static void test_xattr(void **state)
{
	struct meta_ns_inode *in = meta_ns_inode_new(2, S_IFREG | 0644);
	static uint8_t big[META_NS_XATTR_VALUE_MAX];
	char name[32];
	int i, rc = 0;

	(void)state;
	assert_non_null(in);
	assert_int_equal(meta_ns_xattr_set(in, "user.a", "1", 1), 0);
	assert_int_equal(meta_ns_xattr_set(in, "user.b", "22", 2), 0);
	assert_int_equal(in->xattr_bytes, 6 + 1 + 6 + 2);
	assert_int_equal(meta_ns_xattr_set(in, "user.a", "333", 3), 0);
	assert_int_equal(in->n_xattrs, 2);
	assert_int_equal(in->xattr_bytes, 6 + 3 + 6 + 2);
	assert_memory_equal(meta_ns_xattr_find(in, "user.a")->value, "333", 3);
	assert_int_equal(meta_ns_xattr_remove(in, "user.a"), 0);
	assert_int_equal(meta_ns_xattr_remove(in, "user.a"), GD_ENODATA);
	assert_null(meta_ns_xattr_find(in, "user.a"));
	assert_int_equal(in->xattr_bytes, 8);
	assert_int_equal(meta_ns_xattr_set(in, "user.empty", NULL, 0), 0);
	assert_int_equal(meta_ns_xattr_find(in, "user.empty")->len, 0);
	/* the per-inode total is bounded at 1 MiB */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "user.big%d", i);
		rc = meta_ns_xattr_set(in, name, big, sizeof(big));
		if (rc)
			break;
	}
	assert_int_equal(rc, GD_ENOSPC);
	assert_true(i >= 15 && i <= 16);
	assert_true(in->xattr_bytes <= META_NS_XATTR_TOTAL_MAX);
	meta_ns_inode_free(in);
}

static void test_chunks_sorted(void **state)
{
	struct meta_ns_inode *in = meta_ns_inode_new(2, S_IFREG | 0644);
	uint64_t order[] = { 5, 1, 9, 3, 7, 0, 100 };
	char *nodes[] = { "n1", "n2" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct meta_ns_chunk *c = gd_calloc(1, sizeof(*c));
		bool found;
		size_t pos;

		assert_non_null(c);
		c->index = order[i];
		c->chunk_id = i + 1;
		pos = meta_ns_chunk_pos(in, c->index, &found);
		assert_false(found);
		assert_int_equal(meta_ns_chunk_insert(in, pos, c), 0);
	}
	for (i = 1; i < in->n_chunks; i++)
		assert_true(in->chunks[i - 1]->index < in->chunks[i]->index);
	assert_int_equal(meta_ns_chunk_find(in, 9)->chunk_id, 3);
	assert_null(meta_ns_chunk_find(in, 8));
	assert_int_equal(meta_ns_chunk_set_nodes(meta_ns_chunk_find(in, 9), nodes, 2), 0);
	assert_string_equal(meta_ns_chunk_find(in, 9)->nodes[1], "n2");
	assert_int_equal(meta_ns_chunk_set_nodes(meta_ns_chunk_find(in, 9), nodes, 1), 0);
	assert_int_equal(meta_ns_chunk_find(in, 9)->n_nodes, 1);
	meta_ns_inode_free(in);
}

static void test_sessions_nodes(void **state)
{
	struct meta_ns_state s;
	uint64_t ids[] = { 50, 10, 30, 20, 40 };
	size_t i;

	(void)state;
	assert_int_equal(meta_ns_state_init(&s, 1 << 20, 2), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(meta_ns_session_put(&s, ids[i], "host", "/mnt"), 0);
	assert_int_equal(meta_ns_session_put(&s, 30, "other", NULL), 0);
	assert_int_equal(s.n_sessions, 5);
	for (i = 1; i < s.n_sessions; i++)
		assert_true(s.sessions[i - 1].id < s.sessions[i].id);
	assert_string_equal(meta_ns_session_find(&s, 30)->host, "other");
	assert_string_equal(meta_ns_session_find(&s, 30)->mountpoint, "");
	assert_int_equal(meta_ns_session_remove(&s, 30), 0);
	assert_int_equal(meta_ns_session_remove(&s, 30), GD_ENOSESSION);
	assert_null(meta_ns_session_find(&s, 30));
	assert_int_equal(meta_ns_node_put(&s, "cs-b", "h:8001", "r1"), 0);
	assert_int_equal(meta_ns_node_put(&s, "cs-a", "h:8000", NULL), 0);
	assert_int_equal(meta_ns_node_put(&s, "cs-b", "h:9001", "r2"), 0);
	assert_int_equal(s.n_nodes, 2);
	assert_string_equal(s.nodes[0].id, "cs-a");
	assert_string_equal(meta_ns_node_find(&s, "cs-b")->address, "h:9001");
	assert_null(meta_ns_node_find(&s, "cs-c"));
	/* the root */
	{
		struct meta_ns_inode *root = meta_ns_map_get(&s.inodes, META_NS_ROOT_INO);
		assert_non_null(root);
		assert_int_equal(root->mode, S_IFDIR | 0755);
		assert_int_equal(root->goal, 2);
		assert_int_equal(root->nlink, 2);
	}
	meta_ns_state_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_grow_and_delete),
		cmocka_unit_test(test_map_random),
		cmocka_unit_test(test_map_alloc_failure),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_dir_basic),
		cmocka_unit_test(test_dir_walk_during_changes),
		cmocka_unit_test(test_dir_add_cookie),
		cmocka_unit_test(test_dir_alloc_failure),
		cmocka_unit_test(test_xattr),
		cmocka_unit_test(test_chunks_sorted),
		cmocka_unit_test(test_sessions_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
