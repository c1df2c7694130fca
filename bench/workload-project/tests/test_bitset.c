#include "check.h"
#include "bitset.h"

int main(void)
{
	struct bitset b;

	CHECK(bitset_init(&b, 1000) == 0);
	CHECK(bitset_count(&b) == 0);
	for (size_t i = 0; i < 1000; i += 3)
		bitset_set(&b, i);
	CHECK(bitset_count(&b) == 334);
	CHECK(bitset_test(&b, 999) && !bitset_test(&b, 998));
	bitset_set(&b, 5000); /* out of range: ignored */
	CHECK(!bitset_test(&b, 5000));
	bitset_clear(&b, 999);
	CHECK(!bitset_test(&b, 999) && bitset_count(&b) == 333);
	bitset_release(&b);
	CHECK_DONE();
}
