/* godfs-admin token: create, list and revoke client tokens (see
 * godfs_admin_token.h); what API keys share with them is in
 * godfs_admin_tokcore.c. */
#include "godfs_admin_token.h"

#include <inttypes.h>
#include <string.h>

#include "gd_auth.h"
#include "gd_status.h"
#include "godfs_admin_fmt.h"
#include "godfs_admin_tokcore.h"

static const struct admin_tok_kind *const kind = &admin_tok_token;

void admin_token_usage(FILE *f)
{
	fprintf(f,
		"  token create --subtree PATH [--read-only] [--expires 30d|12h|DATE|never]\n"
		"               [--name TEXT] [-o FILE] [--json]\n"
		"                      a client token for the directory PATH (from the root of\n"
		"                      the file system); written to FILE (mode 0600, default\n"
		"                      ./godfs-token-ID), its id printed; mount with\n"
		"                      mount.godfs -o token_file=FILE\n"
		"  token list [--json] every token: id, subtree inode, flags, expiry, state\n"
		"  token revoke ID     the token stops working at once, on every mount\n");
}

int admin_token_check_args(int argc, char **argv)
{
	struct admin_tok_args a;
	uint64_t v;
	int i;

	if (argc < 1)
		goto usage;
	if (strcmp(argv[0], "create") == 0) {
		if (admin_tok_parse(kind, argc, argv, &a))
			return 2;
		return admin_tok_check_create(kind, &a);
	}
	if (strcmp(argv[0], "list") == 0) {
		for (i = 1; i < argc; i++)
			if (strcmp(argv[i], "--json") != 0)
				goto usage;
		return 0;
	}
	if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
		if (admin_tok_parse_id(argv[1], &v) == 0)
			return 0;
		fprintf(stderr, "godfs-admin: token revoke: %s is not a token id\n", argv[1]);
		return 2;
	}
usage:
	fprintf(stderr, "godfs-admin: token: unknown subcommand or wrong arguments\n");
	admin_token_usage(stderr);
	return 2;
}

/* Creates the token and writes its file (the secret never leaves it). */
static int cmd_create(struct gd_meta_client *m, int json, int argc, char **argv)
{
	struct admin_tok_args a;
	struct gd_token tok;
	uint64_t subtree = 0;
	char defpath[64];
	const char *path;
	int rc;

	if (admin_tok_parse(kind, argc, argv, &a))
		return 2;
	json |= a.json;
	rc = admin_tok_create(m, kind, &a, &tok, &subtree);
	if (rc)
		return rc;
	snprintf(defpath, sizeof(defpath), "godfs-token-%" PRIu64, tok.id);
	path = a.out ? a.out : defpath;
	rc = gd_token_save(path, &tok);
	memset(tok.secret, 0, sizeof(tok.secret));
	if (rc) {
		fprintf(stderr, "godfs-admin: token %" PRIu64 " created but not written to %s: %s "
			"(revoke it with godfs-admin token revoke %" PRIu64 ")\n",
			tok.id, path, gd_strerror(rc), tok.id);
		return 1;
	}
	if (json) {
		printf("{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"file\": ", tok.id, subtree);
		admin_json_str(path);
		printf("}\n");
	} else {
		printf("%" PRIu64 "\n", tok.id);
		fprintf(stderr, "godfs-admin: token %" PRIu64 " for %s (inode %" PRIu64 ")%s "
			"written to %s (mode 0600)\n", tok.id, a.subtree, subtree,
			a.read_only ? ", read-only," : "", path);
	}
	return 0;
}

int admin_token_run(struct gd_meta_client *m, int json, int argc, char **argv)
{
	uint64_t id = 0;
	int i;

	if (admin_token_check_args(argc, argv))
		return 2;
	if (strcmp(argv[0], "create") == 0)
		return cmd_create(m, json, argc, argv);
	if (strcmp(argv[0], "list") == 0) {
		for (i = 1; i < argc; i++)
			json |= strcmp(argv[i], "--json") == 0;
		return admin_tok_list(m, kind, json);
	}
	(void)admin_tok_parse_id(argv[1], &id);    /* checked above */
	return admin_tok_revoke(m, kind, id);
}
