#include "gd_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long gd_alloc_countdown;

static int gd_alloc_should_fail(void)
{
	long n = atomic_load(&gd_alloc_countdown);
	if (n <= 0)
		return 0;
	return atomic_fetch_sub(&gd_alloc_countdown, 1) == 1;
}

void gd_alloc_fail_after(long n)
{
	atomic_store(&gd_alloc_countdown, n);
}

void *gd_malloc(size_t size)
{
	return gd_alloc_should_fail() ? NULL : malloc(size ? size : 1);
}

void *gd_calloc(size_t n, size_t size)
{
	return gd_alloc_should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *gd_realloc(void *p, size_t size)
{
	return gd_alloc_should_fail() ? NULL : realloc(p, size ? size : 1);
}

char *gd_strdup(const char *s)
{
	return gd_alloc_should_fail() ? NULL : strdup(s);
}

char *gd_strndup(const char *s, size_t n)
{
	return gd_alloc_should_fail() ? NULL : strndup(s, n);
}

void gd_free(void *p)
{
	free(p);
}

static void *pb_alloc(void *data, size_t size)
{
	void *p = gd_malloc(size);

	if (!p && data)
		*(bool *)data = true;
	return p;
}

static void pb_free(void *data, void *p)
{
	(void)data;
	gd_free(p);
}

ProtobufCAllocator gd_pb_allocator = { pb_alloc, pb_free, NULL };

ProtobufCAllocator gd_pb_allocator_flag(bool *failed)
{
	return (ProtobufCAllocator){ pb_alloc, pb_free, failed };
}
