/* The process's credential (gd_cred.h). */
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_status.h"

#include <string.h>
#include <unistd.h>

static struct gd_keyring keys;
static struct gd_token token;
static struct gd_cred self;
static struct gd_auth_policy policy;
static bool insecure;

void gd_cred_set(const struct gd_keyring *k, const struct gd_token *t, bool ins)
{
	memset(&keys, 0, sizeof(keys));
	memset(&token, 0, sizeof(token));
	memset(&self, 0, sizeof(self));
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
	policy = (struct gd_auth_policy){ .keys = keys.n > 0 ? &keys : NULL, .insecure = ins };
}

int gd_cred_setup(const struct gd_config *cfg, enum gd_cred_use use)
{
	const char *kf = gd_config_get(cfg, "key-file", NULL, NULL);
	const char *tf = use == GD_CRED_CLIENT ? gd_config_get(cfg, "token-file", NULL, NULL) : NULL;
	const char *path = kf ? kf : GD_CRED_DEFAULT_KEY_FILE;
	struct gd_keyring k;
	struct gd_token t;
	int ins = 0, rc;

	if (gd_config_get_bool(cfg, "insecure", NULL, 0, &ins) < 0)
		return GD_EINVAL;
	if (tf) {
		rc = gd_token_load(tf, &t);
		if (rc < 0)
			return rc;
		gd_cred_set(NULL, &t, ins);
		memset(&t, 0, sizeof(t));
		return 0;
	}
	/* An explicit key file must load; the default one may be missing when
	 * insecure (a dev box) */
	if (kf || access(path, F_OK) == 0 || !ins) {
		rc = gd_keyring_load(path, &k);
		if (rc < 0) {
			if (!ins)
				gd_error("no cluster key: create one with `godfs-admin key generate %s`, "
					 "copy it (mode 0600) to every node, or start with --insecure "
					 "(anyone who reaches the ports gets in)", path);
			if (kf || !ins)
				return rc;
		}
		gd_cred_set(rc == 0 ? &k : NULL, NULL, ins);
		memset(&k, 0, sizeof(k));
	} else {
		gd_cred_set(NULL, NULL, ins);
	}
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

bool gd_cred_insecure(void)
{
	return insecure;
}
