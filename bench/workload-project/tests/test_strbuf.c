#include "check.h"
#include "strbuf.h"
#include <string.h>

int main(void)
{
	struct strbuf sb;

	strbuf_init(&sb);
	CHECK(sb.buf && sb.buf[0] == 0);
	CHECK(strbuf_adds(&sb, "abc") == 0);
	CHECK(strbuf_addf(&sb, "-%d-%s", 42, "x") == 0);
	CHECK(!strcmp(sb.buf, "abc-42-x") && sb.len == 8);
	for (int i = 0; i < 1000; i++)
		strbuf_add(&sb, "0123456789", 10);
	CHECK(sb.len == 10008 && sb.buf[10008] == 0);
	strbuf_reset(&sb);
	CHECK(sb.len == 0 && sb.buf[0] == 0);
	strbuf_release(&sb);
	CHECK_DONE();
}
