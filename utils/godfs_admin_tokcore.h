/* What `godfs-admin token` and `godfs-admin apikey` share. An API key is a
 * client token with GD_TOKEN_APIKEY (docs/security.md), so both commands
 * parse the same create options, create the token on the meta and derive
 * its secret under the cluster key the same way, list the same table and
 * revoke with the same call; they differ only in the admin_tok_kind they
 * pass. godfs_admin_token.c and godfs_admin_apikey.c keep what is theirs
 * (the token file; the Bearer string and presigned URLs).
 * Single-threaded, like the whole tool. */
#ifndef GODFS_ADMIN_TOKCORE_H
#define GODFS_ADMIN_TOKCORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "gd_auth.h"
#include "gd_meta_client.h"
#include "proto/wire.pb-c.h"

/* Which of the two commands runs. */
struct admin_tok_kind {
	const char *cmd;   /* its word on the command line: "token" or "apikey" */
	const char *noun;  /* what messages call one: "token" or "API key" */
	bool apikey;       /* API keys: GD_TOKEN_APIKEY, --uid/--gid, the presign options
			    * and an ID argument, the UID and GID columns of list */
};

extern const struct admin_tok_kind admin_tok_token;
extern const struct admin_tok_kind admin_tok_apikey;

/* What a subcommand was given. Strings point into argv. */
struct admin_tok_args {
	const char *subtree, *expires, *name, *out;
	const char *method, *path, *gateway;     /* apikey presign */
	uint32_t uid, gid;                       /* apikey create (default 0/0) */
	bool read_only, json;
	uint64_t id;                             /* apikey: the ID argument, 0 when none */
};

/* Parses the options of a subcommand (argv[0] is its name): those every kind
 * takes (--read-only --json --subtree --expires --name -o/--output) and, for
 * API keys, --uid --gid --method --path --gateway and one ID. 0, or 2 (usage)
 * after printing why. */
int admin_tok_parse(const struct admin_tok_kind *k, int argc, char **argv,
		    struct admin_tok_args *a);
/* The checks of `create` every kind makes: --subtree given, --name at most
 * 255 bytes, --expires readable. 0, or 2 after printing why. */
int admin_tok_check_create(const struct admin_tok_kind *k, const struct admin_tok_args *a);
/* A token id on the command line (decimal digits, not 0): 0 or GD_EINVAL. */
int admin_tok_parse_id(const char *s, uint64_t *id);

/* Parses an expiry: "never" (0), a duration from now ("90s", "45m", "12h",
 * "30d"), or a local date "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]". *out gets
 * Unix seconds. 0, or GD_EINVAL (also for a time not in the future). */
int admin_tok_parse_expires(const char *s, time_t now, uint64_t *out);

/* The directory inode of path, walked from the root with LOOKUPs ("." skipped,
 * ".." refused: the path must name the directory plainly). 0 or GD_E*. */
int admin_tok_resolve_dir(struct gd_meta_client *m, const char *path, uint64_t *ino);

/* Prints "godfs-admin: CMD WHAT: <error>" and returns 1 (an error from the
 * cluster). */
int admin_tok_fail(const struct admin_tok_kind *k, const char *what, int rc);

/* The fields of a token the meta describes (no secret: derive it). */
void admin_tok_from_info(const Godfs__TokenInfo *i, struct gd_token *t);

/* `create`: resolves --subtree, has the meta create the token (read-only,
 * expiry, name; for API keys GD_TOKEN_APIKEY and uid/gid) and derives its
 * secret under our copy of the cluster key the meta used. 0 with *t filled
 * (the caller wipes it) and *subtree the directory's inode, or the exit
 * status after a message. a was checked by admin_tok_check_create. */
int admin_tok_create(struct gd_meta_client *m, const struct admin_tok_kind *k,
		     const struct admin_tok_args *a, struct gd_token *t, uint64_t *subtree);

/* `list`: the tokens of this kind (API keys or the others) as a table, or a
 * JSON array with json. The exit status. */
int admin_tok_list(struct gd_meta_client *m, const struct admin_tok_kind *k, int json);

/* `revoke` once the caller has checked what id is: the exit status, after
 * "<noun> ID revoked" or a message. */
int admin_tok_revoke(struct gd_meta_client *m, const struct admin_tok_kind *k, uint64_t id);

#endif
