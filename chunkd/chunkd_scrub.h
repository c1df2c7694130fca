/* The background scrubber of chunkd (DESIGN.md section 4): reads every chunk
 * copy slowly, in pieces, through chunkd_store_read, whose checksum check
 * moves a corrupt copy to lost+found and reports it (the store's on_corrupt
 * callback). So a copy that rots on a disk nobody reads is found and repaired
 * from a good copy before it is the last one.
 *
 * One thread; it sleeps between pieces to stay under rate_bytes per second,
 * and between passes. */
#ifndef CHUNKD_SCRUB_H
#define CHUNKD_SCRUB_H

#include "chunkd_store.h"

#include <stdint.h>

struct chunkd_scrub;

struct chunkd_scrub_config {
	struct chunkd_store *store;
	uint64_t rate_bytes;     /* per second; 0 = no scrubbing (start does nothing) */
	int start_delay_ms;      /* before the first pass */
	int pass_pause_ms;       /* between passes */
};

/* Starts the scrubber thread (none when rate_bytes is 0). */
int chunkd_scrub_start(const struct chunkd_scrub_config *cfg, struct chunkd_scrub **out);
/* Stops the thread (within one piece) and frees. NULL is fine. */
void chunkd_scrub_stop(struct chunkd_scrub *s);

#endif
