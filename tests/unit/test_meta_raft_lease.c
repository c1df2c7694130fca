/* The leader lease's bookkeeping (meta_raft_lease.c) and the voter addresses
 * of the Raft configuration (meta_raft_addr.c). The property that matters:
 * the lease never runs from a time later than the send a voter is proven to
 * have received, whatever order results come back in, whatever sends fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_raft_addr.h"
#include "meta_raft_lease.h"

#define LEASE 750u

static struct meta_raft_lease *lease_new(void)
{
	struct meta_raft_lease *l = gd_malloc(sizeof(*l));

	assert_non_null(l);
	meta_raft_lease_init(l);
	return l;
}

static const uint64_t three[] = { 1, 2, 3 };
static const uint64_t five[] = { 1, 2, 3, 4, 5 };

static void test_single_voter(void **state)
{
	struct meta_raft_lease *l = lease_new();
	const uint64_t one[] = { 1 };
	uint64_t until;

	(void)state;
	meta_raft_lease_reset(l, 4);
	assert_true(meta_raft_lease_valid(l, 4, 1, one, 1, 1000000, LEASE, &until));
	assert_int_equal(until, UINT64_MAX);
	/* another term, and a lease that never saw any term (a single voter
	 * sends nothing): it still holds, nobody else can be elected, and a
	 * one-voter cluster must not pay a barrier (a log write) per read */
	assert_true(meta_raft_lease_valid(l, 5, 1, one, 1, 1000000, LEASE, NULL));
	meta_raft_lease_init(l);
	assert_true(meta_raft_lease_valid(l, 9, 1, one, 1, 1000000, LEASE, NULL));
	/* a leader outside its configuration holds nothing */
	assert_false(meta_raft_lease_valid(l, 4, 9, one, 1, 1000000, LEASE, NULL));
	gd_free(l);
}

static void test_majority_of_three(void **state)
{
	struct meta_raft_lease *l = lease_new();
	uint64_t until;

	(void)state;
	assert_false(meta_raft_lease_valid(l, 2, 1, three, 3, 1000, LEASE, NULL));
	meta_raft_lease_sent(l, 2, 2, 1000);
	meta_raft_lease_sent(l, 2, 3, 1000);
	/* sent, not answered: no evidence */
	assert_false(meta_raft_lease_valid(l, 2, 1, three, 3, 1001, LEASE, NULL));
	meta_raft_lease_result(l, 2, 2, false);
	/* self + node 2 = 2 of 3: the lease runs from the send, not the answer */
	assert_true(meta_raft_lease_valid(l, 2, 1, three, 3, 1200, LEASE, &until));
	assert_int_equal(until, 1000 + LEASE);
	assert_false(meta_raft_lease_valid(l, 2, 1, three, 3, 1000 + LEASE, LEASE, NULL));
	gd_free(l);
}

static void test_five_needs_two_others(void **state)
{
	struct meta_raft_lease *l = lease_new();
	uint64_t until;

	(void)state;
	meta_raft_lease_sent(l, 7, 2, 100);
	meta_raft_lease_sent(l, 7, 3, 200);
	meta_raft_lease_sent(l, 7, 4, 300);
	meta_raft_lease_result(l, 7, 4, false);
	assert_false(meta_raft_lease_valid(l, 7, 1, five, 5, 310, LEASE, NULL));
	meta_raft_lease_result(l, 7, 2, false);
	/* self, 4 (300) and 2 (100): the second newest bounds it */
	assert_true(meta_raft_lease_valid(l, 7, 1, five, 5, 310, LEASE, &until));
	assert_int_equal(until, 100 + LEASE);
	meta_raft_lease_result(l, 7, 3, false);
	assert_true(meta_raft_lease_valid(l, 7, 1, five, 5, 310, LEASE, &until));
	assert_int_equal(until, 200 + LEASE);
	gd_free(l);
}

/* Results are counted, not matched: k results pop the k oldest sends, which
 * never overstates when results come back out of order (a heartbeat answered
 * before an append that waited for the disk). */
static void test_counting_never_overstates(void **state)
{
	struct meta_raft_lease *l = lease_new();
	uint64_t until;

	(void)state;
	meta_raft_lease_sent(l, 3, 2, 10);   /* an append */
	meta_raft_lease_sent(l, 3, 2, 20);   /* a heartbeat, answered first */
	meta_raft_lease_sent(l, 3, 2, 30);
	meta_raft_lease_result(l, 3, 2, false);
	assert_true(meta_raft_lease_valid(l, 3, 1, three, 3, 40, LEASE, &until));
	assert_int_equal(until, 10 + LEASE);
	meta_raft_lease_result(l, 3, 2, false);
	assert_true(meta_raft_lease_valid(l, 3, 1, three, 3, 40, LEASE, &until));
	assert_int_equal(until, 20 + LEASE);
	gd_free(l);
}

static void test_rejected_and_other_terms_ignored(void **state)
{
	struct meta_raft_lease *l = lease_new();

	(void)state;
	meta_raft_lease_sent(l, 3, 2, 10);
	meta_raft_lease_result(l, 3, 2, true);     /* log mismatch or stale: no evidence */
	meta_raft_lease_result(l, 4, 2, false);    /* another term */
	meta_raft_lease_result(l, 3, 3, false);    /* nothing sent to 3 */
	assert_false(meta_raft_lease_valid(l, 3, 1, three, 3, 11, LEASE, NULL));
	/* the send is still there for the right result */
	meta_raft_lease_result(l, 3, 2, false);
	assert_true(meta_raft_lease_valid(l, 3, 1, three, 3, 11, LEASE, NULL));
	gd_free(l);
}

static void test_failed_send_removed(void **state)
{
	struct meta_raft_lease *l = lease_new();
	uint64_t until, s1;

	(void)state;
	s1 = meta_raft_lease_sent(l, 3, 2, 10);
	meta_raft_lease_sent(l, 3, 2, 20);
	assert_true(s1 != 0);
	meta_raft_lease_send_failed(l, 2, s1);
	/* the one result answers the send that left: 20 */
	meta_raft_lease_result(l, 3, 2, false);
	assert_true(meta_raft_lease_valid(l, 3, 1, three, 3, 21, LEASE, &until));
	assert_int_equal(until, 20 + LEASE);
	/* unknown or already counted seqs change nothing */
	meta_raft_lease_send_failed(l, 2, 999);
	meta_raft_lease_send_failed(l, 2, s1);
	gd_free(l);
}

static void test_new_term_and_revoke(void **state)
{
	struct meta_raft_lease *l = lease_new();

	(void)state;
	meta_raft_lease_sent(l, 3, 2, 10);
	meta_raft_lease_result(l, 3, 2, false);
	assert_true(meta_raft_lease_valid(l, 3, 1, three, 3, 11, LEASE, NULL));
	/* a send of a new term drops the old evidence */
	meta_raft_lease_sent(l, 4, 3, 20);
	assert_false(meta_raft_lease_valid(l, 4, 1, three, 3, 21, LEASE, NULL));
	meta_raft_lease_result(l, 3, 2, false);
	assert_false(meta_raft_lease_valid(l, 4, 1, three, 3, 21, LEASE, NULL));
	meta_raft_lease_result(l, 4, 3, false);
	assert_true(meta_raft_lease_valid(l, 4, 1, three, 3, 21, LEASE, NULL));
	/* a transfer ends it for the term, even with fresh evidence */
	meta_raft_lease_revoke(l, 4);
	meta_raft_lease_sent(l, 4, 3, 30);
	meta_raft_lease_result(l, 4, 3, false);
	assert_false(meta_raft_lease_valid(l, 4, 1, three, 3, 31, LEASE, NULL));
	gd_free(l);
}

/* A full FIFO means sends were not recorded: that peer gives no more
 * evidence this term (a later result could answer an unrecorded send). */
static void test_overflow_stops_evidence(void **state)
{
	struct meta_raft_lease *l = lease_new();
	uint64_t until;
	size_t i;

	(void)state;
	for (i = 0; i < META_RAFT_LEASE_SENDS_MAX; i++)
		assert_true(meta_raft_lease_sent(l, 3, 2, 100 + i) != 0);
	assert_int_equal(meta_raft_lease_sent(l, 3, 2, 5000), 0);
	for (i = 0; i < META_RAFT_LEASE_SENDS_MAX; i++)
		meta_raft_lease_result(l, 3, 2, false);
	assert_true(meta_raft_lease_valid(l, 3, 1, three, 3, 1200, LEASE, &until));
	assert_int_equal(until, 100 + META_RAFT_LEASE_SENDS_MAX - 1 + LEASE);
	/* new sends are not recorded, extra results count for nothing */
	assert_int_equal(meta_raft_lease_sent(l, 3, 2, 6000), 0);
	meta_raft_lease_result(l, 3, 2, false);
	meta_raft_lease_result(l, 3, 2, false);
	assert_false(meta_raft_lease_valid(l, 3, 1, three, 3, 6001, LEASE, NULL));
	/* until the next term */
	meta_raft_lease_sent(l, 5, 2, 7000);
	meta_raft_lease_result(l, 5, 2, false);
	assert_true(meta_raft_lease_valid(l, 5, 1, three, 3, 7001, LEASE, NULL));
	gd_free(l);
}

static void test_addr_split_join(void **state)
{
	char raft[64], client[64], out[300], longa[300];

	(void)state;
	assert_int_equal(meta_raft_addr_split("10.0.0.1:9091@10.0.0.1:9090", raft, sizeof(raft),
					      client, sizeof(client)), 0);
	assert_string_equal(raft, "10.0.0.1:9091");
	assert_string_equal(client, "10.0.0.1:9090");
	assert_int_equal(meta_raft_addr_split("h:1", raft, sizeof(raft), client, sizeof(client)), 0);
	assert_string_equal(raft, "h:1");
	assert_string_equal(client, "");
	assert_int_equal(meta_raft_addr_split("", raft, sizeof(raft), client, sizeof(client)),
			 GD_EINVAL);
	assert_int_equal(meta_raft_addr_split("@c:1", raft, sizeof(raft), client, sizeof(client)),
			 GD_EINVAL);
	assert_int_equal(meta_raft_addr_split("r:1@", raft, sizeof(raft), client, sizeof(client)),
			 GD_EINVAL);
	assert_int_equal(meta_raft_addr_split("r:1@c:1@d:1", raft, sizeof(raft), client,
					      sizeof(client)), GD_EINVAL);
	/* a part longer than its buffer */
	assert_int_equal(meta_raft_addr_split("r:1@c:1", raft, 3, client, sizeof(client)),
			 GD_EINVAL);
	memset(longa, 'a', 280);
	longa[280] = '\0';
	assert_int_equal(meta_raft_addr_split(longa, out, sizeof(out), client, sizeof(client)),
			 GD_EINVAL);

	assert_int_equal(meta_raft_addr_join("r:1", "c:2", out, sizeof(out)), 0);
	assert_string_equal(out, "r:1@c:2");
	assert_int_equal(meta_raft_addr_join("r:1", NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "r:1");
	assert_int_equal(meta_raft_addr_join("r:1", "", out, sizeof(out)), 0);
	assert_string_equal(out, "r:1");
	assert_int_equal(meta_raft_addr_join("", "c:2", out, sizeof(out)), GD_EINVAL);
	assert_int_equal(meta_raft_addr_join("r@1", "c:2", out, sizeof(out)), GD_EINVAL);
	assert_int_equal(meta_raft_addr_join("r:1", "c,2", out, sizeof(out)), GD_EINVAL);
	assert_int_equal(meta_raft_addr_join("r:1", "c:2", out, 5), GD_EINVAL);
	longa[200] = '\0';
	assert_int_equal(meta_raft_addr_join(longa, longa, out, sizeof(out)), GD_EINVAL);
}

/* A restarted voter ignores vote requests for one election timeout (it may
 * have proven a leader's lease before it died), except a transfer's. */
static void test_vote_quarantine(void **state)
{
	(void)state;
	assert_true(meta_raft_lease_vote_quarantined(5000, 5000, 1000, false));
	assert_true(meta_raft_lease_vote_quarantined(5000, 5999, 1000, false));
	assert_false(meta_raft_lease_vote_quarantined(5000, 6000, 1000, false));
	assert_false(meta_raft_lease_vote_quarantined(5000, 9000, 1000, false));
	assert_false(meta_raft_lease_vote_quarantined(5000, 5001, 1000, true));
	/* a clock that went back counts as the start */
	assert_true(meta_raft_lease_vote_quarantined(5000, 4000, 1000, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_voter),
		cmocka_unit_test(test_majority_of_three),
		cmocka_unit_test(test_five_needs_two_others),
		cmocka_unit_test(test_counting_never_overstates),
		cmocka_unit_test(test_rejected_and_other_terms_ignored),
		cmocka_unit_test(test_failed_send_removed),
		cmocka_unit_test(test_new_term_and_revoke),
		cmocka_unit_test(test_overflow_stops_evidence),
		cmocka_unit_test(test_addr_split_join),
		cmocka_unit_test(test_vote_quarantine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
