/* The janitor: removes the temporary files of PUTs that no gateway will
 * finish (a gateway killed mid-upload leaves its GW_PUT_PREFIX file in the
 * target's directory). Best effort: a thread walks the whole tree through
 * the gateway's own session, slowly (a page of 256 entries every
 * GW_JANITOR_PAGE_MS), every interval seconds, and unlinks every file
 * named GW_PUT_PREFIX... that carries the PUT's marker (the xattr
 * GW_PUT_XATTR, which only root can set, naming the file: gw_put.h) and
 * whose mtime is older than stale seconds, except this process's own
 * (their names carry its instance). A PUT moves its file's mtime every
 * GW_PUT_TOUCH_S while its body comes, so stale (default one day) must only
 * exceed that, and the longest time a client may go silent mid-body.
 * docs/gateway.md. */
#ifndef GW_JANITOR_H
#define GW_JANITOR_H

#include <stdint.h>

#include "gw.h"

#define GW_JANITOR_PAGE_MS 20
#define GW_JANITOR_MAX_DIRS 100000   /* directories a pass keeps queued at most */

struct gw_janitor;

/* Starts the thread (first pass after interval_s). 0 or GD_ENOMEM. */
int gw_janitor_start(struct gw *gw, uint64_t interval_s, uint64_t stale_s,
		     struct gw_janitor **out);
void gw_janitor_stop(struct gw_janitor *j);

/* One pass now, on the caller's thread: returns the number of files
 * removed, or a GD_E* code (for tests). */
long gw_janitor_pass(struct gw *gw, uint64_t stale_s, const volatile int *stop);

#endif
