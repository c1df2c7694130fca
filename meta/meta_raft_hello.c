/* The Raft hello (meta_raft_hello.h). */
#include "meta_raft_hello.h"
#include "gd_status.h"

#include <stdio.h>
#include <string.h>

static const uint8_t MAGIC[4] = { 'G', 'D', 'R', '1' };

size_t meta_raft_hello_encode(uint8_t *out, uint64_t id, const char *address)
{
	size_t alen = address ? strlen(address) : 0;

	if (alen == 0 || alen > META_RAFT_ADDR_MAX)
		return 0;
	memcpy(out, MAGIC, sizeof(MAGIC));
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(id >> (56 - 8 * i));
	out[12] = (uint8_t)(alen >> 8);
	out[13] = (uint8_t)alen;
	memcpy(out + META_RAFT_HELLO_HDR_LEN, address, alen);
	return META_RAFT_HELLO_HDR_LEN + alen;
}

int meta_raft_hello_hdr(const uint8_t *h, uint64_t *id, size_t *len, char *why, size_t whylen)
{
	uint64_t v = 0;
	unsigned n = (unsigned)h[12] << 8 | h[13];

	for (int i = 0; i < 8; i++)
		v = v << 8 | h[4 + i];
	if (memcmp(h, MAGIC, sizeof(MAGIC)) != 0) {
		snprintf(why, whylen, "not a godfs Raft hello after the handshake");
		return GD_EPROTO;
	}
	if (v == 0 || n == 0 || n > META_RAFT_ADDR_MAX) {
		snprintf(why, whylen, "bad hello: raft id %llu, address of %u bytes (1..%d)",
			 (unsigned long long)v, n, META_RAFT_ADDR_MAX);
		return GD_EPROTO;
	}
	*id = v;
	*len = n;
	return 0;
}

int meta_raft_hello_addr(uint8_t *h, size_t len, char *why, size_t whylen)
{
	char *addr = (char *)h + META_RAFT_HELLO_HDR_LEN;

	if (len == 0 || len > META_RAFT_ADDR_MAX) {
		snprintf(why, whylen, "bad hello: address of %zu bytes", len);
		return GD_EPROTO;
	}
	if (memchr(addr, '\0', len) != NULL) {
		snprintf(why, whylen, "bad hello: a NUL byte in the address");
		return GD_EPROTO;
	}
	addr[len] = '\0';
	return 0;
}
