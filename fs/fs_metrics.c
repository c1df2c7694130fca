/* mount.godfs's metrics (see fs_metrics.h). */
#include "fs_metrics.h"

#include "fs_data.h"
#include "fs_inode.h"
#include "gd_client.h"
#include "gd_metrics.h"
#include "gd_metrics_serve.h"
#include "gd_server_metrics.h"

#include <stdint.h>

/* X(op): every operation fs_ops may implement. */
#define FS_METRICS_OPS(X) \
	X(lookup) X(forget) X(forget_multi) X(getattr) X(setattr) X(readlink) X(mknod) \
	X(mkdir) X(symlink) X(unlink) X(rmdir) X(rename) X(link) X(open) X(create) X(read) \
	X(write) X(flush) X(release) X(fsync) X(fallocate) X(opendir) X(releasedir) \
	X(readdir) X(readdirplus) X(fsyncdir) X(statfs) X(getxattr) X(setxattr) \
	X(listxattr) X(removexattr)

enum fs_op {
#define OP_ENUM(op) OP_##op,
	FS_METRICS_OPS(OP_ENUM)
#undef OP_ENUM
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
#define OP_NAME(op) #op,
	FS_METRICS_OPS(OP_NAME)
#undef OP_NAME
};

static struct gd_mseries *requests[OP_COUNT], *errors[OP_COUNT], *duration[OP_COUNT];
static struct fuse_lowlevel_ops real, counted;
/* The operation this thread runs now, +1 (0: none). */
static __thread int cur_op;

/* ---- the wrappers ---- */

static uint64_t op_begin(enum fs_op op)
{
	cur_op = (int)op + 1;
	gd_mseries_inc(requests[op]);
	return gd_server_metrics_now_ns();
}

static void op_end(enum fs_op op, uint64_t t0)
{
	gd_mseries_observe(duration[op], (double)(gd_server_metrics_now_ns() - t0) / 1e9);
	cur_op = 0;
}

#define WRAP(op, params, args) \
	static void w_##op params \
	{ \
		uint64_t t0 = op_begin(OP_##op); \
		real.op args; \
		op_end(OP_##op, t0); \
	}

WRAP(lookup, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(forget, (fuse_req_t r, fuse_ino_t i, uint64_t n), (r, i, n))
WRAP(forget_multi, (fuse_req_t r, size_t c, struct fuse_forget_data *f), (r, c, f))
WRAP(getattr, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *fi), (r, i, fi))
WRAP(setattr, (fuse_req_t r, fuse_ino_t i, struct stat *a, int s, struct fuse_file_info *fi),
     (r, i, a, s, fi))
WRAP(readlink, (fuse_req_t r, fuse_ino_t i), (r, i))
WRAP(mknod, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, dev_t d), (r, p, n, m, d))
WRAP(mkdir, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m), (r, p, n, m))
WRAP(symlink, (fuse_req_t r, const char *l, fuse_ino_t p, const char *n), (r, l, p, n))
WRAP(unlink, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(rmdir, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(rename, (fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn,
	      unsigned int f), (r, p, n, np, nn, f))
WRAP(link, (fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn), (r, i, np, nn))
WRAP(open, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *fi), (r, i, fi))
WRAP(create, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *fi),
     (r, p, n, m, fi))
WRAP(read, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *fi),
     (r, i, s, o, fi))
WRAP(write, (fuse_req_t r, fuse_ino_t i, const char *b, size_t s, off_t o,
	     struct fuse_file_info *fi), (r, i, b, s, o, fi))
WRAP(flush, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *fi), (r, i, fi))
WRAP(release, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *fi), (r, i, fi))
WRAP(fsync, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *fi), (r, i, d, fi))
WRAP(fallocate, (fuse_req_t r, fuse_ino_t i, int m, off_t o, off_t l, struct fuse_file_info *fi),
     (r, i, m, o, l, fi))
WRAP(opendir, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *fi), (r, i, fi))
WRAP(releasedir, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *fi), (r, i, fi))
WRAP(readdir, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *fi),
     (r, i, s, o, fi))
WRAP(readdirplus, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *fi),
     (r, i, s, o, fi))
WRAP(fsyncdir, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *fi), (r, i, d, fi))
WRAP(statfs, (fuse_req_t r, fuse_ino_t i), (r, i))
WRAP(getxattr, (fuse_req_t r, fuse_ino_t i, const char *n, size_t s), (r, i, n, s))
WRAP(setxattr, (fuse_req_t r, fuse_ino_t i, const char *n, const char *v, size_t s, int f),
     (r, i, n, v, s, f))
WRAP(listxattr, (fuse_req_t r, fuse_ino_t i, size_t s), (r, i, s))
WRAP(removexattr, (fuse_req_t r, fuse_ino_t i, const char *n), (r, i, n))

/* Every error reply of fs_ops passes here (-Wl,--wrap=fuse_reply_err). */
int __real_fuse_reply_err(fuse_req_t req, int err);
int __wrap_fuse_reply_err(fuse_req_t req, int err);
int __wrap_fuse_reply_err(fuse_req_t req, int err)
{
	if (err != 0 && cur_op > 0)
		gd_mseries_inc(errors[cur_op - 1]);
	return __real_fuse_reply_err(req, err);
}

const struct fuse_lowlevel_ops *fs_metrics_ops(const struct fuse_lowlevel_ops *in)
{
	real = *in;
	counted = *in;
#define OP_SET(op) if (in->op) counted.op = w_##op;
	FS_METRICS_OPS(OP_SET)
#undef OP_SET
	return &counted;
}

/* ---- sizes, read at scrape time ---- */

enum size_of { SZ_WBUF, SZ_RA, SZ_INODES, SZ_LOCS };

static struct fs_mount *the_mount;

static void collect_size(void *ctx, struct gd_metrics_emit *e)
{
	enum size_of which = (enum size_of)(intptr_t)ctx;
	struct fs_mount *m = the_mount;
	size_t wbuf, ra;

	switch (which) {
	case SZ_WBUF:
	case SZ_RA:
		fs_data_mem(m->data, &wbuf, &ra);
		gd_metrics_emit(e, (double)(which == SZ_WBUF ? wbuf : ra));
		break;
	case SZ_INODES:
		gd_metrics_emit(e, (double)fs_itable_count(m->it));
		break;
	case SZ_LOCS:
		gd_metrics_emit(e, (double)gd_client_location_cache_entries(m->gc));
		break;
	}
}

int fs_metrics_start(struct fs_mount *m, const char *listen, struct gd_http **out)
{
	struct gd_metrics *reg = gd_metrics_global();
	struct gd_metric *req_m, *err_m, *dur_m;
	size_t i;

	the_mount = m;
	req_m = gd_metrics_counter(reg, "godfs_client_fuse_requests_total",
				   "FUSE requests handled, by operation.", "op");
	err_m = gd_metrics_counter(reg, "godfs_client_fuse_errors_total",
				   "FUSE requests answered with an error, by operation.", "op");
	dur_m = gd_metrics_histogram(reg, "godfs_client_fuse_request_duration_seconds",
				     "Time in the FUSE operation's handler, by operation.", "op",
				     NULL, 0);
	for (i = 0; i < OP_COUNT; i++) {
		requests[i] = gd_metric_at(req_m, op_names[i]);
		errors[i] = gd_metric_at(err_m, op_names[i]);
		duration[i] = gd_metric_at(dur_m, op_names[i]);
	}
	gd_metrics_collector(reg, "godfs_client_write_buffer_bytes",
			     "Bytes held by write buffers not yet sent.", GD_METRIC_GAUGE, NULL,
			     collect_size, (void *)(intptr_t)SZ_WBUF);
	gd_metrics_collector(reg, "godfs_client_readahead_bytes", "Bytes held by read-ahead.",
			     GD_METRIC_GAUGE, NULL, collect_size, (void *)(intptr_t)SZ_RA);
	gd_metrics_collector(reg, "godfs_client_inode_cache_entries",
			     "Inodes the mount keeps (known to the kernel or open).", GD_METRIC_GAUGE,
			     NULL, collect_size, (void *)(intptr_t)SZ_INODES);
	gd_metrics_collector(reg, "godfs_client_location_cache_entries",
			     "Chunk locations cached for reading.", GD_METRIC_GAUGE, NULL,
			     collect_size, (void *)(intptr_t)SZ_LOCS);
	return gd_metrics_serve(listen, out);
}
