/* POST /v1/presign {"path": P, "method": "GET"|"PUT", "expires_in": S}: a
 * presigned URL of /v1/fs/content for the caller's own API key (Bearer
 * only), valid S seconds (default 3600, at most 7 days). A read-only key
 * gets no PUT URL (403). The answer: {"url": "/v1/fs/content?path=...&
 * godfs_key=...&godfs_exp=...&godfs_sig=...", "method", "expires_at_unix"};
 * the client puts its own scheme and host in front (docs/gateway.md). */
#ifndef GW_PRESIGN_H
#define GW_PRESIGN_H

struct gw_req;

#define GW_PRESIGN_DEFAULT_S 3600

int gw_presign(struct gw_req *r);

#endif
