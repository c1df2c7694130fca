/* Handlers of an operator's requests about the chunk servers' copies:
 * NODE_DRAIN (decommissioning, through Raft: meta_drain.h) and
 * ADMIN_PLACEMENT (chunks whose copies share a rack or zone, from the
 * leader's last scan: meta_balance.h). The method table lets only admins
 * call them. Loop thread only (meta_h.h). */
#ifndef META_H_NODES_H
#define META_H_NODES_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_nodes_drain(struct meta_server *ms, struct gd_request *req);
void meta_h_nodes_placement(struct meta_server *ms, struct gd_request *req);

#endif
