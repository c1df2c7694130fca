/* The client side of the meta: one session, leader following, reconnects.
 *
 * gd_meta_call() sends a request to the current leader; on GD_ENOTLEADER it
 * follows the leader address in the answer, on a lost connection it
 * reconnects (trying every configured address, and every voter address a
 * leader's HELLO answer listed, with backoff) and re-sends HELLO with its
 * session id and the inodes it has open, until the deadline.
 * A background thread renews the session. Thread-safe. */
#ifndef GD_META_CLIENT_H
#define GD_META_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_auth.h"
#include "gd_conn.h"

struct gd_meta_client;

/* Fills *ino (capacity max) with the inodes this process has open, for
 * re-claiming them after a reconnect; returns how many. May be NULL. */
typedef size_t (*gd_open_inodes_fn)(void *ctx, uint64_t *ino, size_t max);

struct gd_meta_client_config {
	const char *addrs;        /* "host:port[,host:port...]" */
	int role;                 /* GODFS__ROLE__ROLE_CLIENT, _ADMIN, _CHUNKD: said in
				   * the handshake and in HELLO */
	const char *host;         /* this host's name, for the session */
	const char *mountpoint;   /* may be NULL */
	int timeout_ms;           /* per call, including retries; 0 = 30 s */
	gd_open_inodes_fn open_inodes;
	void *open_inodes_ctx;
	/* What every connection of this client presents; NULL = the process's
	 * (gd_cred_self()). Copied; what it points to (keys, token) must
	 * outlive the client. */
	const struct gd_cred *cred;
	/* PUSH frames from the meta (e.g. a lock granted), on a connection's
	 * reader thread (gd_conn.h); may be NULL. */
	gd_conn_push_fn push;
	void *push_ctx;
	/* Called after every new connection to a meta (HELLO done), from the
	 * thread that made it, which holds the client's reconnect lock: it must
	 * not call the meta (it may wake threads that will). Pushes sent to an
	 * older connection may be lost: lock waits are sent again. May be NULL. */
	void (*connected)(void *ctx);
};

/* Connects to a meta (the leader), says HELLO, starts the renew thread.
 * Every connection proves cfg->cred (default: gd_cred_self()) with
 * role cfg->role. Returns 0 or the last error (GD_ECONN, GD_ETIMEDOUT), or
 * GD_EAUTH at once when a meta refused our credential and none accepted it
 * (logged once, gd_cred_log_refused). Later, a refusal is retried with
 * backoff until each call's deadline, logged once until a connect works. */
int gd_meta_client_open(const struct gd_meta_client_config *cfg,
			struct gd_meta_client **out);
void gd_meta_client_close(struct gd_meta_client *m);

uint64_t gd_meta_client_session(const struct gd_meta_client *m);
uint64_t gd_meta_client_chunk_size(const struct gd_meta_client *m);
/* What the meta of the last HELLO serves beyond the base protocol
 * (HelloResp.features): GD_META_FEATURE_* bits, 0 before the first HELLO
 * and from a meta that names none. */
#define GD_META_FEATURE_CREATE 1u    /* M_CREATE (docs/meta-rpc.md "Compound requests") */
uint32_t gd_meta_client_features(const struct gd_meta_client *m);
/* Copies the address of the meta this client is connected to (the leader,
 * as far as it knows) into buf; "" when not connected. */
void gd_meta_client_address(struct gd_meta_client *m, char *buf, size_t len);

/* One request to the leader. Returns a transport error with *resp == NULL,
 * or the response's status with *resp set (free it with
 * protobuf_c_message_free_unpacked(*resp, NULL)). */
int gd_meta_call(struct gd_meta_client *m, uint16_t method,
		 const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc,
		 ProtobufCMessage **resp);

#endif
