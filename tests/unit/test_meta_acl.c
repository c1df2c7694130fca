/* Unit tests of the meta's POSIX ACLs (meta/meta_acl.c): the checks of the
 * xattr form (every malformed value refused, random bytes never read out of
 * bounds), the mode kept in sync with the access ACL at setxattr and chmod,
 * default ACL inheritance at create with the umask applied only without one,
 * allocation failures that leave the inode as it was, and the same rules
 * through meta_fsm_apply (one entry changes mode and ACL together). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "acl_build.h"
#include "fsm_entry.h"
#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_acl.h"
#include "meta_fsm.h"
#include "meta_ns.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

/* The perm of the entry with tag (and id for named entries) in an xattr value, or -1. */
static int perm_of(const uint8_t *v, size_t len, uint16_t tag, uint32_t id)
{
	for (size_t i = 4; i + 8 <= len; i += 8) {
		uint16_t t = (uint16_t)(v[i] | v[i + 1] << 8);
		uint32_t eid = (uint32_t)v[i + 4] | (uint32_t)v[i + 5] << 8 |
			       (uint32_t)v[i + 6] << 16 | (uint32_t)v[i + 7] << 24;
		if (t == tag && ((tag != U && tag != G) || eid == id))
			return v[i + 2] | v[i + 3] << 8;
	}
	return -1;
}

static int xperm(const struct meta_ns_inode *in, const char *name, uint16_t tag, uint32_t id)
{
	const struct meta_ns_xattr *x = meta_ns_xattr_find(in, name);
	return x ? perm_of(x->value, x->len, tag, id) : -2;
}

static void test_type(void **state)
{
	(void)state;
	assert_int_equal(meta_acl_type("system.posix_acl_access"), META_ACL_TYPE_ACCESS);
	assert_int_equal(meta_acl_type("system.posix_acl_default"), META_ACL_TYPE_DEFAULT);
	assert_int_equal(meta_acl_type("system.posix_acl_accesS"), META_ACL_NONE);
	assert_int_equal(meta_acl_type("user.posix_acl_access"), META_ACL_NONE);
}

static void test_check(void **state)
{
	struct acl a;
	(void)state;

	ACL(&a, { UO, 6, NOID }, { GO, 4, NOID }, { O, 4, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), 0);
	/* ids of entries that name nobody are not looked at */
	ACL(&a, { UO, 6, 7 }, { GO, 4, 0 }, { O, 4, 9 });
	assert_int_equal(meta_acl_check(a.buf, a.len), 0);
	ACL(&a, { UO, 7, NOID }, { U, 4, 10 }, { U, 6, 11 }, { GO, 5, NOID },
	    { G, 7, 3 }, { G, 1, 8 }, { MK, 7, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), 0);
	/* a mask without named entries is allowed */
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { MK, 1, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), 0);

	/* the form */
	assert_int_equal(meta_acl_check(NULL, 0), GD_EINVAL);
	assert_int_equal(meta_acl_check(a.buf, 0), GD_EINVAL);
	assert_int_equal(meta_acl_check(a.buf, 3), GD_EINVAL);
	assert_int_equal(meta_acl_check(a.buf, 4), GD_EINVAL);       /* no entries */
	assert_int_equal(meta_acl_check(a.buf, a.len - 1), GD_EINVAL);
	assert_int_equal(meta_acl_check(a.buf, a.len + 4), GD_EINVAL);
	assert_int_equal(meta_acl_check(a.buf, META_ACL_MAX_BYTES + 8), GD_E2BIG);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID });
	a.buf[0] = 1;                                                /* version 1 */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);

	/* entries */
	ACL(&a, { UO, 8, NOID }, { GO, 5, NOID }, { O, 0, NOID });   /* perm bit 8 */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { 0x40, 0, 1 }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { GO, 5, NOID }, { UO, 7, NOID }, { O, 0, NOID });   /* order */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID });                   /* no other */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { O, 5, NOID });                    /* no group */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { GO, 7, NOID }, { O, 5, NOID });                    /* no owner */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { U, 4, 10 }, { GO, 5, NOID }, { O, 0, NOID }); /* no mask */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { G, 4, 10 }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { U, 4, 11 }, { U, 4, 10 }, { GO, 5, NOID },
	    { MK, 7, NOID }, { O, 0, NOID });                         /* ids falling */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { U, 4, 10 }, { U, 4, 10 }, { GO, 5, NOID },
	    { MK, 7, NOID }, { O, 0, NOID });                         /* an id twice */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { G, 4, 10 }, { G, 4, 10 },
	    { MK, 7, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { MK, 7, NOID }, { MK, 7, NOID },
	    { O, 0, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID }, { MK, 7, NOID });
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { U, 4, 10 }, { MK, 7, NOID },
	    { O, 0, NOID });                                          /* user after group */
	assert_int_equal(meta_acl_check(a.buf, a.len), GD_EINVAL);
}

/* Random bytes (mostly of a plausible form) are checked without reading past
 * len (ASan), and what passes the check survives chmod and inheritance. */
static void test_check_random(void **state)
{
	static const uint16_t tags[] = { UO, U, GO, G, MK, O, 0x40, 0 };
	uint64_t r = 88172645463325252ULL;
	size_t accepted = 0;
	(void)state;

	for (int round = 0; round < 200000; round++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		size_t n = r % 7;
		size_t len = 4 + 8 * n;
		uint8_t *v = malloc(4 + 8 * n);
		assert_non_null(v);
		acl_put_le(v, (r >> 12) % 64 ? META_ACL_VERSION : 3, 4);
		for (size_t i = 0; i < n; i++) {
			uint64_t x = r * (i + 7) * 0x9e3779b97f4a7c15ULL;
			acl_put_le(v + 4 + 8 * i, tags[(x >> 20) % 8], 2);
			acl_put_le(v + 6 + 8 * i, (x >> 30) % 9, 2);
			acl_put_le(v + 8 + 8 * i, (uint32_t)((x >> 40) % 3), 4);
		}
		if ((r >> 8) % 16 == 0)
			len--; /* not whole entries */
		if (meta_acl_check(v, len) == 0) {
			struct meta_ns_inode *p = meta_ns_inode_new(2, S_IFDIR | 0755);
			struct meta_ns_inode *in = meta_ns_inode_new(3, S_IFREG | 0666);
			assert_non_null(p);
			assert_non_null(in);
			accepted++;
			assert_int_equal(meta_acl_set(p, META_ACL_DEFAULT, v, len, false), 0);
			assert_int_equal(meta_acl_inherit(in, p, 022), 0);
			meta_acl_chmod(in, (uint32_t)r & 07777);
			const struct meta_ns_xattr *x = meta_ns_xattr_find(in, META_ACL_ACCESS);
			if (x)
				assert_int_equal(meta_acl_check(x->value, x->len), 0);
			assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, v, len, false), 0);
			meta_ns_inode_free(p);
			meta_ns_inode_free(in);
		}
		free(v);
	}
	assert_true(accepted > 100);
}

static void test_set_access(void **state)
{
	struct meta_ns_inode *in = meta_ns_inode_new(2, S_IFREG | 04644);
	struct acl a;
	(void)state;
	assert_non_null(in);

	/* What cp -a sends: an ACL that is just a mode. Not stored; the mode
	 * takes it, special bits stay. */
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
	assert_int_equal(in->mode, S_IFREG | 04750);
	assert_null(meta_ns_xattr_find(in, META_ACL_ACCESS));

	/* A named entry: stored, and the group bits are the mask. */
	ACL(&a, { UO, 6, NOID }, { U, 4, 1234 }, { GO, 0, NOID }, { MK, 4, NOID },
	    { O, 0, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
	assert_int_equal(in->mode, S_IFREG | 04640);
	assert_int_equal(xperm(in, META_ACL_ACCESS, U, 1234), 4);

	/* A mask alone is more than a mode (group entry and mask differ). */
	ACL(&a, { UO, 6, NOID }, { GO, 0, NOID }, { MK, 6, NOID }, { O, 4, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
	assert_int_equal(in->mode, S_IFREG | 04664);
	assert_int_equal(xperm(in, META_ACL_ACCESS, MK, 0), 6);

	/* Back to a plain mode: the stored ACL goes. */
	ACL(&a, { UO, 6, NOID }, { GO, 4, NOID }, { O, 4, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
	assert_int_equal(in->mode, S_IFREG | 04644);
	assert_null(meta_ns_xattr_find(in, META_ACL_ACCESS));
	assert_int_equal(in->xattr_bytes, 0);

	/* kill_sgid clears the set-group-id bit, also for an ACL that is a mode. */
	in->mode = S_IFREG | 06644;
	ACL(&a, { UO, 6, NOID }, { GO, 4, NOID }, { O, 4, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, true), 0);
	assert_int_equal(in->mode, S_IFREG | 04644);
	in->mode = S_IFREG | 06644;
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
	assert_int_equal(in->mode, S_IFREG | 06644);
	in->mode = S_IFREG | 04644;

	/* A bad ACL changes nothing. */
	ACL(&a, { UO, 7, NOID }, { U, 7, 1 }, { GO, 7, NOID }, { O, 7, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), GD_EINVAL);
	assert_int_equal(in->mode, S_IFREG | 04644);

	/* Not on a symlink; a default ACL only on a directory. */
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_DEFAULT, a.buf, a.len, false), GD_EACCES);
	struct meta_ns_inode *ln = meta_ns_inode_new(3, S_IFLNK | 0777);
	assert_non_null(ln);
	assert_int_equal(meta_acl_set(ln, META_ACL_ACCESS, a.buf, a.len, false), GD_ENOTSUP);
	assert_int_equal(ln->mode, S_IFLNK | 0777);
	meta_ns_inode_free(ln);
	meta_ns_inode_free(in);
}

static void test_set_default(void **state)
{
	struct meta_ns_inode *d = meta_ns_inode_new(2, S_IFDIR | 0755);
	struct acl a;
	(void)state;
	assert_non_null(d);

	/* Stored even when it is just a mode (it is not the directory's mode). */
	ACL(&a, { UO, 7, NOID }, { GO, 0, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_set(d, META_ACL_DEFAULT, a.buf, a.len, false), 0);
	assert_int_equal(d->mode, S_IFDIR | 0755);
	assert_int_equal(xperm(d, META_ACL_DEFAULT, GO, 0), 0);
	assert_null(meta_ns_xattr_find(d, META_ACL_ACCESS));
	meta_ns_inode_free(d);
}

static void test_chmod(void **state)
{
	struct meta_ns_inode *in = meta_ns_inode_new(2, S_IFREG | 0600);
	struct acl a;
	(void)state;
	assert_non_null(in);

	ACL(&a, { UO, 6, NOID }, { U, 4, 1234 }, { GO, 0, NOID }, { G, 6, 55 },
	    { MK, 4, NOID }, { O, 0, NOID });
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
	assert_int_equal(in->mode, S_IFREG | 0640);

	/* chmod: owner, mask and other follow; named entries and the group entry stay. */
	meta_acl_chmod(in, 02705);
	assert_int_equal(in->mode, S_IFREG | 02705);
	assert_int_equal(xperm(in, META_ACL_ACCESS, UO, 0), 7);
	assert_int_equal(xperm(in, META_ACL_ACCESS, MK, 0), 0);
	assert_int_equal(xperm(in, META_ACL_ACCESS, O, 0), 5);
	assert_int_equal(xperm(in, META_ACL_ACCESS, GO, 0), 0);
	assert_int_equal(xperm(in, META_ACL_ACCESS, U, 1234), 4);
	assert_int_equal(xperm(in, META_ACL_ACCESS, G, 55), 6);

	/* No more than a mode (a plain xattr before godfs handled ACLs): chmod
	 * removes it. */
	ACL(&a, { UO, 6, NOID }, { GO, 0, NOID }, { O, 0, NOID });
	assert_int_equal(meta_ns_xattr_set(in, META_ACL_ACCESS, a.buf, a.len), 0);
	meta_acl_chmod(in, 0754);
	assert_int_equal(in->mode, S_IFREG | 0754);
	assert_null(meta_ns_xattr_find(in, META_ACL_ACCESS));
	assert_int_equal(in->xattr_bytes, 0);

	/* A stored value that is not an ACL is left alone. */
	assert_int_equal(meta_ns_xattr_set(in, META_ACL_ACCESS, "junk", 4), 0);
	meta_acl_chmod(in, 0600);
	assert_int_equal(in->mode, S_IFREG | 0600);
	assert_memory_equal(meta_ns_xattr_find(in, META_ACL_ACCESS)->value, "junk", 4);
	meta_ns_inode_free(in);
}

static void test_inherit(void **state)
{
	struct meta_ns_inode *p = meta_ns_inode_new(2, S_IFDIR | 0755);
	struct meta_ns_inode *in;
	struct acl a;
	(void)state;
	assert_non_null(p);

	/* No default ACL: the umask. */
	in = meta_ns_inode_new(3, S_IFREG | 04666);
	assert_int_equal(meta_acl_inherit(in, p, 027), 0);
	assert_int_equal(in->mode, S_IFREG | 04640);
	assert_int_equal(in->n_xattrs, 0);
	meta_ns_inode_free(in);

	ACL(&a, { UO, 7, NOID }, { U, 7, 1234 }, { GO, 5, NOID }, { MK, 7, NOID },
	    { O, 0, NOID });
	assert_int_equal(meta_acl_set(p, META_ACL_DEFAULT, a.buf, a.len, false), 0);

	/* A file: the create mode masks the ACL, the umask does not apply. */
	in = meta_ns_inode_new(3, S_IFREG | 0666);
	assert_int_equal(meta_acl_inherit(in, p, 077), 0);
	assert_int_equal(in->mode, S_IFREG | 0660);
	assert_int_equal(xperm(in, META_ACL_ACCESS, UO, 0), 6);
	assert_int_equal(xperm(in, META_ACL_ACCESS, U, 1234), 7);
	assert_int_equal(xperm(in, META_ACL_ACCESS, GO, 0), 5);
	assert_int_equal(xperm(in, META_ACL_ACCESS, MK, 0), 6);
	assert_int_equal(xperm(in, META_ACL_ACCESS, O, 0), 0);
	assert_null(meta_ns_xattr_find(in, META_ACL_DEFAULT));
	meta_ns_inode_free(in);

	/* A directory: also the default ACL, as it was. */
	in = meta_ns_inode_new(3, S_IFDIR | 02751);
	assert_int_equal(meta_acl_inherit(in, p, 077), 0);
	assert_int_equal(in->mode, S_IFDIR | 02750);
	assert_int_equal(xperm(in, META_ACL_ACCESS, MK, 0), 5);
	assert_int_equal(xperm(in, META_ACL_DEFAULT, MK, 0), 7);
	assert_int_equal(xperm(in, META_ACL_DEFAULT, O, 0), 0);
	meta_ns_inode_free(in);

	/* Symlinks have no ACLs and ignore the umask. */
	in = meta_ns_inode_new(3, S_IFLNK | 0777);
	assert_int_equal(meta_acl_inherit(in, p, 077), 0);
	assert_int_equal(in->mode, S_IFLNK | 0777);
	assert_int_equal(in->n_xattrs, 0);
	meta_ns_inode_free(in);

	/* A default ACL that is just a mode gives a mode and no access ACL. */
	ACL(&a, { UO, 7, NOID }, { GO, 5, NOID }, { O, 1, NOID });
	assert_int_equal(meta_acl_set(p, META_ACL_DEFAULT, a.buf, a.len, false), 0);
	in = meta_ns_inode_new(3, S_IFREG | 0644);
	assert_int_equal(meta_acl_inherit(in, p, 077), 0);
	assert_int_equal(in->mode, S_IFREG | 0640);
	assert_null(meta_ns_xattr_find(in, META_ACL_ACCESS));
	meta_ns_inode_free(in);
	meta_ns_inode_free(p);
}

/* Every allocation of set and inherit failing in turn: GD_ENOMEM, the mode
 * as it was (the caller frees a half-made new inode), no leak (ASan). */
static void test_alloc_failure(void **state)
{
	struct meta_ns_inode *p = meta_ns_inode_new(2, S_IFDIR | 0755);
	struct acl a;
	(void)state;
	assert_non_null(p);
	ACL(&a, { UO, 7, NOID }, { U, 7, 1234 }, { GO, 5, NOID }, { MK, 7, NOID },
	    { O, 0, NOID });
	assert_int_equal(meta_acl_set(p, META_ACL_DEFAULT, a.buf, a.len, false), 0);

	for (long n = 1;; n++) {
		struct meta_ns_inode *in = meta_ns_inode_new(3, S_IFDIR | 0777);
		assert_non_null(in);
		gd_alloc_fail_after(n);
		int rc = meta_acl_inherit(in, p, 022);
		gd_alloc_fail_after(0);
		if (rc == 0) {
			assert_int_equal(in->mode, S_IFDIR | 0770);
			meta_ns_inode_free(in);
			assert_true(n > 3);
			break;
		}
		assert_int_equal(rc, GD_ENOMEM);
		assert_int_equal(in->mode, S_IFDIR | 0777);
		meta_ns_inode_free(in);
	}
	for (long n = 1;; n++) {
		struct meta_ns_inode *in = meta_ns_inode_new(3, S_IFREG | 0600);
		assert_non_null(in);
		gd_alloc_fail_after(n);
		int rc = meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false);
		gd_alloc_fail_after(0);
		if (rc == 0) {
			assert_int_equal(in->mode, S_IFREG | 0770);
			meta_ns_inode_free(in);
			break;
		}
		assert_int_equal(rc, GD_ENOMEM);
		assert_int_equal(in->mode, S_IFREG | 0600);
		assert_null(meta_ns_xattr_find(in, META_ACL_ACCESS));
		meta_ns_inode_free(in);
	}
	meta_ns_inode_free(p);
}

/* ---- through the FSM --------------------------------------------------------- */

#define M(name) GODFS__METHOD__M_##name

/* Applies one entry of method with request req; returns the status and
 * (where not NULL) the answer's mode and inode. */
static int fsm_apply(struct meta_fsm *f, uint32_t method, const ProtobufCMessage *req,
		     uint32_t *mode, uint64_t *ino)
{
	struct meta_fsm_result res;
	int status = fsm_entry_apply(f, method, req, &res);

	if (status == 0 && (mode || ino)) {
		Godfs__AttrResp *a = godfs__attr_resp__unpack(NULL, res.resp_len, res.resp);
		assert_non_null(a);
		assert_non_null(a->attr);
		if (mode)
			*mode = a->attr->mode;
		if (ino)
			*ino = a->attr->ino;
		godfs__attr_resp__free_unpacked(a, NULL);
	}
	meta_fsm_result_release(&res);
	return status;
}

static int fsm_mknod(struct meta_fsm *f, uint32_t method, uint64_t parent, const char *name,
		     uint32_t mode, int umask, uint32_t *mode_out, uint64_t *ino)
{
	Godfs__Mknod m = GODFS__MKNOD__INIT;
	m.has_parent = m.has_mode = 1;
	m.parent = parent;
	m.name = (char *)name;
	m.mode = mode;
	if (umask >= 0) {
		m.has_umask = 1;
		m.umask = (uint32_t)umask;
	}
	return fsm_apply(f, method, &m.base, mode_out, ino);
}

static int fsm_setxattr(struct meta_fsm *f, uint64_t ino, const char *name, const struct acl *a)
{
	Godfs__Xattr x = GODFS__XATTR__INIT;
	x.has_ino = x.has_value = 1;
	x.ino = ino;
	x.name = (char *)name;
	x.value.data = (uint8_t *)a->buf;
	x.value.len = a->len;
	return fsm_apply(f, M(SETXATTR), &x.base, NULL, NULL);
}

static uint32_t fsm_mode(struct meta_fsm *f, uint64_t ino)
{
	Godfs__InodeReq q = GODFS__INODE_REQ__INIT;
	struct meta_fsm_result res;
	size_t len;
	uint8_t *b;
	uint32_t mode;

	q.has_ino = 1;
	q.ino = ino;
	b = fsm_entry_pack(&q.base, &len);
	memset(&res, 0, sizeof(res));
	assert_int_equal(meta_fsm_query(f, M(GETATTR), b, len, &res), 0);
	assert_int_equal(res.status, 0);
	Godfs__AttrResp *a = godfs__attr_resp__unpack(NULL, res.resp_len, res.resp);
	assert_non_null(a);
	mode = a->attr->mode;
	godfs__attr_resp__free_unpacked(a, NULL);
	meta_fsm_result_release(&res);
	free(b);
	return mode;
}

/* The perm of an entry of ACL name on ino as GETXATTR answers; -2 for ENODATA. */
static int fsm_perm(struct meta_fsm *f, uint64_t ino, const char *name, uint16_t tag, uint32_t id)
{
	Godfs__Xattr x = GODFS__XATTR__INIT;
	struct meta_fsm_result res;
	size_t len;
	uint8_t *b;
	int perm;

	x.has_ino = 1;
	x.ino = ino;
	x.name = (char *)name;
	b = fsm_entry_pack(&x.base, &len);
	memset(&res, 0, sizeof(res));
	assert_int_equal(meta_fsm_query(f, M(GETXATTR), b, len, &res), 0);
	if (res.status == GD_ENODATA) {
		perm = -2;
	} else {
		assert_int_equal(res.status, 0);
		Godfs__XattrResp *r = godfs__xattr_resp__unpack(NULL, res.resp_len, res.resp);
		assert_non_null(r);
		perm = perm_of(r->value.data, r->value.len, tag, id);
		godfs__xattr_resp__free_unpacked(r, NULL);
	}
	meta_fsm_result_release(&res);
	free(b);
	return perm;
}

static void test_fsm(void **state)
{
	struct meta_fsm *f;
	struct acl a;
	uint64_t d, file, sub, plain;
	uint32_t mode;
	(void)state;

	assert_int_equal(meta_fsm_new(1u << 20, &f), 0);
	/* without a default ACL the meta applies the umask; without one sent, none */
	assert_int_equal(fsm_mknod(f, M(MKDIR), 1, "d", S_IFDIR | 0777, 022, &mode, &d), 0);
	assert_int_equal(mode, S_IFDIR | 0755);
	assert_int_equal(fsm_mknod(f, M(MKNOD), 1, "p", S_IFREG | 0666, -1, &mode, &plain), 0);
	assert_int_equal(mode, S_IFREG | 0666);

	ACL(&a, { UO, 7, NOID }, { U, 7, 1234 }, { GO, 5, NOID }, { MK, 7, NOID },
	    { O, 0, NOID });
	assert_int_equal(fsm_setxattr(f, plain, META_ACL_DEFAULT, &a), GD_EACCES);
	assert_int_equal(fsm_setxattr(f, d, META_ACL_DEFAULT, &a), 0);
	assert_int_equal(fsm_mode(f, d), S_IFDIR | 0755);

	/* inherited: the umask is not applied, the create mode masks the ACL */
	assert_int_equal(fsm_mknod(f, M(MKNOD), d, "f", S_IFREG | 0640, 077, &mode, &file), 0);
	assert_int_equal(mode, S_IFREG | 0640);
	assert_int_equal(fsm_perm(f, file, META_ACL_ACCESS, MK, 0), 4);
	assert_int_equal(fsm_perm(f, file, META_ACL_ACCESS, U, 1234), 7);
	assert_int_equal(fsm_perm(f, file, META_ACL_DEFAULT, MK, 0), -2);
	assert_int_equal(fsm_mknod(f, M(MKDIR), d, "sub", S_IFDIR | 0777, 077, &mode, &sub), 0);
	assert_int_equal(mode, S_IFDIR | 0770);
	assert_int_equal(fsm_perm(f, sub, META_ACL_DEFAULT, U, 1234), 7);

	/* chmod rewrites the ACL in the same entry */
	Godfs__SetAttr sa = GODFS__SET_ATTR__INIT;
	sa.has_ino = sa.has_valid = sa.has_mode = 1;
	sa.ino = file;
	sa.valid = GODFS__SET_ATTR_BITS__SA_MODE;
	sa.mode = 0705;
	assert_int_equal(fsm_apply(f, M(SETATTR), &sa.base, &mode, NULL), 0);
	assert_int_equal(mode, S_IFREG | 0705);
	assert_int_equal(fsm_perm(f, file, META_ACL_ACCESS, MK, 0), 0);
	assert_int_equal(fsm_perm(f, file, META_ACL_ACCESS, O, 0), 5);

	/* an ACL that is a mode: the mode, and no ACL stored */
	ACL(&a, { UO, 6, NOID }, { GO, 4, NOID }, { O, 0, NOID });
	assert_int_equal(fsm_setxattr(f, file, META_ACL_ACCESS, &a), 0);
	assert_int_equal(fsm_mode(f, file), S_IFREG | 0640);
	assert_int_equal(fsm_perm(f, file, META_ACL_ACCESS, UO, 0), -2);

	/* a bad one changes nothing */
	ACL(&a, { UO, 7, NOID }, { U, 7, 1 }, { GO, 7, NOID }, { O, 7, NOID });
	assert_int_equal(fsm_setxattr(f, file, META_ACL_ACCESS, &a), GD_EINVAL);
	assert_int_equal(fsm_mode(f, file), S_IFREG | 0640);
	meta_fsm_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_check_random),
		cmocka_unit_test(test_set_access),
		cmocka_unit_test(test_set_default),
		cmocka_unit_test(test_chmod),
		cmocka_unit_test(test_inherit),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_fsm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
