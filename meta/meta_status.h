/* The meta's status page (/status, /status.json on the metrics listener):
 * the loop thread takes a snapshot of the cluster as this node sees it
 * (meta_status_render.h says what is in it) once a second and publishes it;
 * the HTTP listener's threads render the last published snapshot and never
 * touch the loop's state.
 *
 * Threads and ownership: meta_status_new/free and meta_status_tick run on
 * the loop thread (free only once the listener has stopped); meta_status_page
 * runs on any thread. A published snapshot is reference-counted: a render in
 * progress keeps the one it started with while the loop publishes the next. */
#ifndef META_STATUS_H
#define META_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_server.h"
#include "meta_status_render.h"

#define META_STATUS_REFRESH_MS 1000u   /* a new snapshot at most this often */
#define META_STATUS_PAGE_REFRESH_S 5u  /* the HTML page reloads itself this often */

struct meta_status;

/* 0 and *out, or GD_ENOMEM. */
int meta_status_new(struct meta_status **out);
void meta_status_free(struct meta_status *st);

/* Loop thread, on every tick: a new snapshot of ms once META_STATUS_REFRESH_MS
 * passed since the last one (one that cannot be allocated leaves the last
 * one published). */
void meta_status_tick(struct meta_status *st, struct meta_server *ms, uint64_t now_ms);

/* Takes a snapshot of ms (loop thread): 0 and *out (meta_status_snap_free),
 * or GD_ENOMEM. */
int meta_status_collect(struct meta_server *ms, struct meta_status_snap **out);

/* Serves /status and /status.json on the meta's listener h (loop thread,
 * at start-up): creates ms->status, whose snapshots meta_server's tick then
 * takes. 0 or GD_ENOMEM / the error of gd_http_route. */
struct gd_http;
int meta_status_serve(struct meta_server *ms, struct gd_http *h);

/* Any thread: the last snapshot rendered as the HTML page (json false) or
 * as JSON: 0 with *body (gd_malloc'd, the caller frees it) and *len;
 * GD_EAGAIN when no snapshot was published yet (the loop has not ticked);
 * GD_ENOMEM. */
int meta_status_page(struct meta_status *st, bool json, char **body, size_t *len);

#endif
