/* chunkd's metrics (see chunkd_metrics.h). */
#include "chunkd_metrics.h"

#include "gd_metrics.h"
#include "gd_metrics_serve.h"

#include <stdint.h>

static struct gd_mseries *read_bytes, *written_bytes, *replicated_bytes;

enum dirval { D_TOTAL, D_FREE, D_IO_ERRORS, D_CHECKSUM_ERRORS, D_CHUNKS };

/* The one store of the process (set at start, before the listener). */
static struct chunkd_store *the_store;

static void collect_dirs(void *ctx, struct gd_metrics_emit *e)
{
	enum dirval which = (enum dirval)(intptr_t)ctx;
	size_t i, n = chunkd_store_ndirs(the_store);

	for (i = 0; i < n; i++) {
		struct chunkd_store_dir_stats st;
		uint64_t v = 0;

		chunkd_store_dir_stats(the_store, i, &st);
		switch (which) {
		case D_TOTAL: v = st.total; break;
		case D_FREE: v = st.free; break;
		case D_IO_ERRORS: v = st.io_errors; break;
		case D_CHECKSUM_ERRORS: v = st.checksum_errors; break;
		case D_CHUNKS: v = st.chunks; break;
		}
		gd_metrics_emit(e, (double)v, st.path);
	}
}

static void collect_full(void *ctx, struct gd_metrics_emit *e)
{
	size_t i, n = chunkd_store_ndirs(the_store);
	int full = 0;

	(void)ctx;
	for (i = 0; i < n; i++) {
		struct chunkd_store_dir_stats st;

		chunkd_store_dir_stats(the_store, i, &st);
		full |= st.full;
	}
	gd_metrics_emit(e, full);
}

static void dir_metric(struct gd_metrics *reg, const char *name, const char *help,
		       enum gd_metric_type type, enum dirval which)
{
	gd_metrics_collector(reg, name, help, type, "dir", collect_dirs, (void *)(intptr_t)which);
}

int chunkd_metrics_start(struct chunkd_store *store, const char *listen, struct gd_http **out)
{
	struct gd_metrics *reg = gd_metrics_global();

	*out = NULL;
	the_store = store;
	dir_metric(reg, "godfs_chunkd_disk_total_bytes",
		   "Size of the file system of the data dir.", GD_METRIC_GAUGE, D_TOTAL);
	dir_metric(reg, "godfs_chunkd_disk_free_bytes",
		   "Free bytes of the file system of the data dir (for this user).",
		   GD_METRIC_GAUGE, D_FREE);
	dir_metric(reg, "godfs_chunkd_disk_io_errors_total",
		   "Reads, writes, fsyncs and truncates of chunk copies in the data dir that "
		   "failed with an I/O error.", GD_METRIC_COUNTER, D_IO_ERRORS);
	dir_metric(reg, "godfs_chunkd_checksum_errors_total",
		   "Blocks of chunk copies in the data dir found not matching their checksum.",
		   GD_METRIC_COUNTER, D_CHECKSUM_ERRORS);
	dir_metric(reg, "godfs_chunkd_chunks", "Chunk copies in the data dir.", GD_METRIC_GAUGE,
		   D_CHUNKS);
	gd_metrics_collector(reg, "godfs_chunkd_disk_full",
			     "1 when a data dir has less free space than the reserve: new data is "
			     "refused (ENOSPC).", GD_METRIC_GAUGE, NULL, collect_full, NULL);
	read_bytes = gd_metric_at(gd_metrics_counter(reg, "godfs_chunkd_read_bytes_total",
						     "Chunk data bytes read for clients and peers "
						     "(CS_READ).", NULL));
	written_bytes = gd_metric_at(gd_metrics_counter(reg, "godfs_chunkd_written_bytes_total",
							"Chunk data bytes written by the write "
							"pipeline.", NULL));
	replicated_bytes = gd_metric_at(gd_metrics_counter(
		reg, "godfs_chunkd_replicated_bytes_total",
		"Chunk data bytes copied here from other chunkds by re-replication.", NULL));
	if (!listen || !*listen)
		return 0;
	return gd_metrics_serve(listen, out);
}

void chunkd_metrics_read(uint64_t bytes)
{
	gd_mseries_add(read_bytes, bytes);
}

void chunkd_metrics_written(uint64_t bytes)
{
	gd_mseries_add(written_bytes, bytes);
}

void chunkd_metrics_replicated(uint64_t bytes)
{
	gd_mseries_add(replicated_bytes, bytes);
}
