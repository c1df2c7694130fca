/* The credential of this process, chosen once at start from its configuration
 * (gd_config.h: flag > env > conf file > default):
 *
 *   key-file PATH   the cluster key file (default /etc/godfs/cluster.key)
 *   token-file PATH a client token (mount.godfs, and clients that take one)
 *   insecure        no credential needed to talk to this daemon, and none
 *                   offered when there is no key (loud warning at start)
 *   tls             TLS after the handshake on every connection (gd_tls.h):
 *                   a daemon asks every peer for it, a client refuses a
 *                   daemon that does not ask (a downgrade)
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
#include <stddef.h>

#define GD_CRED_DEFAULT_KEY_FILE "/etc/godfs/cluster.key"
#define GD_CRED_DEFAULT_AUTH_TIMEOUT_MS 5000

/* The options as getopt_long entries, so that every program spells them
 * alike: put GD_CRED_LONGOPTS (clients) or GD_CRED_DAEMON_LONGOPTS into the
 * program's option table (their vals are GD_CRED_OPTS_VAL_BASE and up: keep
 * the program's own below it), record them with gd_config_getopt and print
 * the matching usage text. auth-timeout-ms: how long a connecting peer has
 * for the handshake (daemons). */
#define GD_CRED_OPTS_VAL_BASE 7100
#define GD_CRED_LONGOPTS \
	{ "key-file", required_argument, NULL, GD_CRED_OPTS_VAL_BASE + 0 }, \
	{ "insecure", no_argument, NULL, GD_CRED_OPTS_VAL_BASE + 1 }, \
	{ "tls", no_argument, NULL, GD_CRED_OPTS_VAL_BASE + 3 }
#define GD_CRED_DAEMON_LONGOPTS \
	GD_CRED_LONGOPTS, \
	{ "auth-timeout-ms", required_argument, NULL, GD_CRED_OPTS_VAL_BASE + 2 }

#define GD_CRED_USAGE_CLIENT \
	"  --key-file PATH          the cluster key (default " GD_CRED_DEFAULT_KEY_FILE ")\n" \
	"  --insecure               talk to an --insecure cluster without a key\n" \
	"  --tls                    TLS on every connection (the cluster runs with --tls)\n"
#define GD_CRED_USAGE_DAEMON \
	"  --key-file PATH          the cluster key (default " GD_CRED_DEFAULT_KEY_FILE ");\n" \
	"                           create one with `godfs-admin key generate PATH`\n" \
	"  --insecure               no key: let in anyone who reaches the port (loud\n" \
	"                           warning; for a throw-away test cluster only)\n" \
	"  --tls                    TLS on every connection to and from this daemon\n" \
	"                           (needs a key; the meta's Raft port too)\n" \
	"  --auth-timeout-ms N      a connection must finish its handshake within\n" \
	"                           this (default 5000)\n"

enum gd_cred_use {
	GD_CRED_DAEMON,    /* serves connections: keys needed unless insecure */
	GD_CRED_CLIENT,    /* only connects: token, key, or nothing if insecure */
};

/* Reads the options above and loads the key or token. Logs why and returns a
 * GD_E* code when the process must not start. */
int gd_cred_setup(const struct gd_config *cfg, enum gd_cred_use use);

/* auth-timeout-ms as read by gd_cred_setup (GD_CRED_DEFAULT_AUTH_TIMEOUT_MS
 * before, or when not given). */
int gd_cred_auth_timeout_ms(void);

/* What this process presents, for log lines: "the cluster key 1a2b3c4d from
 * /etc/godfs/cluster.key", "token 7 from PATH", "no credential". */
void gd_cred_describe(char *buf, size_t len);

/* Logs (error) that the daemon at addr refused our credential, with the
 * likely reason for what we presented: "meta 1.2.3.4:9090 refused our
 * credential (...): wrong cluster key". who names the daemon ("meta",
 * "chunkd", "peer"). The same (who, addr) is logged at most once a minute,
 * so a caller that retries may call it on every refusal. Thread-safe. */
void gd_cred_log_refused(const char *who, const char *addr);

/* The cluster keys, or NULL when this process has none. */
const struct gd_keyring *gd_cred_keys(void);
/* What this process presents when it connects (kind NONE when it has nothing). */
const struct gd_cred *gd_cred_self(void);
/* How a daemon checks who connects to it (tokens off; the meta turns them on). */
const struct gd_auth_policy *gd_cred_policy(void);
bool gd_cred_insecure(void);
/* The tls option: connections this process opens use TLS and refuse a
 * daemon that does not offer it; gd_cred_policy() asks for it. */
bool gd_cred_tls(void);

/* For tests and programs that build their credential themselves. */
void gd_cred_set(const struct gd_keyring *keys, const struct gd_token *token, bool insecure);

#endif
