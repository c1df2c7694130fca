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

/* Every known method has both messages in the table gd_server validates with. */
static void test_method_table(void **state)
{
	const ProtobufCEnumDescriptor *d = &godfs__method__descriptor;

	for (unsigned i = 0; i < d->n_values; i++) {
		uint16_t m = (uint16_t)d->values[i].value;

		if (m == GODFS__METHOD__M_NONE) {
			assert_null(gd_net_method_req_desc(m));
			continue;
		}
		assert_true(gd_frame_method_known(m));
		assert_non_null(gd_net_method_req_desc(m));
		assert_non_null(gd_net_method_resp_desc(m));
		/* Every response can carry a status. */
		assert_non_null(protobuf_c_message_descriptor_get_field_by_name(
			gd_net_method_resp_desc(m), "status"));
	}
	assert_null(gd_net_method_req_desc(9999));
	assert_ptr_equal(gd_net_method_req_desc(GODFS__METHOD__M_HELLO), &godfs__hello__descriptor);
	assert_ptr_equal(gd_net_method_resp_desc(GODFS__METHOD__M_CS_READ),
			 &godfs__cs_read_resp__descriptor);
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
		cmocka_unit_test(test_method_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
