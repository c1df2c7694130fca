/* Names shared by PUT (gw_put.c) and the janitor that removes what failed
 * PUTs left (gw_janitor.c). */
#ifndef GW_PUT_H
#define GW_PUT_H

/* Temp files of PUTs: GW_PUT_PREFIX "<instance hex>.<sequence hex>",
 * marked with the xattr GW_PUT_XATTR (value: that name) by the gateway's
 * own session until the rename; their mtime moves every --put-stale / 4
 * seconds (at least 1, at most GW_PUT_TOUCH_S) while the body comes. The
 * janitor removes only marked files whose value is their name and whose
 * mtime is older than --put-stale (the same on every gateway). */
#define GW_PUT_PREFIX ".godfs-put."
#define GW_PUT_XATTR "trusted.godfs.put"
#define GW_PUT_TOUCH_S 30

#endif
