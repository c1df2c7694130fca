/* What a replaced file keeps (see gw_keep.h). */
#include "gw_keep.h"

#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_meta_client.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define ACL_ACCESS "system.posix_acl_access"

int gw_keep_set_goal(struct gd_client *c, uint64_t ino, uint32_t goal)
{
	struct gd_meta_client *m = gd_client_meta(c);
	Godfs__SetAttr req = GODFS__SET_ATTR__INIT;
	ProtobufCMessage *resp = NULL;
	req.has_ino = req.has_valid = req.has_goal = req.has_session_id = 1;
	req.ino = ino;
	req.valid = GODFS__SET_ATTR_BITS__SA_GOAL;
	req.goal = goal;
	req.session_id = gd_meta_client_session(m);
	int rc = gd_meta_call(m, GODFS__METHOD__M_SETATTR, &req.base, &godfs__attr_resp__descriptor,
			      &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int gw_keep_rename(struct gd_client *c, uint64_t dir, const char *tmp, const char *name,
		   uint32_t flags, const struct gd_attr *if_target)
{
	struct gd_meta_client *m = gd_client_meta(c);
	Godfs__Rename req = GODFS__RENAME__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = gd_ns_name_check(tmp);
	if (rc == 0)
		rc = gd_ns_name_check(name);
	if (rc)
		return rc;
	req.has_parent = req.has_newparent = req.has_flags = req.has_session_id = 1;
	req.parent = req.newparent = dir;
	req.name = (char *)tmp;
	req.newname = (char *)name;
	req.flags = flags;
	req.session_id = gd_client_session(c);
	if (if_target) {
		req.has_if_target_ino = req.has_if_target_ctime_sec = 1;
		req.has_if_target_ctime_nsec = 1;
		req.if_target_ino = if_target->ino;
		req.if_target_ctime_sec = if_target->ctime.tv_sec;
		req.if_target_ctime_nsec = (uint32_t)if_target->ctime.tv_nsec;
	}
	rc = gd_meta_call(m, GODFS__METHOD__M_RENAME, &req.base, &godfs__status_resp__descriptor,
			  &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* One xattr of the target onto the new file. must: an error reading it
 * fails the copy (else the file would go without it, logged). */
static int copy_xattr(const struct gw_keep_in *in, const char *name, bool must)
{
	struct gd_meta_client *m = gd_client_meta(in->kc);
	void *val = NULL;
	size_t len = 0;
	int rc = gd_ns_getxattr(m, in->target->ino, name, &val, &len);
	if (rc == GD_ENODATA)
		return 0;
	if (rc == 0)
		rc = gd_ns_setxattr(m, in->ino, name, val, len, 0);
	gd_free(val);
	if (rc && !must) {
		gd_warn("%s: replaced without its xattr %s: %s", in->what, name, gd_strerror(rc));
		rc = 0;
	}
	return rc;
}

int gw_keep_attrs(const struct gw_keep_in *in)
{
	struct gd_meta_client *m = gd_client_meta(in->kc);
	const struct gd_attr *t = in->target;
	uint32_t mode = t->mode & 07777;
	void *names = NULL;
	size_t nlen = 0;
	int rc = 0;

	/* the owner first: a chown drops set-user-id and set-group-id */
	if (in->key_uid == 0) {
		struct gd_ns_setattr sa = {
			.ino = in->ino, .uid = t->uid, .gid = t->gid,
			.valid = GODFS__SET_ATTR_BITS__SA_UID | GODFS__SET_ATTR_BITS__SA_GID,
		};
		rc = gd_ns_setattr(m, &sa, NULL);
	} else {
		mode &= ~(uint32_t)(S_ISUID | S_ISGID);
	}
	if (rc == 0) {
		struct gd_ns_setattr sa = { .ino = in->ino, .mode = mode,
					      .valid = GODFS__SET_ATTR_BITS__SA_MODE };
		rc = gd_ns_setattr(m, &sa, NULL);
	}
	/* the access ACL last: it sets the group bits of the mode as well */
	if (rc == 0)
		rc = copy_xattr(in, ACL_ACCESS, true);
	if (rc)
		return rc;
	int lr = gd_ns_listxattr(m, t->ino, &names, &nlen);
	if (lr && lr != GD_ENODATA)
		gd_warn("%s: replaced without its user.* xattrs (listing them: %s)", in->what,
			gd_strerror(lr));
	for (size_t off = 0; lr == 0 && off < nlen;) {
		const char *name = (const char *)names + off;
		size_t n = strnlen(name, nlen - off);
		if (n == nlen - off)
			break;   /* not NUL-terminated: the meta sends whole names */
		if (strncmp(name, "user.", 5) == 0)
			copy_xattr(in, name, false);
		off += n + 1;
	}
	gd_free(names);
	if (t->goal) {
		struct gd_attr now;
		int gr = gd_ns_getattr(m, in->ino, &now);
		if (gr == 0 && now.goal != t->goal)
			gr = gw_keep_set_goal(in->sys, in->ino, t->goal);
		if (gr)
			gd_warn("%s: replaced without its goal %u: %s", in->what, t->goal,
				gd_strerror(gr));
	}
	return 0;
}
