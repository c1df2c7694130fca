#ifndef WL_UTF8_H
#define WL_UTF8_H
#include <stddef.h>
/* Decodes one code point at s (n bytes left); returns its length or -1. */
int utf8_decode(const unsigned char *s, size_t n, unsigned long *cp);
/* Counts the code points of a NUL-terminated string; -1 when not UTF-8. */
long utf8_count(const char *s);
/* Encodes cp into out (4 bytes); returns the length or -1. */
int utf8_encode(unsigned long cp, unsigned char *out);
#endif
