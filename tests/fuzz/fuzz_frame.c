/* Fuzz target for what a godfs daemon does with the bytes of a connection: the
 * frame header decoder (gd_frame_decode_hdr) over a stream of frames, then the
 * protobuf part unpacked as the method's request or response message (as
 * gd_server and gd_conn do), its status read (gd_msg_status), and the same
 * bytes unpacked as a Raft entry (fsm.proto MetaEntry) with its inner request.
 *
 * Checked on every input: no crash, no leak, no undefined behaviour (run it
 * under ASan/UBSan); an accepted header is within every bound and encodes back
 * to the same 24 bytes; a refused one says why; a message that unpacks packs
 * to bytes that unpack and pack again to the same bytes.
 *
 * Builds with clang -fsanitize=fuzzer (libFuzzer provides main) or with any
 * compiler plus tests/fuzz/fuzz_driver.c (corpus + deterministic mutations). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gd_conn.h"
#include "gd_frame.h"
#include "gd_methods.h"
#include "gd_status.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: report it the way a sanitizer would, and stop. */
#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_frame: %s:%d: check failed: %s\n",  \
				__FILE__, __LINE__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* Whether m or a message inside it kept fields it does not know. */
static int has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned i;

	if (m->n_unknown_fields)
		return 1;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *at = (const char *)m + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset), k;
			ProtobufCMessage *const *a = *(ProtobufCMessage *const *const *)at;
			for (k = 0; k < n; k++)
				if (has_unknown(a[k]))
					return 1;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)at;
			if (sub && has_unknown(sub))
				return 1;
		}
	}
	return 0;
}

/* pack(unpack(pack(m))) == pack(m): what a message says survives a round trip.
 * One exception, a protobuf-c (1.4) quirk and not godfs's: an unknown field
 * whose tag was sent overlong ("80 00" = field 0) is kept and packed back as
 * "00", which protobuf-c then refuses; godfs never repacks what it received
 * (the leader puts a client's request bytes into the Raft entry unchanged). */
static void check_repack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m), n2;
	uint8_t *a = malloc(n ? n : 1), *b;
	ProtobufCMessage *m2;

	FUZZ_CHECK(a != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m, a) == n);
	m2 = protobuf_c_message_unpack(m->descriptor, NULL, n, a);
	if (!m2 && has_unknown(m)) {
		free(a);
		return;
	}
	FUZZ_CHECK(m2 != NULL);
	n2 = protobuf_c_message_get_packed_size(m2);
	FUZZ_CHECK(n2 == n);
	b = malloc(n2 ? n2 : 1);
	FUZZ_CHECK(b != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(m2, b) == n2);
	FUZZ_CHECK(memcmp(a, b, n) == 0);
	protobuf_c_message_free_unpacked(m2, NULL);
	free(a);
	free(b);
}

/* The messages of a method, from the method table (NULL: not a method). */
static const ProtobufCMessageDescriptor *req_desc(uint32_t method)
{
	const struct gd_method *m = gd_method_get(method);

	return m ? m->req : NULL;
}

static const ProtobufCMessageDescriptor *resp_desc(uint32_t method)
{
	const struct gd_method *m = gd_method_get(method);

	return m ? m->resp : NULL;
}

/* What the daemons read off any decoded request through the table: the
 * session it names, its exactly-once sequence numbers. */
static void read_request_fields(uint32_t method, const ProtobufCMessage *msg)
{
	const struct gd_method *m = gd_method_get(method);
	uint64_t seq, ack;

	FUZZ_CHECK(m != NULL && msg->descriptor == m->req);
	(void)gd_method_session(m, msg);
	FUZZ_CHECK(gd_method_seq(m, msg, &seq, &ack) == !!(m->flags & GD_METHOD_ONCE));
}

/* Unpacks pb as desc (NULL: nothing to do), as a daemon would. */
static ProtobufCMessage *unpack_as(const ProtobufCMessageDescriptor *desc, const uint8_t *pb,
				  size_t len)
{
	ProtobufCMessage *m;

	if (!desc)
		return NULL;
	m = protobuf_c_message_unpack(desc, NULL, len, pb);
	if (m)
		check_repack(m);
	return m;
}

/* The FSM's decoding of a Raft entry: the entry, then its request as the
 * message its method carries. */
static void unpack_entry(const uint8_t *pb, size_t len)
{
	Godfs__MetaEntry *e = godfs__meta_entry__unpack(NULL, len, pb);
	ProtobufCMessage *req;

	if (!e)
		return;
	check_repack(&e->base);
	if (e->has_method && e->has_request && e->method <= UINT16_MAX) {
		req = unpack_as(req_desc(e->method), e->request.data, e->request.len);
		if (req)
			protobuf_c_message_free_unpacked(req, NULL);
	}
	godfs__meta_entry__free_unpacked(e, NULL);
}

/* A request's trace prefix (GD_FRAME_F_TRACE), as gd_server splits it off:
 * a taken id is valid and exactly as long as the prefix says; a refusal has
 * a reason. Returns the bytes to skip, or -1 when the request is refused. */
static long trace_prefix(const struct gd_frame_hdr *h, const uint8_t *pb, size_t len)
{
	struct gd_frame_hdr whole = *h;
	char id[GD_TRACE_MAX + 1];
	const char *why = NULL;
	size_t skip = 0;

	if (!(h->kind & GD_FRAME_F_TRACE))
		return 0;
	/* gd_server reads the whole pb part first; a torn one is judged on
	 * what is there (decode_hdr made sure of at least 2 bytes in a frame) */
	if (len < 2)
		return -1;
	whole.pb_len = (uint32_t)len;
	if (gd_frame_trace_take(&whole, pb, id, &skip, &why) != 0) {
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		FUZZ_CHECK(id[0] == '\0' && skip == 0);
		return -1;
	}
	FUZZ_CHECK(gd_trace_valid(id, strlen(id)));
	FUZZ_CHECK(skip == 1 + strlen(id) && skip <= len && pb[0] == strlen(id));
	return (long)skip;
}

/* One frame's protobuf part (pb_len bytes, or fewer when the input ends). */
static void frame_body(const struct gd_frame_hdr *h, const uint8_t *pb, size_t len)
{
	ProtobufCMessage *m = NULL;
	long skip = trace_prefix(h, pb, len);

	if (skip < 0)
		return;
	pb += skip;
	len -= (size_t)skip;
	if (gd_frame_kind(h) == GD_KIND_REQUEST) {
		m = unpack_as(req_desc(h->method), pb, len);
		if (m)
			read_request_fields(h->method, m);
	} else if (gd_frame_kind(h) == GD_KIND_RESPONSE) {
		m = unpack_as(resp_desc(h->method), pb, len);
		if (m) {
			int st = gd_msg_status(m);
			/* gd_conn maps what it does not know to GD_EIO */
			(void)gd_status_valid(st);
			(void)gd_msg_leader(m);
		}
	}
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	unpack_entry(pb, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* a connection's stream: frames one after another until one is bad */
	while (off <= size) {
		struct gd_frame_hdr h;
		const char *why = NULL;
		uint8_t again[GD_FRAME_HDR_LEN];
		size_t left = size - off, pb;
		int rc;

		rc = gd_frame_decode_hdr(data + off, left, &h, &why);
		if (rc == GD_EAGAIN) {
			FUZZ_CHECK(left < GD_FRAME_HDR_LEN);
			break;
		}
		if (rc != 0) {
			FUZZ_CHECK(rc == GD_EPROTO);
			FUZZ_CHECK(why != NULL && why[0] != '\0');
			break;
		}
		FUZZ_CHECK(h.magic_version == GD_FRAME_MAGIC_VERSION);
		FUZZ_CHECK(gd_frame_kind(&h) >= GD_KIND_REQUEST && gd_frame_kind(&h) <= GD_KIND_PUSH);
		/* the one flag, on requests only, with room for an id */
		FUZZ_CHECK((h.kind & ~GD_FRAME_KIND_MASK) == 0 ||
			   (h.kind == (GD_KIND_REQUEST | GD_FRAME_F_TRACE) && h.pb_len >= 2));
		FUZZ_CHECK(gd_frame_method_known(h.method));
		FUZZ_CHECK(gd_method_get(h.method) != NULL);
		FUZZ_CHECK(h.pb_len <= GD_FRAME_MAX_PB);
		FUZZ_CHECK(h.data_len <= GD_FRAME_MAX_DATA);
		gd_frame_encode_hdr(&h, again);
		FUZZ_CHECK(memcmp(again, data + off, GD_FRAME_HDR_LEN) == 0);
		off += GD_FRAME_HDR_LEN;
		left -= GD_FRAME_HDR_LEN;
		/* a torn frame: the daemon would wait for the rest; unpack what is
		 * there anyway, it is a protobuf that ends early */
		pb = h.pb_len <= left ? h.pb_len : left;
		frame_body(&h, data + off, pb);
		if ((size_t)h.pb_len + h.data_len > left)
			break;
		off += (size_t)h.pb_len + h.data_len;
	}
	/* the whole input as one protobuf part, whatever the header said: as a
	 * Raft entry, and (first byte = method) as that method's messages */
	unpack_entry(data, size);
	if (size > 0) {
		struct gd_frame_hdr h = { .method = data[0] };
		h.kind = GD_KIND_REQUEST;
		frame_body(&h, data + 1, size - 1);
		h.kind = GD_KIND_RESPONSE;
		frame_body(&h, data + 1, size - 1);
	}
	return 0;
}
