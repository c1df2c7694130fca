/* Fuzz target for the hello a meta reads on a Raft connection after the
 * handshake (meta/meta_raft_hello.c): the fixed part, then as many address
 * bytes as it says, as the transport and its TLS threads read them.
 *
 * Checked: no crash or undefined behaviour; an accepted hello has a raft id
 * other than 0 and an address of 1..255 bytes without a NUL, and encodes back
 * to the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_raft_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_raft_hello: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t h[META_RAFT_HELLO_MAX], again[META_RAFT_HELLO_MAX];
	char why[128];
	uint64_t id;
	size_t len;

	if (size < META_RAFT_HELLO_HDR_LEN)
		return 0;
	memset(h, 0, sizeof(h));
	memcpy(h, data, size < sizeof(h) - 1 ? size : sizeof(h) - 1);
	if (meta_raft_hello_hdr(h, &id, &len, why, sizeof(why)) < 0)
		return 0;
	FUZZ_CHECK(id != 0 && len >= 1 && len <= META_RAFT_ADDR_MAX);
	/* the transport reads exactly len more bytes; short input: not all came */
	if (size < META_RAFT_HELLO_HDR_LEN + len)
		return 0;
	if (meta_raft_hello_addr(h, len, why, sizeof(why)) < 0)
		return 0;
	FUZZ_CHECK(strlen((const char *)h + META_RAFT_HELLO_HDR_LEN) == len);
	FUZZ_CHECK(meta_raft_hello_encode(again, id, (const char *)h + META_RAFT_HELLO_HDR_LEN) ==
		   META_RAFT_HELLO_HDR_LEN + len);
	FUZZ_CHECK(memcmp(again, data, META_RAFT_HELLO_HDR_LEN + len) == 0);
	return 0;
}
