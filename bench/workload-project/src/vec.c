#include "vec.h"
#include <stdlib.h>

void vec_init(struct vec *a) { a->v = NULL; a->len = a->cap = 0; }
void vec_release(struct vec *a) { free(a->v); vec_init(a); }

int vec_push(struct vec *a, long x)
{
	if (a->len == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		long *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -1;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->len++] = x;
	return 0;
}

int vec_pop(struct vec *a, long *x)
{
	if (!a->len)
		return -1;
	*x = a->v[--a->len];
	return 0;
}

long vec_sum(const struct vec *a)
{
	long s = 0;

	for (size_t i = 0; i < a->len; i++)
		s += a->v[i];
	return s;
}
