/* Requests that clients and peers send to chunkd (M_CS_*, M_HELLO, M_PING):
 * the gd_server handler. It runs on the server's worker threads, so several
 * requests of one connection (a client streaming 1 MiB writes) run at once.
 *
 * Every request is unpacked and bounded before use (chain length and address
 * sizes, read length <= GD_FRAME_MAX_DATA); exactly one reply per request. */
#ifndef CHUNKD_RPC_CLIENT_H
#define CHUNKD_RPC_CLIENT_H

#include "chunkd_pipeline.h"
#include "chunkd_store.h"
#include "gd_server.h"

struct chunkd_rpc {
	struct chunkd_store *store;
	struct chunkd_pipeline *pipe;
};

/* The gd_server handler; ctx is a struct chunkd_rpc. */
void chunkd_rpc_client_handle(void *ctx, struct gd_request *req);

#endif
