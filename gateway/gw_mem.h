/* The memory of uploads (--upload-mem): every PUT body, multipart part and
 * one-copy multipart complete buffers what it sends to the cluster. Each
 * asks for its full buffers (a PUT 16 MiB, a part 4 MiB, a complete 8 MiB)
 * as long as all uploads together hold at most --upload-mem; past that it
 * gets nothing reserved and works with GW_MEM_SMALL-byte buffers (one for a
 * PUT or a part, two for a complete): slower, but memory stays bounded by
 * --upload-mem + connections x 2 MiB. As gw_content.c does for downloads.
 * Thread-safe (one atomic counter in struct gw). */
#ifndef GW_MEM_H
#define GW_MEM_H

#include <stdint.h>

#include "gw.h"

#define GW_MEM_SMALL (1u << 20)
#define GW_UPLOAD_MEM_DEFAULT (512ull << 20)

/* Reserves want bytes: want, or 0 when that would pass --upload-mem (the
 * caller then uses small buffers). */
uint64_t gw_mem_take(struct gw *gw, uint64_t want);
/* Gives back what gw_mem_take returned (0: nothing). */
void gw_mem_give(struct gw *gw, uint64_t reserved);

#endif
