/* The one allocation wrapper. Tests can make it fail on demand to check that
 * every caller handles an allocation failure. */
#ifndef GD_ALLOC_H
#define GD_ALLOC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

void *gd_malloc(size_t size);
void *gd_calloc(size_t n, size_t size);
void *gd_realloc(void *p, size_t size);
char *gd_strdup(const char *s);
char *gd_strndup(const char *s, size_t n);
void gd_free(void *p);

/* protobuf-c on the wrapper above (so that unpacks fail on demand in tests
 * too). gd_pb_allocator: for unpacks and their frees. gd_pb_allocator_flag:
 * the same, and *failed is set when an allocation fails, so that a NULL from
 * an unpack tells "out of memory" from "malformed". */
extern ProtobufCAllocator gd_pb_allocator;
ProtobufCAllocator gd_pb_allocator_flag(bool *failed);

/* Test hook: the n-th allocation from now (1 = the next) fails, 0 = never. */
void gd_alloc_fail_after(long n);

#endif
