#include "check.h"
#include "msort.h"
#include <stdlib.h>

struct rec { int key, seq; };

static int cmp_key(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

int main(void)
{
	struct rec r[2000];
	unsigned s = 12345;

	for (int i = 0; i < 2000; i++) {
		s = s * 1103515245u + 12345u;
		r[i].key = (int)(s >> 16) % 50;
		r[i].seq = i;
	}
	CHECK(msort(r, 2000, sizeof(r[0]), cmp_key) == 0);
	for (int i = 1; i < 2000; i++) {
		CHECK(r[i - 1].key <= r[i].key);
		if (r[i - 1].key == r[i].key)
			CHECK(r[i - 1].seq < r[i].seq); /* stable */
	}
	CHECK(msort(r, 0, sizeof(r[0]), cmp_key) == 0);
	CHECK_DONE();
}
