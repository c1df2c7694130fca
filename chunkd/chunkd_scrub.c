#include "chunkd_scrub.h"

#include "gd_time.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#define PIECE (1u << 20)

struct chunkd_scrub {
	struct chunkd_scrub_config cfg;   /* const */
	pthread_t th;
	pthread_mutex_t mu;               /* guards stopping */
	pthread_cond_t cv;
	int stopping;
};

/* Sleeps ms or until stop; returns 1 when stopping. */
static int nap(struct chunkd_scrub *s, uint64_t ms)
{
	struct timespec ts;
	int stop;

	gd_time_deadline(&ts, ms);
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
			break;
	}
	stop = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* Reads one copy piece by piece; returns 1 when stopping. A piece with a bad
 * block is read again block by block, so that the store notes (and reports)
 * every bad block of it; the scrub goes on with the next piece. Other errors
 * (the copy went away or changed version meanwhile) end this copy. */
static int scrub_one(struct chunkd_scrub *s, const struct chunkd_chunk_info *ci,
		     uint8_t *buf, uint64_t *bytes, int *corrupt)
{
	uint64_t data_len, chunk_size, off;

	if (chunkd_store_extent(s->cfg.store, ci->chunk_id, ci->version, &data_len,
				&chunk_size) < 0)
		return 0;
	for (off = 0; off < data_len; off += PIECE) {
		uint64_t t0 = gd_net_now_ms(), spent, want;
		size_t len = data_len - off < PIECE ? (size_t)(data_len - off) : PIECE;
		size_t got = 0;
		int rc = chunkd_store_read(s->cfg.store, ci->chunk_id, ci->version, off, len, buf,
					   &got);

		if (rc == GD_ECORRUPT) {
			/* block by block in the copy's own block size (its format) */
			size_t bs = chunkd_store_block_size(s->cfg.store, ci->chunk_id);
			for (size_t at = 0; at < len; at += bs) {
				size_t n = len - at < bs ? len - at : bs;
				if (chunkd_store_read(s->cfg.store, ci->chunk_id, ci->version,
						      off + at, n, buf, &got) == GD_ECORRUPT)
					(*corrupt)++;
			}
			rc = 0;
		}
		if (rc < 0)
			return 0;
		*bytes += len;
		/* Pace: len bytes at rate_bytes per second. */
		want = (uint64_t)len * 1000u / s->cfg.rate_bytes;
		spent = gd_net_now_ms() - t0;
		if (nap(s, want > spent ? want - spent : 0))
			return 1;
	}
	return 0;
}

/* The scrubber thread: pass after pass over the store's index. */
static void *scrub_main(void *arg)
{
	struct chunkd_scrub *s = arg;
	uint8_t *buf = gd_malloc(PIECE);

	if (!buf) {
		gd_error("scrubber: out of memory: not scrubbing");
		return NULL;
	}
	if (nap(s, (uint64_t)s->cfg.start_delay_ms))
		goto out;
	for (;;) {
		struct chunkd_chunk_info *list = NULL;
		size_t n = 0;
		uint64_t bytes = 0, t0 = gd_net_now_ms();
		int corrupt = 0, stop = 0;

		if (chunkd_store_list(s->cfg.store, &list, &n) == 0) {
			for (size_t i = 0; i < n && !stop; i++)
				stop = scrub_one(s, &list[i], buf, &bytes, &corrupt);
			gd_free(list);
		}
		if (stop)
			break;
		if (n > 0)
			gd_info("scrubber: pass over %zu copies, %" PRIu64 " bytes in %" PRIu64
				" s, %d bad block(s)", n, bytes, (gd_net_now_ms() - t0) / 1000, corrupt);
		if (nap(s, (uint64_t)s->cfg.pass_pause_ms))
			break;
	}
out:
	gd_free(buf);
	return NULL;
}

int chunkd_scrub_start(const struct chunkd_scrub_config *cfg, struct chunkd_scrub **out)
{
	struct chunkd_scrub *s;
	pthread_condattr_t ca;

	*out = NULL;
	if (!cfg || !cfg->store)
		return GD_EINVAL;
	if (cfg->rate_bytes == 0)
		return 0;
	s = gd_calloc(1, sizeof(*s));
	if (!s)
		return GD_ENOMEM;
	s->cfg = *cfg;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->th, NULL, scrub_main, s) != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		gd_free(s);
		return GD_ENOMEM;
	}
	*out = s;
	return 0;
}

void chunkd_scrub_stop(struct chunkd_scrub *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	gd_free(s);
}
