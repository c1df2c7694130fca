/* Handlers of sessions: HELLO (a client's session through Raft, or the role
 * of a chunkd, admin or peer connection; a client coming back re-claims its
 * open files), PING, SESSION_RENEW. Loop thread only (meta_h.h). */
#ifndef META_H_SESSION_H
#define META_H_SESSION_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_session_hello(struct meta_server *ms, struct gd_request *req);
void meta_h_session_ping(struct meta_server *ms, struct gd_request *req);
void meta_h_session_renew(struct meta_server *ms, struct gd_request *req);

#endif
