/* The write pipeline of DESIGN.md section 5, seen from one chunkd: a request
 * that carries a chain is forwarded to chain[0] (with chain[1..] inside) while
 * it runs locally; the answer is OK only when both the local step and the
 * whole rest of the chain succeeded. Also the peer side of replication: a
 * copy pulled from another chunkd with CS_READ.
 *
 * Connections to peers live in a pool keyed by "host:port"; a connection that
 * failed is replaced on next use (after a HELLO with ROLE_PEER).
 *
 * A forwarded CS_WRITE / CS_FSYNC / CS_TRUNCATE keeps the request's chunk
 * capability (the whole message is copied but for chain and deadline), so
 * every member checks the client's capability, not one of its own. */
#ifndef CHUNKD_PIPELINE_H
#define CHUNKD_PIPELINE_H

#include "chunkd_rate.h"
#include "chunkd_store.h"
#include "proto/wire.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* Chain bounds: what a request from the network may carry. */
#define CHUNKD_CHAIN_MAX 16
#define CHUNKD_ADDR_MAX 255

struct chunkd_pipeline;

struct chunkd_pipeline_config {
	struct chunkd_store *store;
	const char *self;        /* this chunkd's advertised address, for `failed` */
	int peer_timeout_ms;     /* per forwarded call; 0 = 20 s */
	int connect_timeout_ms;  /* 0 = 3 s */
	struct chunkd_rate *repl_rate; /* paces replication reads; NULL = none
					* (the caller's, outlives the pipeline) */
};

int chunkd_pipeline_create(const struct chunkd_pipeline_config *cfg,
			   struct chunkd_pipeline **out);
/* Waits for the forwarder threads (their calls end by their deadlines),
 * closes every peer connection. No new call may start. */
void chunkd_pipeline_destroy(struct chunkd_pipeline *p);

/* Whether a chain from the network is acceptable: count and address sizes,
 * and no member twice or equal to this chunkd (a chain that loops back would
 * tie up forwarder threads until the peer timeout, per request). */
int chunkd_pipeline_chain_ok(const struct chunkd_pipeline *p, char *const *chain, size_t n);

/* M_CS_WRITE: forwards to w->chain[0] and writes locally at the same time.
 * Returns 0 or the status to answer; *failed (gd_malloc'd, NULL when nobody
 * failed) names the deepest chain member that failed (this chunkd's own
 * address when only the local write failed). */
int chunkd_pipeline_write(struct chunkd_pipeline *p, const Godfs__CsWrite *w,
			  const void *data, size_t len, char **failed);

/* M_CS_FSYNC / M_CS_TRUNCATE along the chain, the same way. */
int chunkd_pipeline_chunk_op(struct chunkd_pipeline *p, uint16_t method,
			     const Godfs__CsChunkOp *op, char **failed);

/* How an asynchronous write or chunk op ends: called exactly once, with the
 * status to answer and `failed` as above (the callee owns it: gd_free). */
typedef void (*chunkd_pipeline_done_fn)(void *arg, int status, char *failed);

/* The same without blocking the caller on the network, for the server's
 * worker threads: the forward to chain[0] runs on a forwarder thread (a pool
 * that grows on demand, so that no forward ever waits for another one: a
 * worker waiting on a peer that waits on us would deadlock two chunkds
 * whose chains run in opposite directions), the local step runs in the
 * caller. done() runs on whichever thread finishes last, possibly before
 * this returns. w/op and data must stay valid until done() is called. */
void chunkd_pipeline_write_async(struct chunkd_pipeline *p, const Godfs__CsWrite *w,
				 const void *data, size_t len,
				 chunkd_pipeline_done_fn done, void *arg);
void chunkd_pipeline_chunk_op_async(struct chunkd_pipeline *p, uint16_t method,
				    const Godfs__CsChunkOp *op,
				    chunkd_pipeline_done_fn done, void *arg);

/* Pulls chunk_id at version from source (CS_READ in 1 MiB pieces), into a
 * temp file, fsynced and renamed into place. cap (cap_len bytes, may be NULL)
 * is the chunk capability sent with every CS_READ (the source checks READ).
 * Paced by the config's repl_rate. *copied (may be NULL): the bytes pulled. */
int chunkd_pipeline_replicate(struct chunkd_pipeline *p, uint64_t chunk_id,
			      uint64_t version, const char *source, const uint8_t *cap,
			      size_t cap_len, uint64_t *copied);

#endif
