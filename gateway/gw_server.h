/* The gateway's HTTP server: libmicrohttpd with a thread per connection
 * (handlers block on cluster calls), optional TLS (GnuTLS inside MHD), the
 * limits that keep a slow or hostile client from holding resources, and
 * the request pipeline: request id, query, CORS preflight, route, rate
 * limit, credential, body, handler, access log. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "gw.h"

struct gw_server;

/* Starts listening on gw->opt.listen. Returns 0, or GD_EINVAL (bad
 * address, unreadable TLS files: logged) / GD_EIO (MHD would not start). */
int gw_server_start(struct gw *gw, struct gw_server **out);
/* Stops accepting, closes every connection (requests in flight end as if
 * the client went away) and frees the server. */
void gw_server_stop(struct gw_server *s);

#endif
