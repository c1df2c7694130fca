/* godfs-meta and client tokens (docs/security.md, "Client tokens"): the admin
 * methods that create, list and revoke them, and the gate every request of a
 * token connection passes before any handler sees it (meta_dispatch.c): the
 * token must still be valid in the replicated table (a revoke stops it at the
 * next request, not at the next reconnect) and the request must stay inside
 * the token's subtree and, for a read-only token, not write (meta_scope.h);
 * a request of an API key's session must also be allowed to the key's
 * uid/gid by mode bits and ACLs (meta_perm.h), as the kernel allows a
 * mount's.
 *
 * Loop thread only, like every handler (meta_h.h). */
#ifndef META_H_TOKEN_H
#define META_H_TOKEN_H

#include <stdbool.h>

#include "gd_server.h"
#include "meta_server.h"
#include "proto/fsm.pb-c.h"

/* The gate of a request on a token connection (req->auth kind token): true
 * when it may go on to its handler; false when it was answered (token no
 * longer valid, inode outside its subtree, write with a read-only token,
 * method not open to tokens, an API key's uid/gid without the permission:
 * one rate-limited log line). Requests of other connections pass. */
bool meta_h_token_admit(struct meta_server *ms, struct gd_request *req);
/* An entry proposed for a request of an API-key session (GD_TOKEN_APIKEY)
 * carries the key's uid/gid from the table (fsm.proto as_uid/as_gid): the
 * FSM forces them whatever the request says (meta_token_apply_identity).
 * Other requests: e unchanged. */
void meta_h_token_mark(struct meta_server *ms, struct gd_request *req, Godfs__MetaEntry *e);
/* M_TOKEN_CREATE, M_TOKEN_LIST, M_TOKEN_REVOKE (admin role only), M_TOKEN_GET
 * (admin, gateway). */
void meta_h_token_admin(struct meta_server *ms, struct gd_request *req);

#endif
