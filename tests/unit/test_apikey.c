/* gd_apikey: the Bearer string round-trips and every malformed one is
 * refused; a secret verifies against its fields under any key of the ring
 * (rotation) and not after any field changed or under another ring; presigned
 * URLs pass for their method, path, key and time window only, HEAD as GET,
 * and a URL signed for GET used for PUT is a 403 (GD_EPERM), not a 401. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gd_apikey.h"
#include "gd_status.h"

#define NOW 1800000000LL

static void ring_new(struct gd_keyring *kr, int n)
{
	memset(kr, 0, sizeof(*kr));
	kr->n = n;
	for (int i = 0; i < n; i++) {
		assert_int_equal(gd_random(kr->key[i].key, GD_KEY_LEN), 0);
		gd_key_set_id(&kr->key[i]);
	}
}

static void token_new(const struct gd_keyring *kr, int key, struct gd_token *t)
{
	memset(t, 0, sizeof(*t));
	t->id = 42;
	t->subtree = 7;
	t->expires = 0;
	t->flags = GD_TOKEN_APIKEY | GD_TOKEN_READ_ONLY;
	gd_token_derive(&kr->key[key], t);
}

static void test_format_parse(void **state)
{
	uint8_t secret[GD_KEY_LEN];
	char s[GD_APIKEY_STR_MAX];
	struct gd_apikey k;

	(void)state;
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(gd_apikey_format(42, secret, s, sizeof(s)), 0);
	assert_int_equal(strncmp(s, "gdk_42_", 7), 0);
	assert_int_equal(strlen(s), 7 + 64);
	assert_int_equal(gd_apikey_parse(s, strlen(s), &k), 0);
	assert_int_equal(k.id, 42);
	assert_memory_equal(k.secret, secret, GD_KEY_LEN);
	/* the largest id */
	assert_int_equal(gd_apikey_format(UINT64_MAX, secret, s, sizeof(s)), 0);
	assert_int_equal(gd_apikey_parse(s, sizeof(s), &k), 0);
	assert_true(k.id == UINT64_MAX);
	/* upper-case hex is the same secret */
	assert_int_equal(gd_apikey_format(9, secret, s, sizeof(s)), 0);
	for (char *p = s + 6; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(gd_apikey_parse(s, sizeof(s), &k), 0);
	assert_memory_equal(k.secret, secret, GD_KEY_LEN);
	/* id 0 and short buffers cannot be formatted */
	assert_int_equal(gd_apikey_format(0, secret, s, sizeof(s)), GD_EINVAL);
	assert_int_equal(gd_apikey_format(1, secret, s, GD_APIKEY_STR_MAX - 1), GD_EINVAL);
}

/* pat with its "%s" (if any) replaced by hex, into out. */
static void subst(const char *pat, const char *hex, char *out, size_t len)
{
	const char *at = strstr(pat, "%s");

	if (!at) {
		snprintf(out, len, "%s", pat);
		return;
	}
	snprintf(out, len, "%.*s%s%s", (int)(at - pat), pat, hex, at + 2);
}

static void test_parse_refuses(void **state)
{
	const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char s[256];
	struct gd_apikey k;
	const char *bad[] = {
		"",
		"gdk_",
		"gdk_1_",
		"gdk_1",
		"gdk__%s",                 /* no id */
		"gdk_0_%s",                /* id 0 */
		"gdk_01_%s",               /* leading zero */
		"gdk_-1_%s",               /* sign */
		"gdk_+1_%s",
		"gdk_18446744073709551616_%s", /* 2^64 */
		"gdk_99999999999999999999999_%s",
		"gdk_1_%s0",               /* 65 hex digits */
		"gdk_1_%s ",               /* trailing byte */
		"gdk_1 _%s",
		"Gdk_1_%s",
		"gdk-1-%s",
		"xgdk_1_%s",
		"gdk_1x%s",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		subst(bad[i], hex, s, sizeof(s));
		assert_int_equal(gd_apikey_parse(s, sizeof(s), &k), GD_EINVAL);
	}
	/* 63 hex digits, and a non-hex digit */
	snprintf(s, sizeof(s), "gdk_1_%.63s", hex);
	assert_int_equal(gd_apikey_parse(s, sizeof(s), &k), GD_EINVAL);
	snprintf(s, sizeof(s), "gdk_1_%.63sg", hex);
	assert_int_equal(gd_apikey_parse(s, sizeof(s), &k), GD_EINVAL);
	/* len cuts the string: what is past len is not read */
	snprintf(s, sizeof(s), "gdk_1_%s", hex);
	assert_int_equal(gd_apikey_parse(s, strlen(s) - 1, &k), GD_EINVAL);
	assert_int_equal(gd_apikey_parse(s, strlen(s), &k), 0);
	assert_int_equal(gd_apikey_parse(NULL, 10, &k), GD_EINVAL);
}

static void test_verify(void **state)
{
	struct gd_keyring kr, other, rotated;
	struct gd_token t, f;
	uint8_t b[GD_KEY_LEN], bad[GD_KEY_LEN];
	int which = -1;

	(void)state;
	ring_new(&kr, 1);
	ring_new(&other, 2);
	token_new(&kr, 0, &t);
	gd_apikey_bearer_secret(t.secret, b);
	/* one-way from the token secret, and not it: a Bearer string is no
	 * token file, a token file no Bearer string */
	assert_memory_not_equal(b, t.secret, GD_KEY_LEN);
	memcpy(bad, t.secret, GD_KEY_LEN);
	gd_apikey_bearer_secret(bad, bad);   /* in place */
	assert_memory_equal(bad, b, GD_KEY_LEN);
	assert_int_equal(gd_apikey_verify(&kr, &t, t.secret, NULL), GD_EAUTH);
	f = t;
	memset(f.secret, 0, sizeof(f.secret));   /* verify ignores them */
	memset(f.key_id, 0, sizeof(f.key_id));
	assert_int_equal(gd_apikey_verify(&kr, &f, b, NULL), 0);
	assert_int_equal(gd_apikey_verify(&other, &f, b, NULL), GD_EAUTH);
	/* the key moved to the second line of a rotated ring: still good */
	rotated = other;
	rotated.key[1] = kr.key[0];
	assert_int_equal(gd_apikey_verify(&rotated, &f, b, &which), 0);
	assert_int_equal(which, 1);
	assert_int_equal(gd_apikey_verify(&kr, &f, b, &which), 0);
	assert_int_equal(which, 0);
	/* every field is covered */
	f.id++;
	assert_int_equal(gd_apikey_verify(&kr, &f, b, NULL), GD_EAUTH);
	f = t;
	f.subtree = 1;
	assert_int_equal(gd_apikey_verify(&kr, &f, b, NULL), GD_EAUTH);
	f = t;
	f.flags &= ~GD_TOKEN_READ_ONLY;
	assert_int_equal(gd_apikey_verify(&kr, &f, b, NULL), GD_EAUTH);
	f = t;
	f.expires = 1;
	assert_int_equal(gd_apikey_verify(&kr, &f, b, NULL), GD_EAUTH);
	/* one flipped bit of the secret */
	memcpy(bad, b, GD_KEY_LEN);
	bad[31] ^= 1;
	assert_int_equal(gd_apikey_verify(&kr, &t, bad, NULL), GD_EAUTH);
	/* an empty ring verifies nothing */
	memset(&other, 0, sizeof(other));
	assert_int_equal(gd_apikey_verify(&other, &t, b, NULL), GD_EAUTH);
}

static void test_presign(void **state)
{
	uint8_t secret[GD_KEY_LEN], wrong[GD_KEY_LEN];
	char sig[GD_PRESIGN_SIG_HEX + 1], alt[GD_PRESIGN_SIG_HEX + 1], exp_s[32];
	const char *why;
	uint64_t exp = (uint64_t)NOW + 3600;

	(void)state;
	memset(secret, 0x5a, sizeof(secret));
	memset(wrong, 0x5b, sizeof(wrong));
	snprintf(exp_s, sizeof(exp_s), "%llu", (unsigned long long)exp);
	assert_int_equal(gd_presign_sign(secret, "GET", "/a/b c.txt", exp, 42, sig), 0);
	assert_int_equal(strlen(sig), 64);
	/* the documented string, byte for byte: the same as Python's
	 * hmac.new(b"\x5a" * 32, b"godfs-presign-v1\nGET\n/a/b c.txt\n1800003600\n42",
	 * hashlib.sha256).hexdigest() (docs/security.md signs it this way) */
	assert_string_equal(sig, "eff156580bc9ddb87fcd9c951a6bd52f9b71c2f627367833a93d2192b5801867");
	assert_int_equal(gd_presign_verify(secret, "GET", "/a/b c.txt", exp_s, sig, 42, NOW, &why), 0);
	assert_int_equal(gd_presign_verify(secret, "HEAD", "/a/b c.txt", exp_s, sig, 42, NOW, &why), 0);
	/* another method: a GET URL is not a PUT URL (403), DELETE never */
	assert_int_equal(gd_presign_verify(secret, "PUT", "/a/b c.txt", exp_s, sig, 42, NOW, &why),
			 GD_EPERM);
	assert_int_equal(gd_presign_verify(secret, "DELETE", "/a/b c.txt", exp_s, sig, 42, NOW, &why),
			 GD_EPERM);
	/* another path, key id, expiry or secret */
	assert_int_equal(gd_presign_verify(secret, "GET", "/a/b c.txT", exp_s, sig, 42, NOW, &why),
			 GD_EAUTH);
	assert_int_equal(gd_presign_verify(secret, "GET", "/a/b c.txt", exp_s, sig, 43, NOW, &why),
			 GD_EAUTH);
	snprintf(exp_s, sizeof(exp_s), "%llu", (unsigned long long)exp + 1);
	assert_int_equal(gd_presign_verify(secret, "GET", "/a/b c.txt", exp_s, sig, 42, NOW, &why),
			 GD_EAUTH);
	snprintf(exp_s, sizeof(exp_s), "%llu", (unsigned long long)exp);
	assert_int_equal(gd_presign_verify(wrong, "GET", "/a/b c.txt", exp_s, sig, 42, NOW, &why),
			 GD_EAUTH);
	/* expired at exp, and refused when more than 7 days ahead */
	assert_int_equal(gd_presign_verify(secret, "GET", "/a/b c.txt", exp_s, sig, 42,
					   (int64_t)exp, &why), GD_EAUTH);
	assert_string_equal(why, "the presigned URL has expired");
	assert_int_equal(gd_presign_verify(secret, "GET", "/a/b c.txt", exp_s, sig, 42,
					   (int64_t)exp - 1, &why), 0);
	exp = (uint64_t)NOW + GD_PRESIGN_MAX_SEC + 1;
	snprintf(exp_s, sizeof(exp_s), "%llu", (unsigned long long)exp);
	assert_int_equal(gd_presign_sign(secret, "PUT", "/x", exp, 42, alt), 0);
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", exp_s, alt, 42, NOW, &why), GD_EAUTH);
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", exp_s, alt, 42, NOW + 1, &why), 0);
	/* malformed values */
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", "0", alt, 42, NOW + 1, &why), GD_EAUTH);
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", "+1", alt, 42, NOW + 1, &why), GD_EAUTH);
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", NULL, alt, 42, NOW + 1, &why), GD_EAUTH);
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", exp_s, NULL, 42, NOW + 1, &why), GD_EAUTH);
	alt[63] = '\0';
	assert_int_equal(gd_presign_verify(secret, "PUT", "/x", exp_s, alt, 42, NOW + 1, &why), GD_EAUTH);
	assert_int_equal(gd_presign_sign(secret, "POST", "/x", exp, 42, alt), GD_EINVAL);
	assert_int_equal(gd_presign_sign(secret, "GET", "/x", exp, 0, alt), GD_EINVAL);
}

/* The query string of a presigned URL: the path percent-encoded. */
static void test_presign_query(void **state)
{
	char q[512];
	int n;

	(void)state;
	n = gd_presign_query("/dir/a b&c.txt", 7, 1800000000, "ab", q, sizeof(q));
	assert_true(n > 0);
	assert_string_equal(q, "path=/dir/a%20b%26c.txt&godfs_key=7&godfs_exp=1800000000&godfs_sig=ab");
	assert_int_equal(gd_presign_query("/dir", 7, 1, "ab", q, 10), GD_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_presign),
		cmocka_unit_test(test_presign_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
