/* godfs-admin apikey (see godfs_admin_apikey.h). */
#include "godfs_admin_apikey.h"

#include <errno.h>
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
#include "godfs_admin_token.h"
#include "proto/wire.pb-c.h"

#define DEFAULT_GATEWAY "http://127.0.0.1:8080"
#define URL_MAX 8192

/* What the subcommands were given. */
struct args {
	const char *subtree, *expires, *name, *out, *method, *path, *gateway;
	uint32_t uid, gid;
	bool has_uid, has_gid, read_only, json;
	uint64_t id;
};

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

static int fail(const char *what, int rc)
{
	fprintf(stderr, "godfs-admin: apikey %s: %s\n", what, gd_strerror(rc));
	return 1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end = NULL;

	if (!s || s[0] < '0' || s[0] > '9')
		return GD_EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return (errno || end == s || *end) ? GD_EINVAL : 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	uint64_t x;

	if (parse_u64(s, &x) || x > UINT32_MAX)
		return GD_EINVAL;
	*v = (uint32_t)x;
	return 0;
}

/* The options of a subcommand (argv[0] is its name). */
static int parse(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool v = i + 1 < argc;

		if (strcmp(o, "--read-only") == 0) {
			a->read_only = true;
		} else if (strcmp(o, "--json") == 0) {
			a->json = true;
		} else if (strcmp(o, "--subtree") == 0 && v) {
			a->subtree = argv[++i];
		} else if (strcmp(o, "--expires") == 0 && v) {
			a->expires = argv[++i];
		} else if (strcmp(o, "--name") == 0 && v) {
			a->name = argv[++i];
		} else if ((strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) && v) {
			a->out = argv[++i];
		} else if (strcmp(o, "--method") == 0 && v) {
			a->method = argv[++i];
		} else if (strcmp(o, "--path") == 0 && v) {
			a->path = argv[++i];
		} else if (strcmp(o, "--gateway") == 0 && v) {
			a->gateway = argv[++i];
		} else if (strcmp(o, "--uid") == 0 && v) {
			a->has_uid = true;
			if (parse_u32(argv[++i], &a->uid))
				goto bad;
		} else if (strcmp(o, "--gid") == 0 && v) {
			a->has_gid = true;
			if (parse_u32(argv[++i], &a->gid))
				goto bad;
		} else if (a->id == 0 && o[0] != '-' && parse_u64(o, &a->id) == 0 && a->id) {
			continue;
		} else {
			fprintf(stderr, "godfs-admin: apikey %s: unknown or incomplete option %s\n",
				argv[0], o);
			return 2;
		}
		continue;
bad:
		fprintf(stderr, "godfs-admin: apikey %s: %s %s is not a number\n", argv[0], o,
			argv[i]);
		return 2;
	}
	return 0;
}

/* The expiry of a presigned URL: a duration from now (default 1h) or a
 * date, at most GD_PRESIGN_MAX_SEC ahead. */
static int presign_expiry(const char *s, time_t now, uint64_t *exp)
{
	if (!s)
		s = "1h";
	if (strcmp(s, "never") == 0 || admin_token_parse_expires(s, now, exp) != 0 ||
	    *exp > (uint64_t)now + GD_PRESIGN_MAX_SEC)
		return GD_EINVAL;
	return 0;
}

int admin_apikey_check_args(int argc, char **argv)
{
	struct args a;
	uint64_t v;

	if (argc < 1)
		goto usage;
	if (parse(argc, argv, &a))
		return 2;
	if (strcmp(argv[0], "create") == 0) {
		if (!a.subtree || a.id || a.method || a.path || a.gateway) {
			fprintf(stderr, "godfs-admin: apikey create needs --subtree PATH (and no "
				"presign options)\n");
			return 2;
		}
		if (a.name && strlen(a.name) > 255) {
			fprintf(stderr, "godfs-admin: apikey create: --name is longer than 255 bytes\n");
			return 2;
		}
		if (a.expires && admin_token_parse_expires(a.expires, time(NULL), &v)) {
			fprintf(stderr, "godfs-admin: apikey create: --expires %s: give never, a "
				"duration (90s, 45m, 12h, 30d) or a future date\n", a.expires);
			return 2;
		}
		return 0;
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

static int cmd_create(struct gd_meta_client *m, int json, int argc, char **argv)
{
	Godfs__TokenCreate req = GODFS__TOKEN_CREATE__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenResp *r;
	const struct gd_keyring *kr = gd_cred_keys();
	const struct gd_key *key;
	struct gd_token tok;
	struct args a;
	char bearer[GD_APIKEY_STR_MAX];
	uint64_t subtree = 0, expires = 0;
	int rc, ret = 1;

	if (parse(argc, argv, &a))
		return 2;
	json |= a.json;
	if (a.expires && admin_token_parse_expires(a.expires, time(NULL), &expires))
		return 2;
	if (!kr || kr->n < 1) {
		fprintf(stderr, "godfs-admin: apikey create needs the cluster key (--key-file): "
			"the key's secret is derived from it here, never sent by the meta\n");
		return 1;
	}
	rc = admin_token_resolve_dir(m, a.subtree, &subtree);
	if (rc)
		return fail(a.subtree, rc);
	req.has_subtree = req.has_flags = 1;
	req.subtree = subtree;
	req.flags = GD_TOKEN_APIKEY | (a.read_only ? GD_TOKEN_READ_ONLY : 0);
	req.has_expires = expires != 0;
	req.expires = expires;
	req.has_uid = req.has_gid = 1;
	req.uid = a.uid;
	req.gid = a.gid;
	req.name = (char *)(a.name ? a.name : "");
	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_CREATE, &req.base,
			  &godfs__token_resp__descriptor, &resp);
	if (rc) {
		ret = fail("create", rc);
		goto out;
	}
	r = (const Godfs__TokenResp *)resp;
	if (!r->token || !r->token->has_id || !r->has_key_id || r->key_id.len != GD_KEY_ID_LEN) {
		ret = fail("create", GD_EPROTO);
		goto out;
	}
	key = gd_keyring_find(kr, r->key_id.data);
	if (!key) {
		fprintf(stderr, "godfs-admin: API key %" PRIu64 " created under a cluster key "
			"that is not in our key file: cannot derive its secret (revoke it with "
			"godfs-admin apikey revoke %" PRIu64 ")\n", r->token->id, r->token->id);
		goto out;
	}
	memset(&tok, 0, sizeof(tok));
	tok.id = r->token->id;
	tok.subtree = r->token->subtree;
	tok.expires = r->token->expires;
	tok.flags = r->token->flags;
	gd_token_derive(key, &tok);
	rc = gd_apikey_format(tok.id, tok.secret, bearer, sizeof(bearer));
	memset(&tok, 0, sizeof(tok));
	if (rc) {
		ret = fail("create", rc);
		goto out;
	}
	if (a.out) {
		rc = write_key(a.out, bearer);
		if (rc) {
			fprintf(stderr, "godfs-admin: API key %" PRIu64 " created but not written "
				"to %s (revoke it with godfs-admin apikey revoke %" PRIu64 ")\n",
				r->token->id, a.out, r->token->id);
			goto out_wipe;
		}
	}
	if (json) {
		printf("{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"uid\": %" PRIu32
		       ", \"gid\": %" PRIu32 ", ", r->token->id, subtree, a.uid, a.gid);
		if (a.out) {
			printf("\"file\": ");
			admin_json_str(a.out);
		} else {
			printf("\"key\": \"%s\"", bearer);
		}
		printf("}\n");
	} else {
		if (a.out)
			printf("%" PRIu64 "\n", r->token->id);
		else
			printf("%s\n", bearer);
		fprintf(stderr, "godfs-admin: API key %" PRIu64 " for %s (inode %" PRIu64 ")%s, "
			"acting as uid %" PRIu32 " gid %" PRIu32 "%s%s\n", r->token->id, a.subtree,
			subtree, a.read_only ? ", read-only" : "", a.uid, a.gid,
			a.out ? ", written to " : "", a.out ? a.out : "");
	}
	ret = 0;
out_wipe:
	memset(bearer, 0, sizeof(bearer));
out:
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return ret;
}

/* A Unix time for humans (local time), or "never". */
static const char *when(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0)
		return "never";
	if (!localtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%" PRIu64, t);
	return buf;
}

static int cmd_list(struct gd_meta_client *m, int json)
{
	Godfs__TokenList req = GODFS__TOKEN_LIST__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenListResp *r;
	uint64_t now = (uint64_t)time(NULL);
	char b1[40], b2[40];
	size_t shown = 0;
	int rc;

	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_LIST, &req.base,
			  &godfs__token_list_resp__descriptor, &resp);
	if (rc) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return fail("list", rc);
	}
	r = (const Godfs__TokenListResp *)resp;
	if (json)
		printf("[");
	else
		printf("%-6s %-10s %-10s %-6s %-6s %-19s %-19s %-8s %s\n", "ID", "SUBTREE", "ACCESS",
		       "UID", "GID", "EXPIRES", "CREATED", "STATE", "NAME");
	for (size_t i = 0; i < r->n_tokens; i++) {
		const Godfs__TokenInfo *t = r->tokens[i];
		bool ro = t->flags & GD_TOKEN_READ_ONLY;
		const char *state = t->revoked ? "revoked" :
				    (t->expires && t->expires <= now) ? "expired" : "valid";

		if (!(t->flags & GD_TOKEN_APIKEY))
			continue;    /* `token list` shows those */
		if (json) {
			printf("%s{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"read_only\": %s, "
			       "\"uid\": %" PRIu32 ", \"gid\": %" PRIu32 ", \"expires\": %" PRIu64
			       ", \"created\": %" PRId64 ", \"state\": \"%s\", \"name\": ",
			       shown++ ? ", " : "", t->id, t->subtree, ro ? "true" : "false",
			       t->uid, t->gid, t->expires, t->created, state);
			admin_json_str(t->name);
			printf("}");
		} else {
			printf("%-6" PRIu64 " %-10" PRIu64 " %-10s %-6" PRIu32 " %-6" PRIu32
			       " %-19s %-19s %-8s %s\n", t->id, t->subtree,
			       ro ? "read-only" : "read-write", t->uid, t->gid,
			       when(t->expires, b1, sizeof(b1)),
			       when((uint64_t)(t->created > 0 ? t->created : 0), b2, sizeof(b2)),
			       state, t->name ? t->name : "");
		}
	}
	if (json)
		printf("]\n");
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
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
		ret = fail(what, rc);
	} else {
		memset(t, 0, sizeof(*t));
		t->id = r->token->id;
		t->subtree = r->token->subtree;
		t->expires = r->token->expires;
		t->flags = r->token->flags;
		*revoked = r->token->revoked;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return ret;
}

static int cmd_revoke(struct gd_meta_client *m, uint64_t id)
{
	Godfs__TokenRevoke req = GODFS__TOKEN_REVOKE__INIT;
	ProtobufCMessage *resp = NULL;
	struct gd_token t;
	bool revoked;
	int rc;

	/* only API keys: `token revoke` is for mounts' tokens */
	rc = get_key(m, "revoke", id, &t, &revoked);
	if (rc)
		return rc;
	req.has_id = 1;
	req.id = id;
	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_REVOKE, &req.base,
			  &godfs__token_resp__descriptor, &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		return fail("revoke", rc);
	printf("API key %" PRIu64 " revoked\n", id);
	return 0;
}

/* A presigned URL, signed here under the first cluster key: the gateway
 * checks a signature under every key of its ring, so this needs no Bearer
 * string, only the key file. */
static int cmd_presign(struct gd_meta_client *m, int json, int argc, char **argv)
{
	const struct gd_keyring *kr = gd_cred_keys();
	char sig[GD_PRESIGN_SIG_HEX + 1], *url;
	struct gd_token t;
	struct args a;
	bool revoked;
	uint64_t exp;
	int rc, n;

	if (parse(argc, argv, &a) || presign_expiry(a.expires, time(NULL), &exp))
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
	rc = gd_presign_sign(t.secret, a.method, a.path, exp, a.id, sig);
	memset(&t, 0, sizeof(t));
	if (rc)
		return fail("presign", rc);
	url = malloc(URL_MAX);
	if (!url)
		return fail("presign", GD_ENOMEM);
	n = snprintf(url, URL_MAX, "%s/v1/fs/content?", a.gateway ? a.gateway : DEFAULT_GATEWAY);
	if (n < 0 || n >= URL_MAX ||
	    gd_presign_query(a.path, a.id, exp, sig, url + n, URL_MAX - (size_t)n) < 0) {
		free(url);
		return fail("presign", GD_ENAMETOOLONG);
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
	struct args a;

	if (admin_apikey_check_args(argc, argv))
		return 2;
	(void)parse(argc, argv, &a);
	if (strcmp(argv[0], "create") == 0)
		return cmd_create(m, json, argc, argv);
	if (strcmp(argv[0], "list") == 0)
		return cmd_list(m, json | a.json);
	if (strcmp(argv[0], "revoke") == 0)
		return cmd_revoke(m, a.id);
	return cmd_presign(m, json, argc, argv);
}
