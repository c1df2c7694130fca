/* Handlers of chunk data: CHUNK_LOCATE (a read chain of live copies, with a
 * READ capability), WRITE_LEASE and CHUNK_FAILED (the leader picks the chain
 * and proposes it; the answer carries the chain, the lease and a READ|WRITE
 * capability). Two leases (or a lease and a failure report) on one chunk are
 * never decided from the same state: the second parks (META_WAIT_CHUNK)
 * until the first is applied. A request that needs chunkds still
 * registering with a new leader parks (META_WAIT_NODES).
 * Loop thread only (meta_h.h). */
#ifndef META_H_DATA_H
#define META_H_DATA_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_data_locate(struct meta_server *ms, struct gd_request *req);
void meta_h_data_chunk_write(struct meta_server *ms, struct gd_request *req);

#endif
