/* Decommissioning a chunkd in the meta's replicated state: the apply of
 * M_NODE_DRAIN sets or clears meta_ns_node.draining. What a draining node
 * means is the leader's business (meta_repl.c: no new copies on
 * it, each of its copies copied elsewhere first and then dropped from it;
 * meta_place.h says where); here only the durable flag, so that a new
 * leader, or the same one after a restart, goes on draining.
 *
 * Pure like meta_fsm (no I/O, no clock); the meta's loop owns the state. */
#ifndef META_DRAIN_H
#define META_DRAIN_H

#include <stdbool.h>

#include "meta_ns.h"
#include "proto/wire.pb-c.h"

/* NODE_DRAIN: 0 (set, or already so), GD_EINVAL (no node id, or longer than
 * META_NS_STR_MAX) or GD_ENOENT (a node the registry never recorded). */
int meta_drain_apply(struct meta_ns_state *st, const Godfs__NodeDrain *r);

/* Whether node_id is draining (unknown: false). */
bool meta_drain_is_draining(const struct meta_ns_state *st, const char *node_id);

#endif
