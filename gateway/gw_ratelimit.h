/* The rate limit (--rate-limit RPS, --rate-burst N): a token bucket per
 * caller, keyed by API key id ("key:7", presigned URLs included), or by
 * client address for requests without a key (gw_ratelimit_client_key).
 * The same buckets also count failed authentications per address
 * (gw_guard.h). A bucket holds up to burst tokens and
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

/* Whether key's bucket holds a token at now_ns, without taking it (false
 * with *retry_after_s when empty). For a budget spent only by some outcomes
 * (failed authentications): peek before, take after. */
bool gw_ratelimit_peek(struct gw_ratelimit *rl, const char *key, uint64_t now_ns,
		       unsigned *retry_after_s);

#define GW_RL_CLIENT_KEY_MAX 64

/* The bucket key of a client address (text, as inet_ntop wrote it):
 * "ip:1.2.3.4" for IPv4 (an IPv4-mapped IPv6 address too), and for IPv6
 * its /64 ("ip6:2001:db8:1:2::/64"): one host usually holds a whole /64,
 * so counting single addresses would let it rotate through 2^64 buckets.
 * Something unparsable is kept as it is. */
void gw_ratelimit_client_key(const char *ip, char out[GW_RL_CLIENT_KEY_MAX]);

#endif
