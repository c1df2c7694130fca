#include "ring.h"
#include <stdlib.h>

int ring_init(struct ring *r, size_t cap)
{
	if (!cap || (cap & (cap - 1)))
		return -1;
	r->b = malloc(cap);
	r->cap = cap;
	r->head = r->tail = 0;
	return r->b ? 0 : -1;
}

void ring_release(struct ring *r) { free(r->b); r->b = NULL; }
size_t ring_used(const struct ring *r) { return r->head - r->tail; }

size_t ring_write(struct ring *r, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n && ring_used(r) < r->cap; i++)
		r->b[r->head++ & (r->cap - 1)] = s[i];
	return i;
}

size_t ring_read(struct ring *r, void *p, size_t n)
{
	unsigned char *d = p;
	size_t i;

	for (i = 0; i < n && ring_used(r); i++)
		d[i] = r->b[r->tail++ & (r->cap - 1)];
	return i;
}
