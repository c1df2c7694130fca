#include "check.h"
#include "varint.h"

int main(void)
{
	static const uint64_t v[] = { 0, 1, 127, 128, 300, 16383, 16384, 1ull << 35, ~0ull };
	unsigned char b[10];
	uint64_t got;

	for (int i = 0; i < 9; i++) {
		size_t n = varint_put(v[i], b);
		CHECK(n >= 1 && n <= 10);
		CHECK(varint_get(b, n, &got) == n && got == v[i]);
		CHECK(n == 1 || varint_get(b, n - 1, &got) == 0);
	}
	CHECK(varint_put(300, b) == 2 && b[0] == 0xAC && b[1] == 0x02);
	CHECK_DONE();
}
