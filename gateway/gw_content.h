/* File content over HTTP (docs/gateway.md "Content"):
 *   GET/HEAD /v1/fs/content?path=   download: validators, conditionals,
 *                                   Range (one: 206; several, at most 16:
 *                                   206 multipart/byteranges), If-Range
 *   PUT /v1/fs/content?path=        upload that creates or replaces the
 *                                   file atomically (gw_put.c)
 * A download streams with bounded memory: GW_READ_THREADS readers per
 * response fill GW_READ_BUFS buffers of GW_READ_BLOCK bytes ahead of what
 * MHD sends, as long as all downloads together hold at most
 * --read-ahead-mem; past that a download reads GW_READ_SMALL bytes at a
 * time on its connection's thread (slower, but memory stays bounded by
 * connections x 1 MiB). */
#ifndef GW_CONTENT_H
#define GW_CONTENT_H

#include <stddef.h>

#include "gd_client.h"
#include "gw_range.h"

struct gw_req;

#define GW_ETAG_MAX GW_ETAG_LEN
#define GW_READ_BLOCK (4u << 20)  /* bytes per read buffer of a download */
#define GW_READ_BUFS 6             /* buffers per download (memory: 24 MiB) */
#define GW_READ_THREADS 3          /* readers filling them */
#define GW_READ_SMALL (1u << 20)   /* the one buffer of a download over --read-ahead-mem */

/* The strong ETag of a file (gw_etag_format: inode, generation, size,
 * mtime and ctime). */
void gw_content_etag(const struct gd_attr *a, char *out, size_t len);

int gw_content_get(struct gw_req *r);

/* PUT (gw_put.c): begin checks preconditions and creates the temp file,
 * body streams into it (two buffers: one written while the next fills),
 * finish makes it durable and renames it over the target. */
int gw_put_begin(struct gw_req *r);
int gw_put_body(struct gw_req *r, const char *data, size_t len);
int gw_put_finish(struct gw_req *r);

#endif
