/* godfs-admin apikey: API keys of the REST gateway (man godfs-admin(8),
 * docs/security.md "API keys").
 *
 *   apikey create --subtree PATH [--read-only] [--expires 30d|DATE|never]
 *                 [--name TEXT] [--uid U] [--gid G] [-o FILE] [--json]
 *   apikey list [--json]
 *   apikey revoke ID
 *   apikey presign ID --method GET|PUT --path P [--expires 1h]
 *                 [--gateway URL]
 *
 * An API key is a client token with GD_TOKEN_APIKEY (the meta keeps it with
 * the uid/gid it acts as); its Bearer string is derived here from the
 * fields under the cluster key, never sent by the meta. Runs on an admin
 * session that godfs_admin.c opened. */
#ifndef GODFS_ADMIN_APIKEY_H
#define GODFS_ADMIN_APIKEY_H

#include <stdio.h>

#include "gd_meta_client.h"

/* Checks the arguments after "apikey" (argv[0] is the subcommand) without
 * talking to the cluster: 0 when good, 2 (usage) after printing why. */
int admin_apikey_check_args(int argc, char **argv);
/* Runs the subcommand: the exit status (0; 1 an error from the cluster;
 * 2 usage). json: --json was given before "apikey". */
int admin_apikey_run(struct gd_meta_client *m, int json, int argc, char **argv);
void admin_apikey_usage(FILE *f);

#endif
