/* godfs-admin nodes and placement: the chunk servers, their decommissioning
 * and where copies sit (man godfs-admin(8), docs/operations.md).
 *
 *   nodes [--json]              every chunk server: id, address, label, state
 *                               (alive, dead, draining with the copies left,
 *                               drained), chunks, free / total
 *   nodes drain ID              no new copies on ID; its copies move away
 *   nodes undrain ID            ends a drain
 *   placement [--json]          chunks whose copies share a rack or zone
 *
 * Runs on an admin session that godfs_admin.c opened. */
#ifndef GODFS_ADMIN_NODES_H
#define GODFS_ADMIN_NODES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gd_meta_client.h"

/* Checks the arguments after "nodes" without talking to the cluster: 0 when
 * they are good, 2 (usage) after printing why. */
int admin_nodes_check_args(int argc, char **argv);
/* Runs `nodes ...`: the exit status (0, 1 an error from the cluster). */
int admin_nodes_run(struct gd_meta_client *m, int json, int argc, char **argv);
/* Runs `placement`: 0, or 1 for an error from the cluster. */
int admin_placement_run(struct gd_meta_client *m, int json);

/* The usage lines of these commands. */
void admin_nodes_usage(FILE *f);

#endif
