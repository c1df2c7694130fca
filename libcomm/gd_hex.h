/* Hexadecimal: the one place that turns bytes into hex digits and back, for
 * keys and secrets in files (gd_auth), API keys and presigned signatures
 * (gd_apikey), part ETags (gateway/gw_mp_rules) and %XX escapes in URLs
 * (gateway/gw_query).
 *
 * Pure functions on caller-owned memory; thread-safe. */
#ifndef GD_HEX_H
#define GD_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1 when c is not one. */
int gd_hex_digit(char c);

/* Decodes exactly 2 * n hex digits s[0..slen) (either case) into out[0..n).
 * Returns 0, or GD_EINVAL when slen != 2 * n or a character is not a hex
 * digit (out may then hold a prefix of the bytes). s need not be
 * NUL-terminated. */
int gd_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);

/* Writes in[0..n) as 2 * n lower-case hex digits and a NUL into out, which
 * must hold 2 * n + 1 bytes. */
void gd_hex_encode(const uint8_t *in, size_t n, char *out);

#endif
