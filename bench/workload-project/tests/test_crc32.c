#include "check.h"
#include "crc32.h"

int main(void)
{
	CHECK(crc32_update(0, "", 0) == 0);
	CHECK(crc32_update(0, "123456789", 9) == 0xCBF43926u);
	CHECK(crc32_update(crc32_update(0, "1234", 4), "56789", 5) == 0xCBF43926u);
	CHECK(crc32_update(0, "The quick brown fox jumps over the lazy dog", 43) == 0x414FA339u);
	CHECK_DONE();
}
