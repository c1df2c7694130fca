/* API keys of the REST gateway (docs/security.md, "API keys"): the Bearer
 * string, checking its secret, and presigned URLs.
 *
 * An API key IS a client token (gd_auth.h) with the flag GD_TOKEN_APIKEY.
 * Two secrets belong to it:
 *   - the token secret (gd_token_derive of the public fields under a
 *     cluster key): what a client session presents to the meta and the
 *     chunkds. Only cluster-key holders (the gateway, godfs-admin) know it;
 *   - the Bearer secret = HMAC-SHA256(token secret, "godfs-apikey-bearer-v1")
 *     (gd_apikey_bearer_secret): what the key's holder gets. It is one-way
 *     from the token secret, so a Bearer string cannot be turned into a
 *     token file: its holder reaches the cluster only through a gateway
 *     (its rate limit, access log and routes), never with a raw session.
 * The Bearer string a program presents is
 *
 *   gdk_<id in decimal>_<Bearer secret as 64 lower-case hex digits>
 *
 * The gateway holds the cluster key, fetches the key's public fields from the
 * meta by id and derives both secrets itself: neither is kept anywhere (not
 * in the meta, not in the gateway).
 *
 * A presigned URL carries godfs_key=<id>&godfs_exp=<unix seconds>&godfs_sig=<hex>
 * where sig = lower-hex HMAC-SHA256(Bearer secret, "godfs-presign-v1\n" METHOD
 * "\n" path "\n" exp "\n" id) (exp and id in decimal, METHOD "GET" or "PUT",
 * path the decoded `path` query value). Whoever holds the Bearer string can
 * sign offline; an URL lives at most GD_PRESIGN_MAX_SEC.
 *
 * Pure functions of their arguments (no I/O, no clock: `now` is passed in),
 * thread-safe. 0 or a negative GD_E* code. */
#ifndef GD_APIKEY_H
#define GD_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "gd_auth.h"

#define GD_APIKEY_PREFIX "gdk_"
/* "gdk_" + 20 digits + "_" + 64 hex + NUL */
#define GD_APIKEY_STR_MAX (4 + 20 + 1 + 2 * GD_KEY_LEN + 1)
#define GD_PRESIGN_SIG_HEX (2 * GD_MAC_LEN)
#define GD_PRESIGN_MAX_SEC (7 * 24 * 3600)
#define GD_PRESIGN_PATH_MAX 4096       /* bytes of the decoded path signed */

/* What a Bearer string holds. */
struct gd_apikey {
	uint64_t id;
	uint8_t secret[GD_KEY_LEN];
};

/* The Bearer secret of the token whose secret is token_secret (see above);
 * out may be token_secret itself. */
void gd_apikey_bearer_secret(const uint8_t token_secret[GD_KEY_LEN], uint8_t out[GD_KEY_LEN]);

/* Writes the Bearer string of (id, Bearer secret) into out (len >=
 * GD_APIKEY_STR_MAX). GD_EINVAL for id 0 or a short buffer. */
int gd_apikey_format(uint64_t id, const uint8_t secret[GD_KEY_LEN], char *out, size_t len);

/* Parses a Bearer string strictly: the prefix, a decimal id without sign or
 * leading zero (1 .. 2^64-1), "_", exactly 64 hex digits, nothing after.
 * s need not be NUL-terminated within len; at most GD_APIKEY_STR_MAX bytes
 * are read. 0 or GD_EINVAL. */
int gd_apikey_parse(const char *s, size_t len, struct gd_apikey *out);

/* Whether secret is the Bearer secret of the token with these public fields
 * (id, subtree, expires, flags of t; key_id and secret of t are ignored)
 * under one of the keys of kr (a token secret is not: it is no Bearer). Every key is tried, each comparison in constant
 * time, so the time does not tell which key matched or how much of the
 * secret did. 0 and *key_index (may be NULL) = the matching key of kr (a
 * token presents its key's id), or GD_EAUTH (also for an empty ring). */
int gd_apikey_verify(const struct gd_keyring *kr, const struct gd_token *t,
		     const uint8_t secret[GD_KEY_LEN], int *key_index);

/* The method a presigned URL is signed for: "GET" for GET and HEAD, "PUT"
 * for PUT, NULL for any other method (no presigned URL covers it). */
const char *gd_presign_method(const char *http_method);

/* The signature (64 lower-case hex digits and a NUL into sig), under a
 * Bearer secret, of a presigned URL for method ("GET" or "PUT"), path, expiry exp and key id.
 * GD_EINVAL for another method, a path over GD_PRESIGN_PATH_MAX, id 0. */
int gd_presign_sign(const uint8_t secret[GD_KEY_LEN], const char *method, const char *path,
		    uint64_t exp, uint64_t id, char sig[GD_PRESIGN_SIG_HEX + 1]);

/* Parses a decimal query value strictly (digits only, no sign, no leading
 * zero, fits in 64 bits, non-zero). 0 or GD_EINVAL. */
int gd_presign_parse_u64(const char *s, uint64_t *out);

/* Checks a presigned request: http_method as received (HEAD verifies as
 * GET), the decoded path, the query's godfs_exp and godfs_sig (strings as
 * received, may be NULL), key id, now (Unix seconds). 0; GD_EAUTH when
 * malformed, expired, more than GD_PRESIGN_MAX_SEC ahead or the signature
 * does not match; GD_EPERM when it is a good signature for the other method
 * (a GET URL used for PUT). *why is set to a static sentence on refusal. */
int gd_presign_verify(const uint8_t secret[GD_KEY_LEN], const char *http_method,
		      const char *path, const char *q_exp, const char *q_sig, uint64_t id,
		      int64_t now, const char **why);

/* The query string of a presigned URL for path (percent-encoded here:
 * everything but unreserved characters and '/'):
 * "path=<enc>&godfs_key=<id>&godfs_exp=<exp>&godfs_sig=<sig>". Returns the
 * length written (NUL excluded) or GD_ERANGE when out (len bytes) is short. */
int gd_presign_query(const char *path, uint64_t id, uint64_t exp, const char *sig, char *out,
		     size_t len);

#endif
