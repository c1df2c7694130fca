/* Handlers of chunkds: CS_REGISTER (the node and its chunk report, the
 * source of chunk locations after a leader change; the first registration
 * of a node, or a new address, goes through Raft so that node ids in chunk
 * records resolve to addresses after a restart), CS_HEARTBEAT (carries the
 * queued orders back) and CS_REPORT_BAD (a copy with a corrupt block). A
 * registration puts the requests parked for chunkds back on the run queue.
 * Loop thread only (meta_h.h). */
#ifndef META_H_CHUNKD_H
#define META_H_CHUNKD_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_chunkd_register(struct meta_server *ms, struct gd_request *req);
void meta_h_chunkd_heartbeat(struct meta_server *ms, struct gd_request *req);
void meta_h_chunkd_report_bad(struct meta_server *ms, struct gd_request *req);

#endif
