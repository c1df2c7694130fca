/* godfs-admin token: create, list and revoke client tokens (see
 * godfs_admin_token.h). */
#include "godfs_admin_token.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_auth.h"
#include "gd_cred.h"
#include "gd_status.h"
#include "godfs_admin_fmt.h"
#include "proto/wire.pb-c.h"

#define TOKEN_ROOT_INO 1
#define TOKEN_MAX_DEPTH 4096

/* What `token create` was given. */
struct create_args {
	const char *subtree;
	const char *expires;
	const char *name;
	const char *out;
	bool read_only;
	bool json;
};

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

static int fail(const char *what, int rc)
{
	fprintf(stderr, "godfs-admin: token %s: %s\n", what, gd_strerror(rc));
	return 1;
}

int admin_token_parse_expires(const char *s, time_t now, uint64_t *out)
{
	char *end = NULL;
	struct tm tm;
	const char *rest;
	unsigned long long n;
	uint64_t unit = 0;
	time_t t;

	if (strcmp(s, "never") == 0) {
		*out = 0;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '9' && !strchr(s, '-')) {
		errno = 0;
		n = strtoull(s, &end, 10);
		if (errno || end == s || end[0] == '\0' || end[1] != '\0')
			return GD_EINVAL;
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return GD_EINVAL;
		}
		if (n == 0 || n > (uint64_t)100 * 365 * 86400 / unit)
			return GD_EINVAL;
		*out = (uint64_t)now + n * unit;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest || *rest) {
		memset(&tm, 0, sizeof(tm));
		rest = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	}
	if (!rest || *rest) {
		memset(&tm, 0, sizeof(tm));
		rest = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!rest || *rest)
		return GD_EINVAL;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t == (time_t)-1 || t <= now)
		return GD_EINVAL;
	*out = (uint64_t)t;
	return 0;
}

static int parse_create(int argc, char **argv, struct create_args *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool has_val = i + 1 < argc;
		if (strcmp(o, "--read-only") == 0) {
			c->read_only = true;
		} else if (strcmp(o, "--json") == 0) {
			c->json = true;
		} else if (strcmp(o, "--subtree") == 0 && has_val) {
			c->subtree = argv[++i];
		} else if (strcmp(o, "--expires") == 0 && has_val) {
			c->expires = argv[++i];
		} else if (strcmp(o, "--name") == 0 && has_val) {
			c->name = argv[++i];
		} else if ((strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) && has_val) {
			c->out = argv[++i];
		} else {
			fprintf(stderr, "godfs-admin: token create: unknown or incomplete option %s\n", o);
			return 2;
		}
	}
	if (!c->subtree) {
		fprintf(stderr, "godfs-admin: token create needs --subtree PATH\n");
		return 2;
	}
	if (c->name && strlen(c->name) > 255) {
		fprintf(stderr, "godfs-admin: token create: --name is longer than 255 bytes\n");
		return 2;
	}
	return 0;
}

/* A token id on the command line. */
static int parse_id(const char *s, uint64_t *id)
{
	char *end = NULL;

	errno = 0;
	*id = strtoull(s, &end, 10);
	return (errno || end == s || *end || *id == 0) ? GD_EINVAL : 0;
}

int admin_token_check_args(int argc, char **argv)
{
	struct create_args c;
	uint64_t v;
	int i;

	if (argc < 1)
		goto usage;
	if (strcmp(argv[0], "create") == 0) {
		if (parse_create(argc, argv, &c))
			return 2;
		if (c.expires && admin_token_parse_expires(c.expires, time(NULL), &v)) {
			fprintf(stderr, "godfs-admin: token create: --expires %s: give never, a "
				"duration (90s, 45m, 12h, 30d) or a future date (YYYY-MM-DD"
				"[THH:MM[:SS]], local time)\n", c.expires);
			return 2;
		}
		return 0;
	}
	if (strcmp(argv[0], "list") == 0) {
		for (i = 1; i < argc; i++)
			if (strcmp(argv[i], "--json") != 0)
				goto usage;
		return 0;
	}
	if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
		if (parse_id(argv[1], &v) == 0)
			return 0;
		fprintf(stderr, "godfs-admin: token revoke: %s is not a token id\n", argv[1]);
		return 2;
	}
usage:
	fprintf(stderr, "godfs-admin: token: unknown subcommand or wrong arguments\n");
	admin_token_usage(stderr);
	return 2;
}

int admin_token_resolve_dir(struct gd_meta_client *m, const char *path, uint64_t *ino)
{
	char *copy = gd_strdup(path), *save = NULL, *name;
	uint64_t cur = TOKEN_ROOT_INO;
	unsigned depth = 0;
	int rc = 0;

	if (!copy)
		return GD_ENOMEM;
	for (name = strtok_r(copy, "/", &save); name && rc == 0;
	     name = strtok_r(NULL, "/", &save)) {
		Godfs__Lookup req = GODFS__LOOKUP__INIT;
		ProtobufCMessage *resp = NULL;
		const Godfs__AttrResp *a;

		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0 || ++depth > TOKEN_MAX_DEPTH) {
			rc = GD_EINVAL;
			break;
		}
		req.has_parent = 1;
		req.parent = cur;
		req.name = name;
		rc = gd_meta_call(m, GODFS__METHOD__M_LOOKUP, &req.base,
				  &godfs__attr_resp__descriptor, &resp);
		a = (const Godfs__AttrResp *)resp;
		if (rc == 0 && (!a->attr || !a->attr->has_ino || !a->attr->has_mode))
			rc = GD_EPROTO;
		if (rc == 0 && (a->attr->mode & 0170000) != 0040000)
			rc = GD_ENOTDIR;
		if (rc == 0)
			cur = a->attr->ino;
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	gd_free(copy);
	if (rc == 0)
		*ino = cur;
	return rc;
}

static int cmd_create(struct gd_meta_client *m, int json, int argc, char **argv)
{
	Godfs__TokenCreate req = GODFS__TOKEN_CREATE__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenResp *r;
	const struct gd_keyring *kr;
	const struct gd_key *key;
	struct create_args c;
	struct gd_token tok;
	char defpath[64];
	const char *path;
	uint64_t subtree = 0, expires = 0;
	int rc, ret = 1;

	if (parse_create(argc, argv, &c))
		return 2;
	json |= c.json;
	if (c.expires && admin_token_parse_expires(c.expires, time(NULL), &expires))
		return 2;
	/* The meta never sends the secret; we derive it under the cluster key,
	 * so without one (--insecure) there is no token to make. */
	kr = gd_cred_keys();
	if (!kr || kr->n < 1) {
		fprintf(stderr, "godfs-admin: token create needs the cluster key (--key-file): "
			"the token's secret is derived from it here, never sent by the meta\n");
		return 1;
	}
	rc = admin_token_resolve_dir(m, c.subtree, &subtree);
	if (rc)
		return fail(c.subtree, rc);
	req.has_subtree = 1;
	req.subtree = subtree;
	req.has_flags = c.read_only;
	req.flags = c.read_only ? GD_TOKEN_READ_ONLY : 0;
	req.has_expires = expires != 0;
	req.expires = expires;
	req.name = (char *)(c.name ? c.name : "");
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
		fprintf(stderr, "godfs-admin: token %" PRIu64 " created under the meta's cluster key "
			"%02x%02x%02x%02x, which is not in our key file: cannot derive its secret "
			"(give --key-file the meta's key file; revoke this one with "
			"godfs-admin token revoke %" PRIu64 ")\n", r->token->id,
			r->key_id.data[0], r->key_id.data[1], r->key_id.data[2], r->key_id.data[3],
			r->token->id);
		goto out;
	}
	memset(&tok, 0, sizeof(tok));
	tok.id = r->token->id;
	tok.subtree = r->token->subtree;
	tok.expires = r->token->expires;
	tok.flags = r->token->flags;
	gd_token_derive(key, &tok);
	snprintf(defpath, sizeof(defpath), "godfs-token-%" PRIu64, tok.id);
	path = c.out ? c.out : defpath;
	rc = gd_token_save(path, &tok);
	memset(&tok, 0, sizeof(tok));
	if (rc) {
		fprintf(stderr, "godfs-admin: token %" PRIu64 " created but not written to %s: %s "
			"(revoke it with godfs-admin token revoke %" PRIu64 ")\n",
			r->token->id, path, gd_strerror(rc), r->token->id);
		goto out;
	}
	if (json) {
		printf("{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"file\": ",
		       r->token->id, subtree);
		admin_json_str(path);
		printf("}\n");
	} else {
		printf("%" PRIu64 "\n", r->token->id);
		fprintf(stderr, "godfs-admin: token %" PRIu64 " for %s (inode %" PRIu64 ")%s "
			"written to %s (mode 0600)\n", r->token->id, c.subtree, subtree,
			c.read_only ? ", read-only," : "", path);
	}
	ret = 0;
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

static int cmd_list(struct gd_meta_client *m, int json, int argc, char **argv)
{
	Godfs__TokenList req = GODFS__TOKEN_LIST__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenListResp *r;
	uint64_t now = (uint64_t)time(NULL);
	char b1[40], b2[40];
	size_t i, shown = 0;
	int rc;

	for (i = 1; i < (size_t)argc; i++)
		json |= strcmp(argv[i], "--json") == 0;
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
		printf("%-6s %-10s %-10s %-19s %-19s %-8s %s\n", "ID", "SUBTREE", "ACCESS",
		       "EXPIRES", "CREATED", "STATE", "NAME");
	for (i = 0; i < r->n_tokens; i++) {
		const Godfs__TokenInfo *t = r->tokens[i];
		bool ro = t->flags & GD_TOKEN_READ_ONLY;
		const char *state = t->revoked ? "revoked" :
				    (t->expires && t->expires <= now) ? "expired" : "valid";
		if (t->flags & GD_TOKEN_APIKEY)
			continue;    /* `apikey list` shows those */
		if (json) {
			printf("%s{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"read_only\": %s, "
			       "\"expires\": %" PRIu64 ", \"created\": %" PRId64 ", \"state\": \"%s\", "
			       "\"name\": ", shown++ ? ", " : "", t->id, t->subtree, ro ? "true" : "false",
			       t->expires, t->created, state);
			admin_json_str(t->name);
			printf("}");
		} else {
			printf("%-6" PRIu64 " %-10" PRIu64 " %-10s %-19s %-19s %-8s %s\n", t->id,
			       t->subtree, ro ? "read-only" : "read-write",
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

static int cmd_revoke(struct gd_meta_client *m, const char *arg)
{
	Godfs__TokenRevoke req = GODFS__TOKEN_REVOKE__INIT;
	ProtobufCMessage *resp = NULL;
	uint64_t id;
	int rc;

	if (parse_id(arg, &id))
		return 2;
	req.has_id = 1;
	req.id = id;
	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_REVOKE, &req.base,
			  &godfs__token_resp__descriptor, &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc == GD_ENOENT) {
		fprintf(stderr, "godfs-admin: token revoke: no token %" PRIu64 "\n", id);
		return 1;
	}
	if (rc)
		return fail("revoke", rc);
	printf("token %" PRIu64 " revoked\n", id);
	return 0;
}

int admin_token_run(struct gd_meta_client *m, int json, int argc, char **argv)
{
	if (admin_token_check_args(argc, argv))
		return 2;
	if (strcmp(argv[0], "create") == 0)
		return cmd_create(m, json, argc, argv);
	if (strcmp(argv[0], "list") == 0)
		return cmd_list(m, json, argc, argv);
	return cmd_revoke(m, argv[1]);
}
