/* Hexadecimal (see gd_hex.h). */
#include "gd_hex.h"

#include "gd_status.h"

int gd_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gd_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen / 2 != n || slen % 2 != 0)
		return GD_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = gd_hex_digit(s[2 * i]), lo = gd_hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return GD_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void gd_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}
