#include "check.h"
#include "base64.h"
#include <string.h>

int main(void)
{
	static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char out[64];
	unsigned char back[64];

	for (int i = 0; i < 7; i++) {
		size_t n = base64_encode((const unsigned char *)in[i], strlen(in[i]), out);
		CHECK(n == strlen(want[i]) && !strcmp(out, want[i]));
		long m = base64_decode(out, back);
		CHECK(m == (long)strlen(in[i]) && !memcmp(back, in[i], (size_t)m));
	}
	CHECK(base64_decode("Zm9*", back) == -1);
	CHECK_DONE();
}
