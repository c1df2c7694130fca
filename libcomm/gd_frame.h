/* The frame of DESIGN.md section 2: a fixed 24-byte little-endian header, then
 * pb_len bytes of a protobuf-c message, then data_len bytes of raw bulk data.
 *
 *   u32 magic_version | u16 kind | u16 method | u64 request_id | u32 pb_len | u32 data_len
 *
 * kind: the low 8 bits are the frame kind (enum gd_frame_kind), the high 8
 * bits flags. One flag is defined, GD_FRAME_F_TRACE, on requests only: the
 * pb part then starts with the request's trace id (gd_trace.h), counted in
 * pb_len, before the protobuf message:
 *
 *   u8 n (1..GD_TRACE_MAX) | n bytes of [A-Za-z0-9._:-] | protobuf (pb_len - 1 - n bytes)
 *
 * (request_id is the connection's call number, matching a response to its
 * request; the trace id names the user's request across daemons.)
 *
 * A PUSH frame (a daemon speaking first, e.g. the meta granting a waiting
 * lock) carries a wire.proto Push in the method field, a Method otherwise.
 *
 * The decoder is a pure function: it reads bytes and says whether they are a
 * valid header, with every length bounded before anybody allocates. */
#ifndef GD_FRAME_H
#define GD_FRAME_H

#include "gd_trace.h"

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

#define GD_FRAME_KIND_MASK 0x00ffu
#define GD_FRAME_F_TRACE 0x0100u       /* the pb part starts with a trace id */
/* The longest trace prefix of a pb part: the length byte and the id. */
#define GD_FRAME_TRACE_MAX (1u + GD_TRACE_MAX)

/* A decoded header keeps kind as it came (flags included, so that it encodes
 * back to the same bytes): compare gd_frame_kind(h) with enum gd_frame_kind. */
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
 * are there; GD_EPROTO for a bad magic, version, kind, flag, method or
 * length (GD_FRAME_F_TRACE on a frame that is not a request, or with a pb
 * part too short for any id, is bad), with *why (if not NULL) set to a
 * static sentence for the log. */
int gd_frame_decode_hdr(const uint8_t *buf, size_t len, struct gd_frame_hdr *hdr,
			const char **why);

static inline uint16_t gd_frame_kind(const struct gd_frame_hdr *h)
{
	return (uint16_t)(h->kind & GD_FRAME_KIND_MASK);
}

/* Writes the trace prefix of id into out and returns its length (1 + the
 * id's), or 0 when id is NULL or not a valid id (nothing to send). */
size_t gd_frame_trace_put(const char *id, uint8_t out[GD_FRAME_TRACE_MAX]);

/* Splits the trace prefix off the pb part of a request whose header was
 * accepted by gd_frame_decode_hdr (pb: its hdr->pb_len bytes). Without
 * GD_FRAME_F_TRACE: 0, id "" and *skip 0. With it: 0, the id in id and
 * *skip = the prefix's length (the protobuf starts at pb + *skip), or
 * GD_EPROTO with *why (if not NULL) set when the prefix is malformed (a
 * length of 0 or over GD_TRACE_MAX, past the pb part, a character outside
 * the allowed set). */
int gd_frame_trace_take(const struct gd_frame_hdr *hdr, const uint8_t *pb,
			char id[GD_TRACE_MAX + 1], size_t *skip, const char **why);

/* Whether `method` is a method of wire.proto's enum Method. */
int gd_frame_method_known(uint16_t method);
/* Whether `push` is a value of wire.proto's enum Push (the method field of a
 * PUSH frame). */
int gd_frame_push_known(uint16_t push);

#endif
