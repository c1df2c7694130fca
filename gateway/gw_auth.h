/* Who a gateway request acts for (docs/security.md, "API keys"): the
 * credential of one HTTP request resolved into a principal, the API key and
 * everything the gateway needs to act with it (its session presents the
 * key's token to the meta, gw_sessions.h).
 *
 * A request proves a key by one of:
 *   - the header "Authorization: Bearer gdk_<id>_<secret>" (gd_apikey.h);
 *   - a presigned URL: query godfs_key, godfs_exp, godfs_sig.
 * The gateway holds the cluster keys, fetches the key's public fields from
 * the meta by id (TOKEN_GET, through a fetch function) and checks the secret
 * or signature itself: nothing secret is stored anywhere.
 *
 * Fields are cached for cache_ms (default 1000 ms), at most cache_max
 * entries (the oldest fetch goes first); unknown ids too, in a table of
 * their own (at most GW_AUTH_NEG_MAX), so that a flood of made-up ids
 * never evicts a real key's fields (and the gateway's failed-authentication
 * budget per address, gw_guard.h, bounds how many ids a client may try). A
 * revoke is therefore seen by the gateway within cache_ms, and by the meta
 * on the session's very next request anyway (the meta checks the token on
 * every request).
 *
 * Thread-safe: one mutex guards the cache; a fetch runs outside it (two
 * threads may fetch the same id at once; the later answer wins). */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_auth.h"

#define GW_AUTH_DEFAULT_CACHE_MS 1000
#define GW_AUTH_DEFAULT_CACHE_MAX 4096
#define GW_AUTH_NEG_MAX 1024
#define GW_SUBTREE_PATH_MAX 4097     /* PATH_MAX + 1 */

/* An API key's public fields as the meta keeps them (TokenInfo). */
struct gw_key_info {
	uint64_t id;
	uint64_t subtree;
	uint64_t expires;          /* Unix seconds, 0 = never */
	uint32_t flags;            /* GD_TOKEN_* */
	uint32_t uid, gid;
	bool revoked;
};

/* Fetches key id's fields: 0 and *out, GD_ENOENT for an unknown id, or a
 * transport error (GD_ECONN, GD_ETIMEDOUT...: not cached). Called from any
 * request thread, several at once. */
typedef int (*gw_key_fetch_fn)(void *ctx, uint64_t id, struct gw_key_info *out);

/* The fetch function over a meta client (role gateway or admin, the cluster
 * key): M_TOKEN_GET. ctx is a struct gd_meta_client *. */
int gw_auth_fetch_meta(void *ctx, uint64_t id, struct gw_key_info *out);

struct gw_auth_config {
	const struct gd_keyring *keys; /* the cluster keys; must outlive the gw_auth */
	gw_key_fetch_fn fetch;
	void *fetch_ctx;
	int cache_ms;                  /* 0 = GW_AUTH_DEFAULT_CACHE_MS */
	size_t cache_max;              /* 0 = GW_AUTH_DEFAULT_CACHE_MAX */
	/* Clocks, for tests; NULL = CLOCK_MONOTONIC ms and time(NULL). */
	uint64_t (*mono_ms)(void);
	int64_t (*wall_sec)(void);
};

/* Who a request acts for. */
struct gw_principal {
	uint64_t key_id;
	bool read_only;
	uint32_t uid, gid;           /* forced by the meta on its session's requests */
	uint64_t subtree;            /* inode of the key's root ("/" of API paths) */
	/* The subtree's path for messages; "" (the meta keeps only the inode,
	 * and the gateway never needs the path: API paths are relative to
	 * the subtree). */
	char subtree_path[GW_SUBTREE_PATH_MAX];
	bool presigned;              /* proved by a presigned URL, not the Bearer */
	/* What the key's session presents to the meta and the chunkds: the
	 * token fields and its secret (derived under the cluster key). */
	struct gd_token token;
};

struct gw_auth;

/* 0 and *out, GD_EINVAL (no keys, no fetch function) or GD_ENOMEM. */
int gw_auth_new(const struct gw_auth_config *cfg, struct gw_auth **out);
void gw_auth_free(struct gw_auth *a);

/* From the Authorization header (may be NULL), the method, the decoded path
 * (relative to the key's subtree) and the query args godfs_key/godfs_exp/
 * godfs_sig (each may be NULL): 0 and *p; GD_EAUTH (401: no, unknown,
 * revoked, expired or bad credential, an expired or bad presigned URL);
 * GD_EPERM (403: a read-only key with PUT, DELETE or PATCH, or any write
 * method through a presigned URL but PUT; a URL signed for another
 * method); a transport error when the meta could not be asked (503). why
 * (whylen bytes) says which, for the log and the JSON error; it never
 * holds the secret. The Bearer wins when both are given. POST is not
 * refused for a read-only key here (POST /v1/presign of a GET URL reads
 * nothing): its handlers look at p->read_only, and the meta refuses every
 * change of a read-only key's session (EROFS) whatever the gateway does. */
int gw_auth_resolve(struct gw_auth *a, const char *authorization, const char *method,
		    const char *path, const char *q_key, const char *q_exp, const char *q_sig,
		    struct gw_principal *p, char *why, size_t whylen);

/* Drops the cached fields of key id (after the gateway saw the meta refuse
 * its session: a revoke, so that the next request fetches again). */
void gw_auth_forget(struct gw_auth *a, uint64_t id);

#endif
