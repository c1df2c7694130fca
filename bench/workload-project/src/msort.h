#ifndef WL_MSORT_H
#define WL_MSORT_H
#include <stddef.h>
/* A stable merge sort with qsort's interface; -1 when out of memory. */
int msort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
#endif
