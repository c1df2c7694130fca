/* One client session per API key (docs/security.md, "API keys"): the
 * gateway acts for a key through a gd_client that presents the key's token
 * to the meta and the chunkds, so that every request of that key gets the
 * checks a token mount gets (subtree, read-only, revocation, expiry, the
 * key's uid/gid forced by the meta), whatever the gateway's own code does.
 *
 * Sessions are opened on first use, shared by every request of the key
 * (refcounted: get/put), closed after idle_ms without a request (none held),
 * and at most max_sessions are open: opening one more closes the least
 * recently used idle session; when every session is in use the get fails
 * with GD_EBUSY (503) rather than grow without bound.
 *
 * Thread-safe: one mutex guards the table and the refcounts; a session is
 * opened and closed outside it (a meta round trip). A background thread
 * closes idle sessions once a second. */
#ifndef GW_SESSIONS_H
#define GW_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "gd_client.h"
#include "gw_auth.h"

#define GW_SESSIONS_DEFAULT_MAX 256
#define GW_SESSIONS_DEFAULT_IDLE_MS 300000

struct gw_sessions_config {
	const char *meta_addrs;     /* copied */
	const char *host;           /* this gateway's name in the meta's sessions (copied) */
	size_t max_sessions;        /* 0 = GW_SESSIONS_DEFAULT_MAX */
	int idle_ms;                /* 0 = GW_SESSIONS_DEFAULT_IDLE_MS */
	int meta_timeout_ms;        /* per meta call, 0 = gd_client's default */
	int chunk_timeout_ms;       /* per chunkd call, 0 = gd_client's default */
};

struct gw_sessions;

/* 0 and *out (starts the idle reaper), GD_EINVAL, GD_ENOMEM. */
int gw_sessions_new(const struct gw_sessions_config *cfg, struct gw_sessions **out);
/* Stops the reaper and closes every session. No session may be held. */
void gw_sessions_free(struct gw_sessions *s);

/* The session of p's key (opened with p->token when there is none yet):
 * a client to put back with gw_session_put, or NULL with *err (may be NULL)
 * set: the meta's refusal of the token (GD_EAUTH: revoked meanwhile), a
 * transport error, GD_EBUSY (every session in use), GD_ENOMEM. */
struct gd_client *gw_session_get_ex(struct gw_sessions *s, const struct gw_principal *p,
				    int *err);
struct gd_client *gw_session_get(struct gw_sessions *s, const struct gw_principal *p);
/* Gives back a client of gw_session_get. */
void gw_session_put(struct gw_sessions *s, struct gd_client *c);

/* Closes key id's session once nobody holds it, and opens a fresh one on the
 * next get (after its requests were refused with GD_EAUTH: a revoked key's
 * session must not linger). */
void gw_sessions_drop(struct gw_sessions *s, uint64_t key_id);

/* Open sessions (the godfs_gateway_sessions gauge). */
size_t gw_sessions_count(struct gw_sessions *s);

/* Closes the sessions idle for idle_ms at mono time now_ms (the reaper calls
 * it every second; tests call it with their clock). Returns how many. */
size_t gw_sessions_reap(struct gw_sessions *s, uint64_t now_ms);

#endif
