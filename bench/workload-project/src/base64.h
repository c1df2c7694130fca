#ifndef WL_BASE64_H
#define WL_BASE64_H
#include <stddef.h>
/* out needs 4 * ((n + 2) / 3) + 1 bytes; returns the length written. */
size_t base64_encode(const unsigned char *in, size_t n, char *out);
/* Returns the decoded length, or -1 on a character outside the alphabet. */
long base64_decode(const char *in, unsigned char *out);
#endif
