#include "bitset.h"
#include <stdlib.h>

#define WB (8 * sizeof(unsigned long))

int bitset_init(struct bitset *b, size_t nbits)
{
	b->nbits = nbits;
	b->w = calloc((nbits + WB - 1) / WB + 1, sizeof(unsigned long));
	return b->w ? 0 : -1;
}

void bitset_release(struct bitset *b) { free(b->w); b->w = NULL; }
void bitset_set(struct bitset *b, size_t i) { if (i < b->nbits) b->w[i / WB] |= 1UL << (i % WB); }
void bitset_clear(struct bitset *b, size_t i) { if (i < b->nbits) b->w[i / WB] &= ~(1UL << (i % WB)); }
int bitset_test(const struct bitset *b, size_t i) { return i < b->nbits && (b->w[i / WB] >> (i % WB) & 1); }

size_t bitset_count(const struct bitset *b)
{
	size_t n = 0;

	for (size_t i = 0; i < (b->nbits + WB - 1) / WB; i++)
		n += (size_t)__builtin_popcountl(b->w[i]);
	return n;
}
