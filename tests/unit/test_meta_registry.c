/* meta_registry placement against the bound of the caller's array: a goal
 * above the chain length with more chunkds than that (issue 8: goal 20 with
 * 24 chunkds overflowed the write-lease handler's 16 slots). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "meta_registry.h"

#include <stdio.h>
#include <string.h>

#define NODES 24
#define CAP 16

static void test_place_never_exceeds_cap(void **state)
{
	struct meta_registry *reg;
	struct meta_node *n;
	const char *ids[CAP + 4];
	char id[32], addr[32];
	size_t got;

	(void)state;
	assert_int_equal(meta_registry_new(6000, &reg), 0);
	for (int i = 0; i < NODES; i++) {
		snprintf(id, sizeof(id), "cs-%02d", i);
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", 8000 + i);
		assert_int_equal(meta_registry_register(reg, id, addr, "", 1u << 30,
							(uint64_t)(i + 1) << 20, 0, 1000, &n), 0);
	}
	for (size_t i = 0; i < CAP + 4; i++)
		ids[i] = "untouched";
	got = meta_registry_place(reg, 1000, 20, ids, CAP);
	assert_int_equal(got, CAP);
	for (size_t i = CAP; i < CAP + 4; i++)
		assert_string_equal(ids[i], "untouched");
	for (size_t i = 0; i < got; i++)
		for (size_t j = i + 1; j < got; j++)
			assert_string_not_equal(ids[i], ids[j]);
	/* below the cap: exactly want, most free space first */
	got = meta_registry_place(reg, 1000, 3, ids, CAP);
	assert_int_equal(got, 3);
	assert_string_equal(ids[0], "cs-23");
	meta_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_place_never_exceeds_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
