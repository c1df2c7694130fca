/* The one allocation wrapper. Tests can make it fail on demand to check that
 * every caller handles an allocation failure. */
#ifndef GD_ALLOC_H
#define GD_ALLOC_H

#include <stddef.h>

void *gd_malloc(size_t size);
void *gd_calloc(size_t n, size_t size);
void *gd_realloc(void *p, size_t size);
char *gd_strdup(const char *s);
char *gd_strndup(const char *s, size_t n);
void gd_free(void *p);

/* Test hook: the n-th allocation from now (1 = the next) fails, 0 = never. */
void gd_alloc_fail_after(long n);

#endif
