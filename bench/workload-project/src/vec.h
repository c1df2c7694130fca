#ifndef WL_VEC_H
#define WL_VEC_H
#include <stddef.h>
/* A growable array of long. */
struct vec { long *v; size_t len, cap; };
void vec_init(struct vec *a);
void vec_release(struct vec *a);
int vec_push(struct vec *a, long x);
int vec_pop(struct vec *a, long *x);
long vec_sum(const struct vec *a);
#endif
