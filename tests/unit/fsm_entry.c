/* FSM entries for unit tests (see fsm_entry.h). */
#include "fsm_entry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

uint8_t *fsm_entry_pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	*len = protobuf_c_message_pack(m, b);
	return b;
}

static int apply(struct meta_fsm *f, uint32_t method, const ProtobufCMessage *req, bool as,
		 uint32_t uid, uint32_t gid, struct meta_fsm_result *res)
{
	Godfs__MetaEntry e = GODFS__META_ENTRY__INIT;
	uint8_t *rb, *eb;
	size_t rl, el;

	rb = fsm_entry_pack(req, &rl);
	e.has_method = e.has_request = e.has_now_sec = e.has_now_nsec = 1;
	e.method = method;
	e.request.data = rb;
	e.request.len = rl;
	e.now_sec = FSM_ENTRY_NOW;
	e.has_as_uid = e.has_as_gid = as;
	e.as_uid = uid;
	e.as_gid = gid;
	eb = fsm_entry_pack(&e.base, &el);
	memset(res, 0, sizeof(*res));
	assert_int_equal(meta_fsm_apply(f, eb, el, res), 0);
	free(rb);
	free(eb);
	return res->status;
}

int fsm_entry_apply(struct meta_fsm *f, uint32_t method, const ProtobufCMessage *req,
		    struct meta_fsm_result *res)
{
	return apply(f, method, req, false, 0, 0, res);
}

int fsm_entry_apply_as(struct meta_fsm *f, uint32_t method, const ProtobufCMessage *req,
		       uint32_t uid, uint32_t gid, struct meta_fsm_result *res)
{
	return apply(f, method, req, true, uid, gid, res);
}
