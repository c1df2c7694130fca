#ifndef WL_RING_H
#define WL_RING_H
#include <stddef.h>
/* A byte ring buffer of a fixed capacity (a power of two). */
struct ring { unsigned char *b; size_t cap, head, tail; };
int ring_init(struct ring *r, size_t cap);
void ring_release(struct ring *r);
size_t ring_used(const struct ring *r);
size_t ring_write(struct ring *r, const void *p, size_t n);
size_t ring_read(struct ring *r, void *p, size_t n);
#endif
