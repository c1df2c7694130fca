#ifndef WL_PATH_H
#define WL_PATH_H
#include <stddef.h>
/* Normalizes a path into out (size n): removes "." and empty components and
 * resolves ".." lexically; returns 0, or -1 when out is too small. */
int path_normalize(const char *in, char *out, size_t n);
/* Joins a and b with one '/' into out; -1 when out is too small. */
int path_join(const char *a, const char *b, char *out, size_t n);
/* The last component of p (a pointer into p). */
const char *path_base(const char *p);
#endif
