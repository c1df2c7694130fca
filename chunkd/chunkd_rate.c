/* The re-replication token bucket (see chunkd_rate.h). */
#include "chunkd_rate.h"

#include <errno.h>
#include <time.h>

#define NS 1000000000ull
#define BURST_MIN (64u * 1024)

void chunkd_rate_init(struct chunkd_rate *r, uint64_t rate, uint64_t now_ns)
{
	pthread_mutex_init(&r->mu, NULL);
	r->rate = rate;
	r->burst = rate / 10 > BURST_MIN ? rate / 10 : BURST_MIN;
	if (r->burst > INT64_MAX / 2)
		r->burst = INT64_MAX / 2;
	r->tokens = (int64_t)r->burst;
	r->last_ns = now_ns;
	r->slept_ns = 0;
}

void chunkd_rate_destroy(struct chunkd_rate *r)
{
	pthread_mutex_destroy(&r->mu);
}

uint64_t chunkd_rate_debit(struct chunkd_rate *r, uint64_t now_ns, uint64_t bytes)
{
	uint64_t wait = 0;

	if (r->rate == 0 || bytes == 0)
		return 0;
	if (bytes > INT64_MAX / 4)
		bytes = INT64_MAX / 4;
	pthread_mutex_lock(&r->mu);
	if (now_ns > r->last_ns) {
		/* refill, up to the burst */
		unsigned __int128 add = (unsigned __int128)(now_ns - r->last_ns) * r->rate / NS;
		int64_t room = (int64_t)r->burst - r->tokens;
		if (room <= 0)
			r->tokens = (int64_t)r->burst;
		else
			r->tokens += add < (unsigned __int128)room ? (int64_t)add : room;
		r->last_ns = now_ns;
	}
	r->tokens -= (int64_t)bytes;
	if (r->tokens < 0) {
		unsigned __int128 w = (unsigned __int128)(uint64_t)-r->tokens * NS / r->rate;
		wait = w > (unsigned __int128)(3600 * NS) ? 3600 * NS : (uint64_t)w;
		r->slept_ns += wait;
	}
	pthread_mutex_unlock(&r->mu);
	return wait;
}

uint64_t chunkd_rate_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

void chunkd_rate_take(struct chunkd_rate *r, uint64_t bytes)
{
	struct timespec ts;
	uint64_t wait;

	if (!r || r->rate == 0)
		return;
	wait = chunkd_rate_debit(r, chunkd_rate_clock_ns(), bytes);
	if (wait == 0)
		return;
	ts.tv_sec = (time_t)(wait / NS);
	ts.tv_nsec = (long)(wait % NS);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
