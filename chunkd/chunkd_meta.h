/* chunkd's side of the meta (chunkd -> meta): registration with the full
 * chunk report, heartbeats with space figures every heartbeat_ms, the orders
 * that come back on heartbeats (delete a copy, replicate one from a peer),
 * and reports of corrupt copies.
 *
 * One thread talks to the meta (through gd_meta_client, which follows the
 * leader and reconnects); another runs the orders so that a long replication
 * never delays a heartbeat. After any failed exchange, or when the meta
 * answers reregister, the next exchange is a new registration: a meta that
 * restarted rebuilds its chunk locations from it. */
#ifndef CHUNKD_META_H
#define CHUNKD_META_H

#include "chunkd_pipeline.h"
#include "chunkd_store.h"

#include <stdint.h>

struct chunkd_meta;

struct chunkd_meta_config {
	const char *meta_addrs;  /* "host:port[,host:port...]" */
	const char *advertise;   /* the address clients and peers reach us at */
	const char *label;       /* rack label, may be NULL */
	int heartbeat_ms;        /* 0 = 1000 */
	int call_timeout_ms;     /* per meta call; 0 = 3000 */
};

/* Allocates the module (no thread yet), so that corrupt reports can be queued
 * from the moment the store opens. */
int chunkd_meta_create(const struct chunkd_meta_config *cfg, struct chunkd_meta **out);
/* Starts the meta and order threads. */
int chunkd_meta_start(struct chunkd_meta *m, struct chunkd_store *store,
		      struct chunkd_pipeline *pipe);
/* Stops the threads (if started), closes the meta connection, frees. */
void chunkd_meta_destroy(struct chunkd_meta *m);

/* Queues a CsReportBad for the meta thread; never blocks on the network.
 * The signature fits chunkd_store_corrupt_fn (ctx = the chunkd_meta). */
void chunkd_meta_report_bad(void *m, uint64_t chunk_id, uint64_t version, uint64_t block);

/* Whether the last exchange with the meta succeeded (for logs and tests). */
int chunkd_meta_registered(struct chunkd_meta *m);

#endif
