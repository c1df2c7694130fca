/* One Raft entry made and applied to a meta_fsm the way meta_raft does it
 * (a MetaEntry around the packed request, at a fixed time), for the unit
 * tests that drive the FSM with single requests (test_meta_acl,
 * test_meta_perm). Failures are cmocka assertions. */
#ifndef FSM_ENTRY_H
#define FSM_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "meta_fsm.h"
#include "proto/fsm.pb-c.h"

/* The entries' time (Unix seconds, nanoseconds 0). */
#define FSM_ENTRY_NOW 1764633600

/* m packed into a malloc'd buffer (free it); *len its size. */
uint8_t *fsm_entry_pack(const ProtobufCMessage *m, size_t *len);

/* Applies an entry of method with request req and no caller identity (the
 * meta's own requests, a cluster-key session); *res is filled (release it).
 * Returns res->status. */
int fsm_entry_apply(struct meta_fsm *f, uint32_t method, const ProtobufCMessage *req,
		    struct meta_fsm_result *res);
/* The same for a request of a session acting as uid:gid (an API key or a
 * token's identity: the entry's as_uid/as_gid). */
int fsm_entry_apply_as(struct meta_fsm *f, uint32_t method, const ProtobufCMessage *req,
		       uint32_t uid, uint32_t gid, struct meta_fsm_result *res);

#endif
