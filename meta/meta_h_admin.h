/* Handlers of admins: ADMIN_STATUS (the cluster as this leader sees it:
 * inodes, chunks, Raft, sessions, chunkds with their labels, drains and
 * copies, re-replication). The token admin methods are meta_h_token.h's,
 * drain and placement meta_h_nodes.h's. Loop thread only (meta_h.h). */
#ifndef META_H_ADMIN_H
#define META_H_ADMIN_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_admin_status(struct meta_server *ms, struct gd_request *req);

#endif
