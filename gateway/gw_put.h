/* Names shared by PUT (gw_put.c) and the janitor that removes what failed
 * PUTs left (gw_janitor.c). */
#ifndef GW_PUT_H
#define GW_PUT_H

/* Temp files of PUTs: GW_PUT_PREFIX "<instance hex>.<sequence hex>". */
#define GW_PUT_PREFIX ".godfs-put."

#endif
