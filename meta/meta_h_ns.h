/* Handlers of the namespace: read-only methods answered from the FSM
 * (LOOKUP, GETATTR, READLINK, READDIR, GETXATTR, LISTXATTR, STATFS), OPEN and
 * RELEASE (the opens of each session, which decide when an unlinked inode
 * may be freed; an OPEN with locate also says where chunk 0 is), and the mutating methods proposed to Raft (MKNOD, MKDIR,
 * SYMLINK, SETATTR, LINK, SETXATTR, REMOVEXATTR, WRITE_COMMIT, UNLINK, RMDIR,
 * RENAME), each answered with the FSM's result.
 *
 * An OPEN of an inode whose removal is in flight parks (META_WAIT_REMOVAL)
 * until the removal is applied, then goes through the dispatcher again.
 * Loop thread only (meta_h.h). */
#ifndef META_H_NS_H
#define META_H_NS_H

#include "gd_server.h"
#include "meta_server.h"

void meta_h_ns_query(struct meta_server *ms, struct gd_request *req);
void meta_h_ns_statfs(struct meta_server *ms, struct gd_request *req);
void meta_h_ns_open(struct meta_server *ms, struct gd_request *req);
void meta_h_ns_release(struct meta_server *ms, struct gd_request *req);
void meta_h_ns_mknod(struct meta_server *ms, struct gd_request *req);
void meta_h_ns_change(struct meta_server *ms, struct gd_request *req);
void meta_h_ns_remove(struct meta_server *ms, struct gd_request *req);

#endif
