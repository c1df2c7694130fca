/* godfs_put: writes one file through the client library under a request id
 * (gd_trace.h), without FUSE, so that a test can follow that id through the
 * meta and down a chunkd chain (tests/e2e/e2e_trace.sh): it creates NAME in
 * the root directory, writes SIZE bytes (a pattern) into it and makes them
 * durable (M_CS_FSYNC down the chain, then the commit at the meta).
 *
 *   godfs_put META_ADDRS REQUEST_ID NAME SIZE
 *
 * The credential comes the usual way (GODFS_KEY_FILE, /etc/godfs/...).
 * Exit 0 when the file is written and committed, 1 when the cluster said
 * no (the status is printed), 2 for a usage error. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_client.h"
#include "gd_config.h"
#include "gd_cred.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "proto/wire.pb-c.h"

/* Creates (or opens, truncating) root/name for this session: its inode. */
static int create(struct gd_client *c, const char *name, uint64_t *ino)
{
	Godfs__Mknod r = GODFS__MKNOD__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	r.has_parent = r.has_mode = r.has_session_id = 1;
	r.parent = 1;
	r.name = (char *)name;
	r.mode = S_IFREG | 0644;
	r.session_id = gd_client_session(c);
	rc = gd_meta_call(gd_client_meta(c), GODFS__METHOD__M_MKNOD, &r.base,
			  &godfs__attr_resp__descriptor, &resp);
	if (rc == 0) {
		const Godfs__AttrResp *a = (const Godfs__AttrResp *)resp;
		rc = a->attr ? 0 : GD_EPROTO;
		if (a->attr)
			*ino = a->attr->ino;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int main(int argc, char **argv)
{
	struct gd_client_config cc = { 0 };
	struct gd_client *c = NULL;
	struct gd_config cfg;
	uint64_t ino = 0, size;
	char *buf = NULL;
	int rc, ret = 1;

	if (argc != 5 || gd_parse_u64(argv[4], &size) < 0 || size == 0 || size > (64u << 20)) {
		fprintf(stderr, "usage: godfs_put META_ADDRS REQUEST_ID NAME SIZE (1..64M)\n");
		return 2;
	}
	gd_log_init("godfs_put", "warn");
	gd_config_init(&cfg);
	if (gd_config_load(&cfg, "godfs_put", NULL) < 0 || gd_cred_setup(&cfg, GD_CRED_CLIENT) < 0) {
		gd_config_release(&cfg);
		return 2;
	}
	/* from here on, every request of this thread carries the id */
	if (!gd_trace_valid(argv[2], strlen(argv[2]))) {
		fprintf(stderr, "godfs_put: %s is not a valid request id\n", argv[2]);
		gd_config_release(&cfg);
		return 2;
	}
	gd_trace_set(argv[2]);
	buf = gd_malloc(size);
	if (!buf) {
		rc = GD_ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < size; i++)
		buf[i] = (char)('a' + i % 26);
	cc.meta_addrs = argv[1];
	cc.host = "godfs_put";
	cc.meta_timeout_ms = 10000;
	rc = gd_client_open(&cc, &c);
	if (rc == 0)
		rc = create(c, argv[3], &ino);
	if (rc == 0)
		rc = gd_client_write(c, ino, 0, buf, size);
	if (rc == 0)
		rc = gd_client_fsync(c, ino, size, NULL, NULL);
	if (rc == 0) {
		Godfs__InodeReq r = GODFS__INODE_REQ__INIT;
		ProtobufCMessage *resp = NULL;

		gd_client_release(c, ino);
		r.has_ino = r.has_session_id = 1;
		r.ino = ino;
		r.session_id = gd_client_session(c);
		rc = gd_meta_call(gd_client_meta(c), GODFS__METHOD__M_RELEASE, &r.base,
				  &godfs__status_resp__descriptor, &resp);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
out:
	if (rc == 0)
		ret = 0;
	else
		fprintf(stderr, "godfs_put: %s: %s\n", argv[3], gd_strerror(rc));
	if (c)
		gd_client_close(c);
	gd_free(buf);
	gd_config_release(&cfg);
	return ret;
}
