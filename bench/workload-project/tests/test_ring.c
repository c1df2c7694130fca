#include "check.h"
#include "ring.h"
#include <string.h>

int main(void)
{
	struct ring r;
	char out[16];

	CHECK(ring_init(&r, 12) == -1);
	CHECK(ring_init(&r, 8) == 0);
	CHECK(ring_write(&r, "abcdefghij", 10) == 8);
	CHECK(ring_used(&r) == 8);
	CHECK(ring_read(&r, out, 3) == 3 && !memcmp(out, "abc", 3));
	CHECK(ring_write(&r, "XYZ", 3) == 3);
	CHECK(ring_read(&r, out, 16) == 8 && !memcmp(out, "defghXYZ", 8));
	CHECK(ring_used(&r) == 0 && ring_read(&r, out, 1) == 0);
	ring_release(&r);
	CHECK_DONE();
}
