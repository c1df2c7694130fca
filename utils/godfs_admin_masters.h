/* godfs-admin masters: the meta voters (man godfs-admin(8), docs/meta.md
 * "Voters").
 *
 *   masters list [--json]
 *   masters add ID RAFT_ADDR CLIENT_ADDR
 *   masters remove ID
 *   masters transfer [ID]
 *
 * Runs on an admin session that godfs_admin.c opened. */
#ifndef GODFS_ADMIN_MASTERS_H
#define GODFS_ADMIN_MASTERS_H

#include <stdio.h>

#include "gd_meta_client.h"

/* Checks the arguments after "masters" (argv[0] is the subcommand) without
 * talking to the cluster: 0 when they are good, 2 (usage) after printing why. */
int admin_masters_check_args(int argc, char **argv);
/* Runs the subcommand: the exit status (0, 1 an error from the cluster). */
int admin_masters_run(struct gd_meta_client *m, int json, int argc, char **argv);
/* The usage lines of the masters commands. */
void admin_masters_usage(FILE *f);

#endif
