/* The frame header codec: round trips and every way a header can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gd_frame.h"
#include "gd_net.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <string.h>

static struct gd_frame_hdr good(void)
{
	struct gd_frame_hdr h = {
		.magic_version = GD_FRAME_MAGIC_VERSION,
		.kind = GD_KIND_REQUEST,
		.method = GODFS__METHOD__M_CS_WRITE,
		.request_id = 0x0102030405060708ull,
		.pb_len = 123,
		.data_len = 1u << 20,
	};
	return h;
}

/* Encodes h and expects the decoder to refuse it with a reason. */
static void expect_proto(const struct gd_frame_hdr *h, const char *reason_part)
{
	uint8_t buf[GD_FRAME_HDR_LEN];
	struct gd_frame_hdr out;
	const char *why = NULL;

	gd_frame_encode_hdr(h, buf);
	memset(&out, 0x77, sizeof(out));
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, &why), GD_EPROTO);
	assert_non_null(why);
	assert_non_null(strstr(why, reason_part));
	/* A NULL why is allowed too. */
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), GD_EPROTO);
}

static void test_round_trip(void **state)
{
	struct gd_frame_hdr h = good(), out;
	uint8_t buf[GD_FRAME_HDR_LEN];
	const char *why = NULL;

	gd_frame_encode_hdr(&h, buf);
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, &why), 0);
	assert_null(why);
	assert_memory_equal(&h, &out, sizeof(h));

	/* The limits themselves are allowed, as are empty parts. */
	h.pb_len = GD_FRAME_MAX_PB;
	h.data_len = GD_FRAME_MAX_DATA;
	h.kind = GD_KIND_PUSH;
	h.method = GODFS__PUSH__P_LOCK_GRANTED;   /* a push carries a Push */
	gd_frame_encode_hdr(&h, buf);
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), 0);
	assert_int_equal(out.pb_len, GD_FRAME_MAX_PB);
	assert_int_equal(out.data_len, GD_FRAME_MAX_DATA);
	h.pb_len = 0;
	h.data_len = 0;
	h.kind = GD_KIND_RESPONSE;
	gd_frame_encode_hdr(&h, buf);
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), 0);
	assert_int_equal(out.kind, GD_KIND_RESPONSE);
}

static void test_wire_order(void **state)
{
	struct gd_frame_hdr h = good();
	uint8_t buf[GD_FRAME_HDR_LEN];
	static const uint8_t want[GD_FRAME_HDR_LEN] = {
		0x01, 0x46, 0x44, 0x47,                         /* "GDF" + version 1, LE */
		0x01, 0x00,                                     /* kind */
		100, 0x00,                                      /* M_CS_WRITE */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* request id */
		123, 0x00, 0x00, 0x00,                          /* pb_len */
		0x00, 0x00, 0x10, 0x00,                         /* data_len 1 MiB */
	};

	gd_frame_encode_hdr(&h, buf);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_truncated(void **state)
{
	struct gd_frame_hdr h = good(), out;
	uint8_t buf[GD_FRAME_HDR_LEN];

	gd_frame_encode_hdr(&h, buf);
	for (size_t n = 0; n < GD_FRAME_HDR_LEN; n++)
		assert_int_equal(gd_frame_decode_hdr(buf, n, &out, NULL), GD_EAGAIN);
}

static void test_bad_magic(void **state)
{
	struct gd_frame_hdr h = good();

	h.magic_version = 0x12345601u;
	expect_proto(&h, "magic");
	h.magic_version = 0;
	expect_proto(&h, "magic");
}

static void test_bad_version(void **state)
{
	struct gd_frame_hdr h = good();

	h.magic_version = GD_FRAME_MAGIC | (GD_PROTOCOL_VERSION + 1);
	expect_proto(&h, "version");
	h.magic_version = GD_FRAME_MAGIC;
	expect_proto(&h, "version");
}

static void test_bad_kind(void **state)
{
	struct gd_frame_hdr h = good();

	h.kind = 0;
	expect_proto(&h, "kind");
	h.kind = 4;
	expect_proto(&h, "kind");
	h.kind = 0xffff;
	expect_proto(&h, "kind");
}

static void test_unknown_method(void **state)
{
	struct gd_frame_hdr h = good();

	h.method = GODFS__METHOD__M_NONE;
	expect_proto(&h, "method");
	h.method = 9;
	expect_proto(&h, "method");
	h.method = 0xffff;
	expect_proto(&h, "method");
}

static void test_lengths(void **state)
{
	struct gd_frame_hdr h = good();

	h.pb_len = GD_FRAME_MAX_PB + 1;
	expect_proto(&h, "protobuf");
	h.pb_len = 0xffffffffu;
	expect_proto(&h, "protobuf");
	h = good();
	h.data_len = GD_FRAME_MAX_DATA + 1;
	expect_proto(&h, "data");
	h.data_len = 0xffffffffu;
	expect_proto(&h, "data");
}

/* A refused or incomplete header leaves *hdr as it was. */
static void test_no_write_on_failure(void **state)
{
	struct gd_frame_hdr h = good(), out, before;
	uint8_t buf[GD_FRAME_HDR_LEN];

	gd_frame_encode_hdr(&h, buf);
	memset(&before, 0x5a, sizeof(before));
	out = before;
	assert_int_equal(gd_frame_decode_hdr(buf, GD_FRAME_HDR_LEN - 1, &out, NULL), GD_EAGAIN);
	assert_memory_equal(&out, &before, sizeof(out));
	buf[0] ^= 0xff;
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), GD_EPROTO);
	assert_memory_equal(&out, &before, sizeof(out));
	assert_int_equal(gd_frame_decode_hdr(NULL, 0, &out, NULL), GD_EAGAIN);
}

/* The decoder reads the first 24 bytes of a longer buffer, at any alignment. */
static void test_longer_and_unaligned(void **state)
{
	struct gd_frame_hdr h = good(), out;
	uint8_t buf[GD_FRAME_HDR_LEN + 64];

	for (size_t shift = 0; shift < 8; shift++) {
		memset(buf, 0xee, sizeof(buf));
		gd_frame_encode_hdr(&h, buf + shift);
		assert_int_equal(gd_frame_decode_hdr(buf + shift, sizeof(buf) - shift, &out, NULL), 0);
		assert_memory_equal(&out, &h, sizeof(h));
	}
}

/* Every method in both directions, and the extremes of the request id. */
static void test_every_method_and_id(void **state)
{
	const ProtobufCEnumDescriptor *d = &godfs__method__descriptor;
	static const uint64_t ids[] = { 0, 1, 0xffffffffull, 0x100000000ull, UINT64_MAX };
	uint8_t buf[GD_FRAME_HDR_LEN];

	for (unsigned i = 0; i < d->n_values; i++) {
		for (uint16_t kind = GD_KIND_REQUEST; kind <= GD_KIND_RESPONSE; kind++) {
			struct gd_frame_hdr h = good(), out;
			h.method = (uint16_t)d->values[i].value;
			h.kind = kind;
			h.request_id = ids[(i + kind) % (sizeof(ids) / sizeof(ids[0]))];
			gd_frame_encode_hdr(&h, buf);
			if (h.method == GODFS__METHOD__M_NONE) {
				assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL),
						 GD_EPROTO);
				continue;
			}
			assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), 0);
			assert_memory_equal(&out, &h, sizeof(h));
		}
	}
	/* a PUSH frame carries a wire.proto Push: every one decodes, P_NONE and
	 * a number past the enum do not */
	for (unsigned i = 0; i < godfs__push__descriptor.n_values; i++) {
		struct gd_frame_hdr h = good(), out;
		h.kind = GD_KIND_PUSH;
		h.request_id = 0;
		h.method = (uint16_t)godfs__push__descriptor.values[i].value;
		gd_frame_encode_hdr(&h, buf);
		assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL),
				 h.method == GODFS__PUSH__P_NONE ? GD_EPROTO : 0);
		h.method = 999;
		gd_frame_encode_hdr(&h, buf);
		assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), GD_EPROTO);
	}
}

/* Several faults at once: the first in header order is the one reported. */
static void test_first_fault_reported(void **state)
{
	struct gd_frame_hdr h = good();

	h.magic_version = 0xdeadbeefu;
	h.kind = 0;
	h.method = 0;
	h.pb_len = 0xffffffffu;
	expect_proto(&h, "magic");
	h.magic_version = GD_FRAME_MAGIC_VERSION;
	expect_proto(&h, "kind");
	h.kind = GD_KIND_REQUEST;
	expect_proto(&h, "method");
	h.method = GODFS__METHOD__M_PING;
	expect_proto(&h, "protobuf");
}

/* What arrives from something that is not a godfs peer, and random headers:
 * refused with a reason, or accepted only within every bound. */
static void test_garbage_headers(void **state)
{
	static const char *const texts[] = {
		"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS client hello....",
	};
	uint8_t buf[GD_FRAME_HDR_LEN];
	uint64_t x = 0x2545f4914f6cdd1dull;
	struct gd_frame_hdr out;
	const char *why;
	unsigned accepted = 0;

	memset(buf, 0, sizeof(buf));
	why = NULL;
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, &why), GD_EPROTO);
	assert_non_null(why);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(gd_frame_decode_hdr(buf, sizeof(buf), &out, NULL), GD_EPROTO);
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		why = NULL;
		/* each text has at least a header's worth of bytes (some are NUL) */
		assert_int_equal(gd_frame_decode_hdr((const uint8_t *)texts[t], GD_FRAME_HDR_LEN,
						     &out, &why), GD_EPROTO);
		assert_non_null(strstr(why, "magic"));
	}
	/* random headers, half of them with the right magic */
	for (unsigned i = 0; i < 100000; i++) {
		int rc;
		for (size_t k = 0; k < sizeof(buf); k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[k] = (uint8_t)x;
		}
		if (i % 2) {
			struct gd_frame_hdr g = good();
			uint8_t m[GD_FRAME_HDR_LEN];
			gd_frame_encode_hdr(&g, m);
			memcpy(buf, m, 4);
			if (i % 4 == 1) {
				buf[4] = (uint8_t)(1 + i % 3); /* a valid kind */
				buf[5] = 0;
			}
		}
		why = NULL;
		rc = gd_frame_decode_hdr(buf, sizeof(buf), &out, &why);
		if (rc == 0) {
			accepted++;
			assert_null(why);
			assert_true(out.pb_len <= GD_FRAME_MAX_PB);
			assert_true(out.data_len <= GD_FRAME_MAX_DATA);
			assert_true(gd_frame_method_known(out.method));
		} else {
			assert_int_equal(rc, GD_EPROTO);
			assert_non_null(why);
		}
	}
	/* random lengths are almost never in bounds: very few get through */
	assert_true(accepted < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wire_order),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_kind),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_no_write_on_failure),
		cmocka_unit_test(test_longer_and_unaligned),
		cmocka_unit_test(test_every_method_and_id),
		cmocka_unit_test(test_first_fault_reported),
		cmocka_unit_test(test_garbage_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
