/* godfs-admin token: create, list and revoke client tokens (man
 * godfs-admin(8), docs/security.md "Client tokens").
 *
 *   token create --subtree PATH [--read-only] [--expires 30d|12h|DATE|never]
 *                [--name TEXT] [-o FILE] [--json]
 *   token list [--json]          (API keys are not listed: `apikey list`)
 *   token revoke ID
 *
 * Runs on an admin session that godfs_admin.c opened; what it shares with
 * `apikey` is in godfs_admin_tokcore.h. */
#ifndef GODFS_ADMIN_TOKEN_H
#define GODFS_ADMIN_TOKEN_H

#include <stdio.h>

#include "gd_meta_client.h"

/* Checks the arguments after "token" (argv[0] is the subcommand) without
 * talking to the cluster: 0 when they are good, 2 (usage) after printing why. */
int admin_token_check_args(int argc, char **argv);
/* Runs the subcommand: the exit status (0, 1 an error from the cluster,
 * 2 a usage error). json: --json was given before "token". */
int admin_token_run(struct gd_meta_client *m, int json, int argc, char **argv);
/* The usage lines of the token commands. */
void admin_token_usage(FILE *f);

#endif
