#include "utf8.h"
#include <string.h>

int utf8_decode(const unsigned char *s, size_t n, unsigned long *cp)
{
	int len, i;
	unsigned long v;

	if (!n)
		return -1;
	if (s[0] < 0x80) { *cp = s[0]; return 1; }
	if ((s[0] & 0xE0) == 0xC0) { len = 2; v = s[0] & 0x1F; }
	else if ((s[0] & 0xF0) == 0xE0) { len = 3; v = s[0] & 0x0F; }
	else if ((s[0] & 0xF8) == 0xF0) { len = 4; v = s[0] & 0x07; }
	else return -1;
	if ((size_t)len > n)
		return -1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		v = v << 6 | (s[i] & 0x3F);
	}
	if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000) ||
	    v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return -1;
	*cp = v;
	return len;
}

long utf8_count(const char *s)
{
	size_t n = strlen(s);
	long count = 0;
	unsigned long cp;

	while (n) {
		int l = utf8_decode((const unsigned char *)s, n, &cp);
		if (l < 0)
			return -1;
		s += l;
		n -= (size_t)l;
		count++;
	}
	return count;
}

int utf8_encode(unsigned long cp, unsigned char *out)
{
	if (cp < 0x80) { out[0] = (unsigned char)cp; return 1; }
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return -1;
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp > 0x10FFFF)
		return -1;
	out[0] = (unsigned char)(0xF0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}
