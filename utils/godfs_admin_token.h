/* godfs-admin token: create, list and revoke client tokens (man
 * godfs-admin(8), docs/security.md "Client tokens").
 *
 *   token create --subtree PATH [--read-only] [--expires 30d|12h|DATE|never]
 *                [--name TEXT] [-o FILE] [--json]
 *   token list [--json]          (API keys are not listed: `apikey list`)
 *   token revoke ID
 *
 * Runs on an admin session that godfs_admin.c opened. */
#ifndef GODFS_ADMIN_TOKEN_H
#define GODFS_ADMIN_TOKEN_H

#include <stdio.h>
#include <time.h>

#include "gd_meta_client.h"

/* Checks the arguments after "token" (argv[0] is the subcommand) without
 * talking to the cluster: 0 when they are good, 2 (usage) after printing why. */
int admin_token_check_args(int argc, char **argv);
/* Runs the subcommand: the exit status (0, 1 an error from the cluster,
 * 2 a usage error). json: --json was given before "token". */
int admin_token_run(struct gd_meta_client *m, int json, int argc, char **argv);
/* The usage lines of the token commands. */
void admin_token_usage(FILE *f);

/* Parses an expiry: "never" (0), a duration from now ("90s", "45m", "12h",
 * "30d"), or a local date "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]". *out gets
 * Unix seconds. 0, or GD_EINVAL (also for a time not in the future). */
int admin_token_parse_expires(const char *s, time_t now, uint64_t *out);

/* The directory inode of path, walked from the root with LOOKUPs ("." skipped,
 * ".." refused: the path must name the directory plainly). 0 or GD_E*. */
int admin_token_resolve_dir(struct gd_meta_client *m, const char *path, uint64_t *ino);

#endif
