/* The access log (--access-log PATH|-): one line per request, written when
 * the request ends:
 *
 *   2026-12-06T10:00:00.123Z 127.0.0.1 key=7 GET /v1/fs/content "/a/b.bin"
 *       206 1048576 0 0.012 req=4f2a9c0d1e2b3a4c ok
 *
 * time (UTC), client address, API key id (0 = the gateway's own session,
 * - = none), method, endpoint, the `path` argument (quoted, control bytes
 * and '"' escaped), HTTP status (0 = none sent), body bytes sent and
 * received, seconds, request id, and how it ended (ok, client-gone,
 * timeout, shutdown). Query strings are never logged: a presigned URL's
 * signature is a credential. Thread-safe (lines written whole). */
#ifndef GW_ACCESSLOG_H
#define GW_ACCESSLOG_H

#include "gw.h"

struct gw_req;

/* Opens the log: "-" is stdout, else appended to (created 0640). */
int gw_accesslog_open(struct gw *gw, const char *path);
void gw_accesslog_close(struct gw *gw);
/* outcome: NULL when the answer was sent whole. */
void gw_accesslog_write(struct gw *gw, const struct gw_req *r, const char *outcome);

#endif
