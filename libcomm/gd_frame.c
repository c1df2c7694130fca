#include "gd_frame.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <string.h>

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void gd_frame_encode_hdr(const struct gd_frame_hdr *hdr, uint8_t *out)
{
	put_u32(out, hdr->magic_version);
	put_u16(out + 4, hdr->kind);
	put_u16(out + 6, hdr->method);
	put_u64(out + 8, hdr->request_id);
	put_u32(out + 16, hdr->pb_len);
	put_u32(out + 20, hdr->data_len);
}

int gd_frame_method_known(uint16_t method)
{
	return method != GODFS__METHOD__M_NONE &&
	       protobuf_c_enum_descriptor_get_value(&godfs__method__descriptor,
						    method) != NULL;
}

int gd_frame_push_known(uint16_t push)
{
	return push != GODFS__PUSH__P_NONE &&
	       protobuf_c_enum_descriptor_get_value(&godfs__push__descriptor, push) != NULL;
}

int gd_frame_decode_hdr(const uint8_t *buf, size_t len, struct gd_frame_hdr *hdr,
			const char **why)
{
	const char *reason = NULL;
	struct gd_frame_hdr h;
	unsigned kind, flags;

	if (len < GD_FRAME_HDR_LEN)
		return GD_EAGAIN;
	h.magic_version = get_u32(buf);
	h.kind = get_u16(buf + 4);
	h.method = get_u16(buf + 6);
	h.request_id = get_u64(buf + 8);
	h.pb_len = get_u32(buf + 16);
	h.data_len = get_u32(buf + 20);
	kind = h.kind & GD_FRAME_KIND_MASK;
	flags = h.kind & ~GD_FRAME_KIND_MASK;

	if ((h.magic_version & 0xffffff00u) != GD_FRAME_MAGIC)
		reason = "bad magic (not a godfs peer)";
	else if ((h.magic_version & 0xffu) != GD_PROTOCOL_VERSION)
		reason = "unsupported protocol version";
	else if (kind < GD_KIND_REQUEST || kind > GD_KIND_PUSH)
		reason = "bad frame kind";
	else if (flags & ~GD_FRAME_F_TRACE)
		reason = "unknown frame flag";
	else if ((flags & GD_FRAME_F_TRACE) && kind != GD_KIND_REQUEST)
		reason = "trace id flag on a frame that is not a request";
	else if (kind == GD_KIND_PUSH ? !gd_frame_push_known(h.method)
				      : !gd_frame_method_known(h.method))
		reason = "unknown method";
	else if (h.pb_len > GD_FRAME_MAX_PB)
		reason = "protobuf part longer than 1 MiB";
	else if (h.data_len > GD_FRAME_MAX_DATA)
		reason = "data part longer than 8 MiB";
	else if ((flags & GD_FRAME_F_TRACE) && h.pb_len < 2)
		reason = "trace id flag with no room for an id";

	if (reason) {
		if (why)
			*why = reason;
		return GD_EPROTO;
	}
	*hdr = h;
	return 0;
}

size_t gd_frame_trace_put(const char *id, uint8_t out[GD_FRAME_TRACE_MAX])
{
	size_t n = id ? strnlen(id, GD_TRACE_MAX + 1) : 0;

	if (!gd_trace_valid(id, n))
		return 0;
	out[0] = (uint8_t)n;
	memcpy(out + 1, id, n);
	return 1 + n;
}

int gd_frame_trace_take(const struct gd_frame_hdr *hdr, const uint8_t *pb,
			char id[GD_TRACE_MAX + 1], size_t *skip, const char **why)
{
	const char *reason = NULL;
	size_t n;

	id[0] = '\0';
	*skip = 0;
	if (!(hdr->kind & GD_FRAME_F_TRACE))
		return 0;
	/* gd_frame_decode_hdr made sure of pb_len >= 2 */
	n = pb[0];
	if (n == 0 || n > GD_TRACE_MAX)
		reason = "trace id length not in 1..64";
	else if (1 + n > hdr->pb_len)
		reason = "trace id longer than the protobuf part";
	else if (!gd_trace_valid((const char *)pb + 1, n))
		reason = "trace id with a character outside [A-Za-z0-9._:-]";
	if (reason) {
		if (why)
			*why = reason;
		return GD_EPROTO;
	}
	memcpy(id, pb + 1, n);
	id[n] = '\0';
	*skip = 1 + n;
	return 0;
}
