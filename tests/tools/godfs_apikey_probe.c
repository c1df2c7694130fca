/* godfs_apikey_probe: what the gateway does with an API key, without the
 * HTTP part: resolves a credential with gw_auth (the key's fields fetched
 * with TOKEN_GET over a role-gateway session of the cluster key), opens the
 * key's session with gw_sessions, and makes one request through it.
 * tests/e2e/e2e_apikey.sh uses it to show that the meta holds a key's
 * session to the key's subtree, read-only flag, uid/gid and revocation.
 *
 *   godfs_apikey_probe META_ADDRS KEY_FILE CRED CMD ARG...
 *
 * CRED: "Bearer gdk_..." or "presign:ID:EXP:SIG" (a presigned URL's query).
 * CMD:
 *   stat PATH         LOOKUP along PATH (relative to the key's subtree);
 *                     prints "ok INO UID GID"
 *   get PATH          prints "ok " and the file's bytes
 *   put PATH TEXT     creates PATH asking for owner 0:0, writes TEXT;
 *                     prints "ok UID GID" (the owner the meta recorded)
 *   chown PATH UID    SETATTR of the owner; "ok"
 *   mkdir PATH        MKDIR (mode 0755); "ok"
 *   mknod PATH MODE   MKNOD (MKDIR for a directory type) with MODE (octal,
 *                     type bits included, e.g. 020644 a character device,
 *                     0104755 a set-uid file), no umask; prints "ok MODE UID
 *                     GID" of what the meta made (MODE octal, 07777 bits)
 *   chmod PATH MODE   SETATTR of the mode (octal); "ok MODE" as recorded
 *   rm PATH           UNLINK; "ok"
 *   getattr INO       GETATTR of a raw inode number (a forged request)
 *   watch PATH MS     stat every 100 ms for at most MS ms until refused:
 *                     prints "refused at T STATUS" (T: Unix time in ms; one
 *                     gw_auth and one session all along, as in a gateway)
 * The method told to gw_auth is GET for stat, get, getattr and watch, else
 * PUT; the environment variable PROBE_METHOD overrides it (a gateway that
 * gets it wrong: the meta must still refuse).
 * A refusal prints "refused STATUS: why" (STATUS EAUTH, EPERM, EACCES,
 * EROFS...). Exit 0 when the command ran (ok or refused), 1 when it could
 * not (no meta...), 2 for a usage error. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gd_auth.h"
#include "gd_client.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_meta_client.h"
#include "gd_status.h"
#include "gw_auth.h"
#include "gw_sessions.h"
#include "proto/wire.pb-c.h"
#include "tool_status.h"

static int refused(int st, const char *why)
{
	printf("refused %s: %s\n", tool_status_name(st), why ? why : gd_strerror(st));
	return 0;
}

/* Sends req (method, answered with a message of d) on m: "ok", or
 * "refused STATUS: what". */
static int call_ok(struct gd_meta_client *m, uint32_t method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *d, const char *what)
{
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(m, method, req, d, &resp);

	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		return refused(rc, what);
	printf("ok\n");
	return 0;
}

/* LOOKUP along path from root; *attr (may be NULL) gets the last one's. */
static int walk(struct gd_meta_client *m, uint64_t root, const char *path, struct gd_attr *attr)
{
	char buf[1024], *save = NULL;
	struct gd_attr a = { .ino = root };
	int rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *n = strtok_r(buf, "/", &save); n; n = strtok_r(NULL, "/", &save)) {
		Godfs__Lookup req = GODFS__LOOKUP__INIT;
		ProtobufCMessage *resp = NULL;

		req.has_parent = 1;
		req.parent = a.ino;
		req.name = n;
		rc = gd_meta_call(m, GODFS__METHOD__M_LOOKUP, &req.base, &godfs__attr_resp__descriptor,
				  &resp);
		if (rc == 0)
			gd_attr_from_pb(&a, ((Godfs__AttrResp *)resp)->attr);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		if (rc)
			return rc;
	}
	if (a.ino == root) {
		Godfs__InodeReq req = GODFS__INODE_REQ__INIT;
		ProtobufCMessage *resp = NULL;

		req.has_ino = 1;
		req.ino = root;
		rc = gd_meta_call(m, GODFS__METHOD__M_GETATTR, &req.base,
				  &godfs__attr_resp__descriptor, &resp);
		if (rc == 0)
			gd_attr_from_pb(&a, ((Godfs__AttrResp *)resp)->attr);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	if (rc == 0 && attr)
		*attr = a;
	return rc;
}

/* The parent directory's inode and the last name of path. */
static int split(struct gd_meta_client *m, uint64_t root, const char *path, uint64_t *parent,
		 const char **name)
{
	char dir[1024];
	const char *slash = strrchr(path, '/');
	struct gd_attr a;
	int rc;

	*name = slash ? slash + 1 : path;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
	rc = walk(m, root, dir, &a);
	*parent = a.ino;
	return rc;
}

static int cmd_put(struct gd_client *c, uint64_t root, const char *path, const char *text)
{
	struct gd_meta_client *m = gd_client_meta(c);
	Godfs__Mknod req = GODFS__MKNOD__INIT;
	Godfs__InodeReq rel = GODFS__INODE_REQ__INIT;
	ProtobufCMessage *resp = NULL;
	struct gd_attr a;
	const char *name;
	uint64_t parent;
	int rc;

	rc = split(m, root, path, &parent, &name);
	if (rc)
		return refused(rc, "lookup of the parent");
	req.has_parent = req.has_mode = req.has_uid = req.has_gid = req.has_session_id = 1;
	req.parent = parent;
	req.name = (char *)name;
	req.mode = 0100644;
	req.uid = 0;      /* asks for root: the meta must record the key's owner */
	req.gid = 0;
	req.session_id = gd_client_session(c);
	rc = gd_meta_call(m, GODFS__METHOD__M_MKNOD, &req.base, &godfs__attr_resp__descriptor,
			  &resp);
	if (rc == 0)
		gd_attr_from_pb(&a, ((Godfs__AttrResp *)resp)->attr);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		return refused(rc, "create");
	rc = gd_client_write(c, a.ino, 0, text, strlen(text));
	if (rc == 0)
		rc = gd_client_fsync(c, a.ino, strlen(text), NULL, &a);
	gd_client_release(c, a.ino);
	rel.has_ino = rel.has_session_id = 1;
	rel.ino = a.ino;
	rel.session_id = gd_client_session(c);
	resp = NULL;
	(void)gd_meta_call(m, GODFS__METHOD__M_RELEASE, &rel.base,
			   &godfs__status_resp__descriptor, &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		return refused(rc, "write");
	printf("ok %" PRIu32 " %" PRIu32 "\n", a.uid, a.gid);
	return 0;
}

static int cmd_get(struct gd_client *c, uint64_t root, const char *path)
{
	struct gd_attr a;
	char buf[4096];
	ssize_t n;
	int rc = walk(gd_client_meta(c), root, path, &a);

	if (rc)
		return refused(rc, "lookup");
	n = gd_client_read(c, a.ino, 0, buf, sizeof(buf) - 1, a.size);
	if (n < 0)
		return refused((int)n, "read");
	buf[n] = '\0';
	printf("ok %s\n", buf);
	return 0;
}

static int cmd_chown(struct gd_client *c, uint64_t root, const char *path, const char *uid)
{
	Godfs__SetAttr req = GODFS__SET_ATTR__INIT;
	struct gd_attr a;
	int rc = walk(gd_client_meta(c), root, path, &a);

	if (rc)
		return refused(rc, "lookup");
	req.has_ino = req.has_valid = req.has_uid = req.has_session_id = 1;
	req.ino = a.ino;
	req.valid = GODFS__SET_ATTR_BITS__SA_UID;
	req.uid = (uint32_t)strtoul(uid, NULL, 10);
	req.session_id = gd_client_session(c);
	return call_ok(gd_client_meta(c), GODFS__METHOD__M_SETATTR, &req.base,
		       &godfs__attr_resp__descriptor, "chown");
}

static int cmd_getattr(struct gd_client *c, const char *ino)
{
	Godfs__InodeReq req = GODFS__INODE_REQ__INIT;

	req.has_ino = 1;
	req.ino = strtoull(ino, NULL, 10);
	return call_ok(gd_client_meta(c), GODFS__METHOD__M_GETATTR, &req.base,
		       &godfs__attr_resp__descriptor, "getattr");
}

/* MKDIR or UNLINK of path: the name operations of the gateway's fs/mkdir and
 * delete, to show the meta's permission checks on a key's session. */
static int cmd_name(struct gd_client *c, uint64_t root, const char *path, bool mkdir)
{
	struct gd_meta_client *m = gd_client_meta(c);
	const char *name;
	uint64_t parent;
	int rc = split(m, root, path, &parent, &name);

	if (rc)
		return refused(rc, "lookup of the parent");
	if (mkdir) {
		Godfs__Mknod req = GODFS__MKNOD__INIT;
		req.has_parent = req.has_mode = 1;
		req.parent = parent;
		req.name = (char *)name;
		req.mode = 040755;
		return call_ok(m, GODFS__METHOD__M_MKDIR, &req.base,
			       &godfs__attr_resp__descriptor, "mkdir");
	}
	Godfs__NameReq req = GODFS__NAME_REQ__INIT;
	req.has_parent = req.has_session_id = 1;
	req.parent = parent;
	req.name = (char *)name;
	req.session_id = gd_client_session(c);
	return call_ok(m, GODFS__METHOD__M_UNLINK, &req.base, &godfs__status_resp__descriptor,
		       "unlink");
}

/* MKNOD/MKDIR with the mode asked for, or a chmod: what the meta lets a
 * key's session make (device nodes, set-id bits). */
static int cmd_mode(struct gd_client *c, uint64_t root, const char *path, const char *mode_s,
		    bool create)
{
	struct gd_meta_client *m = gd_client_meta(c);
	ProtobufCMessage *resp = NULL;
	uint32_t mode = (uint32_t)strtoul(mode_s, NULL, 8);
	struct gd_attr a;
	const char *name;
	uint64_t parent;
	int rc;

	if (create) {
		Godfs__Mknod req = GODFS__MKNOD__INIT;
		rc = split(m, root, path, &parent, &name);
		if (rc)
			return refused(rc, "lookup of the parent");
		req.has_parent = req.has_mode = 1;
		req.parent = parent;
		req.name = (char *)name;
		req.mode = mode;
		req.has_rdev = (mode & S_IFMT) == S_IFCHR || (mode & S_IFMT) == S_IFBLK;
		req.rdev = 0x0103;   /* 1:3, /dev/null */
		rc = gd_meta_call(m, S_ISDIR(mode) ? GODFS__METHOD__M_MKDIR : GODFS__METHOD__M_MKNOD,
				  &req.base, &godfs__attr_resp__descriptor, &resp);
	} else {
		Godfs__SetAttr req = GODFS__SET_ATTR__INIT;
		rc = walk(m, root, path, &a);
		if (rc)
			return refused(rc, "lookup");
		req.has_ino = req.has_valid = req.has_mode = req.has_session_id = 1;
		req.ino = a.ino;
		req.valid = GODFS__SET_ATTR_BITS__SA_MODE;
		req.mode = mode;
		req.session_id = gd_client_session(c);
		rc = gd_meta_call(m, GODFS__METHOD__M_SETATTR, &req.base,
				  &godfs__attr_resp__descriptor, &resp);
	}
	if (rc == 0)
		gd_attr_from_pb(&a, ((Godfs__AttrResp *)resp)->attr);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		return refused(rc, create ? "mknod" : "chmod");
	if (create)
		printf("ok %o %" PRIu32 " %" PRIu32 "\n", a.mode & 07777, a.uid, a.gid);
	else
		printf("ok %o\n", a.mode & 07777);
	return 0;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Splits "presign:ID:EXP:SIG". */
static int presign_parts(char *cred, char **id, char **exp, char **sig)
{
	char *save = NULL;

	if (strncmp(cred, "presign:", 8) != 0)
		return -1;
	*id = strtok_r(cred + 8, ":", &save);
	*exp = strtok_r(NULL, ":", &save);
	*sig = strtok_r(NULL, ":", &save);
	return *id && *exp && *sig ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct gd_keyring keys;
	struct gd_meta_client_config mc = { 0 };
	struct gd_meta_client *gw_meta = NULL;
	struct gw_sessions_config sc = { 0 };
	struct gw_sessions *sess = NULL;
	struct gw_auth *auth = NULL;
	struct gw_principal p;
	struct gd_client *c = NULL;
	char *q_id = NULL, *q_exp = NULL, *q_sig = NULL, why[256];
	const char *cmd, *method, *authz = NULL, *path;
	int rc, ret = 1;

	if (argc < 6) {
		fprintf(stderr, "usage: godfs_apikey_probe META_ADDRS KEY_FILE CRED CMD ARG...\n");
		return 2;
	}
	cmd = argv[4];
	path = argv[5];
	gd_log_init("godfs_apikey_probe", "warn");
	if (gd_keyring_load(argv[2], &keys) < 0)
		return 1;
	gd_cred_set(&keys, NULL, false);
	if (presign_parts(argv[3], &q_id, &q_exp, &q_sig) != 0)
		authz = argv[3];
	method = strcmp(cmd, "get") == 0 || strcmp(cmd, "stat") == 0 ||
		 strcmp(cmd, "getattr") == 0 || strcmp(cmd, "watch") == 0 ? "GET" : "PUT";
	if (getenv("PROBE_METHOD"))
		method = getenv("PROBE_METHOD");

	/* the gateway's own session: the cluster key, role gateway */
	mc.addrs = argv[1];
	mc.role = GODFS__ROLE__ROLE_GATEWAY;
	mc.host = "probe";
	mc.timeout_ms = 10000;
	rc = gd_meta_client_open(&mc, &gw_meta);
	if (rc) {
		fprintf(stderr, "probe: meta: %s\n", gd_strerror(rc));
		return 1;
	}
	struct gw_auth_config ac = { .keys = &keys, .fetch = gw_auth_fetch_meta,
				     .fetch_ctx = gw_meta };
	sc.meta_addrs = argv[1];
	sc.host = "probe";
	sc.meta_timeout_ms = 5000;
	if (gw_auth_new(&ac, &auth) || gw_sessions_new(&sc, &sess))
		goto out;
	rc = gw_auth_resolve(auth, authz, method, path, q_id, q_exp, q_sig, &p, why, sizeof(why));
	if (rc) {
		ret = refused(rc, why);
		goto out;
	}
	c = gw_session_get_ex(sess, &p, &rc);
	if (!c) {
		ret = refused(rc, "session");
		goto out;
	}
	if (strcmp(cmd, "stat") == 0) {
		struct gd_attr a;
		rc = walk(gd_client_meta(c), p.subtree, path, &a);
		if (rc)
			ret = refused(rc, "lookup");
		else
			ret = (printf("ok %" PRIu64 " %" PRIu32 " %" PRIu32 "\n", a.ino, a.uid,
				      a.gid), 0);
	} else if (strcmp(cmd, "get") == 0) {
		ret = cmd_get(c, p.subtree, path);
	} else if (strcmp(cmd, "put") == 0 && argc == 7) {
		ret = cmd_put(c, p.subtree, path, argv[6]);
	} else if (strcmp(cmd, "chown") == 0 && argc == 7) {
		ret = cmd_chown(c, p.subtree, path, argv[6]);
	} else if (strcmp(cmd, "mkdir") == 0 || strcmp(cmd, "rm") == 0) {
		ret = cmd_name(c, p.subtree, path, strcmp(cmd, "mkdir") == 0);
	} else if ((strcmp(cmd, "mknod") == 0 || strcmp(cmd, "chmod") == 0) && argc == 7) {
		ret = cmd_mode(c, p.subtree, path, argv[6], strcmp(cmd, "mknod") == 0);
	} else if (strcmp(cmd, "getattr") == 0) {
		ret = cmd_getattr(c, path);
	} else if (strcmp(cmd, "watch") == 0 && argc == 7) {
		uint64_t start = now_ms(), limit = strtoull(argv[6], NULL, 10);
		/* the gateway's loop: resolve and use the session on every request */
		for (;;) {
			rc = gw_auth_resolve(auth, authz, method, path, q_id, q_exp, q_sig, &p, why,
					     sizeof(why));
			if (rc == 0)
				rc = walk(gd_client_meta(c), p.subtree, path, NULL);
			if (rc) {
				printf("refused at %" PRIu64 " %s\n", wall_ms(), tool_status_name(rc));
				break;
			}
			if (now_ms() - start > limit) {
				printf("still accepted after %" PRIu64 " ms\n", limit);
				break;
			}
			usleep(100000);
		}
		ret = 0;
	} else {
		fprintf(stderr, "probe: unknown command %s or wrong arguments\n", cmd);
		ret = 2;
	}
	fflush(stdout);
	gw_session_put(sess, c);
out:
	gw_sessions_free(sess);
	gw_auth_free(auth);
	gd_meta_client_close(gw_meta);
	return ret;
}
