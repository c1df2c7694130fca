/* API keys and presigned URLs (see gd_apikey.h). */
#include "gd_apikey.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gd_hex.h"
#include "gd_status.h"

#define PRESIGN_LABEL "godfs-presign-v1\n"
#define BEARER_LABEL "godfs-apikey-bearer-v1"

/* Decimal digits s[0..n) as a non-zero u64 without leading zero. */
static int parse_dec(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || s[0] == '0')
		return GD_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return GD_EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return GD_EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void gd_apikey_bearer_secret(const uint8_t token_secret[GD_KEY_LEN], uint8_t out[GD_KEY_LEN])
{
	struct iovec iov = { (void *)BEARER_LABEL, sizeof(BEARER_LABEL) - 1 };
	uint8_t b[GD_MAC_LEN];

	gd_hmac(token_secret, GD_KEY_LEN, &iov, 1, b);   /* out may be token_secret */
	memcpy(out, b, GD_KEY_LEN);
	memset(b, 0, sizeof(b));
}

int gd_apikey_format(uint64_t id, const uint8_t secret[GD_KEY_LEN], char *out, size_t len)
{
	char hex[2 * GD_KEY_LEN + 1];
	int n;

	if (id == 0 || !out || len < GD_APIKEY_STR_MAX)
		return GD_EINVAL;
	gd_hex_encode(secret, GD_KEY_LEN, hex);
	n = snprintf(out, len, GD_APIKEY_PREFIX "%" PRIu64 "_%s", id, hex);
	memset(hex, 0, sizeof(hex));
	return n > 0 && (size_t)n < len ? 0 : GD_EINVAL;
}

int gd_apikey_parse(const char *s, size_t len, struct gd_apikey *out)
{
	const size_t plen = sizeof(GD_APIKEY_PREFIX) - 1;
	size_t n, digits;
	struct gd_apikey k;

	if (!s || !out)
		return GD_EINVAL;
	n = strnlen(s, len < GD_APIKEY_STR_MAX ? len : GD_APIKEY_STR_MAX);
	if (n < plen + 2 + 2 * GD_KEY_LEN || memcmp(s, GD_APIKEY_PREFIX, plen) != 0)
		return GD_EINVAL;
	/* the id runs to the one '_' that leaves exactly 64 characters */
	digits = n - plen - 1 - 2 * GD_KEY_LEN;
	if (s[plen + digits] != '_' || parse_dec(s + plen, digits, &k.id) != 0 ||
	    gd_hex_decode(s + plen + digits + 1, 2 * GD_KEY_LEN, k.secret, GD_KEY_LEN) != 0) {
		memset(&k, 0, sizeof(k));
		return GD_EINVAL;
	}
	*out = k;
	memset(&k, 0, sizeof(k));
	return 0;
}

int gd_apikey_verify(const struct gd_keyring *kr, const struct gd_token *t,
		     const uint8_t secret[GD_KEY_LEN], int *key_index)
{
	int match = 0, which = 0;

	if (!kr || !t || !secret)
		return GD_EAUTH;
	for (int i = 0; i < kr->n && i < GD_KEYRING_MAX; i++) {
		struct gd_token d = *t;
		uint8_t b[GD_KEY_LEN];
		int eq;

		gd_token_derive(&kr->key[i], &d);
		gd_apikey_bearer_secret(d.secret, b);
		eq = gd_mac_equal(b, secret, GD_KEY_LEN);
		/* no early exit: every key costs the same */
		which |= (eq && !match) ? i : 0;
		match |= eq;
		memset(d.secret, 0, sizeof(d.secret));
		memset(b, 0, sizeof(b));
	}
	if (key_index)
		*key_index = which;
	return match ? 0 : GD_EAUTH;
}

const char *gd_presign_method(const char *http_method)
{
	if (!http_method)
		return NULL;
	if (strcmp(http_method, "GET") == 0 || strcmp(http_method, "HEAD") == 0)
		return "GET";
	if (strcmp(http_method, "PUT") == 0)
		return "PUT";
	return NULL;
}

static int presign_mac(const uint8_t secret[GD_KEY_LEN], const char *method, const char *path,
		       uint64_t exp, uint64_t id, uint8_t mac[GD_MAC_LEN])
{
	char exp_s[24], id_s[24];
	struct iovec iov[8];
	size_t plen;

	if (!method || !path || id == 0 ||
	    (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0))
		return GD_EINVAL;
	plen = strnlen(path, GD_PRESIGN_PATH_MAX + 1);
	if (plen > GD_PRESIGN_PATH_MAX)
		return GD_EINVAL;
	snprintf(exp_s, sizeof(exp_s), "%" PRIu64, exp);
	snprintf(id_s, sizeof(id_s), "%" PRIu64, id);
	iov[0] = (struct iovec){ (void *)PRESIGN_LABEL, sizeof(PRESIGN_LABEL) - 1 };
	iov[1] = (struct iovec){ (void *)method, strlen(method) };
	iov[2] = (struct iovec){ (void *)"\n", 1 };
	iov[3] = (struct iovec){ (void *)path, plen };
	iov[4] = (struct iovec){ (void *)"\n", 1 };
	iov[5] = (struct iovec){ exp_s, strlen(exp_s) };
	iov[6] = (struct iovec){ (void *)"\n", 1 };
	iov[7] = (struct iovec){ id_s, strlen(id_s) };
	gd_hmac(secret, GD_KEY_LEN, iov, 8, mac);
	return 0;
}

int gd_presign_sign(const uint8_t secret[GD_KEY_LEN], const char *method, const char *path,
		    uint64_t exp, uint64_t id, char sig[GD_PRESIGN_SIG_HEX + 1])
{
	uint8_t mac[GD_MAC_LEN];
	int rc = presign_mac(secret, method, path, exp, id, mac);

	if (rc)
		return rc;
	gd_hex_encode(mac, GD_MAC_LEN, sig);
	return 0;
}

int gd_presign_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !out)
		return GD_EINVAL;
	return parse_dec(s, strnlen(s, 21), out);
}

int gd_presign_verify(const uint8_t secret[GD_KEY_LEN], const char *http_method,
		      const char *path, const char *q_exp, const char *q_sig, uint64_t id,
		      int64_t now, const char **why)
{
	const char *method = gd_presign_method(http_method);
	const char *other;
	uint8_t got[GD_MAC_LEN], want[GD_MAC_LEN], alt[GD_MAC_LEN];
	uint64_t exp;
	int ok, ok_other;

	*why = NULL;
	if (!method) {
		*why = "a presigned URL covers only GET, HEAD and PUT";
		return GD_EPERM;
	}
	if (!path || gd_presign_parse_u64(q_exp, &exp) != 0) {
		*why = "malformed godfs_exp";
		return GD_EAUTH;
	}
	if (!q_sig || strnlen(q_sig, GD_PRESIGN_SIG_HEX + 1) != GD_PRESIGN_SIG_HEX ||
	    gd_hex_decode(q_sig, 2 * GD_MAC_LEN, got, GD_MAC_LEN) != 0) {
		*why = "malformed godfs_sig (64 hex digits)";
		return GD_EAUTH;
	}
	other = strcmp(method, "GET") == 0 ? "PUT" : "GET";
	if (presign_mac(secret, method, path, exp, id, want) != 0 ||
	    presign_mac(secret, other, path, exp, id, alt) != 0) {
		*why = "path too long to be signed";
		return GD_EAUTH;
	}
	ok = gd_mac_equal(got, want, GD_MAC_LEN);
	ok_other = gd_mac_equal(got, alt, GD_MAC_LEN);
	memset(want, 0, sizeof(want));
	memset(alt, 0, sizeof(alt));
	if (!ok && ok_other) {
		*why = "the URL is signed for another method";
		return GD_EPERM;
	}
	if (!ok) {
		*why = "bad signature";
		return GD_EAUTH;
	}
	/* Checked after the signature so that a forged expiry learns nothing. */
	if (now < 0 || exp <= (uint64_t)now) {
		*why = "the presigned URL has expired";
		return GD_EAUTH;
	}
	if (exp - (uint64_t)now > GD_PRESIGN_MAX_SEC) {
		*why = "the presigned URL expires more than 7 days ahead";
		return GD_EAUTH;
	}
	return 0;
}

/* RFC 3986 unreserved characters, and '/' which a path keeps as it is. */
static int keep(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

int gd_presign_query(const char *path, uint64_t id, uint64_t exp, const char *sig, char *out,
		     size_t len)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;
	int n;

	if (!path || !sig || !out)
		return GD_EINVAL;
	if (len < 6)
		return GD_ERANGE;
	memcpy(out, "path=", 5);
	o = 5;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (o + 4 > len)
			return GD_ERANGE;
		if (keep(*p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = digits[*p >> 4];
			out[o++] = digits[*p & 15];
		}
	}
	n = snprintf(out + o, len - o, "&godfs_key=%" PRIu64 "&godfs_exp=%" PRIu64 "&godfs_sig=%s",
		     id, exp, sig);
	if (n < 0 || (size_t)n >= len - o)
		return GD_ERANGE;
	return (int)(o + (size_t)n);
}
