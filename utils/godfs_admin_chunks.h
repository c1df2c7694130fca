/* godfs-admin chunks: the chunks by live copies left and the progress of
 * re-replication (man godfs-admin(8), docs/operations.md).
 *
 *   chunks [--json]
 *
 * Runs on an admin session that godfs_admin.c opened: one ADMIN_STATUS call
 * (its ReplProgress, wire.proto). */
#ifndef GODFS_ADMIN_CHUNKS_H
#define GODFS_ADMIN_CHUNKS_H

#include <stdio.h>

#include "gd_meta_client.h"

/* The exit status (0, or 1 an error from the cluster). */
int admin_chunks_run(struct gd_meta_client *m, int json);

/* The usage lines of the command. */
void admin_chunks_usage(FILE *f);

#endif
