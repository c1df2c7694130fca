/* The process's credential (gd_cred.h). */
#include "gd_cred.h"
#include "gd_hex.h"
#include "gd_log.h"
#include "gd_net.h"
#include "gd_status.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REFUSED_LOG_MS 60000   /* the same refusal is logged again after this */
#define REFUSED_LOG_SLOTS 8

static struct gd_keyring keys;
static struct gd_token token;
static struct gd_cred self;
static struct gd_auth_policy policy;
static bool insecure;
static bool tls;
static int auth_timeout_ms = GD_CRED_DEFAULT_AUTH_TIMEOUT_MS;
static char source[PATH_MAX];   /* the file the key or token came from; "" = set by a program */

/* Remembers where the credential came from (for gd_cred_describe). */
static void set_source(const char *path)
{
	snprintf(source, sizeof(source), "%s", path ? path : "");
}

void gd_cred_set(const struct gd_keyring *k, const struct gd_token *t, bool ins)
{
	memset(&keys, 0, sizeof(keys));
	memset(&token, 0, sizeof(token));
	memset(&self, 0, sizeof(self));
	set_source(NULL);
	if (k)
		keys = *k;
	if (t)
		token = *t;
	insecure = ins;
	if (t) {
		self.kind = GD_AUTH_TOKEN;
		self.token = &token;
	} else if (keys.n > 0) {
		self.kind = GD_AUTH_CLUSTER;
		self.keys = &keys;
	} else {
		self.kind = GD_AUTH_NONE;
	}
	policy = (struct gd_auth_policy){ .keys = keys.n > 0 ? &keys : NULL, .insecure = ins,
					  .tls = tls };
}

static void set_tls(bool on)
{
	tls = on;
	policy.tls = on;
}

int gd_cred_setup(const struct gd_config *cfg, enum gd_cred_use use)
{
	const char *kf = gd_config_get(cfg, "key-file", NULL, NULL);
	const char *tf = use == GD_CRED_CLIENT ? gd_config_get(cfg, "token-file", NULL, NULL) : NULL;
	const char *path = kf ? kf : GD_CRED_DEFAULT_KEY_FILE;
	struct gd_keyring k;
	struct gd_token t;
	int ins = 0, rc;
	long to;

	int want_tls = 0;

	if (gd_config_get_bool(cfg, "insecure", NULL, 0, &ins) < 0 ||
	    gd_config_get_bool(cfg, "tls", NULL, 0, &want_tls) < 0)
		return GD_EINVAL;
	if (use == GD_CRED_DAEMON) {
		if (gd_config_get_int(cfg, "auth-timeout-ms", NULL, GD_CRED_DEFAULT_AUTH_TIMEOUT_MS,
				      10, 600000, &to) < 0)
			return GD_EINVAL;
		auth_timeout_ms = (int)to;
	}
	if (tf) {
		rc = gd_token_load(tf, &t);
		if (rc < 0)
			return rc;
		gd_cred_set(NULL, &t, ins);
		set_source(tf);
		memset(&t, 0, sizeof(t));
		set_tls(want_tls);
		return 0;
	}
	/* An explicit key file must load; the default one may be missing when
	 * insecure (a dev box) */
	if (kf || access(path, F_OK) == 0 || !ins) {
		rc = gd_keyring_load(path, &k);
		if (rc < 0) {
			if (!ins && use == GD_CRED_DAEMON)
				gd_error("no cluster key (%s): create one with `godfs-admin key "
					 "generate %s`, copy it (mode 0600) to every node, or start "
					 "with --insecure (anyone who reaches the ports gets in)",
					 path, path);
			else if (!ins)
				gd_error("no cluster key (%s): give the cluster's key file with "
					 "--key-file PATH (mount.godfs: -o key_file=PATH), or "
					 "--insecure for a cluster whose daemons run with --insecure",
					 path);
			if (kf || !ins)
				return rc;
		}
		gd_cred_set(rc == 0 ? &k : NULL, NULL, ins);
		if (rc == 0)
			set_source(path);
		memset(&k, 0, sizeof(k));
	} else {
		gd_cred_set(NULL, NULL, ins);
	}
	if (want_tls && self.kind == GD_AUTH_NONE) {
		gd_error("--tls needs a key (the TLS keys come from the cluster key's handshake)");
		return GD_EINVAL;
	}
	set_tls(want_tls);
	if (ins && use == GD_CRED_DAEMON)
		gd_warn("INSECURE: --insecure is set: this daemon lets in anyone who reaches its "
			"port, with no credential (docs/security.md)");
	return 0;
}

const struct gd_keyring *gd_cred_keys(void)
{
	return keys.n > 0 ? &keys : NULL;
}

const struct gd_cred *gd_cred_self(void)
{
	return &self;
}

const struct gd_auth_policy *gd_cred_policy(void)
{
	return &policy;
}

bool gd_cred_tls(void)
{
	return tls;
}

bool gd_cred_insecure(void)
{
	return insecure;
}

int gd_cred_auth_timeout_ms(void)
{
	return auth_timeout_ms;
}

void gd_cred_describe(char *buf, size_t len)
{
	char id[2 * GD_KEY_ID_LEN + 1] = "";
	const uint8_t *kid = NULL;

	if (self.kind == GD_AUTH_CLUSTER)
		kid = keys.key[0].id;
	else if (self.kind == GD_AUTH_TOKEN)
		kid = token.key_id;
	if (kid)   /* 4 bytes name a key well enough for a human */
		gd_hex_encode(kid, 4, id);
	if (self.kind == GD_AUTH_CLUSTER)
		snprintf(buf, len, "the cluster key %s%s%s", id, source[0] ? " from " : "", source);
	else if (self.kind == GD_AUTH_TOKEN)
		snprintf(buf, len, "token %" PRIu64 " (key %s)%s%s", token.id, id,
			 source[0] ? " from " : "", source);
	else
		snprintf(buf, len, "no credential");
}

/* Whether "who addr" was logged less than REFUSED_LOG_MS ago; records it
 * when not. A few recent ones are kept (a client talks to a few daemons). */
static bool refused_recently(const char *who, const char *addr)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static struct { char key[96]; uint64_t ms; } seen[REFUSED_LOG_SLOTS];
	char key[96];
	uint64_t now = gd_net_now_ms();
	bool recent = false;
	int slot = 0;

	snprintf(key, sizeof(key), "%s %s", who, addr);
	pthread_mutex_lock(&mu);
	for (int i = 0; i < REFUSED_LOG_SLOTS; i++) {
		if (strcmp(seen[i].key, key) == 0) {
			slot = i;
			recent = now - seen[i].ms < REFUSED_LOG_MS;
			break;
		}
		if (seen[i].ms < seen[slot].ms)
			slot = i;   /* the oldest is replaced */
	}
	if (!recent) {
		snprintf(seen[slot].key, sizeof(seen[slot].key), "%s", key);
		seen[slot].ms = now;
	}
	pthread_mutex_unlock(&mu);
	return recent;
}

void gd_cred_log_refused(const char *who, const char *addr)
{
	char what[PATH_MAX + 64];
	const char *why;

	if (refused_recently(who, addr))
		return;
	gd_cred_describe(what, sizeof(what));
	if (self.kind == GD_AUTH_CLUSTER)
		why = "wrong cluster key (not the key of this cluster)";
	else if (self.kind == GD_AUTH_TOKEN)
		why = "token refused (expired, revoked, or not of this cluster)";
	else
		why = "missing cluster key: this cluster needs one (--key-file, -o key_file=)";
	gd_error("%s %s refused our credential (%s): %s", who, addr, what, why);
}
