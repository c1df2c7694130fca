/* Requests that clients and peers send to chunkd (M_CS_*, M_HELLO, M_PING):
 * the gd_server handler. It runs on the server's worker threads, so several
 * requests of one connection (a client streaming 1 MiB writes) run at once.
 *
 * gd_server decoded every request (req->msg) and admitted only the methods
 * the method table says chunkd serves, from the roles allowed to call them
 * (gd_methods.h); the fields are bounded here before use (chain length and
 * address sizes, read length <= GD_FRAME_MAX_DATA). Exactly one reply per
 * request. Every data request's chunk capability is checked before the disk
 * is touched (cap_keys below). */
#ifndef CHUNKD_RPC_CLIENT_H
#define CHUNKD_RPC_CLIENT_H

#include "chunkd_pipeline.h"
#include "chunkd_store.h"
#include "gd_auth.h"
#include "gd_server.h"

#include <stdbool.h>
#include <stdint.h>

/* Set before the server starts, read-only afterwards. */
struct chunkd_rpc {
	struct chunkd_store *store;
	struct chunkd_pipeline *pipe;
	/* The cluster keys that check chunk capabilities (gd_cap.h): with them,
	 * CS_READ, CS_WRITE, CS_FSYNC, CS_TRUNCATE, CS_DELETE and CS_REPLICATE
	 * are refused (GD_ECAP) unless they carry a valid capability. NULL: no
	 * check (an --insecure chunkd, or one without a key). */
	const struct gd_keyring *cap_keys;
	uint32_t cap_skew_ms;    /* clock skew allowed; 0 = GD_CAP_SKEW_MS */
};

/* Whether chunkd has a handler for method (test_methods: exactly the
 * methods the table says chunkd serves). */
bool chunkd_rpc_client_serves(uint16_t method);

/* The gd_server handler (gd_server_config.serves = GD_SERVE_CHUNKD); ctx is
 * a struct chunkd_rpc. */
void chunkd_rpc_client_handle(void *ctx, struct gd_request *req);

#endif
