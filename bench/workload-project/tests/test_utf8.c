#include "check.h"
#include "utf8.h"

int main(void)
{
	unsigned char buf[4];
	unsigned long cp;

	CHECK(utf8_count("hello") == 5);
	CHECK(utf8_count("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80") == 9);
	CHECK(utf8_count("\xc0\xaf") == -1);     /* overlong */
	CHECK(utf8_count("\xed\xa0\x80") == -1); /* surrogate */
	CHECK(utf8_count("\xe2\x82") == -1);     /* truncated */
	for (unsigned long c = 1; c < 0x110000; c += 97) {
		int n = utf8_encode(c, buf);
		if (c >= 0xD800 && c <= 0xDFFF) {
			CHECK(n == -1);
			continue;
		}
		CHECK(n > 0 && utf8_decode(buf, (size_t)n, &cp) == n && cp == c);
	}
	CHECK_DONE();
}
