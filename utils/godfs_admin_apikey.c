/* godfs-admin apikey (see godfs_admin_apikey.h); what API keys share with
 * client tokens is in godfs_admin_tokcore.c. */
#include "godfs_admin_apikey.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gd_apikey.h"
#include "gd_auth.h"
#include "gd_cred.h"
#include "gd_status.h"
#include "godfs_admin_fmt.h"
#include "godfs_admin_tokcore.h"
#include "proto/wire.pb-c.h"

#define DEFAULT_GATEWAY "http://127.0.0.1:8080"
#define URL_MAX 8192

static const struct admin_tok_kind *const kind = &admin_tok_apikey;

void admin_apikey_usage(FILE *f)
{
	fprintf(f,
		"  apikey create --subtree PATH [--read-only] [--expires 30d|DATE|never]\n"
		"                [--name TEXT] [--uid U] [--gid G] [-o FILE] [--json]\n"
		"                      an API key of the REST gateway for the directory PATH,\n"
		"                      acting as uid/gid U/G (default 0/0); its Bearer string\n"
		"                      printed, or written to FILE (mode 0600)\n"
		"  apikey list [--json] every API key: id, subtree, access, uid/gid, state\n"
		"  apikey revoke ID    the key stops working (gateways: within a second)\n"
		"  apikey presign ID --method GET|PUT --path P [--expires 1h] [--gateway URL]\n"
		"                      a presigned URL of /v1/fs/content for P (relative to\n"
		"                      the key's subtree), valid at most 7 days\n");
}

/* The expiry of a presigned URL: a duration from now (default 1h) or a
 * date, at most GD_PRESIGN_MAX_SEC ahead. */
static int presign_expiry(const char *s, time_t now, uint64_t *exp)
{
	if (!s)
		s = "1h";
	if (strcmp(s, "never") == 0 || admin_tok_parse_expires(s, now, exp) != 0 ||
	    *exp > (uint64_t)now + GD_PRESIGN_MAX_SEC)
		return GD_EINVAL;
	return 0;
}

int admin_apikey_check_args(int argc, char **argv)
{
	struct admin_tok_args a;
	uint64_t v;

	if (argc < 1)
		goto usage;
	if (admin_tok_parse(kind, argc, argv, &a))
		return 2;
	if (strcmp(argv[0], "create") == 0) {
		if (a.id || a.method || a.path || a.gateway) {
			fprintf(stderr, "godfs-admin: apikey create takes no ID, --method, --path "
				"or --gateway (those are presign's)\n");
			return 2;
		}
		return admin_tok_check_create(kind, &a);
	}
	if (strcmp(argv[0], "list") == 0 && argc == 1 + a.json)
		return 0;
	if (strcmp(argv[0], "revoke") == 0 && argc == 2 && a.id)
		return 0;
	if (strcmp(argv[0], "presign") == 0) {
		if (!a.id || !a.method || !a.path ||
		    (strcmp(a.method, "GET") != 0 && strcmp(a.method, "PUT") != 0)) {
			fprintf(stderr, "godfs-admin: apikey presign needs ID, --method GET|PUT and "
				"--path P\n");
			return 2;
		}
		if (presign_expiry(a.expires, time(NULL), &v)) {
			fprintf(stderr, "godfs-admin: apikey presign: --expires %s: a duration or "
				"date at most 7 days ahead\n", a.expires);
			return 2;
		}
		return 0;
	}
usage:
	fprintf(stderr, "godfs-admin: apikey: unknown subcommand or wrong arguments\n");
	admin_apikey_usage(stderr);
	return 2;
}

/* Writes the Bearer string to path: mode 0600, a new file (an old one is
 * replaced, never opened: it may be a link elsewhere). */
static int write_key(const char *path, const char *bearer)
{
	size_t n = strlen(bearer);
	int fd, rc = 0;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return GD_EIO;
	if (write(fd, bearer, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		rc = GD_EIO;
	if (close(fd) < 0)
		rc = GD_EIO;
	return rc;
}

/* Creates the key and prints its Bearer string, or writes it to -o FILE. */
static int cmd_create(struct gd_meta_client *m, int json, int argc, char **argv)
{
	struct admin_tok_args a;
	struct gd_token tok;
	char bearer[GD_APIKEY_STR_MAX];
	uint64_t subtree = 0;
	int rc, ret = 1;

	if (admin_tok_parse(kind, argc, argv, &a))
		return 2;
	json |= a.json;
	rc = admin_tok_create(m, kind, &a, &tok, &subtree);
	if (rc)
		return rc;
	/* the holder gets the Bearer secret, never the token's (gd_apikey.h) */
	gd_apikey_bearer_secret(tok.secret, tok.secret);
	rc = gd_apikey_format(tok.id, tok.secret, bearer, sizeof(bearer));
	memset(tok.secret, 0, sizeof(tok.secret));
	if (rc)
		return admin_tok_fail(kind, "create", rc);
	if (a.out) {
		rc = write_key(a.out, bearer);
		if (rc) {
			fprintf(stderr, "godfs-admin: API key %" PRIu64 " created but not written "
				"to %s (revoke it with godfs-admin apikey revoke %" PRIu64 ")\n",
				tok.id, a.out, tok.id);
			goto out_wipe;
		}
	}
	if (json) {
		printf("{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"uid\": %" PRIu32
		       ", \"gid\": %" PRIu32 ", ", tok.id, subtree, a.uid, a.gid);
		if (a.out) {
			printf("\"file\": ");
			admin_json_str(a.out);
		} else {
			printf("\"key\": \"%s\"", bearer);
		}
		printf("}\n");
	} else {
		if (a.out)
			printf("%" PRIu64 "\n", tok.id);
		else
			printf("%s\n", bearer);
		fprintf(stderr, "godfs-admin: API key %" PRIu64 " for %s (inode %" PRIu64 ")%s, "
			"acting as uid %" PRIu32 " gid %" PRIu32 "%s%s\n", tok.id, a.subtree,
			subtree, a.read_only ? ", read-only" : "", a.uid, a.gid,
			a.out ? ", written to " : "", a.out ? a.out : "");
	}
	ret = 0;
out_wipe:
	memset(bearer, 0, sizeof(bearer));
	return ret;
}

/* The fields of API key id (TOKEN_GET): 0, or the exit status after a message. */
static int get_key(struct gd_meta_client *m, const char *what, uint64_t id, struct gd_token *t,
		   bool *revoked)
{
	Godfs__TokenGet req = GODFS__TOKEN_GET__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenResp *r;
	int rc, ret = 0;

	req.has_id = 1;
	req.id = id;
	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_GET, &req.base, &godfs__token_resp__descriptor,
			  &resp);
	r = (const Godfs__TokenResp *)resp;
	if (rc == 0 && (!r->token || !(r->token->flags & GD_TOKEN_APIKEY)))
		rc = GD_ENOENT;
	if (rc == GD_ENOENT) {
		fprintf(stderr, "godfs-admin: apikey %s: no API key %" PRIu64 "\n", what, id);
		ret = 1;
	} else if (rc) {
		ret = admin_tok_fail(kind, what, rc);
	} else {
		admin_tok_from_info(r->token, t);
		*revoked = r->token->revoked;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return ret;
}

static int cmd_revoke(struct gd_meta_client *m, uint64_t id)
{
	struct gd_token t;
	bool revoked;
	int rc;

	/* only API keys: `token revoke` is for mounts' tokens */
	rc = get_key(m, "revoke", id, &t, &revoked);
	if (rc)
		return rc;
	return admin_tok_revoke(m, kind, id);
}

/* A presigned URL, signed here under the first cluster key: the gateway
 * checks a signature under every key of its ring, so this needs no Bearer
 * string, only the key file. */
static int cmd_presign(struct gd_meta_client *m, int json, int argc, char **argv)
{
	const struct gd_keyring *kr = gd_cred_keys();
	char sig[GD_PRESIGN_SIG_HEX + 1], *url;
	struct gd_token t;
	struct admin_tok_args a;
	bool revoked;
	uint64_t exp;
	int rc, n;

	if (admin_tok_parse(kind, argc, argv, &a) || presign_expiry(a.expires, time(NULL), &exp))
		return 2;
	if (!kr || kr->n < 1) {
		fprintf(stderr, "godfs-admin: apikey presign needs the cluster key (--key-file), "
			"or sign offline with the Bearer string (docs/security.md)\n");
		return 1;
	}
	rc = get_key(m, "presign", a.id, &t, &revoked);
	if (rc)
		return rc;
	if (revoked) {
		fprintf(stderr, "godfs-admin: apikey presign: API key %" PRIu64 " is revoked\n",
			a.id);
		return 1;
	}
	if ((t.flags & GD_TOKEN_READ_ONLY) && strcmp(a.method, "PUT") == 0) {
		fprintf(stderr, "godfs-admin: apikey presign: API key %" PRIu64 " is read-only: "
			"a PUT URL would be refused\n", a.id);
		return 1;
	}
	gd_token_derive(&kr->key[0], &t);
	gd_apikey_bearer_secret(t.secret, t.secret);   /* URLs are signed with it */
	rc = gd_presign_sign(t.secret, a.method, a.path, exp, a.id, sig);
	memset(&t, 0, sizeof(t));
	if (rc)
		return admin_tok_fail(kind, "presign", rc);
	url = malloc(URL_MAX);
	if (!url)
		return admin_tok_fail(kind, "presign", GD_ENOMEM);
	n = snprintf(url, URL_MAX, "%s/v1/fs/content?", a.gateway ? a.gateway : DEFAULT_GATEWAY);
	if (n < 0 || n >= URL_MAX ||
	    gd_presign_query(a.path, a.id, exp, sig, url + n, URL_MAX - (size_t)n) < 0) {
		free(url);
		return admin_tok_fail(kind, "presign", GD_ENAMETOOLONG);
	}
	if (json) {
		printf("{\"url\": ");
		admin_json_str(url);
		printf(", \"method\": \"%s\", \"expires\": %" PRIu64 "}\n", a.method, exp);
	} else {
		printf("%s\n", url);
	}
	free(url);
	return 0;
}

int admin_apikey_run(struct gd_meta_client *m, int json, int argc, char **argv)
{
	struct admin_tok_args a;

	if (admin_apikey_check_args(argc, argv))
		return 2;
	(void)admin_tok_parse(kind, argc, argv, &a);
	if (strcmp(argv[0], "create") == 0)
		return cmd_create(m, json, argc, argv);
	if (strcmp(argv[0], "list") == 0)
		return admin_tok_list(m, kind, json | a.json);
	if (strcmp(argv[0], "revoke") == 0)
		return cmd_revoke(m, a.id);
	return cmd_presign(m, json, argc, argv);
}
