#ifndef WL_BITSET_H
#define WL_BITSET_H
#include <stddef.h>
/* A fixed-size set of bits. */
struct bitset { unsigned long *w; size_t nbits; };
int bitset_init(struct bitset *b, size_t nbits);
void bitset_release(struct bitset *b);
void bitset_set(struct bitset *b, size_t i);
void bitset_clear(struct bitset *b, size_t i);
int bitset_test(const struct bitset *b, size_t i);
size_t bitset_count(const struct bitset *b);
#endif
