/* Chunk capabilities: short-lived permissions that the meta signs and every
 * chunkd checks (docs/security.md, "Chunk capabilities").
 *
 * A chunkd does not know files, owners or sessions; it only knows chunk ids,
 * which are sequential and easy to guess. So the meta, which decided that a
 * client may read or write a file, hands the client a capability with each
 * chunk location or write lease: "the bearer may READ (and WRITE...) chunk C
 * at version V until time T", with a MAC under a subkey of the cluster key
 * (gd_key_derive(key, "cap-v1")). A chunkd holding the same key ring checks it
 * on every CS_* request before it touches the disk.
 *
 * The capability is GD_CAP_LEN bytes in a fixed big-endian layout (never
 * protobuf bytes, so that the MAC does not depend on an encoder):
 *
 *   0  u32 format (1)        4  u32 rights (GD_CAP_*)
 *   8  u64 chunk id         16  u64 version
 *  24  u64 expiry (CLOCK_REALTIME, ms since the epoch)
 *  32  key id (8 bytes)     40  MAC: HMAC-SHA256(subkey, bytes 0..40), first 16 bytes
 *
 * The key id names the key of the ring that signed it: a chunkd checks with
 * that key, whichever line of its key file it is on, so a key rotation (new
 * key added everywhere, then moved first, then the old one removed) never
 * invalidates the capabilities in flight.
 *
 * Expiry uses wall clocks: the meta's when signing, the chunkd's when
 * checking. The check allows a skew (GD_CAP_SKEW_MS unless configured):
 * nodes need NTP. Clients never compare the expiry with their own clock;
 * the meta tells them how long a capability lasts (ChunkResp.cap_ms).
 *
 * Functions are thread-safe (no shared state). */
#ifndef GD_CAP_H
#define GD_CAP_H

#include "gd_auth.h"

#include <stddef.h>
#include <stdint.h>

#define GD_CAP_LEN 56
#define GD_CAP_FORMAT 1u
#define GD_CAP_MAC_LEN 16

/* Rights. */
#define GD_CAP_READ      0x1u   /* CS_READ */
#define GD_CAP_WRITE     0x2u   /* CS_WRITE, CS_FSYNC, CS_TRUNCATE */
#define GD_CAP_DELETE    0x4u   /* CS_DELETE */
#define GD_CAP_REPLICATE 0x8u   /* CS_REPLICATE (the cap goes on to the source: add READ) */
#define GD_CAP_ALL       0xfu

/* Clock skew a chunkd allows between its clock and the meta's by default. */
#define GD_CAP_SKEW_MS 30000u
/* A capability that expires further than this (plus the skew) in the future
 * is refused: no meta signs one, so it comes from a clock far off. */
#define GD_CAP_MAX_LIFETIME_MS (24u * 3600u * 1000u)

/* The fields of a capability. */
struct gd_cap {
	uint64_t chunk_id;
	uint64_t version;
	uint32_t rights;        /* GD_CAP_* */
	uint64_t expires_ms;    /* CLOCK_REALTIME milliseconds */
	uint8_t key_id[GD_KEY_ID_LEN];  /* filled by gd_cap_sign */
};

/* CLOCK_REALTIME in milliseconds. */
uint64_t gd_cap_now_ms(void);

/* Signs cap with the ring's first key into out (cap->key_id is set).
 * GD_EINVAL when the ring is NULL or empty. */
int gd_cap_sign(const struct gd_keyring *kr, struct gd_cap *cap, uint8_t out[GD_CAP_LEN]);

/* Reads the fields of a capability without checking its MAC (tools, logs).
 * GD_EINVAL when len or the format is wrong. */
int gd_cap_parse(const uint8_t *buf, size_t len, struct gd_cap *out);

/* Whether buf (len bytes, from the network) is a capability signed by a key of
 * kr for chunk_id at version with every right of need, not expired at now_ms
 * (wall clock) give or take skew_ms. 0 when it is; GD_ECAP otherwise, with
 * *why saying which test failed (a static string, for the log line). */
int gd_cap_check(const struct gd_keyring *kr, const uint8_t *buf, size_t len,
		 uint64_t chunk_id, uint64_t version, uint32_t need, uint64_t now_ms,
		 uint64_t skew_ms, const char **why);

/* "read,write" etc. for logs and tools; buf of at least 40 bytes. */
const char *gd_cap_rights_str(uint32_t rights, char *buf, size_t len);

#endif
