/* gw_auth without a cluster: key fields made here, served by a fetch
 * function that counts its calls, and clocks the test moves.
 * - a Bearer key resolves into its principal (uid/gid, subtree, the token
 *   the session presents, derived under the right key of a rotated ring);
 * - a wrong secret, a malformed header, no credential, an unknown id, a plain
 *   (non-API) token are 401; a read-only key is 403 on PUT/DELETE only;
 * - unknown ids are cached (a flood of made-up ids is one fetch per id per
 *   cache time); a revoke or expiry is seen once the cache time passed;
 *   a meta that cannot answer is its transport error, not cached;
 * - presigned URLs: good, HEAD as GET, expired, for another method (403),
 *   read-only key PUT (403), altered path (401);
 * - the cache stays within its bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gd_apikey.h"
#include "gd_status.h"
#include "gw_auth.h"

#define NOW 1800000000LL

static uint64_t fake_mono;
static int64_t fake_wall;
static unsigned fetches;
static int fetch_error;                 /* returned instead when not 0 */
static struct gw_key_info table[8];    /* id = index; id 0 unused */
static struct gd_keyring ring;

static uint64_t mono(void) { return fake_mono; }
static int64_t wall(void) { return fake_wall; }

static int fetch(void *ctx, uint64_t id, struct gw_key_info *out)
{
	(void)ctx;
	fetches++;
	if (fetch_error)
		return fetch_error;
	if (id == 0 || id >= 8 || table[id].id == 0)
		return GD_ENOENT;
	*out = table[id];
	return 0;
}

static void key(uint64_t id, uint64_t subtree, uint32_t flags, uint32_t uid, uint32_t gid)
{
	table[id] = (struct gw_key_info){ .id = id, .subtree = subtree, .flags = flags,
					  .uid = uid, .gid = gid };
}

/* The Bearer string of key id under ring key k. */
static void bearer(uint64_t id, int k, char *out, size_t len)
{
	struct gd_token t = { .id = id, .subtree = table[id].subtree,
			      .expires = table[id].expires, .flags = table[id].flags };
	char s[GD_APIKEY_STR_MAX];

	gd_token_derive(&ring.key[k], &t);
	gd_apikey_bearer_secret(t.secret, t.secret);
	assert_int_equal(gd_apikey_format(id, t.secret, s, sizeof(s)), 0);
	snprintf(out, len, "Bearer %s", s);
}

static int setup(void **state)
{
	struct gw_auth_config cfg = { .keys = &ring, .fetch = fetch, .cache_ms = 1000,
				      .cache_max = 4, .mono_ms = mono, .wall_sec = wall };
	struct gw_auth *a;

	memset(&ring, 0, sizeof(ring));
	ring.n = 2;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(gd_random(ring.key[i].key, GD_KEY_LEN), 0);
		gd_key_set_id(&ring.key[i]);
	}
	memset(table, 0, sizeof(table));
	key(1, 10, GD_TOKEN_APIKEY, 1000, 100);
	key(2, 11, GD_TOKEN_APIKEY | GD_TOKEN_READ_ONLY, 0, 0);
	key(3, 12, 0, 0, 0);                          /* a plain token */
	fake_mono = 5000;
	fake_wall = NOW;
	fetches = 0;
	fetch_error = 0;
	assert_int_equal(gw_auth_new(&cfg, &a), 0);
	*state = a;
	return 0;
}

static int teardown(void **state)
{
	gw_auth_free(*state);
	return 0;
}

static int resolve(struct gw_auth *a, const char *authz, const char *method, const char *path,
		   const char *k, const char *e, const char *s, struct gw_principal *p)
{
	char why[256];
	int rc = gw_auth_resolve(a, authz, method, path, k, e, s, p, why, sizeof(why));

	if (rc)
		assert_true(why[0] != '\0');   /* a refusal always says why */
	return rc;
}

static void test_bearer(void **state)
{
	struct gw_auth *a = *state;
	struct gw_principal p;
	char h[160];
	int kidx;

	bearer(1, 1, h, sizeof(h));     /* made under the second key of the ring */
	assert_int_equal(resolve(a, h, "PUT", "/x", NULL, NULL, NULL, &p), 0);
	assert_int_equal(p.key_id, 1);
	assert_int_equal(p.uid, 1000);
	assert_int_equal(p.gid, 100);
	assert_int_equal(p.subtree, 10);
	assert_false(p.read_only);
	assert_false(p.presigned);
	/* the token the session presents: the fields, and the secret under
	 * the key the Bearer was made with */
	assert_int_equal(p.token.id, 1);
	assert_int_equal(p.token.flags, GD_TOKEN_APIKEY);
	assert_memory_equal(p.token.key_id, ring.key[1].id, GD_KEY_ID_LEN);
	{
		struct gd_token want = p.token;
		uint8_t b[GD_KEY_LEN];
		char s[GD_APIKEY_STR_MAX];

		gd_token_derive(&ring.key[1], &want);
		assert_memory_equal(p.token.secret, want.secret, GD_KEY_LEN);
		gd_apikey_bearer_secret(p.token.secret, b);
		assert_int_equal(gd_apikey_verify(&ring, &p.token, b, &kidx), 0);
		assert_int_equal(kidx, 1);
		/* the token secret itself (what a session presents) is no Bearer */
		assert_int_equal(gd_apikey_format(1, p.token.secret, s, sizeof(s)), 0);
		snprintf(h, sizeof(h), "Bearer %s", s);
		assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	}
	/* "bearer" in any case, extra spaces */
	bearer(1, 0, h, sizeof(h));
	h[0] = 'b';
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	assert_memory_equal(p.token.key_id, ring.key[0].id, GD_KEY_ID_LEN);
	assert_int_equal(fetches, 1);   /* cached */

	/* a flipped secret digit, a malformed header, no credential */
	bearer(1, 0, h, sizeof(h));
	h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	assert_int_equal(resolve(a, "Basic Zm9vOmJhcg==", "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	assert_int_equal(resolve(a, "Bearer", "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	assert_int_equal(resolve(a, "Bearer gdk_1_zz", "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	assert_int_equal(resolve(a, NULL, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	/* a plain token's secret is no API key */
	bearer(3, 0, h, sizeof(h));
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	/* an unknown id and a wrong secret read the same (ids are not told) */
	{
		char w1[256], w2[256];
		bearer(1, 0, h, sizeof(h));
		h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
		assert_int_equal(gw_auth_resolve(a, h, "GET", "/", NULL, NULL, NULL, &p, w1,
						 sizeof(w1)), GD_EAUTH);
		memcpy(h + 11, "6", 1);        /* "Bearer gdk_6_...": no key 6 */
		assert_int_equal(gw_auth_resolve(a, h, "GET", "/", NULL, NULL, NULL, &p, w2,
						 sizeof(w2)), GD_EAUTH);
		assert_string_equal(strchr(w1, ':'), strchr(w2, ':'));
	}
}

static void test_read_only(void **state)
{
	struct gw_auth *a = *state;
	struct gw_principal p;
	char h[160];

	bearer(2, 0, h, sizeof(h));
	assert_int_equal(resolve(a, h, "GET", "/f", NULL, NULL, NULL, &p), 0);
	assert_true(p.read_only);
	assert_int_equal(resolve(a, h, "HEAD", "/f", NULL, NULL, NULL, &p), 0);
	assert_int_equal(resolve(a, h, "POST", "/f", NULL, NULL, NULL, &p), 0);
	assert_true(p.read_only);      /* POST handlers look at it */
	assert_int_equal(resolve(a, h, "PUT", "/f", NULL, NULL, NULL, &p), GD_EPERM);
	assert_int_equal(resolve(a, h, "DELETE", "/f", NULL, NULL, NULL, &p), GD_EPERM);
}

static void test_cache(void **state)
{
	struct gw_auth *a = *state;
	struct gw_principal p;
	char h[160];

	/* unknown ids: one fetch per id per cache time */
	bearer(1, 0, h, sizeof(h));
	memcpy(h + 11, "7", 1);        /* "Bearer gdk_7_..." */
	for (int i = 0; i < 5; i++)
		assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	assert_int_equal(fetches, 1);
	/* the key appears: seen once the negative entry aged out */
	key(7, 10, GD_TOKEN_APIKEY, 0, 0);
	bearer(7, 0, h, sizeof(h));
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	fake_mono += 1000;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	assert_int_equal(fetches, 2);

	/* revoked: refused within the cache time, not before */
	table[7].revoked = true;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	fake_mono += 999;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	fake_mono += 1;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	/* forget: the next request asks again */
	table[7].revoked = false;
	gw_auth_forget(a, 7);
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);

	/* expired by the wall clock, whatever the cache says */
	table[1].expires = NOW + 10;
	bearer(1, 0, h, sizeof(h));
	fake_mono += 5000;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	fake_wall = NOW + 10;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);

	/* the meta cannot answer: its error, nothing cached */
	fake_mono += 5000;
	fetch_error = GD_ECONN;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), GD_ECONN);
	fetch_error = 0;
	fake_wall = NOW;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);

	/* a flood of made-up ids evicts no known key's fields */
	bearer(7, 0, h, sizeof(h));
	fake_mono += 5000;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	fetches = 0;
	for (int i = 0; i < 20; i++) {
		char b[160];
		bearer(1, 0, b, sizeof(b));
		b[11] = '8';                   /* "gdk_8".."gdk_8xx": none exists */
		snprintf(b + 12, sizeof(b) - 12, "%d_%s", i, strrchr(h, '_') + 1);
		fake_mono++;
		assert_int_equal(resolve(a, b, "GET", "/", NULL, NULL, NULL, &p), GD_EAUTH);
	}
	assert_int_equal(fetches, 20);
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	assert_int_equal(fetches, 20);   /* key 7 stayed in the cache */

	/* the bound: 4 entries; more ids still work (the oldest goes) */
	for (uint64_t id = 1; id <= 7; id++) {
		char b[160];
		if (table[id].id == 0)
			continue;
		bearer(id, 0, b, sizeof(b));
		fake_mono++;
		(void)resolve(a, b, "GET", "/", NULL, NULL, NULL, &p);
	}
	fetches = 0;
	fake_mono++;
	assert_int_equal(resolve(a, h, "GET", "/", NULL, NULL, NULL, &p), 0);
	assert_int_equal(fetches, 0);  /* the newest entries stayed */
}

/* A presigned URL of key id under ring key k. */
static void presign(uint64_t id, int k, const char *method, const char *path, uint64_t exp,
		    char *exp_s, char *sig)
{
	struct gd_token t = { .id = id, .subtree = table[id].subtree,
			      .expires = table[id].expires, .flags = table[id].flags };

	gd_token_derive(&ring.key[k], &t);
	gd_apikey_bearer_secret(t.secret, t.secret);   /* URLs are signed with it */
	assert_int_equal(gd_presign_sign(t.secret, method, path, exp, id, sig), 0);
	sprintf(exp_s, "%llu", (unsigned long long)exp);
}

static void test_presigned(void **state)
{
	struct gw_auth *a = *state;
	struct gw_principal p;
	char e[32], s[GD_PRESIGN_SIG_HEX + 1];

	presign(1, 1, "GET", "/a b", NOW + 60, e, s);
	assert_int_equal(resolve(a, NULL, "GET", "/a b", "1", e, s, &p), 0);
	assert_true(p.presigned);
	assert_int_equal(p.uid, 1000);
	assert_memory_equal(p.token.key_id, ring.key[1].id, GD_KEY_ID_LEN);
	assert_int_equal(resolve(a, NULL, "HEAD", "/a b", "1", e, s, &p), 0);
	assert_int_equal(resolve(a, NULL, "PUT", "/a b", "1", e, s, &p), GD_EPERM);
	assert_int_equal(resolve(a, NULL, "DELETE", "/a b", "1", e, s, &p), GD_EPERM);
	assert_int_equal(resolve(a, NULL, "GET", "/a c", "1", e, s, &p), GD_EAUTH);
	assert_int_equal(resolve(a, NULL, "GET", "/a b", "2", e, s, &p), GD_EAUTH);
	assert_int_equal(resolve(a, NULL, "GET", "/a b", "01", e, s, &p), GD_EAUTH);
	assert_int_equal(resolve(a, NULL, "GET", "/a b", "1", e, NULL, &p), GD_EAUTH);
	fake_wall = NOW + 60;
	assert_int_equal(resolve(a, NULL, "GET", "/a b", "1", e, s, &p), GD_EAUTH);
	fake_wall = NOW;
	/* more than 7 days ahead */
	presign(1, 0, "GET", "/a b", NOW + GD_PRESIGN_MAX_SEC + 1, e, s);
	assert_int_equal(resolve(a, NULL, "GET", "/a b", "1", e, s, &p), GD_EAUTH);
	/* a read-only key cannot presign a PUT that works */
	presign(2, 0, "PUT", "/up", NOW + 60, e, s);
	assert_int_equal(resolve(a, NULL, "PUT", "/up", "2", e, s, &p), GD_EPERM);
	presign(1, 0, "PUT", "/up", NOW + 60, e, s);
	assert_int_equal(resolve(a, NULL, "PUT", "/up", "1", e, s, &p), 0);
	/* an unknown key id reads as a bad signature, a malformed expiry the same */
	{
		char w[256];
		assert_int_equal(gw_auth_resolve(a, NULL, "GET", "/a b", "6", e, s, &p, w,
						 sizeof(w)), GD_EAUTH);
		assert_non_null(strstr(w, "bad signature"));
		assert_int_equal(gw_auth_resolve(a, NULL, "GET", "/a b", "6", "x", s, &p, w,
						 sizeof(w)), GD_EAUTH);
		assert_non_null(strstr(w, "malformed godfs_exp"));
	}
	/* signed with a key the ring does not hold */
	{
		struct gd_keyring saved = ring;
		assert_int_equal(gd_random(ring.key[0].key, GD_KEY_LEN), 0);
		presign(1, 0, "GET", "/a b", NOW + 60, e, s);
		ring = saved;
		assert_int_equal(resolve(a, NULL, "GET", "/a b", "1", e, s, &p), GD_EAUTH);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bearer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presigned, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
