/* gd_hex: bytes round-trip through lower-case hex; decoding takes either case
 * and refuses a wrong length or any character that is not a hex digit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "gd_hex.h"
#include "gd_status.h"

static void test_digit(void **state)
{
	(void)state;
	assert_int_equal(gd_hex_digit('0'), 0);
	assert_int_equal(gd_hex_digit('9'), 9);
	assert_int_equal(gd_hex_digit('a'), 10);
	assert_int_equal(gd_hex_digit('F'), 15);
	assert_int_equal(gd_hex_digit('g'), -1);
	assert_int_equal(gd_hex_digit('G'), -1);
	assert_int_equal(gd_hex_digit('/'), -1);
	assert_int_equal(gd_hex_digit(':'), -1);
	assert_int_equal(gd_hex_digit('\0'), -1);
	assert_int_equal(gd_hex_digit((char)0xb0), -1);
}

static void test_round_trip(void **state)
{
	uint8_t in[256], out[256];
	char hex[2 * sizeof(in) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	gd_hex_encode(in, sizeof(in), hex);
	assert_int_equal(strlen(hex), 2 * sizeof(in));
	assert_memory_equal(hex, "000102", 6);
	assert_string_equal(hex + 2 * 250, "fafbfcfdfeff");
	assert_int_equal(gd_hex_decode(hex, strlen(hex), out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));

	gd_hex_encode(in, 0, hex);
	assert_string_equal(hex, "");
}

static void test_decode(void **state)
{
	uint8_t b[4];

	(void)state;
	assert_int_equal(gd_hex_decode("DeadBEEF", 8, b, 4), 0);
	assert_memory_equal(b, "\xde\xad\xbe\xef", 4);
	/* the length must be exactly 2 * n; s need not end at slen */
	assert_int_equal(gd_hex_decode("deadbeef00", 8, b, 4), 0);
	assert_int_equal(gd_hex_decode("deadbee", 7, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("deadbeef0", 9, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("deadbeef00", 10, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("deadbeef", 8, b, 3), GD_EINVAL);
	assert_int_equal(gd_hex_decode("deadbeef", (size_t)-1, b, 4), GD_EINVAL);
	/* a non-digit anywhere, a sign, a space, an embedded NUL */
	assert_int_equal(gd_hex_decode("deadbeeg", 8, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("+eadbeef", 8, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("dead beef", 8, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("dead\0eef", 8, b, 4), GD_EINVAL);
	assert_int_equal(gd_hex_decode("", 0, b, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digit),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
