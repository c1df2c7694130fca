/* TEMPORARY, until gateway/gw_auth.h (engineer `apikeys`) is merged: the
 * principal of a request as the issue 9 spec shapes it, so that the request
 * context and the handlers are written against the final fields. When
 * gw_auth.h lands, this file goes and gw_req.h includes gw_auth.h instead;
 * gw_req_authenticate() (gw_server.c) is the one function that then calls
 * gw_auth_resolve() and gw_session_get(). */
#ifndef GW_AUTH_SHIM_H
#define GW_AUTH_SHIM_H

#include <stdbool.h>
#include <stdint.h>

struct gw_principal {
	uint64_t key_id;         /* 0: the gateway's own cluster-key session */
	bool read_only;
	uint32_t uid, gid;       /* the identity requests act as */
	uint64_t subtree;        /* inode of "/" for this principal */
	char subtree_path[4097];
	bool presigned;
};

#endif
