/* The pure choices of where copies go (meta/meta_place.c) and the labels
 * they read (libcomm/gd_label.c): made-up nodes, every rule checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gd_label.h"
#include "gd_status.h"
#include "meta_place.h"

#define GIB (1ull << 30)

/* A node with a label string, total 100 GiB and used_pct percent used. */
struct tnode {
	struct gd_label label;
	struct meta_place_node n;
};

static void mk(struct tnode *t, const char *id, const char *label, unsigned used_pct,
	       bool draining)
{
	assert_int_equal(gd_label_parse(label, &t->label), 0);
	t->n.id = id;
	t->n.label = &t->label;
	t->n.total_bytes = 100 * GIB;
	t->n.free_bytes = (100 - used_pct) * GIB;
	t->n.draining = draining;
}

static void test_label_parse(void **state)
{
	struct gd_label l;
	char big[300];

	(void)state;
	assert_int_equal(gd_label_parse("", &l), 0);
	assert_string_equal(l.rack, "");
	assert_int_equal(gd_label_parse(NULL, &l), 0);
	assert_int_equal(gd_label_parse("r1", &l), 0);
	assert_string_equal(l.rack, "r1");
	assert_string_equal(l.zone, "");
	assert_int_equal(gd_label_parse("rack=r-1.a_b,zone=z1", &l), 0);
	assert_string_equal(l.rack, "r-1.a_b");
	assert_string_equal(l.zone, "z1");
	assert_int_equal(gd_label_parse("zone=z2", &l), 0);
	assert_string_equal(l.rack, "");
	assert_string_equal(l.zone, "z2");
	/* refused: every one leaves the label empty */
	const char *bad[] = { "rack=", "rack=r1,rack=r2", "host=h1", "rack=r1,", "rack=r 1",
			      "r 1", "rack=r1,zone=z1,zone=z2", "=r1", "rack=r1,,zone=z1",
			      "rack=a/b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gd_label_parse(bad[i], &l), GD_EINVAL);
		assert_string_equal(l.rack, "");
		assert_string_equal(l.zone, "");
	}
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(gd_label_parse(big, &l), GD_EINVAL);
	memcpy(big, "rack=", 5);
	big[5 + GD_LABEL_VALUE_MAX] = '\0';
	assert_int_equal(gd_label_parse(big, &l), 0);
	big[5 + GD_LABEL_VALUE_MAX] = 'a';
	big[6 + GD_LABEL_VALUE_MAX] = '\0';
	assert_int_equal(gd_label_parse(big, &l), GD_EINVAL);
}

static void test_label_same(void **state)
{
	struct gd_label a, b, c, none;

	(void)state;
	assert_int_equal(gd_label_parse("rack=r1,zone=z1", &a), 0);
	assert_int_equal(gd_label_parse("rack=r1,zone=z2", &b), 0);
	assert_int_equal(gd_label_parse("rack=r2,zone=z1", &c), 0);
	assert_int_equal(gd_label_parse("", &none), 0);
	assert_false(gd_label_same_rack(&a, &b));   /* r1 of z1 is not r1 of z2 */
	assert_false(gd_label_same_zone(&a, &b));
	assert_true(gd_label_same_zone(&a, &c));
	assert_false(gd_label_same_rack(&a, &c));
	assert_true(gd_label_same_rack(&a, &a));
	assert_false(gd_label_same_rack(&none, &none));
	assert_false(gd_label_same_zone(&none, &none));
}

/* 4 nodes on 2 racks, goal 2: the two picks are on both racks even when the
 * two emptiest are on one; 3 picks must share (spread false). */
static void test_pick_spreads(void **state)
{
	struct tnode t[4];
	const struct meta_place_node *c[4];
	size_t picked[4];
	bool spread;

	(void)state;
	mk(&t[0], "a1", "rack=r1", 10, false);
	mk(&t[1], "a2", "rack=r1", 20, false);
	mk(&t[2], "b1", "rack=r2", 30, false);
	mk(&t[3], "b2", "rack=r2", 40, false);
	for (int i = 0; i < 4; i++)
		c[i] = &t[i].n;
	assert_int_equal(meta_place_pick(NULL, 0, c, 4, 2, picked, &spread), 2);
	assert_true(spread);
	assert_int_equal(picked[0], 0);
	assert_int_equal(picked[1], 2);
	assert_int_equal(meta_place_pick(NULL, 0, c, 4, 3, picked, &spread), 3);
	assert_false(spread);
	assert_int_equal(picked[2], 1);     /* the fallback: next in preference */
	/* against an existing copy on r2: the new one goes to r1 */
	assert_int_equal(meta_place_pick(&c[3], 1, c, 3, 1, picked, &spread), 1);
	assert_true(spread);
	assert_int_equal(picked[0], 0);
	/* only r1 candidates left against a copy on r1: fallback */
	assert_int_equal(meta_place_pick(&c[0], 1, &c[1], 1, 1, picked, &spread), 1);
	assert_false(spread);
	/* want more than there are */
	assert_int_equal(meta_place_pick(NULL, 0, c, 2, 4, picked, &spread), 2);
}

/* Zones weigh more than racks; unlabelled nodes share nothing. */
static void test_pick_zones_and_unlabelled(void **state)
{
	struct tnode t[4];
	const struct meta_place_node *c[4];
	size_t picked[4];
	bool spread;

	(void)state;
	mk(&t[0], "a", "rack=r1,zone=z1", 10, false);
	mk(&t[1], "b", "rack=r2,zone=z1", 10, false);   /* same zone, other rack */
	mk(&t[2], "c", "rack=r3,zone=z2", 50, false);
	mk(&t[3], "d", "", 5, false);
	for (int i = 0; i < 4; i++)
		c[i] = &t[i].n;
	assert_int_equal(meta_place_pick(NULL, 0, c, 3, 2, picked, &spread), 2);
	assert_int_equal(picked[0], 0);
	assert_int_equal(picked[1], 2);     /* the other zone beats the emptier rack */
	assert_true(spread);
	assert_int_equal(meta_place_pick(&c[0], 1, &c[3], 1, 1, picked, &spread), 1);
	assert_true(spread);
}

static void test_shared_and_victim(void **state)
{
	struct tnode t[4];
	const struct meta_place_node *c[4];
	const char *what = NULL, *value = NULL;

	(void)state;
	mk(&t[0], "a1", "rack=r1", 10, false);
	mk(&t[1], "a2", "rack=r1", 20, false);
	mk(&t[2], "b1", "rack=r2", 90, false);
	mk(&t[3], "n", "", 95, false);
	for (int i = 0; i < 4; i++)
		c[i] = &t[i].n;
	assert_true(meta_place_shared(c, 3, &what, &value));
	assert_string_equal(what, "rack");
	assert_string_equal(value, "r1");
	assert_false(meta_place_shared(&c[1], 3, NULL, NULL));
	/* above goal on {a1, a2, b1}: one of the shared rack goes (the fuller
	 * a2), not b1 although it is the fullest */
	assert_int_equal(meta_place_victim(c, 3), 1);
	/* nothing shared: the fullest */
	assert_int_equal(meta_place_victim(&c[1], 3), 2);
	/* a draining node first, whatever else */
	t[0].n.draining = true;
	assert_int_equal(meta_place_victim(c, 3), 0);
}

static void test_unbalanced(void **state)
{
	struct tnode t[4];
	const struct meta_place_node *c[4];
	double mean;

	(void)state;
	mk(&t[0], "a", "", 30, false);
	mk(&t[1], "b", "", 32, false);
	mk(&t[2], "c", "", 28, false);
	mk(&t[3], "d", "", 0, false);
	for (int i = 0; i < 4; i++)
		c[i] = &t[i].n;
	assert_false(meta_place_unbalanced(c, 3, 10, &mean));
	assert_true(mean > 29.9 && mean < 30.1);
	assert_true(meta_place_unbalanced(c, 4, 10, &mean));     /* an empty node joined */
	assert_false(meta_place_unbalanced(c, 4, 0, &mean));     /* off */
	assert_false(meta_place_unbalanced(c, 4, 30, &mean));
	t[3].n.draining = true;                                  /* not counted */
	assert_false(meta_place_unbalanced(c, 4, 10, &mean));
	t[3].n.draining = false;
	t[3].n.total_bytes = 0;                                  /* size unknown */
	assert_false(meta_place_unbalanced(c, 4, 10, &mean));
}

static void test_move(void **state)
{
	struct tnode t[6];
	const struct meta_place_node *copies[2], *cands[4];
	struct meta_place_balance b = { .labels = true, .disks = true };
	struct meta_move mv;

	(void)state;
	mk(&t[0], "a1", "rack=r1", 50, false);
	mk(&t[1], "a2", "rack=r1", 50, false);
	mk(&t[2], "b1", "rack=r2", 50, false);
	mk(&t[3], "b2", "rack=r2", 10, false);
	mk(&t[4], "a3", "rack=r1", 5, false);
	/* balanced, spread: nothing */
	copies[0] = &t[0].n;
	copies[1] = &t[2].n;
	cands[0] = &t[3].n;
	cands[1] = &t[1].n;
	assert_int_equal(meta_place_move(copies, 2, cands, 2, &b, &mv), META_MOVE_NONE);
	/* a drain: from the draining copy, to the candidate that keeps the spread */
	t[0].n.draining = true;
	assert_int_equal(meta_place_move(copies, 2, cands, 2, &b, &mv), META_MOVE_DRAIN);
	assert_int_equal(mv.from, 0);
	assert_int_equal(mv.to, 1);         /* a2: r1 again, b1 already covers r2 */
	assert_true(mv.spread);
	/* a drain with no candidate */
	assert_int_equal(meta_place_move(copies, 2, cands, 0, &b, &mv), META_MOVE_NONE);
	/* a drain forced onto the other copy's rack */
	cands[0] = &t[3].n;
	assert_int_equal(meta_place_move(copies, 2, cands, 1, &b, &mv), META_MOVE_DRAIN);
	assert_false(mv.spread);
	t[0].n.draining = false;
	/* labels: both copies on r1, a node on r2 exists */
	copies[1] = &t[1].n;
	cands[0] = &t[4].n;
	cands[1] = &t[3].n;
	assert_int_equal(meta_place_move(copies, 2, cands, 2, &b, &mv), META_MOVE_LABEL);
	assert_int_equal(mv.to, 1);
	/* not allowed (no budget): nothing, and no r2 node: nothing either */
	b.labels = b.disks = false;
	assert_int_equal(meta_place_move(copies, 2, cands, 2, &b, &mv), META_MOVE_NONE);
	b.labels = b.disks = true;
	assert_int_equal(meta_place_move(copies, 2, cands, 1, &b, &mv), META_MOVE_NONE);
	/* disk balance: from the copy above the mean to a node below it, on
	 * the same rack as the copy that leaves (spread kept) */
	b.unbalanced = true;
	b.mean_pct = 30.0;
	copies[0] = &t[0].n;    /* r1 50% */
	copies[1] = &t[2].n;    /* r2 50% */
	cands[0] = &t[4].n;     /* r1 5% */
	cands[1] = &t[3].n;     /* r2 10% */
	assert_int_equal(meta_place_move(copies, 2, cands, 2, &b, &mv), META_MOVE_BALANCE);
	assert_int_equal(mv.from, 0);
	assert_int_equal(mv.to, 0);
	/* never at the cost of spread: the only emptier node is on the rack of
	 * the copy that stays */
	cands[0] = &t[3].n;
	assert_int_equal(meta_place_move(copies, 2, cands, 1, &b, &mv), META_MOVE_BALANCE);
	assert_int_equal(mv.from, 1);       /* b1 leaves r2 for b2 on r2 */
	mk(&t[5], "c", "rack=r2", 50, false);
	copies[0] = &t[5].n;    /* r2 50% */
	copies[1] = &t[4].n;    /* r1 5%: below the mean, not a source */
	cands[0] = &t[1].n;     /* r1 50%: above the mean, not a target */
	assert_int_equal(meta_place_move(copies, 2, cands, 1, &b, &mv), META_MOVE_NONE);
	cands[0] = &t[3].n;     /* r2 10% */
	assert_int_equal(meta_place_move(copies, 2, cands, 1, &b, &mv), META_MOVE_BALANCE);
	b.unbalanced = false;
	assert_int_equal(meta_place_move(copies, 2, cands, 1, &b, &mv), META_MOVE_NONE);
	assert_string_equal(meta_place_move_name(META_MOVE_DRAIN), "drain");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_parse),
		cmocka_unit_test(test_label_same),
		cmocka_unit_test(test_pick_spreads),
		cmocka_unit_test(test_pick_zones_and_unlabelled),
		cmocka_unit_test(test_shared_and_victim),
		cmocka_unit_test(test_unbalanced),
		cmocka_unit_test(test_move),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
