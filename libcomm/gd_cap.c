/* Chunk capabilities: signing and checking (see gd_cap.h for the layout). */
#include "gd_cap.h"

#include "gd_status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define OFF_FORMAT 0
#define OFF_RIGHTS 4
#define OFF_CHUNK 8
#define OFF_VERSION 16
#define OFF_EXPIRES 24
#define OFF_KEY_ID 32
#define OFF_MAC 40
#define SIGNED_LEN OFF_MAC

static const char CAP_LABEL[] = "cap-v1";

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

uint64_t gd_cap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The truncated MAC of the signed part of buf under key's capability subkey. */
static void cap_mac(const struct gd_key *key, const uint8_t *buf, uint8_t mac[GD_CAP_MAC_LEN])
{
	uint8_t sub[GD_KEY_LEN], full[GD_MAC_LEN];
	struct iovec iov = { (void *)buf, SIGNED_LEN };

	gd_key_derive(key, CAP_LABEL, sub);
	gd_hmac(sub, sizeof(sub), &iov, 1, full);
	memcpy(mac, full, GD_CAP_MAC_LEN);
	memset(sub, 0, sizeof(sub));
}

int gd_cap_sign(const struct gd_keyring *kr, struct gd_cap *cap, uint8_t out[GD_CAP_LEN])
{
	if (!kr || kr->n < 1)
		return GD_EINVAL;
	memcpy(cap->key_id, kr->key[0].id, GD_KEY_ID_LEN);
	put32(out + OFF_FORMAT, GD_CAP_FORMAT);
	put32(out + OFF_RIGHTS, cap->rights);
	put64(out + OFF_CHUNK, cap->chunk_id);
	put64(out + OFF_VERSION, cap->version);
	put64(out + OFF_EXPIRES, cap->expires_ms);
	memcpy(out + OFF_KEY_ID, cap->key_id, GD_KEY_ID_LEN);
	cap_mac(&kr->key[0], out, out + OFF_MAC);
	return 0;
}

int gd_cap_parse(const uint8_t *buf, size_t len, struct gd_cap *out)
{
	if (!buf || len != GD_CAP_LEN || get32(buf + OFF_FORMAT) != GD_CAP_FORMAT)
		return GD_EINVAL;
	out->rights = get32(buf + OFF_RIGHTS);
	out->chunk_id = get64(buf + OFF_CHUNK);
	out->version = get64(buf + OFF_VERSION);
	out->expires_ms = get64(buf + OFF_EXPIRES);
	memcpy(out->key_id, buf + OFF_KEY_ID, GD_KEY_ID_LEN);
	return 0;
}

int gd_cap_check(const struct gd_keyring *kr, const uint8_t *buf, size_t len,
		 uint64_t chunk_id, uint64_t version, uint32_t need, uint64_t now_ms,
		 uint64_t skew_ms, const char **why)
{
	const struct gd_key *key;
	uint8_t mac[GD_CAP_MAC_LEN];
	struct gd_cap cap;
	const char *w = NULL;

	if (!buf || len == 0)
		w = "no capability";
	else if (gd_cap_parse(buf, len, &cap) != 0)
		w = "malformed capability";
	else if (!kr || !(key = gd_keyring_find(kr, cap.key_id)))
		w = "capability signed by an unknown key";
	else if (cap_mac(key, buf, mac), !gd_mac_equal(mac, buf + OFF_MAC, GD_CAP_MAC_LEN))
		w = "capability MAC does not match";
	/* The fields are trusted from here on. */
	else if (cap.chunk_id != chunk_id)
		w = "capability for another chunk";
	else if (cap.version != version)
		w = "capability for another version";
	else if ((cap.rights & need) != need)
		w = "capability lacks the right";
	else if (cap.expires_ms + skew_ms < now_ms)
		w = "capability expired";
	else if (cap.expires_ms > now_ms + skew_ms + GD_CAP_MAX_LIFETIME_MS)
		w = "capability expires too far in the future";
	if (why)
		*why = w ? w : "ok";
	return w ? GD_ECAP : 0;
}

const char *gd_cap_rights_str(uint32_t rights, char *buf, size_t len)
{
	static const char *const names[] = { "read", "write", "delete", "replicate" };
	size_t used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned i = 0; i < 4; i++) {
		if (!(rights & (1u << i)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", names[i]);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, len, "none");
	return buf;
}
