/* The durable drain flag of a chunkd (see meta_drain.h). */
#include "meta_drain.h"

#include <string.h>

#include "gd_status.h"

int meta_drain_apply(struct meta_ns_state *st, const Godfs__NodeDrain *r)
{
	struct meta_ns_node *n;

	if (!r->node_id || !r->node_id[0] || strnlen(r->node_id, META_NS_STR_MAX + 1) > META_NS_STR_MAX)
		return GD_EINVAL;
	n = meta_ns_node_find(st, r->node_id);
	if (!n)
		return GD_ENOENT;
	n->draining = r->has_drain && r->drain;
	return 0;
}

bool meta_drain_is_draining(const struct meta_ns_state *st, const char *node_id)
{
	const struct meta_ns_node *n = node_id ? meta_ns_node_find(st, node_id) : NULL;

	return n && n->draining;
}
