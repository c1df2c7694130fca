/* File content over HTTP (docs/gateway.md "Content"):
 *   GET/HEAD /v1/fs/content?path=   download: validators, conditionals,
 *                                   Range (one: 206; several, at most 16:
 *                                   206 multipart/byteranges), If-Range
 *   PUT /v1/fs/content?path=        upload that creates or replaces the
 *                                   file atomically (gw_put.c)
 * A download streams with bounded memory: a reader thread per response
 * fills one GW_READ_BLOCK buffer while MHD sends the other. */
#ifndef GW_CONTENT_H
#define GW_CONTENT_H

#include <stddef.h>

#include "gd_client.h"

struct gw_req;

#define GW_ETAG_MAX 64
#define GW_READ_BLOCK (8u << 20)

/* The strong ETag of a file: "<ino hex>-<size hex>-<mtime ns hex>", quoted.
 * Any write changes size or mtime (the mtime in ns, committed at each
 * fsync/close); a replaced file (PUT) is a new inode. */
void gw_content_etag(const struct gd_attr *a, char *out, size_t len);

int gw_content_get(struct gw_req *r);

/* PUT (gw_put.c): begin checks preconditions and creates the temp file,
 * body streams into it (two buffers: one written while the next fills),
 * finish makes it durable and renames it over the target. */
int gw_put_begin(struct gw_req *r);
int gw_put_body(struct gw_req *r, const char *data, size_t len);
int gw_put_finish(struct gw_req *r);

#endif
