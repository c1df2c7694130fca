/* The one dispatcher of godfs-meta: every request the loop runs comes here,
 * passes the gates, and reaches the handler of its method.
 *
 * The gates, in order: a stopping meta answers GD_ESHUTDOWN; a meta that is
 * not a ready leader redirects (GD_ENOTLEADER with the leader's address)
 * when another node leads, else holds the request until one is ready; a read
 * passes the read gate (meta_read_gate.h: the leader's lease, or a Raft
 * barrier started after it came; then it goes back on the run queue); a
 * request of a token connection must be inside the token's scope
 * (meta_h_token_admit); a request naming a session must name its
 * connection's own (meta_sessions_check). What a method is and which roles
 * may call it is the method table's (gd_methods.h), checked by gd_server
 * before the request reached the loop; the table here says only which
 * function answers it, and meta_dispatch_check_table makes sure the two
 * agree at start.
 *
 * Loop thread only. */
#ifndef META_DISPATCH_H
#define META_DISPATCH_H

#include "gd_server.h"
#include "meta_server.h"

/* Passes req through the gates to its handler; req is answered, held or
 * parked (exactly one of them, possibly later). */
void meta_dispatch(struct meta_server *ms, struct gd_request *req);

/* 0 when the meta has a handler for exactly the methods the method table
 * says it serves, else GD_EINVAL with every difference logged. */
int meta_dispatch_check_table(void);

#endif
