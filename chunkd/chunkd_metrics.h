/* chunkd's Prometheus metrics (--metrics-listen; docs/observability.md):
 * per data dir (label dir = its path) the file system's size and free
 * space, the copies in it, its I/O and checksum errors; whether new data is
 * refused for lack of space (godfs_chunkd_disk_full); the bytes read for
 * clients and peers, written by the pipeline and pulled by re-replication.
 * The RPC and process metrics come from gd_server and gd_metrics_serve.
 *
 * Threads: the byte counters are atomic (any thread); the per-dir values
 * are read from the store at scrape time (chunkd_store_dir_stats is
 * thread-safe). The store must outlive the listener. */
#ifndef CHUNKD_METRICS_H
#define CHUNKD_METRICS_H

#include <stdint.h>

#include "chunkd_store.h"
#include "gd_http.h"

/* Registers the metrics of store and, when listen is not NULL/"", serves
 * them there (*out; gd_http_stop it before closing the store). 0 or the
 * error of gd_http_start (logged). */
int chunkd_metrics_start(struct chunkd_store *store, const char *listen, struct gd_http **out);

/* Bytes of chunk data read for a CS_READ, stored by a pipeline write, and
 * stored by a re-replication import. */
void chunkd_metrics_read(uint64_t bytes);
void chunkd_metrics_written(uint64_t bytes);
void chunkd_metrics_replicated(uint64_t bytes);

#endif
