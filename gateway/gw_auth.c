/* A gateway request's credential into a principal (see gw_auth.h). */
#include "gw_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_apikey.h"
#include "gd_meta_client.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

/* What a stranger is told, the same for an id that does not exist. */
#define BAD_SECRET "unknown key or wrong secret"
#define BAD_SIG "bad signature"   /* gd_presign_verify's own words */

struct cache_ent {
	uint64_t id;
	uint64_t fetched_ms;      /* mono clock */
	bool known;               /* false: the meta said GD_ENOENT */
	struct gw_key_info info;
};

struct gw_auth {
	const struct gd_keyring *keys;
	gw_key_fetch_fn fetch;
	void *fetch_ctx;
	uint64_t cache_ms;
	size_t cache_max;
	uint64_t (*mono_ms)(void);
	int64_t (*wall_sec)(void);

	pthread_mutex_t mu;       /* guards the two tables */
	struct cache_ent *ents;   /* known ids: cache_max slots, n used, unordered */
	size_t n;
	/* Unknown ids, apart: made-up ids evict only each other, never a
	 * real key's fields. */
	struct cache_ent *neg;    /* neg_max slots, nneg used */
	size_t nneg, neg_max;
};

static uint64_t real_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t real_wall_sec(void)
{
	return (int64_t)time(NULL);
}

int gw_auth_new(const struct gw_auth_config *cfg, struct gw_auth **out)
{
	struct gw_auth *a;

	if (!cfg || !cfg->keys || cfg->keys->n < 1 || !cfg->fetch || !out)
		return GD_EINVAL;
	a = gd_calloc(1, sizeof(*a));
	if (!a)
		return GD_ENOMEM;
	a->keys = cfg->keys;
	a->fetch = cfg->fetch;
	a->fetch_ctx = cfg->fetch_ctx;
	a->cache_ms = cfg->cache_ms > 0 ? (uint64_t)cfg->cache_ms : GW_AUTH_DEFAULT_CACHE_MS;
	a->cache_max = cfg->cache_max ? cfg->cache_max : GW_AUTH_DEFAULT_CACHE_MAX;
	a->mono_ms = cfg->mono_ms ? cfg->mono_ms : real_mono_ms;
	a->wall_sec = cfg->wall_sec ? cfg->wall_sec : real_wall_sec;
	a->neg_max = a->cache_max < GW_AUTH_NEG_MAX ? a->cache_max : GW_AUTH_NEG_MAX;
	a->ents = gd_calloc(a->cache_max, sizeof(*a->ents));
	a->neg = gd_calloc(a->neg_max, sizeof(*a->neg));
	if (!a->ents || !a->neg) {
		gd_free(a->ents);
		gd_free(a->neg);
		gd_free(a);
		return GD_ENOMEM;
	}
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return 0;
}

void gw_auth_free(struct gw_auth *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->mu);
	gd_free(a->ents);
	gd_free(a->neg);
	gd_free(a);
}

/* Under mu: the slot of id in one table, or NULL. */
static struct cache_ent *find_in(struct cache_ent *t, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			return &t[i];
	return NULL;
}

/* Under mu: the slot of id in either table, or NULL. */
static struct cache_ent *find(struct gw_auth *a, uint64_t id)
{
	struct cache_ent *e = find_in(a->ents, a->n, id);

	return e ? e : find_in(a->neg, a->nneg, id);
}

/* Under mu: takes id out of both tables. */
static void drop(struct gw_auth *a, uint64_t id)
{
	struct cache_ent *e = find_in(a->ents, a->n, id);

	if (e)
		*e = a->ents[--a->n];
	e = find_in(a->neg, a->nneg, id);
	if (e)
		*e = a->neg[--a->nneg];
}

void gw_auth_forget(struct gw_auth *a, uint64_t id)
{
	pthread_mutex_lock(&a->mu);
	drop(a, id);
	pthread_mutex_unlock(&a->mu);
}

/* Under mu: a slot for a new entry in table t (n used of max); a full table
 * gives up its oldest entry. */
static struct cache_ent *slot(struct cache_ent *t, size_t *n, size_t max)
{
	struct cache_ent *e;

	if (*n < max)
		return &t[(*n)++];
	e = &t[0];
	for (size_t i = 1; i < *n; i++)
		if (t[i].fetched_ms < e->fetched_ms)
			e = &t[i];
	return e;
}

/* Under mu: records a fetch, known ids and unknown ones each in their table. */
static void store(struct gw_auth *a, uint64_t id, bool known, const struct gw_key_info *info,
		  uint64_t now)
{
	struct cache_ent *e;

	drop(a, id);
	e = known ? slot(a->ents, &a->n, a->cache_max) : slot(a->neg, &a->nneg, a->neg_max);
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->fetched_ms = now;
	e->known = known;
	if (known)
		e->info = *info;
}

/* The fields of key id, from the cache or the meta: 0, GD_ENOENT, or the
 * fetch's transport error. */
static int lookup(struct gw_auth *a, uint64_t id, struct gw_key_info *out)
{
	uint64_t now = a->mono_ms();
	struct cache_ent *e;
	int rc;

	pthread_mutex_lock(&a->mu);
	e = find(a, id);
	if (e && now - e->fetched_ms < a->cache_ms) {
		rc = e->known ? 0 : GD_ENOENT;
		if (e->known)
			*out = e->info;
		pthread_mutex_unlock(&a->mu);
		return rc;
	}
	pthread_mutex_unlock(&a->mu);

	rc = a->fetch(a->fetch_ctx, id, out);
	if (rc == 0 && out->id != id)
		rc = GD_EPROTO;
	if (rc != 0 && rc != GD_ENOENT)
		return rc;     /* the meta could not say: nothing to cache */
	pthread_mutex_lock(&a->mu);
	store(a, id, rc == 0, out, a->mono_ms());
	pthread_mutex_unlock(&a->mu);
	return rc;
}

static int refuse(int rc, char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return rc;
}

/* The same, naming the key: "API key 7: <msg>". */
static int refuse_key(int rc, char *why, size_t whylen, uint64_t id, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "API key %llu: %s", (unsigned long long)id, msg);
	return rc;
}

/* The secret behind "Bearer gdk_..." (scheme case-insensitive, spaces
 * after it skipped): 0 or GD_EAUTH. */
static int bearer(const char *h, struct gd_apikey *k)
{
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return GD_EAUTH;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	/* a trailing space is the only slack: an HTTP library may keep it */
	{
		size_t n = strnlen(h, GD_APIKEY_STR_MAX + 8);
		while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
			n--;
		return gd_apikey_parse(h, n, k) == 0 ? 0 : GD_EAUTH;
	}
}

static bool is_write(const char *method)
{
	return strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
	       strcmp(method, "PATCH") == 0;
}

/* A presigned URL: its signature under the Bearer secret each cluster key
 * gives the key's fields; the first key that passes says which key the
 * session presents. 0, GD_EAUTH or GD_EPERM (a good signature for another
 * method). */
static int presigned(struct gw_auth *a, struct gd_token *t, const char *method, const char *path,
		     const char *q_exp, const char *q_sig, const char **reason)
{
	int best = GD_EAUTH;
	const char *why0 = NULL;

	for (int i = 0; i < a->keys->n && i < GD_KEYRING_MAX; i++) {
		struct gd_token d = *t;
		uint8_t b[GD_KEY_LEN];
		const char *why = NULL;
		int rc;

		gd_token_derive(&a->keys->key[i], &d);
		gd_apikey_bearer_secret(d.secret, b);
		rc = gd_presign_verify(b, method, path, q_exp, q_sig, t->id, a->wall_sec(), &why);
		memset(b, 0, sizeof(b));
		if (rc == 0) {
			*t = d;
			memset(&d, 0, sizeof(d));
			return 0;
		}
		memset(&d, 0, sizeof(d));
		if (!why0 || rc == GD_EPERM || strcmp(why, BAD_SIG) != 0) {
			/* the most telling reason: expired beats "bad signature" */
			why0 = why;
			best = rc;
		}
	}
	*reason = why0 ? why0 : BAD_SIG;
	return best;
}

int gw_auth_resolve(struct gw_auth *a, const char *authorization, const char *method,
		    const char *path, const char *q_key, const char *q_exp, const char *q_sig,
		    struct gw_principal *p, char *why, size_t whylen)
{
	struct gw_key_info info;
	struct gd_apikey k;
	struct gd_token t;
	bool is_presign = false;
	int64_t now;
	int rc, idx = 0;

	if (why && whylen)
		why[0] = '\0';
	if (!a || !method || !p)
		return GD_EINVAL;
	memset(&k, 0, sizeof(k));
	if (authorization && *authorization) {
		if (bearer(authorization, &k) != 0)
			return refuse(GD_EAUTH, why, whylen,
				      "malformed Authorization (expected Bearer gdk_<id>_<secret>)");
	} else if (q_key || q_exp || q_sig) {
		if (gd_presign_parse_u64(q_key, &k.id) != 0)
			return refuse(GD_EAUTH, why, whylen, "malformed godfs_key");
		is_presign = true;
	} else {
		return refuse(GD_EAUTH, why, whylen,
			      "no credential (an Authorization: Bearer API key or a presigned URL)");
	}

	rc = lookup(a, k.id, &info);
	if (rc == GD_ENOENT || (rc == 0 && !(info.flags & GD_TOKEN_APIKEY))) {
		/* a plain token is no API key: its holder mounts, it has no Bearer.
		 * The answer is the one a known id with a wrong secret gets (for
		 * a URL: checked under a made-up secret, so a malformed expiry
		 * reads the same too): a stranger learns no key ids. */
		memset(k.secret, 0, sizeof(k.secret));
		if (is_presign) {
			const char *reason = NULL;
			uint8_t none[GD_KEY_LEN] = { 0 };

			rc = gd_presign_verify(none, method, path ? path : "", q_exp, q_sig, k.id,
					       a->wall_sec(), &reason);
			return refuse_key(rc == GD_EPERM ? GD_EPERM : GD_EAUTH, why, whylen, k.id,
					  rc && reason ? reason : BAD_SIG);
		}
		return refuse_key(GD_EAUTH, why, whylen, k.id, BAD_SECRET);
	}
	if (rc) {
		memset(k.secret, 0, sizeof(k.secret));
		if (why && whylen)
			snprintf(why, whylen, "cannot check API key %llu: %s",
				 (unsigned long long)k.id, gd_strerror(rc));
		return rc;
	}
	memset(&t, 0, sizeof(t));
	t.id = info.id;
	t.subtree = info.subtree;
	t.expires = info.expires;
	t.flags = info.flags;
	if (!is_presign) {
		if (gd_apikey_verify(a->keys, &t, k.secret, &idx) != 0) {
			memset(&k, 0, sizeof(k));
			return refuse_key(GD_EAUTH, why, whylen, t.id, BAD_SECRET);
		}
		gd_token_derive(&a->keys->key[idx], &t);
	} else {
		const char *reason = NULL;

		rc = presigned(a, &t, method, path ? path : "", q_exp, q_sig, &reason);
		if (rc)
			return refuse_key(rc, why, whylen, info.id, reason);
	}
	memset(&k, 0, sizeof(k));
	/* after the secret: a stranger learns nothing of a key's state */
	now = a->wall_sec();
	if (info.revoked) {
		memset(&t, 0, sizeof(t));
		return refuse_key(GD_EAUTH, why, whylen, info.id, "revoked");
	}
	if (info.expires && (now < 0 || (uint64_t)now >= info.expires)) {
		memset(&t, 0, sizeof(t));
		return refuse_key(GD_EAUTH, why, whylen, info.id, "expired");
	}
	if ((info.flags & GD_TOKEN_READ_ONLY) && is_write(method)) {
		memset(&t, 0, sizeof(t));
		return refuse_key(GD_EPERM, why, whylen, info.id, "read-only");
	}
	memset(p, 0, sizeof(*p));
	p->key_id = info.id;
	p->read_only = (info.flags & GD_TOKEN_READ_ONLY) != 0;
	p->uid = info.uid;
	p->gid = info.gid;
	p->subtree = info.subtree;
	p->presigned = is_presign;
	p->token = t;
	memset(&t, 0, sizeof(t));
	return 0;
}

int gw_auth_fetch_meta(void *ctx, uint64_t id, struct gw_key_info *out)
{
	Godfs__TokenGet r = GODFS__TOKEN_GET__INIT;
	ProtobufCMessage *resp = NULL;
	Godfs__TokenResp *tr;
	int rc;

	r.has_id = 1;
	r.id = id;
	rc = gd_meta_call(ctx, GODFS__METHOD__M_TOKEN_GET, &r.base, &godfs__token_resp__descriptor,
			  &resp);
	if (rc == 0) {
		tr = (Godfs__TokenResp *)resp;
		if (!tr->token || !tr->token->has_id) {
			rc = GD_EPROTO;
		} else {
			memset(out, 0, sizeof(*out));
			out->id = tr->token->id;
			out->subtree = tr->token->subtree;
			out->expires = tr->token->expires;
			out->flags = tr->token->flags;
			out->uid = tr->token->uid;
			out->gid = tr->token->gid;
			out->revoked = tr->token->revoked;
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}
