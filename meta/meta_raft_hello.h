/* The hello a meta sends on a Raft connection after the handshake (and,
 * with --tls, inside TLS): who it is, so that raft's accept callback gets a
 * raft id and an address.
 *
 *   "GDR1" | raft id u64 (big-endian, not 0) | address length u16 (1..255) |
 *   address bytes (no NUL)
 *
 * Pure functions, no state: the loop and the TLS threads call them. Only key
 * holders get this far, but the lengths are bounded all the same. */
#ifndef META_RAFT_HELLO_H
#define META_RAFT_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define META_RAFT_HELLO_HDR_LEN 14u      /* magic 4, raft id 8, address length 2 */
#define META_RAFT_ADDR_MAX 255           /* longest raft address in a hello */
#define META_RAFT_HELLO_MAX (META_RAFT_HELLO_HDR_LEN + META_RAFT_ADDR_MAX + 1)

/* Writes the hello of (id, address) into out (META_RAFT_HELLO_MAX bytes);
 * returns its length, or 0 when the address is empty or too long. */
size_t meta_raft_hello_encode(uint8_t *out, uint64_t id, const char *address);
/* The fixed part h (META_RAFT_HELLO_HDR_LEN bytes): 0, *id and *len (the
 * address's length), or GD_EPROTO with why. */
int meta_raft_hello_hdr(const uint8_t *h, uint64_t *id, size_t *len, char *why, size_t whylen);
/* The address: len bytes after the fixed part of h, which has room for one
 * more byte: 0 and the NUL added, or GD_EPROTO (a NUL inside) with why. */
int meta_raft_hello_addr(uint8_t *h, size_t len, char *why, size_t whylen);

#endif
