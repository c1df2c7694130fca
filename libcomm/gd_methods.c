/* wire.proto's methods, one row each (see gd_methods.h). tests/unit/test_methods.c
 * walks wire.proto's enum Method so that a method added without a row, or a
 * row whose messages do not fit its flags, fails the build's tests. */
#include "gd_methods.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#include <stddef.h>

#define CLIENT  GD_ROLE_BIT(GD_ROLE_CLIENT)
#define CHUNKD  GD_ROLE_BIT(GD_ROLE_CHUNKD)
#define ADMIN   GD_ROLE_BIT(GD_ROLE_ADMIN)
#define PEER    GD_ROLE_BIT(GD_ROLE_PEER)
#define GATEWAY GD_ROLE_BIT(GD_ROLE_GATEWAY)
#define META    GD_ROLE_BIT(GD_ROLE_META)
#define EVERYONE (CLIENT | CHUNKD | ADMIN | PEER | GATEWAY | META)
/* What a mount does; a gateway does the same for its users. */
#define MOUNT   (CLIENT | GATEWAY)

#define MUT   GD_METHOD_MUTATES
#define SESS  GD_METHOD_SESSION
#define ONCE  GD_METHOD_ONCE

/* ROW(METHOD, Request, Response, served by, roles, flags) */
#define ROW(name, req, resp, served, roles, flags)                              \
	[GODFS__METHOD__M_##name] = { GODFS__METHOD__M_##name, #name,           \
				      &godfs__##req##__descriptor,              \
				      &godfs__##resp##__descriptor,             \
				      GD_SERVE_##served, (roles), (flags) }

static const struct gd_method methods[GD_METHOD_ID_MAX + 1] = {
	/* every daemon: the first request of a connection, liveness */
	ROW(HELLO, hello, hello_resp, ANY, EVERYONE, 0),
	/* PING may carry bulk data, echoed by test servers (test_conn), ignored
	 * by the daemons */
	ROW(PING, ping, ping, ANY, EVERYONE, GD_METHOD_REQ_DATA | GD_METHOD_RESP_DATA),

	/* meta: a mount's session and namespace */
	ROW(SESSION_RENEW, session_renew, session_renew_resp, META, MOUNT, SESS),
	ROW(LOOKUP, lookup, attr_resp, META, MOUNT | ADMIN, 0),
	ROW(GETATTR, inode_req, attr_resp, META, MOUNT | ADMIN, SESS),
	ROW(SETATTR, set_attr, attr_resp, META, MOUNT | ADMIN, MUT | SESS | ONCE),
	ROW(MKNOD, mknod, attr_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(MKDIR, mknod, attr_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(SYMLINK, mknod, attr_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(LINK, link, attr_resp, META, MOUNT, MUT | ONCE),
	ROW(UNLINK, name_req, status_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(RMDIR, name_req, status_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(RENAME, rename, status_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(READLINK, inode_req, readlink_resp, META, MOUNT, SESS),
	ROW(READDIR, readdir, readdir_resp, META, MOUNT, 0),
	ROW(OPEN, open, attr_resp, META, MOUNT, SESS | ONCE),
	ROW(RELEASE, inode_req, status_resp, META, MOUNT, SESS),
	ROW(STATFS, inode_req, statfs_resp, META, MOUNT, SESS),
	ROW(GETXATTR, xattr, xattr_resp, META, MOUNT, 0),
	ROW(SETXATTR, xattr, status_resp, META, MOUNT, MUT | ONCE),
	ROW(LISTXATTR, inode_req, xattr_resp, META, MOUNT, SESS),
	ROW(REMOVEXATTR, xattr, status_resp, META, MOUNT, MUT | ONCE),
	/* compound requests (docs/meta-rpc.md) */
	ROW(CREATE, mknod, open_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(LEASE_RETURN, lease_return, status_resp, META, MOUNT, MUT | SESS),

	/* meta: cluster-wide locks of a mount's session (docs/locks.md) */
	ROW(LOCK, lock, lock_resp, META, MOUNT, MUT | SESS),
	ROW(LOCK_GET, lock, lock_resp, META, MOUNT, SESS),
	ROW(LOCK_CANCEL, lock, lock_resp, META, MOUNT, MUT | SESS),

	/* meta: where chunks are, leases for writing them */
	ROW(CHUNK_LOCATE, chunk_req, chunk_resp, META, MOUNT, SESS),
	ROW(WRITE_LEASE, chunk_req, chunk_resp, META, MOUNT, MUT | SESS),
	ROW(WRITE_COMMIT, write_commit, attr_resp, META, MOUNT, MUT | SESS | ONCE),
	ROW(CHUNK_FAILED, chunk_failed, chunk_resp, META, MOUNT, MUT | SESS),

	/* meta: chunkds */
	ROW(CS_REGISTER, cs_register, cs_register_resp, META, CHUNKD, MUT),
	ROW(CS_HEARTBEAT, cs_heartbeat, cs_heartbeat_resp, META, CHUNKD, MUT),
	ROW(CS_REPORT_BAD, cs_report_bad, status_resp, META, CHUNKD, MUT),

	/* meta: operators */
	ROW(ADMIN_STATUS, admin_status, admin_status_resp, META, ADMIN, 0),
	ROW(TOKEN_CREATE, token_create, token_resp, META, ADMIN, MUT),
	ROW(TOKEN_LIST, token_list, token_list_resp, META, ADMIN, 0),
	ROW(TOKEN_REVOKE, token_revoke, token_resp, META, ADMIN, MUT),
	/* the gateway checks an API key's secret against its fields */
	ROW(TOKEN_GET, token_get, token_resp, META, ADMIN | GATEWAY, 0),
	ROW(MASTERS_LIST, masters_list, masters_resp, META, ADMIN, 0),
	ROW(MASTERS_ADD, masters_add, masters_resp, META, ADMIN, MUT),
	ROW(MASTERS_REMOVE, masters_remove, masters_resp, META, ADMIN, MUT),
	ROW(MASTERS_TRANSFER, masters_transfer, masters_resp, META, ADMIN, MUT),
	ROW(NODE_DRAIN, node_drain, status_resp, META, ADMIN, MUT),
	ROW(ADMIN_PLACEMENT, admin_placement, admin_placement_resp, META, ADMIN, 0),

	/* chunkd: copies of chunks */
	ROW(CS_WRITE, cs_write, cs_write_resp, CHUNKD, MOUNT | PEER, MUT | GD_METHOD_REQ_DATA),
	ROW(CS_READ, cs_read, cs_read_resp, CHUNKD, MOUNT | PEER, GD_METHOD_RESP_DATA),
	ROW(CS_FSYNC, cs_chunk_op, status_resp, CHUNKD, MOUNT | PEER, 0),
	ROW(CS_TRUNCATE, cs_chunk_op, status_resp, CHUNKD, MOUNT | PEER, MUT),
	ROW(CS_DELETE, cs_chunk_op, status_resp, CHUNKD, META | ADMIN, MUT),
	ROW(CS_REPLICATE, cs_replicate, status_resp, CHUNKD, META | ADMIN, MUT),
};

const struct gd_method *gd_method_get(uint32_t id)
{
	if (id > GD_METHOD_ID_MAX || methods[id].req == NULL)
		return NULL;
	return &methods[id];
}

bool gd_method_allowed(const struct gd_method *m, enum gd_role role)
{
	return m != NULL && (unsigned)role < GD_ROLE_COUNT && (m->roles & GD_ROLE_BIT(role)) != 0;
}

int gd_method_check(const struct gd_method *m, unsigned serves, uint32_t data_len,
		    const char **why)
{
	if (!m || !(m->served_by & serves)) {
		*why = "not served by this daemon";
		return GD_ENOTSUP;
	}
	if (data_len && !(m->flags & GD_METHOD_REQ_DATA)) {
		*why = "bulk data with a method that carries none";
		return GD_EPROTO;
	}
	*why = NULL;
	return 0;
}

const char *gd_method_name(uint32_t id)
{
	const struct gd_method *m = gd_method_get(id);

	return m ? m->name : "?";
}

/* The value of an optional uint64 field of msg (0 when absent or of another
 * kind); f is a field of msg's own descriptor. */
static uint64_t u64_field(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *p = (const char *)msg;

	if (!f || f->type != PROTOBUF_C_TYPE_UINT64 || f->label != PROTOBUF_C_LABEL_OPTIONAL)
		return 0;
	if (!*(const protobuf_c_boolean *)(p + f->quantifier_offset))
		return 0;
	return *(const uint64_t *)(p + f->offset);
}

uint64_t gd_method_session(const struct gd_method *m, const ProtobufCMessage *msg)
{
	if (!m || !msg || !(m->flags & GD_METHOD_SESSION) || msg->descriptor != m->req)
		return 0;
	return u64_field(msg, protobuf_c_message_descriptor_get_field_by_name(m->req,
									     "session_id"));
}

bool gd_method_seq(const struct gd_method *m, const ProtobufCMessage *msg, uint64_t *seq,
		   uint64_t *ack)
{
	*seq = *ack = 0;
	if (!m || !msg || !(m->flags & GD_METHOD_ONCE) || msg->descriptor != m->req)
		return false;
	*seq = u64_field(msg, protobuf_c_message_descriptor_get_field(m->req, 100));
	*ack = u64_field(msg, protobuf_c_message_descriptor_get_field(m->req, 101));
	return true;
}
