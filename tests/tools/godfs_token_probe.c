/* godfs_token_probe: sends the meta one request naming an inode of the
 * caller's choice, with a client token's credential, the way an attacker
 * holding that token would forge it (no FUSE mount, no mapping of inode
 * numbers, nothing the client library would refuse). tests/e2e/e2e_tokens.sh
 * uses it to show that the meta itself refuses what lies outside the token's
 * subtree.
 *
 *   godfs_token_probe META_ADDRS TOKEN_FILE METHOD INO
 *
 * METHOD: getattr, open (read-only), open-write, readdir, locate
 * (CHUNK_LOCATE of chunk 0), lease (WRITE_LEASE of chunk 0), mkdir (a new
 * directory "probe" in INO). Prints the answer's status name ("0",
 * "EACCES", ...) on stdout. Exit 0 when an answer came, 1 when the call
 * itself failed (no meta, the token refused at the handshake: then the
 * status is printed too), 2 for a usage error. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gd_config.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_meta_client.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"
#include "tool_status.h"

int main(int argc, char **argv)
{
	struct gd_meta_client_config mc = { 0 };
	struct gd_meta_client *m = NULL;
	struct gd_config cfg;
	ProtobufCMessage *resp = NULL;
	const char *method;
	uint64_t ino;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: godfs_token_probe META_ADDRS TOKEN_FILE METHOD INO\n");
		return 2;
	}
	method = argv[3];
	ino = strtoull(argv[4], NULL, 10);
	gd_log_init("godfs_token_probe", "error");
	gd_config_init(&cfg);
	if (gd_config_set_flag(&cfg, "token-file", argv[2]) < 0 ||
	    gd_cred_setup(&cfg, GD_CRED_CLIENT) < 0) {
		gd_config_release(&cfg);
		return 2;
	}
	mc.addrs = argv[1];
	mc.role = GODFS__ROLE__ROLE_CLIENT;
	mc.host = "probe";
	mc.mountpoint = "/probe";
	mc.timeout_ms = 5000;
	rc = gd_meta_client_open(&mc, &m);
	if (rc) {
		printf("%s\n", tool_status_name(rc));
		gd_config_release(&cfg);
		return 1;
	}
	if (strcmp(method, "getattr") == 0) {
		Godfs__InodeReq r = GODFS__INODE_REQ__INIT;
		r.has_ino = 1;
		r.ino = ino;
		rc = gd_meta_call(m, GODFS__METHOD__M_GETATTR, &r.base,
				  &godfs__attr_resp__descriptor, &resp);
	} else if (strcmp(method, "open") == 0 || strcmp(method, "open-write") == 0) {
		Godfs__Open r = GODFS__OPEN__INIT;
		r.has_ino = r.has_flags = 1;
		r.ino = ino;
		r.flags = strcmp(method, "open") == 0 ? O_RDONLY : O_WRONLY;
		rc = gd_meta_call(m, GODFS__METHOD__M_OPEN, &r.base,
				  &godfs__attr_resp__descriptor, &resp);
	} else if (strcmp(method, "readdir") == 0) {
		Godfs__Readdir r = GODFS__READDIR__INIT;
		r.has_ino = r.has_max_entries = 1;
		r.ino = ino;
		r.max_entries = 16;
		rc = gd_meta_call(m, GODFS__METHOD__M_READDIR, &r.base,
				  &godfs__readdir_resp__descriptor, &resp);
	} else if (strcmp(method, "locate") == 0 || strcmp(method, "lease") == 0) {
		Godfs__ChunkReq r = GODFS__CHUNK_REQ__INIT;
		r.has_ino = r.has_index = 1;
		r.ino = ino;
		rc = gd_meta_call(m, strcmp(method, "locate") == 0 ? GODFS__METHOD__M_CHUNK_LOCATE
								   : GODFS__METHOD__M_WRITE_LEASE,
				  &r.base, &godfs__chunk_resp__descriptor, &resp);
	} else if (strcmp(method, "mkdir") == 0) {
		Godfs__Mknod r = GODFS__MKNOD__INIT;
		r.has_parent = r.has_mode = 1;
		r.parent = ino;
		r.name = "probe";
		r.mode = 040755;
		rc = gd_meta_call(m, GODFS__METHOD__M_MKDIR, &r.base,
				  &godfs__attr_resp__descriptor, &resp);
	} else {
		fprintf(stderr, "godfs_token_probe: unknown method %s\n", method);
		gd_meta_client_close(m);
		gd_config_release(&cfg);
		return 2;
	}
	printf("%s\n", tool_status_name(rc));
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	gd_meta_client_close(m);
	gd_config_release(&cfg);
	return 0;
}
