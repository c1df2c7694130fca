/* The rate limit (--rate-limit RPS, --rate-burst N): a token bucket per
 * caller, keyed by API key id ("key:7"), or by client address for requests
 * without a key ("ip:1.2.3.4"). A bucket holds up to burst tokens and
 * gains rps per second; a request takes one. Idle buckets are dropped after
 * 10 minutes, and the table never holds more than GW_RL_MAX_BUCKETS (the
 * oldest go first), so that a flood of addresses cannot grow it.
 * Thread-safe (one mutex). */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define GW_RL_MAX_BUCKETS 65536

struct gw_ratelimit;

/* rps > 0; burst >= 1. Returns 0 or GD_ENOMEM. */
int gw_ratelimit_new(double rps, double burst, struct gw_ratelimit **out);
void gw_ratelimit_free(struct gw_ratelimit *rl);

/* Takes a token of key's bucket at now_ns (CLOCK_MONOTONIC): true when the
 * request may go; false with *retry_after_s (>= 1) when it must wait. */
bool gw_ratelimit_take(struct gw_ratelimit *rl, const char *key, uint64_t now_ns,
		       unsigned *retry_after_s);

#endif
