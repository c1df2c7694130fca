/* The compound create (M_CREATE, docs/meta-rpc.md "Compound requests"): the
 * FUSE create of a regular file in one round trip and one Raft entry, which
 * makes the file, opens it for the session and, when the client means to
 * write, makes its chunk 0 on a chain the leader placed and grants the
 * session the write lease on it. Without a chain (no chunkd can take it, or
 * the name exists) the create goes on without a lease.
 * Loop thread only (meta_h.h). */
#ifndef META_H_CREATE_H
#define META_H_CREATE_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_create(struct meta_server *ms, struct gd_request *req);
/* M_LEASE_RETURN: a lease of a CREATE that was never written, given back by
 * the session that holds it (GD_ESTALE from any other); the chunk it made
 * is freed in one Raft entry. */
void meta_h_create_lease_return(struct meta_server *ms, struct gd_request *req);

#endif
