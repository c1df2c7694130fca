/* A tiny assertion helper: a failed CHECK prints where and fails the test. */
#ifndef WL_CHECK_H
#define WL_CHECK_H
#include <stdio.h>
#include <stdlib.h>
static int check_failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", \
	__FILE__, __LINE__, #c); check_failures++; } } while (0)
#define CHECK_DONE() return check_failures ? 1 : 0
#endif
