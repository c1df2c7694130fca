/* The calling thread's request id (see gd_trace.h). */
#include "gd_trace.h"

#include "gd_auth.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static __thread char cur[GD_TRACE_MAX + 1];
/* xorshift64* state of this thread's id generator; 0 = not seeded yet. */
static __thread uint64_t gen_state;

static bool allowed(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

bool gd_trace_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > GD_TRACE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!allowed((unsigned char)s[i]))
			return false;
	return true;
}

/* Seeds a thread's generator from the system's random source (gd_random),
 * once; ids are not secrets, so a generator is enough after that and spares
 * a system call per request. Without a random source, time, pid and the
 * thread's address still make collisions unlikely. */
static uint64_t next_random(void)
{
	uint64_t x = gen_state;

	if (x == 0) {
		struct timespec ts;

		if (gd_random(&x, sizeof(x)) < 0 || x == 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
			    ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&gen_state;
		}
		if (x == 0)
			x = 0x9e3779b97f4a7c15ull;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	gen_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void gd_trace_generate(char out[GD_TRACE_GEN_LEN + 1])
{
	snprintf(out, GD_TRACE_GEN_LEN + 1, "%016llx", (unsigned long long)next_random());
}

const char *gd_trace_set(const char *id)
{
	size_t len;

	if (!id || !*id) {
		cur[0] = '\0';
		return NULL;
	}
	len = strnlen(id, GD_TRACE_MAX + 1);
	if (gd_trace_valid(id, len)) {
		memcpy(cur, id, len);
		cur[len] = '\0';
	} else {
		gd_trace_generate(cur);
	}
	return cur;
}

const char *gd_trace_new(void)
{
	gd_trace_generate(cur);
	return cur;
}

const char *gd_trace_get(void)
{
	return cur[0] ? cur : NULL;
}

void gd_trace_save(char out[GD_TRACE_MAX + 1])
{
	memcpy(out, cur, sizeof(cur));
}
