/* mount.godfs's Prometheus metrics (-o metrics_listen=HOST:PORT, off by
 * default; docs/observability.md): FUSE requests, errors and handler time by
 * operation, the bytes of write buffers and read-ahead, and the entries of
 * the inode table and of the chunk location cache.
 *
 * The FUSE operations are counted by a second operations table whose every
 * entry times the real one (fs_metrics_ops); errors are the fuse_reply_err
 * calls with a non-zero errno made while an operation runs on that thread
 * (mount.godfs links with -Wl,--wrap=fuse_reply_err). Without the option
 * the real table is used and nothing is counted.
 *
 * Threads: counters are atomic; the sizes are read at scrape time through
 * the thread-safe accessors of fs_data, fs_itable and gd_client. The mount
 * (m) must outlive the listener. */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include "fs_ops.h"
#include "gd_http.h"

/* Registers the mount's metrics and serves them on listen (*out; stop it
 * with gd_http_stop before freeing m's parts). 0 or a GD_E* code (logged). */
int fs_metrics_start(struct fs_mount *m, const char *listen, struct gd_http **out);

/* The operations table that counts each operation of in (in must stay
 * valid); call once, before the session starts. */
const struct fuse_lowlevel_ops *fs_metrics_ops(const struct fuse_lowlevel_ops *in);

#endif
