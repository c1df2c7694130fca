#ifndef WL_VARINT_H
#define WL_VARINT_H
#include <stddef.h>
#include <stdint.h>
/* LEB128: out needs 10 bytes; returns the length written. */
size_t varint_put(uint64_t v, unsigned char *out);
/* Returns the length read, or 0 when n bytes hold no complete varint. */
size_t varint_get(const unsigned char *in, size_t n, uint64_t *v);
#endif
