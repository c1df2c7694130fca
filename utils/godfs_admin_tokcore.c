/* What godfs-admin token and apikey share (see godfs_admin_tokcore.h). */
#include "godfs_admin_tokcore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_cred.h"
#include "gd_hex.h"
#include "gd_status.h"
#include "godfs_admin_fmt.h"

#define TOK_ROOT_INO 1
#define TOK_MAX_DEPTH 4096
#define TOK_NAME_MAX 255

const struct admin_tok_kind admin_tok_token = { "token", "token", false };
const struct admin_tok_kind admin_tok_apikey = { "apikey", "API key", true };

int admin_tok_fail(const struct admin_tok_kind *k, const char *what, int rc)
{
	fprintf(stderr, "godfs-admin: %s %s: %s\n", k->cmd, what, gd_strerror(rc));
	return 1;
}

int admin_tok_parse_id(const char *s, uint64_t *id)
{
	char *end = NULL;

	/* strtoull alone would take " 5", "+5" and "-1" (as 2^64-1) */
	if (!s || s[0] < '0' || s[0] > '9')
		return GD_EINVAL;
	errno = 0;
	*id = strtoull(s, &end, 10);
	return (errno || end == s || *end || *id == 0) ? GD_EINVAL : 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end = NULL;
	unsigned long long x;

	if (!s || s[0] < '0' || s[0] > '9')
		return GD_EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || x > UINT32_MAX)
		return GD_EINVAL;
	*v = (uint32_t)x;
	return 0;
}

int admin_tok_parse(const struct admin_tok_kind *k, int argc, char **argv,
		    struct admin_tok_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool v = i + 1 < argc;
		uint64_t id;

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
		} else if (k->apikey && strcmp(o, "--method") == 0 && v) {
			a->method = argv[++i];
		} else if (k->apikey && strcmp(o, "--path") == 0 && v) {
			a->path = argv[++i];
		} else if (k->apikey && strcmp(o, "--gateway") == 0 && v) {
			a->gateway = argv[++i];
		} else if (k->apikey && (strcmp(o, "--uid") == 0 || strcmp(o, "--gid") == 0) && v) {
			uint32_t *dst = strcmp(o, "--uid") == 0 ? &a->uid : &a->gid;

			if (parse_u32(argv[++i], dst)) {
				fprintf(stderr, "godfs-admin: %s %s: %s %s is not a number\n", k->cmd,
					argv[0], o, argv[i]);
				return 2;
			}
		} else if (k->apikey && a->id == 0 && admin_tok_parse_id(o, &id) == 0) {
			a->id = id;
		} else {
			fprintf(stderr, "godfs-admin: %s %s: unknown or incomplete option %s\n",
				k->cmd, argv[0], o);
			return 2;
		}
	}
	return 0;
}

int admin_tok_check_create(const struct admin_tok_kind *k, const struct admin_tok_args *a)
{
	uint64_t v;

	if (!a->subtree) {
		fprintf(stderr, "godfs-admin: %s create needs --subtree PATH\n", k->cmd);
		return 2;
	}
	if (a->name && strlen(a->name) > TOK_NAME_MAX) {
		fprintf(stderr, "godfs-admin: %s create: --name is longer than %d bytes\n", k->cmd,
			TOK_NAME_MAX);
		return 2;
	}
	if (a->expires && admin_tok_parse_expires(a->expires, time(NULL), &v)) {
		fprintf(stderr, "godfs-admin: %s create: --expires %s: give never, a duration "
			"(90s, 45m, 12h, 30d) or a future date (YYYY-MM-DD[THH:MM[:SS]], local "
			"time)\n", k->cmd, a->expires);
		return 2;
	}
	return 0;
}

int admin_tok_parse_expires(const char *s, time_t now, uint64_t *out)
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

int admin_tok_resolve_dir(struct gd_meta_client *m, const char *path, uint64_t *ino)
{
	char *copy = gd_strdup(path), *save = NULL, *name;
	uint64_t cur = TOK_ROOT_INO;
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
		if (strcmp(name, "..") == 0 || ++depth > TOK_MAX_DEPTH) {
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

void admin_tok_from_info(const Godfs__TokenInfo *i, struct gd_token *t)
{
	memset(t, 0, sizeof(*t));
	t->id = i->id;
	t->subtree = i->subtree;
	t->expires = i->expires;
	t->flags = i->flags;
}

int admin_tok_create(struct gd_meta_client *m, const struct admin_tok_kind *k,
		     const struct admin_tok_args *a, struct gd_token *t, uint64_t *subtree)
{
	Godfs__TokenCreate req = GODFS__TOKEN_CREATE__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenResp *r;
	const struct gd_keyring *kr = gd_cred_keys();
	const struct gd_key *key;
	uint64_t expires = 0;
	int rc, ret = 1;

	if (a->expires && admin_tok_parse_expires(a->expires, time(NULL), &expires))
		return 2;
	/* The meta never sends the secret; we derive it under the cluster key,
	 * so without one (--insecure) there is nothing to make. */
	if (!kr || kr->n < 1) {
		fprintf(stderr, "godfs-admin: %s create needs the cluster key (--key-file): the "
			"%s's secret is derived from it here, never sent by the meta\n", k->cmd,
			k->noun);
		return 1;
	}
	rc = admin_tok_resolve_dir(m, a->subtree, subtree);
	if (rc)
		return admin_tok_fail(k, a->subtree, rc);
	req.has_subtree = 1;
	req.subtree = *subtree;
	req.flags = (k->apikey ? GD_TOKEN_APIKEY : 0) | (a->read_only ? GD_TOKEN_READ_ONLY : 0);
	req.has_flags = req.flags != 0;
	req.has_expires = expires != 0;
	req.expires = expires;
	/* only an API key acts as someone: the meta refuses a uid on a token */
	req.has_uid = req.has_gid = k->apikey;
	req.uid = a->uid;
	req.gid = a->gid;
	req.name = (char *)(a->name ? a->name : "");
	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_CREATE, &req.base,
			  &godfs__token_resp__descriptor, &resp);
	if (rc) {
		ret = admin_tok_fail(k, "create", rc);
		goto out;
	}
	r = (const Godfs__TokenResp *)resp;
	if (!r->token || !r->token->has_id || !r->has_key_id || r->key_id.len != GD_KEY_ID_LEN) {
		ret = admin_tok_fail(k, "create", GD_EPROTO);
		goto out;
	}
	key = gd_keyring_find(kr, r->key_id.data);
	if (!key) {
		char kid[2 * 4 + 1];

		gd_hex_encode(r->key_id.data, 4, kid);   /* 4 bytes name a key for a human */
		fprintf(stderr, "godfs-admin: %s %" PRIu64 " created under the meta's cluster key "
			"%s, which is not in our key file: cannot derive its secret (give "
			"--key-file the meta's key file; revoke this one with godfs-admin %s "
			"revoke %" PRIu64 ")\n", k->noun, r->token->id, kid, k->cmd, r->token->id);
		goto out;
	}
	admin_tok_from_info(r->token, t);
	gd_token_derive(key, t);
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

/* One token of the list: a JSON object (after a comma but for the first) or
 * a row of the table. */
static void list_one(const struct admin_tok_kind *k, int json, bool first,
		     const Godfs__TokenInfo *t, uint64_t now)
{
	bool ro = t->flags & GD_TOKEN_READ_ONLY;
	const char *state = t->revoked ? "revoked" :
			    (t->expires && t->expires <= now) ? "expired" : "valid";
	char b1[40], b2[40];

	if (json) {
		printf("%s{\"id\": %" PRIu64 ", \"subtree\": %" PRIu64 ", \"read_only\": %s, ",
		       first ? "" : ", ", t->id, t->subtree, ro ? "true" : "false");
		if (k->apikey)
			printf("\"uid\": %" PRIu32 ", \"gid\": %" PRIu32 ", ", t->uid, t->gid);
		printf("\"expires\": %" PRIu64 ", \"created\": %" PRId64 ", \"state\": \"%s\", "
		       "\"name\": ", t->expires, t->created, state);
		admin_json_str(t->name);
		printf("}");
		return;
	}
	printf("%-6" PRIu64 " %-10" PRIu64 " %-10s ", t->id, t->subtree,
	       ro ? "read-only" : "read-write");
	if (k->apikey)
		printf("%-6" PRIu32 " %-6" PRIu32 " ", t->uid, t->gid);
	printf("%-19s %-19s %-8s %s\n", when(t->expires, b1, sizeof(b1)),
	       when((uint64_t)(t->created > 0 ? t->created : 0), b2, sizeof(b2)), state,
	       t->name ? t->name : "");
}

int admin_tok_list(struct gd_meta_client *m, const struct admin_tok_kind *k, int json)
{
	Godfs__TokenList req = GODFS__TOKEN_LIST__INIT;
	ProtobufCMessage *resp = NULL;
	const Godfs__TokenListResp *r;
	uint64_t now = (uint64_t)time(NULL);
	size_t shown = 0;
	int rc;

	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_LIST, &req.base,
			  &godfs__token_list_resp__descriptor, &resp);
	if (rc) {
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		return admin_tok_fail(k, "list", rc);
	}
	r = (const Godfs__TokenListResp *)resp;
	if (json)
		printf("[");
	else if (k->apikey)
		printf("%-6s %-10s %-10s %-6s %-6s %-19s %-19s %-8s %s\n", "ID", "SUBTREE",
		       "ACCESS", "UID", "GID", "EXPIRES", "CREATED", "STATE", "NAME");
	else
		printf("%-6s %-10s %-10s %-19s %-19s %-8s %s\n", "ID", "SUBTREE", "ACCESS",
		       "EXPIRES", "CREATED", "STATE", "NAME");
	for (size_t i = 0; i < r->n_tokens; i++) {
		/* `token list` shows mounts' tokens, `apikey list` API keys */
		if (!(r->tokens[i]->flags & GD_TOKEN_APIKEY) != !k->apikey)
			continue;
		list_one(k, json, shown++ == 0, r->tokens[i], now);
	}
	if (json)
		printf("]\n");
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

int admin_tok_revoke(struct gd_meta_client *m, const struct admin_tok_kind *k, uint64_t id)
{
	Godfs__TokenRevoke req = GODFS__TOKEN_REVOKE__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.has_id = 1;
	req.id = id;
	rc = gd_meta_call(m, GODFS__METHOD__M_TOKEN_REVOKE, &req.base,
			  &godfs__token_resp__descriptor, &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc == GD_ENOENT) {
		fprintf(stderr, "godfs-admin: %s revoke: no %s %" PRIu64 "\n", k->cmd, k->noun, id);
		return 1;
	}
	if (rc)
		return admin_tok_fail(k, "revoke", rc);
	printf("%s %" PRIu64 " revoked\n", k->noun, id);
	return 0;
}
