/* A token bucket on the bytes this chunkd copies for re-replication
 * (chunkd_pipeline_replicate, whoever ordered it): --repl-rate-limit.
 *
 * Why here and not at the meta: the chunkd is where the bytes move and
 * where time is measured; the meta sees only orders and estimates their
 * sizes. The meta bounds how many copies are on their way to one chunkd
 * (--repl-max-per-node) so that orders do not queue behind a throttled one.
 * Every copy has exactly one target, so N chunkds copy at most N x rate.
 *
 * The bucket holds up to burst bytes (a tenth of a second at the rate, at
 * least 64 KiB) and goes into debt: a piece is read, then debited, and the
 * caller sleeps the debt off. So over any time t from a full bucket at most
 * burst + rate x t + one piece are copied.
 *
 * Thread-safe (the order thread and CS_REPLICATE workers share it). */
#ifndef CHUNKD_RATE_H
#define CHUNKD_RATE_H

#include <pthread.h>
#include <stdint.h>

struct chunkd_rate {
	pthread_mutex_t mu;
	uint64_t rate;       /* bytes per second; 0 = no limit (const after init) */
	uint64_t burst;      /* const after init */
	int64_t tokens;      /* mu; may go negative (debt) */
	uint64_t last_ns;    /* mu; when tokens were last refilled */
	uint64_t slept_ns;   /* mu; total time callers were told to wait */
};

/* rate 0: no limit (every take returns at once). now_ns: a monotonic clock. */
void chunkd_rate_init(struct chunkd_rate *r, uint64_t rate, uint64_t now_ns);
void chunkd_rate_destroy(struct chunkd_rate *r);

/* Debits bytes at now_ns: nanoseconds the caller must wait before it goes
 * on (0 = none). Pure apart from the lock: the clock comes from the caller. */
uint64_t chunkd_rate_debit(struct chunkd_rate *r, uint64_t now_ns, uint64_t bytes);

/* CLOCK_MONOTONIC in nanoseconds: the clock chunkd_rate_take uses. */
uint64_t chunkd_rate_clock_ns(void);

/* chunkd_rate_debit on the monotonic clock, then the sleep. r may be NULL. */
void chunkd_rate_take(struct chunkd_rate *r, uint64_t bytes);

#endif
