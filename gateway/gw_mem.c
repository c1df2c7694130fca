/* The memory of uploads (see gw_mem.h). */
#include "gw_mem.h"

uint64_t gw_mem_take(struct gw *gw, uint64_t want)
{
	uint64_t used = atomic_fetch_add(&gw->upload_used, want);
	if (used + want <= gw->opt.upload_mem)
		return want;
	atomic_fetch_sub(&gw->upload_used, want);
	return 0;
}

void gw_mem_give(struct gw *gw, uint64_t reserved)
{
	if (reserved)
		atomic_fetch_sub(&gw->upload_used, reserved);
}
