/* The credential of this process, chosen once at start from its configuration
 * (gd_config.h: flag > env > conf file > default):
 *
 *   key-file PATH   the cluster key file (default /etc/godfs/cluster.key)
 *   token-file PATH a client token (mount.godfs, and clients that take one)
 *   insecure        no credential needed to talk to this daemon, and none
 *                   offered when there is no key (loud warning at start)
 *
 * A daemon (meta, chunkd, gateway) needs the key file unless insecure: it
 * proves itself with it and checks every peer against it. A client uses its
 * token file when given, else the key file, else nothing when insecure.
 *
 * Set once by main() before any thread starts; read-only afterwards, so the
 * getters need no lock. */
#ifndef GD_CRED_H
#define GD_CRED_H

#include "gd_auth.h"
#include "gd_config.h"

#include <stdbool.h>

#define GD_CRED_DEFAULT_KEY_FILE "/etc/godfs/cluster.key"

enum gd_cred_use {
	GD_CRED_DAEMON,    /* serves connections: keys needed unless insecure */
	GD_CRED_CLIENT,    /* only connects: token, key, or nothing if insecure */
};

/* Reads the options above and loads the key or token. Logs why and returns a
 * GD_E* code when the process must not start. */
int gd_cred_setup(const struct gd_config *cfg, enum gd_cred_use use);

/* The cluster keys, or NULL when this process has none. */
const struct gd_keyring *gd_cred_keys(void);
/* What this process presents when it connects (kind NONE when it has nothing). */
const struct gd_cred *gd_cred_self(void);
/* How a daemon checks who connects to it (tokens off; the meta turns them on). */
const struct gd_auth_policy *gd_cred_policy(void);
bool gd_cred_insecure(void);

/* For tests and programs that build their credential themselves. */
void gd_cred_set(const struct gd_keyring *keys, const struct gd_token *token, bool insecure);

#endif
