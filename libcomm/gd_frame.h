/* The frame of DESIGN.md section 2: a fixed 24-byte little-endian header, then
 * pb_len bytes of a protobuf-c message, then data_len bytes of raw bulk data.
 *
 *   u32 magic_version | u16 kind | u16 method | u64 request_id | u32 pb_len | u32 data_len
 *
 * The decoder is a pure function: it reads bytes and says whether they are a
 * valid header, with every length bounded before anybody allocates. */
#ifndef GD_FRAME_H
#define GD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GD_PROTOCOL_VERSION 1u
/* "GDF" in the top 24 bits, the protocol version in the low 8. */
#define GD_FRAME_MAGIC (0x474446u << 8)
#define GD_FRAME_MAGIC_VERSION (GD_FRAME_MAGIC | GD_PROTOCOL_VERSION)
#define GD_FRAME_HDR_LEN 24u
#define GD_FRAME_MAX_PB (1u << 20)     /* 1 MiB of protobuf */
#define GD_FRAME_MAX_DATA (8u << 20)   /* 8 MiB of bulk data: the largest block */

enum gd_frame_kind {
	GD_KIND_REQUEST = 1,
	GD_KIND_RESPONSE = 2,
	GD_KIND_PUSH = 3,
};

struct gd_frame_hdr {
	uint32_t magic_version;
	uint16_t kind;
	uint16_t method;
	uint64_t request_id;
	uint32_t pb_len;
	uint32_t data_len;
};

/* Writes the header in wire order into out[GD_FRAME_HDR_LEN]. */
void gd_frame_encode_hdr(const struct gd_frame_hdr *hdr, uint8_t *out);

/* Decodes and validates a header from buf (len bytes available).
 * Returns 0 and fills *hdr; GD_EAGAIN when fewer than GD_FRAME_HDR_LEN bytes
 * are there; GD_EPROTO for a bad magic, version, kind, method or length, with
 * *why (if not NULL) set to a static sentence for the log. */
int gd_frame_decode_hdr(const uint8_t *buf, size_t len, struct gd_frame_hdr *hdr,
			const char **why);

/* Whether `method` is a method of wire.proto's enum Method. */
int gd_frame_method_known(uint16_t method);

#endif
