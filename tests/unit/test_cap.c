/* gd_cap: a capability signed with the ring's first key passes for its own
 * chunk, version and rights until it expires (give or take the skew); another
 * chunk or version, a missing right, an expired one, any altered byte, an
 * unknown key, and a malformed one are refused; a rotated ring (the signing
 * key moved to the second line) still accepts it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_cap.h"
#include "gd_status.h"

#include <string.h>

#define CHUNK 0x1234u
#define CVERSION 7u
#define NOW 1700000000000ull
#define SKEW 30000u

static void ring_new(struct gd_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->n = 1;
	assert_int_equal(gd_random(kr->key[0].key, GD_KEY_LEN), 0);
	gd_key_set_id(&kr->key[0]);
}

static void sign(const struct gd_keyring *kr, uint32_t rights, uint64_t expires,
		 uint8_t out[GD_CAP_LEN])
{
	struct gd_cap cap = { .chunk_id = CHUNK, .version = CVERSION, .rights = rights,
			      .expires_ms = expires };

	assert_int_equal(gd_cap_sign(kr, &cap, out), 0);
	assert_memory_equal(cap.key_id, kr->key[0].id, GD_KEY_ID_LEN);
}

static int check(const struct gd_keyring *kr, const uint8_t *buf, size_t len, uint64_t chunk,
		 uint64_t version, uint32_t need, uint64_t now, const char **why)
{
	return gd_cap_check(kr, buf, len, chunk, version, need, now, SKEW, why);
}

static void test_good_cap(void **state)
{
	struct gd_keyring kr;
	uint8_t cap[GD_CAP_LEN];
	struct gd_cap f;
	const char *why = NULL;

	(void)state;
	ring_new(&kr);
	sign(&kr, GD_CAP_READ | GD_CAP_WRITE, NOW + 60000, cap);
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why), 0);
	assert_string_equal(why, "ok");
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION,
			       GD_CAP_READ | GD_CAP_WRITE, NOW, NULL), 0);
	/* the fields read back as signed */
	assert_int_equal(gd_cap_parse(cap, sizeof(cap), &f), 0);
	assert_int_equal(f.chunk_id, CHUNK);
	assert_int_equal(f.version, CVERSION);
	assert_int_equal(f.rights, GD_CAP_READ | GD_CAP_WRITE);
	assert_int_equal(f.expires_ms, NOW + 60000);
	/* big-endian layout: the chunk id's low byte is byte 15 */
	assert_int_equal(cap[15], 0x34);
	assert_int_equal(cap[14], 0x12);
}

static void test_wrong_chunk_version_right(void **state)
{
	struct gd_keyring kr;
	uint8_t cap[GD_CAP_LEN];
	const char *why;

	(void)state;
	ring_new(&kr);
	sign(&kr, GD_CAP_READ, NOW + 60000, cap);
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK + 1, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "capability for another chunk");
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION + 1, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "capability for another version");
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION - 1, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	for (uint32_t r = GD_CAP_WRITE; r <= GD_CAP_REPLICATE; r <<= 1) {
		assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION, r, NOW, &why),
				 GD_ECAP);
		assert_string_equal(why, "capability lacks the right");
	}
	/* all of `need`, not one of them */
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION,
			       GD_CAP_READ | GD_CAP_REPLICATE, NOW, &why), GD_ECAP);
}

static void test_expiry_and_skew(void **state)
{
	struct gd_keyring kr;
	uint8_t cap[GD_CAP_LEN];
	const char *why;

	(void)state;
	ring_new(&kr);
	sign(&kr, GD_CAP_READ, NOW, cap);
	/* a chunkd clock up to SKEW ahead of the meta's still accepts it */
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ,
			       NOW + SKEW, &why), 0);
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ,
			       NOW + SKEW + 1, &why), GD_ECAP);
	assert_string_equal(why, "capability expired");
	assert_int_equal(gd_cap_check(&kr, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ,
				      NOW + 1, 0, &why), GD_ECAP);
	/* one from a clock far ahead */
	sign(&kr, GD_CAP_READ, NOW + SKEW + GD_CAP_MAX_LIFETIME_MS + 1, cap);
	assert_int_equal(check(&kr, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "capability expires too far in the future");
}

static void test_tampered(void **state)
{
	struct gd_keyring kr;
	uint8_t cap[GD_CAP_LEN], bad[GD_CAP_LEN];
	const char *why;

	(void)state;
	ring_new(&kr);
	sign(&kr, GD_CAP_READ, NOW + 60000, cap);
	/* every single bit flipped anywhere is refused (the format word and key
	 * id fail before the MAC, the rest at the MAC) */
	for (size_t i = 0; i < GD_CAP_LEN; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(bad, cap, sizeof(bad));
			bad[i] ^= (uint8_t)(1u << b);
			assert_int_equal(check(&kr, bad, sizeof(bad), CHUNK, CVERSION, 0, NOW, &why),
					 GD_ECAP);
		}
	}
	/* a right added by hand: the MAC no longer matches */
	memcpy(bad, cap, sizeof(bad));
	bad[7] |= GD_CAP_WRITE;
	assert_int_equal(check(&kr, bad, sizeof(bad), CHUNK, CVERSION, GD_CAP_WRITE, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "capability MAC does not match");
	/* absent, short, long */
	assert_int_equal(check(&kr, NULL, 0, CHUNK, CVERSION, GD_CAP_READ, NOW, &why), GD_ECAP);
	assert_string_equal(why, "no capability");
	assert_int_equal(check(&kr, cap, GD_CAP_LEN - 1, CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "malformed capability");
	assert_int_equal(check(NULL, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
}

static void test_unknown_key_and_rotation(void **state)
{
	struct gd_keyring a, b, rotated;
	uint8_t cap[GD_CAP_LEN];
	const char *why;

	(void)state;
	ring_new(&a);
	ring_new(&b);
	sign(&a, GD_CAP_READ, NOW + 60000, cap);
	assert_int_equal(check(&b, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "capability signed by an unknown key");
	/* same key id, other key bytes: the MAC fails */
	b.key[0] = a.key[0];
	b.key[0].key[0] ^= 1;
	assert_int_equal(check(&b, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	assert_string_equal(why, "capability MAC does not match");

	/* rotation: the new key first, the old one second; a cap signed with
	 * the old key is still good, and one signed now uses the new key */
	ring_new(&rotated);
	rotated.key[1] = a.key[0];
	rotated.n = 2;
	assert_int_equal(check(&rotated, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 0);
	sign(&rotated, GD_CAP_READ, NOW + 60000, cap);
	assert_int_equal(check(&rotated, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 0);
	/* a node that has not got the new key yet refuses it */
	assert_int_equal(check(&a, cap, sizeof(cap), CHUNK, CVERSION, GD_CAP_READ, NOW, &why),
			 GD_ECAP);
	/* an empty ring signs nothing */
	struct gd_keyring empty = { .n = 0 };
	struct gd_cap f = { .chunk_id = 1 };
	assert_int_equal(gd_cap_sign(&empty, &f, cap), GD_EINVAL);
	assert_int_equal(gd_cap_sign(NULL, &f, cap), GD_EINVAL);
}

static void test_rights_str(void **state)
{
	char buf[40];

	(void)state;
	assert_string_equal(gd_cap_rights_str(GD_CAP_READ | GD_CAP_REPLICATE, buf, sizeof(buf)),
			    "read,replicate");
	assert_string_equal(gd_cap_rights_str(0, buf, sizeof(buf)), "none");
	assert_string_equal(gd_cap_rights_str(GD_CAP_ALL, buf, sizeof(buf)),
			    "read,write,delete,replicate");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_cap),
		cmocka_unit_test(test_wrong_chunk_version_right),
		cmocka_unit_test(test_expiry_and_skew),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_unknown_key_and_rotation),
		cmocka_unit_test(test_rights_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
