/* Unit tests of the meta's permission checks for API-key sessions
 * (meta/meta_perm.c) and of the ACL evaluator they use (meta_acl_permission):
 * one table of requests (every method a key's session may send) against a
 * fixed tree with owners, modes, ACLs and a sticky directory, each with the
 * answer Linux gives a process of that uid/gid; then the apply-time set-gid
 * rule through meta_fsm_apply. */
#include <fcntl.h>
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
#include "gd_methods.h"
#include "gd_status.h"
#include "meta_acl.h"
#include "meta_fsm.h"
#include "meta_ns.h"
#include "meta_perm.h"
#include "meta_scope.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

#define M(name) GODFS__METHOD__M_##name
#define SA(bit) GODFS__SET_ATTR_BITS__SA_##bit
#define ROOT 1

/* ---- the tree ------------------------------------------------------------------------ */

static struct meta_ns_inode *ino_of(struct meta_ns_state *st, const char *path)
{
	struct meta_ns_inode *in = meta_ns_map_get(&st->inodes, ROOT);
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *n = strtok_r(buf, "/", &save); n && in; n = strtok_r(NULL, "/", &save)) {
		struct meta_ns_dirent *de = in->dir ? meta_ns_dir_lookup(in->dir, n, strlen(n))
						    : NULL;
		in = de ? meta_ns_map_get(&st->inodes, de->ino) : NULL;
	}
	assert_non_null(in);
	return in;
}

/* Adds path (its directory exists) with mode and owner. */
static struct meta_ns_inode *mk(struct meta_ns_state *st, const char *path, uint32_t mode,
				uint32_t uid, uint32_t gid)
{
	char dir[256];
	const char *name = strrchr(path, '/') + 1;
	struct meta_ns_inode *p, *in;

	snprintf(dir, sizeof(dir), "%.*s", (int)(name - path), path);
	p = ino_of(st, dir);
	in = meta_ns_inode_new(st->next_ino++, mode);
	assert_non_null(in);
	in->uid = uid;
	in->gid = gid;
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->parent = p->ino;
	assert_int_equal(meta_ns_map_put(&st->inodes, in->ino, in), 0);
	assert_int_equal(meta_ns_dir_add(p->dir, name, strlen(name), in->ino, mode & S_IFMT,
					 NULL), 0);
	return in;
}

static void set_acl(struct meta_ns_inode *in, const struct acl_e *es, size_t n)
{
	struct acl a;

	acl_build(&a, es, n);
	assert_int_equal(meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false), 0);
}

static struct meta_ns_state st;

/* uid 1000 (gid 100) is "the key" throughout; 2000 another user. */
static int setup(void **state)
{
	(void)state;
	assert_int_equal(meta_ns_state_init(&st, 1 << 20, 2), 0);
	mk(&st, "/pub", S_IFDIR | 0755, 0, 0);
	mk(&st, "/pub/f600", S_IFREG | 0600, 0, 0);
	mk(&st, "/pub/f644", S_IFREG | 0644, 0, 0);
	mk(&st, "/pub/g660", S_IFREG | 0660, 0, 100);       /* the key's group */
	mk(&st, "/pub/o606", S_IFREG | 0606, 0, 100);       /* group bits deny */
	mk(&st, "/pub/suid", S_IFREG | 04766, 0, 0);
	mk(&st, "/pub/rw666", S_IFREG | 0666, 0, 0);
	mk(&st, "/pub/lnk", S_IFLNK | 0777, 0, 0);
	mk(&st, "/pub/sub", S_IFDIR | 0755, 0, 0);
	mk(&st, "/mine", S_IFDIR | 0755, 1000, 100);
	mk(&st, "/mine/a", S_IFREG | 0644, 1000, 100);
	mk(&st, "/mine/ro", S_IFREG | 0444, 1000, 100);
	mk(&st, "/mine/d", S_IFDIR | 0755, 1000, 100);
	mk(&st, "/mine/x000", S_IFREG | 0000, 1000, 100);   /* owner bits decide */
	mk(&st, "/closed", S_IFDIR | 0700, 0, 0);
	mk(&st, "/closed/f", S_IFREG | 0666, 0, 0);
	mk(&st, "/closed/d", S_IFDIR | 0777, 0, 0);
	mk(&st, "/listonly", S_IFDIR | 0744, 0, 0);         /* r, no x for others */
	mk(&st, "/listonly/f", S_IFREG | 0644, 0, 0);
	mk(&st, "/grp", S_IFDIR | 0770, 0, 100);
	mk(&st, "/grp/f", S_IFREG | 0660, 0, 100);
	mk(&st, "/tmp", S_IFDIR | 01777, 0, 0);
	mk(&st, "/tmp/other", S_IFREG | 0666, 2000, 2000);
	mk(&st, "/tmp/own", S_IFREG | 0644, 1000, 100);
	mk(&st, "/tmp/odir", S_IFDIR | 0777, 2000, 2000);
	mk(&st, "/tmp/mydir", S_IFDIR | 0755, 1000, 100);
	mk(&st, "/ktmp", S_IFDIR | 01777, 1000, 100);       /* sticky, the key's own */
	mk(&st, "/ktmp/other", S_IFREG | 0644, 2000, 2000);
	mk(&st, "/w", S_IFDIR | 0777, 0, 0);
	mk(&st, "/w/rootdir", S_IFDIR | 0755, 0, 0);
	mk(&st, "/w/f", S_IFREG | 0644, 0, 0);
	mk(&st, "/w2", S_IFDIR | 0777, 0, 0);
	mk(&st, "/w2/rootdir2", S_IFDIR | 0755, 0, 0);
	mk(&st, "/w2/mydir2", S_IFDIR | 0755, 1000, 100);
	mk(&st, "/sdir", S_IFDIR | 01777, 2000, 2000);
	mk(&st, "/sdir/ux", S_IFREG | 0666, 2000, 2000);

	/* ACLs: a named user, through the mask; a named group; a mask of 0 */
	struct meta_ns_inode *d = mk(&st, "/acl", S_IFDIR | 0750, 0, 0);
	const struct acl_e dacl[] = { { UO, 7, NOID }, { U, 7, 1000 }, { GO, 5, NOID },
				      { MK, 7, NOID }, { O, 1, NOID } };
	set_acl(d, dacl, 5);                 /* others may only search it */
	struct meta_ns_inode *f = mk(&st, "/acl/f", S_IFREG | 0640, 0, 0);
	const struct acl_e facl[] = { { UO, 6, NOID }, { U, 6, 1000 }, { GO, 4, NOID },
				      { MK, 4, NOID }, { O, 0, NOID } };
	set_acl(f, facl, 5);                 /* user 1000 rw-, but the mask says r-- */
	f = mk(&st, "/acl/g", S_IFREG | 0600, 0, 0);
	const struct acl_e gacl[] = { { UO, 6, NOID }, { GO, 0, NOID }, { G, 6, 100 },
				      { MK, 6, NOID }, { O, 4, NOID } };
	set_acl(f, gacl, 5);                 /* group 100 rw-; others r-- */
	f = mk(&st, "/acl/gdeny", S_IFREG | 0600, 0, 0);
	const struct acl_e gdacl[] = { { UO, 6, NOID }, { GO, 0, NOID }, { G, 0, 100 },
				       { MK, 6, NOID }, { O, 6, NOID } };
	set_acl(f, gdacl, 5);                /* group 100 matches and gets nothing */
	f = mk(&st, "/acl/m0", S_IFREG | 0600, 0, 0);
	const struct acl_e macl[] = { { UO, 6, NOID }, { U, 6, 1000 }, { GO, 0, NOID },
				      { MK, 0, NOID }, { O, 4, NOID } };
	set_acl(f, macl, 5);                 /* mask ---: group bits 0, ACL not looked at */
	f = mk(&st, "/acl/uo", S_IFREG | 0600, 1000, 100);
	const struct acl_e uoacl[] = { { UO, 0, NOID }, { U, 6, 1000 }, { GO, 0, NOID },
				       { MK, 6, NOID }, { O, 0, NOID } };
	set_acl(f, uoacl, 5);                /* the owner is the owner, not "user:1000" */
	f = mk(&st, "/acl/bad", S_IFREG | 0660, 0, 100);
	assert_int_equal(meta_ns_xattr_set(f, META_ACL_ACCESS, "junk", 4), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	meta_ns_state_release(&st);
	return 0;
}

/* ---- the table ----------------------------------------------------------------------- */

static const struct meta_perm_who KEY = { 1000, 100, ROOT };
static const struct meta_perm_who OTH = { 2000, 2000, ROOT };
static const struct meta_perm_who GRP = { 3000, 100, ROOT };   /* the group, not the owner */
static const struct meta_perm_who RT = { 0, 0, ROOT };

struct req {
	const struct meta_perm_who *who;
	uint16_t method;
	const char *p1;         /* an inode, or a directory for names */
	const char *name;       /* name in p1, or an xattr name */
	const char *p2;         /* RENAME/LINK: the new directory */
	const char *name2;
	uint32_t arg;           /* flags, SetAttr valid, plus */
	uint32_t arg2;          /* SetAttr uid/gid/mode */
	int want;
};

static uint64_t ino(const char *path)
{
	return ino_of(&st, path)->ino;
}

static int run(const struct req *q, const char **why)
{
	uint64_t bad;

	switch (q->method) {
	case M(LOOKUP): {
		Godfs__Lookup r = GODFS__LOOKUP__INIT;
		r.has_parent = 1;
		r.parent = ino(q->p1);
		r.name = (char *)q->name;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(GETATTR): case M(READLINK): case M(LISTXATTR): case M(STATFS): case M(RELEASE): {
		Godfs__InodeReq r = GODFS__INODE_REQ__INIT;
		r.has_ino = 1;
		r.ino = ino(q->p1);
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(READDIR): {
		Godfs__Readdir r = GODFS__READDIR__INIT;
		r.has_ino = r.has_plus = 1;
		r.ino = ino(q->p1);
		r.plus = q->arg != 0;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(GETXATTR): case M(SETXATTR): case M(REMOVEXATTR): {
		Godfs__Xattr r = GODFS__XATTR__INIT;
		r.has_ino = 1;
		r.ino = ino(q->p1);
		r.name = (char *)q->name;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(SETATTR): {
		Godfs__SetAttr r = GODFS__SET_ATTR__INIT;
		r.has_ino = r.has_valid = 1;
		r.ino = ino(q->p1);
		r.valid = q->arg;
		r.has_uid = r.has_gid = r.has_mode = r.has_size = 1;
		r.uid = r.gid = q->arg2;
		r.mode = q->arg2;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(OPEN): {
		Godfs__Open r = GODFS__OPEN__INIT;
		r.has_ino = r.has_flags = 1;
		r.ino = ino(q->p1);
		r.flags = q->arg;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(MKNOD): case M(MKDIR): case M(SYMLINK): {
		Godfs__Mknod r = GODFS__MKNOD__INIT;
		r.has_parent = 1;
		r.parent = ino(q->p1);
		r.name = (char *)q->name;
		r.has_mode = q->arg != 0;   /* the type and bits asked for */
		r.mode = q->arg;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(LINK): {
		Godfs__Link r = GODFS__LINK__INIT;
		r.has_ino = r.has_newparent = 1;
		r.ino = ino(q->p1);
		r.newparent = ino(q->p2);
		r.newname = (char *)q->name2;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(UNLINK): case M(RMDIR): {
		Godfs__NameReq r = GODFS__NAME_REQ__INIT;
		r.has_parent = 1;
		r.parent = ino(q->p1);
		r.name = (char *)q->name;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(RENAME): {
		Godfs__Rename r = GODFS__RENAME__INIT;
		r.has_parent = r.has_newparent = r.has_flags = 1;
		r.parent = ino(q->p1);
		r.name = (char *)q->name;
		r.newparent = ino(q->p2);
		r.newname = (char *)q->name2;
		r.flags = q->arg;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(CHUNK_LOCATE): case M(WRITE_LEASE): {
		Godfs__ChunkReq r = GODFS__CHUNK_REQ__INIT;
		r.has_ino = 1;
		r.ino = ino(q->p1);
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(WRITE_COMMIT): {
		Godfs__WriteCommit r = GODFS__WRITE_COMMIT__INIT;
		r.has_ino = 1;
		r.ino = ino(q->p1);
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	case M(CHUNK_FAILED): {
		Godfs__ChunkFailed r = GODFS__CHUNK_FAILED__INIT;
		r.has_ino = 1;
		r.ino = ino(q->p1);
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	default: {
		Godfs__InodeReq r = GODFS__INODE_REQ__INIT;
		return meta_perm_check(&st, q->who, q->method, &r.base, why, &bad);
	}
	}
}

#define EACCES_ GD_EACCES
#define EPERM_ GD_EPERM
static const struct req table[] = {
	/* LOOKUP: x on the directory and on every one above */
	{ &KEY, M(LOOKUP), "/pub", "f600", .want = 0 },
	{ &KEY, M(LOOKUP), "/closed", "f", .want = EACCES_ },
	{ &KEY, M(LOOKUP), "/closed/d", "x", .want = EACCES_ },    /* above is closed */
	{ &RT, M(LOOKUP), "/closed/d", "x", .want = 0 },
	{ &KEY, M(LOOKUP), "/listonly", "f", .want = EACCES_ },
	{ &KEY, M(LOOKUP), "/grp", "f", .want = 0 },               /* by the group */
	{ &OTH, M(LOOKUP), "/grp", "f", .want = EACCES_ },
	{ &KEY, M(LOOKUP), "/acl", "f", .want = 0 },               /* by the ACL */
	{ &OTH, M(LOOKUP), "/acl", "f", .want = 0 },
	{ &OTH, M(READDIR), "/acl", .want = EACCES_ },
	{ &KEY, M(READDIR), "/acl", .arg = 1, .want = 0 },
	/* stat-like: only the way there */
	{ &KEY, M(GETATTR), "/pub/f600", .want = 0 },
	{ &KEY, M(GETATTR), "/closed/f", .want = EACCES_ },
	{ &KEY, M(GETATTR), "/listonly/f", .want = EACCES_ },
	{ &KEY, M(READLINK), "/pub/lnk", .want = 0 },
	{ &KEY, M(LISTXATTR), "/pub/f600", .want = 0 },
	{ &KEY, M(STATFS), "/", .want = 0 },
	{ &KEY, M(RELEASE), "/closed/f", .want = 0 },
	/* READDIR: r; with attributes also x */
	{ &KEY, M(READDIR), "/listonly", .arg = 0, .want = 0 },
	{ &KEY, M(READDIR), "/listonly", .arg = 1, .want = EACCES_ },
	{ &KEY, M(READDIR), "/closed", .want = EACCES_ },
	{ &KEY, M(READDIR), "/pub", .arg = 1, .want = 0 },
	/* OPEN by flags; owner bits alone decide for the owner */
	{ &KEY, M(OPEN), "/pub/f600", .arg = O_RDONLY, .want = EACCES_ },
	{ &RT, M(OPEN), "/pub/f600", .arg = O_RDWR, .want = 0 },
	{ &KEY, M(OPEN), "/pub/f644", .arg = O_RDONLY, .want = 0 },
	{ &KEY, M(OPEN), "/pub/f644", .arg = O_WRONLY, .want = EACCES_ },
	{ &KEY, M(OPEN), "/pub/f644", .arg = O_RDONLY | O_TRUNC, .want = EACCES_ },
	{ &KEY, M(OPEN), "/pub/g660", .arg = O_RDWR, .want = 0 },
	{ &KEY, M(OPEN), "/pub/o606", .arg = O_RDONLY, .want = EACCES_ }, /* group, not other */
	{ &OTH, M(OPEN), "/pub/o606", .arg = O_RDWR, .want = 0 },
	{ &KEY, M(OPEN), "/mine/ro", .arg = O_WRONLY, .want = EACCES_ },
	{ &KEY, M(OPEN), "/mine/x000", .arg = O_RDONLY, .want = EACCES_ },
	{ &KEY, M(OPEN), "/mine/a", .arg = O_RDWR | O_TRUNC, .want = 0 },
	/* ACLs */
	{ &KEY, M(OPEN), "/acl/f", .arg = O_RDONLY, .want = 0 },
	{ &KEY, M(OPEN), "/acl/f", .arg = O_WRONLY, .want = EACCES_ },  /* the mask */
	{ &GRP, M(OPEN), "/acl/g", .arg = O_RDWR, .want = 0 },          /* named group */
	{ &OTH, M(OPEN), "/acl/g", .arg = O_RDONLY, .want = 0 },
	{ &OTH, M(OPEN), "/acl/g", .arg = O_WRONLY, .want = EACCES_ },
	{ &GRP, M(OPEN), "/acl/gdeny", .arg = O_RDONLY, .want = EACCES_ }, /* not "other" */
	{ &OTH, M(OPEN), "/acl/gdeny", .arg = O_RDWR, .want = 0 },
	{ &KEY, M(OPEN), "/acl/m0", .arg = O_RDONLY, .want = 0 },       /* other r-- */
	{ &KEY, M(OPEN), "/acl/m0", .arg = O_WRONLY, .want = EACCES_ },
	{ &KEY, M(OPEN), "/acl/uo", .arg = O_RDONLY, .want = EACCES_ },
	{ &KEY, M(OPEN), "/acl/bad", .arg = O_RDWR, .want = 0 },        /* the mode decides */
	{ &OTH, M(OPEN), "/acl/bad", .arg = O_RDONLY, .want = EACCES_ },
	/* data: read capability r, write lease/commit w */
	{ &KEY, M(CHUNK_LOCATE), "/pub/f600", .want = EACCES_ },
	{ &KEY, M(CHUNK_LOCATE), "/pub/f644", .want = 0 },
	{ &KEY, M(WRITE_LEASE), "/pub/f644", .want = EACCES_ },
	{ &KEY, M(WRITE_LEASE), "/mine/a", .want = 0 },
	{ &KEY, M(WRITE_COMMIT), "/pub/f644", .want = EACCES_ },
	{ &KEY, M(CHUNK_FAILED), "/pub/f644", .want = EACCES_ },
	{ &KEY, M(WRITE_COMMIT), "/pub/rw666", .want = 0 },
	{ &RT, M(WRITE_LEASE), "/pub/f600", .want = 0 },
	/* create: w and x on the directory; an existing name is the handler's */
	{ &KEY, M(MKNOD), "/pub", "new", .want = EACCES_ },
	{ &KEY, M(MKDIR), "/pub", "new", .want = EACCES_ },
	{ &KEY, M(SYMLINK), "/pub", "new", .want = EACCES_ },
	{ &KEY, M(MKNOD), "/pub", "f644", .want = 0 },       /* EEXIST / open from the handler */
	{ &KEY, M(MKNOD), "/mine", "new", .want = 0 },
	{ &KEY, M(MKDIR), "/acl", "new", .want = 0 },        /* user:1000:rwx */
	{ &OTH, M(MKDIR), "/acl", "new", .want = EACCES_ },
	{ &KEY, M(MKNOD), "/closed/d", "new", .want = EACCES_ },
	{ &KEY, M(MKNOD), "/listonly", "new", .want = EACCES_ },
	{ &RT, M(MKNOD), "/pub", "new", .want = 0 },
	/* no device node for any key; no set-user-id bit from a non-root key */
	{ &KEY, M(MKNOD), "/mine", "dev", .arg = S_IFCHR | 0644, .want = EPERM_ },
	{ &RT, M(MKNOD), "/pub", "dev", .arg = S_IFBLK | 0600, .want = EPERM_ },
	{ &RT, M(MKNOD), "/pub", "fifo", .arg = S_IFIFO | 0644, .want = 0 },
	{ &KEY, M(MKNOD), "/mine", "suid", .arg = S_IFREG | 04755, .want = EPERM_ },
	{ &KEY, M(MKDIR), "/mine", "suid", .arg = S_IFDIR | 04755, .want = EPERM_ },
	{ &KEY, M(MKNOD), "/mine", "sgid", .arg = S_IFREG | 02755, .want = 0 },
	{ &RT, M(MKNOD), "/pub", "suid", .arg = S_IFREG | 04755, .want = 0 },
	/* unlink/rmdir: w and x, and the sticky bit */
	{ &KEY, M(UNLINK), "/pub", "f644", .want = EACCES_ },
	{ &KEY, M(UNLINK), "/pub", "nothere", .want = 0 },  /* ENOENT from the handler */
	{ &KEY, M(UNLINK), "/mine", "a", .want = 0 },
	{ &KEY, M(UNLINK), "/tmp", "other", .want = EPERM_ },
	{ &KEY, M(UNLINK), "/tmp", "own", .want = 0 },
	{ &OTH, M(UNLINK), "/tmp", "other", .want = 0 },
	{ &RT, M(UNLINK), "/tmp", "other", .want = 0 },
	{ &KEY, M(UNLINK), "/ktmp", "other", .want = 0 },     /* the directory's owner */
	{ &KEY, M(RMDIR), "/tmp", "odir", .want = EPERM_ },
	{ &KEY, M(RMDIR), "/tmp", "mydir", .want = 0 },
	{ &KEY, M(RMDIR), "/mine", "d", .want = 0 },
	{ &KEY, M(RMDIR), "/pub", "sub", .want = EACCES_ },
	/* rename: both directories, sticky, ".." of a moved directory */
	{ &KEY, M(RENAME), "/mine", "a", "/mine", "b", .want = 0 },
	{ &KEY, M(RENAME), "/mine", "a", "/pub", "b", .want = EACCES_ },
	{ &KEY, M(RENAME), "/pub", "f644", "/mine", "b", .want = EACCES_ },
	{ &KEY, M(RENAME), "/tmp", "other", "/mine", "b", .want = EPERM_ },
	{ &KEY, M(RENAME), "/mine", "a", "/tmp", "other", .want = EPERM_ },  /* replaces it */
	{ &KEY, M(RENAME), "/mine", "a", "/tmp", "own", .want = 0 },
	{ &KEY, M(RENAME), "/tmp", "own", "/mine", "a", .want = 0 },
	{ &KEY, M(RENAME), "/w", "rootdir", "/mine", "rd", .want = EACCES_ },  /* its ".." */
	{ &KEY, M(RENAME), "/w", "rootdir", "/w", "rd", .want = 0 },          /* same parent */
	{ &KEY, M(RENAME), "/w", "f", "/mine", "f", .want = 0 },
	{ &KEY, M(RENAME), "/mine", "d", "/w", "d", .want = 0 },
	{ &KEY, M(RENAME), "/w2", "mydir2", "/w", "rootdir", .arg = 2, .want = EACCES_ },
	{ &KEY, M(RENAME), "/w2", "mydir2", "/mine", "d", .arg = 2, .want = 0 },
	{ &KEY, M(RENAME), "/w2", "rootdir2", "/w", "rootdir", .arg = 0, .want = EACCES_ },
	{ &KEY, M(RENAME), "/mine", "nothere", "/pub", "x", .want = 0 },     /* ENOENT */
	{ &KEY, M(RENAME), "/closed", "f", "/mine", "x", .want = EACCES_ },
	{ &RT, M(RENAME), "/tmp", "other", "/pub", "x", .want = 0 },
	/* link: protected hard links, then create */
	{ &KEY, M(LINK), "/pub/rw666", .p2 = "/mine", .name2 = "l", .want = 0 },
	{ &KEY, M(LINK), "/pub/f644", .p2 = "/mine", .name2 = "l", .want = EPERM_ },
	{ &KEY, M(LINK), "/pub/suid", .p2 = "/mine", .name2 = "l", .want = EPERM_ },
	{ &KEY, M(LINK), "/mine/a", .p2 = "/pub", .name2 = "l", .want = EACCES_ },
	{ &KEY, M(LINK), "/mine/a", .p2 = "/mine", .name2 = "l", .want = 0 },
	{ &KEY, M(LINK), "/mine/a", .p2 = "/mine", .name2 = "ro", .want = 0 },  /* EEXIST */
	{ &RT, M(LINK), "/pub/f600", .p2 = "/pub", .name2 = "l", .want = 0 },
	/* setattr */
	{ &KEY, M(SETATTR), "/pub/f644", .arg = SA(MODE), .arg2 = 0777, .want = EPERM_ },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(MODE), .arg2 = 0600, .want = 0 },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(MODE), .arg2 = 04755, .want = EPERM_ },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(MODE), .arg2 = 02755, .want = 0 },
	{ &RT, M(SETATTR), "/mine/a", .arg = SA(MODE), .arg2 = 04755, .want = 0 },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(UID), .arg2 = 0, .want = EPERM_ },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(UID), .arg2 = 1000, .want = 0 },
	{ &KEY, M(SETATTR), "/pub/f644", .arg = SA(UID), .arg2 = 1000, .want = EPERM_ },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(GID), .arg2 = 100, .want = 0 },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(GID), .arg2 = 0, .want = EPERM_ },
	{ &KEY, M(SETATTR), "/pub/g660", .arg = SA(GID), .arg2 = 100, .want = EPERM_ },
	{ &RT, M(SETATTR), "/mine/a", .arg = SA(UID) | SA(GID), .arg2 = 5, .want = 0 },
	{ &KEY, M(SETATTR), "/pub/f644", .arg = SA(SIZE), .want = EACCES_ },
	{ &KEY, M(SETATTR), "/pub/rw666", .arg = SA(SIZE), .want = 0 },
	{ &KEY, M(SETATTR), "/mine/ro", .arg = SA(SIZE), .want = EACCES_ },
	{ &KEY, M(SETATTR), "/pub/rw666", .arg = SA(MTIME) | SA(ATIME), .want = EPERM_ },
	{ &KEY, M(SETATTR), "/pub/rw666", .arg = SA(MTIME_NOW) | SA(ATIME_NOW), .want = 0 },
	{ &KEY, M(SETATTR), "/pub/f644", .arg = SA(MTIME_NOW), .want = EACCES_ },
	{ &KEY, M(SETATTR), "/mine/ro", .arg = SA(MTIME_NOW), .want = 0 },
	{ &KEY, M(SETATTR), "/mine/ro", .arg = SA(MTIME), .want = 0 },
	{ &KEY, M(SETATTR), "/mine/a", .arg = SA(GOAL), .arg2 = 3, .want = EPERM_ },
	{ &RT, M(SETATTR), "/pub/f644", .arg = SA(GOAL), .arg2 = 3, .want = 0 },
	/* xattrs */
	{ &KEY, M(GETXATTR), "/pub/f600", "user.a", .want = EACCES_ },
	{ &KEY, M(GETXATTR), "/pub/f644", "user.a", .want = 0 },
	{ &KEY, M(SETXATTR), "/pub/f644", "user.a", .want = EACCES_ },
	{ &KEY, M(REMOVEXATTR), "/pub/rw666", "user.a", .want = 0 },
	{ &KEY, M(SETXATTR), "/pub/lnk", "user.a", .want = EPERM_ },
	{ &KEY, M(GETXATTR), "/pub/lnk", "user.a", .want = GD_ENODATA },
	{ &KEY, M(SETXATTR), "/sdir", "user.a", .want = EPERM_ },        /* sticky, 0777 */
	{ &OTH, M(SETXATTR), "/sdir", "user.a", .want = 0 },
	{ &KEY, M(SETXATTR), "/sdir/ux", "user.a", .want = 0 },
	{ &KEY, M(GETXATTR), "/mine/a", "trusted.a", .want = GD_ENODATA },
	{ &KEY, M(SETXATTR), "/mine/a", "trusted.a", .want = EPERM_ },
	{ &RT, M(SETXATTR), "/mine/a", "trusted.a", .want = 0 },
	{ &KEY, M(GETXATTR), "/pub/f600", "security.selinux", .want = 0 },
	{ &KEY, M(SETXATTR), "/mine/a", "security.capability", .want = EPERM_ },
	{ &KEY, M(REMOVEXATTR), "/mine/a", "security.x", .want = EPERM_ },
	{ &KEY, M(GETXATTR), "/pub/f600", META_ACL_ACCESS, .want = 0 },
	{ &KEY, M(SETXATTR), "/pub/rw666", META_ACL_ACCESS, .want = EPERM_ },
	{ &KEY, M(SETXATTR), "/mine/ro", META_ACL_ACCESS, .want = 0 },
	{ &KEY, M(REMOVEXATTR), "/mine/d", META_ACL_DEFAULT, .want = 0 },
	{ &KEY, M(REMOVEXATTR), "/pub/sub", META_ACL_DEFAULT, .want = EPERM_ },
	/* always: the session's own state */
	{ &KEY, M(PING), "/", .want = 0 },
	/* methods a key has no rule for */
	{ &KEY, M(ADMIN_STATUS), "/", .want = EPERM_ },
	{ &RT, M(TOKEN_CREATE), "/", .want = EPERM_ },
	{ &KEY, M(CS_HEARTBEAT), "/", .want = EPERM_ },
};

static void test_table(void **state)
{
	int fails = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct req *q = &table[i];
		const char *why = NULL;
		int rc = run(q, &why);
		if (rc != q->want) {
			fprintf(stderr, "case %zu: uid %u method %u %s %s %s %s: %d, want %d (%s)\n",
				i, q->who->uid, q->method, q->p1, q->name ? q->name : "",
				q->p2 ? q->p2 : "", q->name2 ? q->name2 : "", rc, q->want,
				why ? why : "-");
			fails++;
		} else if (rc == GD_EACCES || rc == GD_EPERM) {
			assert_non_null(why);
		}
	}
	assert_int_equal(fails, 0);
}

/* Every method of the wire has a rule or is refused: none passes unseen.
 * The ones that pass without a look at the state are listed here. */
static void test_unmapped(void **state)
{
	const char *why;
	uint64_t bad;

	(void)state;
	for (uint32_t m = 0; m <= GD_METHOD_ID_MAX; m++) {
		const struct gd_method *gm = gd_method_get(m);
		/* an empty message of the method's own type, as gd_server unpacks */
		_Alignas(max_align_t) uint8_t buf[1024];
		bool free_pass = m == M(PING) || m == M(SESSION_RENEW) || m == M(HELLO) ||
				 m == M(RELEASE);
		int rc;

		if (!gm)
			continue;
		assert_true(gm->req->sizeof_message <= sizeof(buf));
		protobuf_c_message_init(gm->req, buf);
		rc = meta_perm_check(&st, &KEY, (uint16_t)m, (ProtobufCMessage *)buf, &why, &bad);
		if (free_pass)
			assert_int_equal(rc, 0);
		else
			assert_int_not_equal(rc, 0);   /* no inode: ENOENT; no rule: EPERM */
	}
	assert_int_equal(meta_perm_check(&st, &KEY, M(GETATTR), NULL, &why, &bad), GD_EINVAL);
}

/* A key confined to a subtree searches from its root, not from "/": a
 * directory above it that the key could not search does not matter. */
static void test_subtree_root(void **state)
{
	struct meta_perm_who k = { 1000, 100, ino("/closed/d") };
	const char *why;
	uint64_t bad;
	Godfs__Lookup l = GODFS__LOOKUP__INIT;

	(void)state;
	l.has_parent = 1;
	l.parent = k.root;
	l.name = "x";
	assert_int_equal(meta_perm_check(&st, &k, M(LOOKUP), &l.base, &why, &bad), 0);
	k.root = ROOT;
	assert_int_equal(meta_perm_check(&st, &k, M(LOOKUP), &l.base, &why, &bad), GD_EACCES);
	assert_int_equal(bad, ino("/closed"));
}

/* meta_perm_inode against generic_permission for every mode of a file, as
 * owner, group member and other: the 512 x 3 x 7 answers follow the bits. */
static void test_mode_bits(void **state)
{
	struct meta_ns_inode in = { .ino = 99, .uid = 1000, .gid = 100 };

	(void)state;
	for (uint32_t mode = 0; mode < 01000; mode++) {
		in.mode = S_IFREG | mode;
		for (uint32_t want = 1; want < 8; want++) {
			bool own = (want & (mode >> 6)) == want;
			bool grp = (want & (mode >> 3)) == want;
			bool oth = (want & mode) == want;
			assert_int_equal(meta_perm_inode(&in, 1000, 5, want), own ? 0 : GD_EACCES);
			assert_int_equal(meta_perm_inode(&in, 7, 100, want), grp ? 0 : GD_EACCES);
			assert_int_equal(meta_perm_inode(&in, 7, 5, want), oth ? 0 : GD_EACCES);
			assert_int_equal(meta_perm_inode(&in, 0, 0, want), 0);
		}
	}
}

/* ---- the set-gid bit at apply time ---------------------------------------------------- */

static uint32_t mode_of(struct meta_fsm *f, uint64_t i)
{
	const struct meta_ns_inode *in = meta_ns_map_get(&meta_fsm_state(f)->inodes, i);

	assert_non_null(in);
	return in->mode & 07777;
}

static void test_apply_sgid(void **state)
{
	struct meta_fsm *f;
	struct meta_fsm_result res;
	Godfs__Mknod mk = GODFS__MKNOD__INIT;
	Godfs__SetAttr sa = GODFS__SET_ATTR__INIT;
	Godfs__Xattr x = GODFS__XATTR__INIT;
	const struct acl_e acl[] = { { UO, 7, NOID }, { U, 7, 5 }, { GO, 5, NOID },
				     { MK, 7, NOID }, { O, 5, NOID } };
	struct acl ab;
	uint64_t file;

	(void)state;
	assert_int_equal(meta_fsm_new(1 << 20, &f), 0);
	mk.has_parent = mk.has_mode = 1;
	mk.parent = ROOT;
	mk.name = "f";
	mk.mode = S_IFREG | 0755;
	assert_int_equal(fsm_entry_apply_as(f, M(MKNOD), &mk.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	file = meta_fsm_state(f)->next_ino - 1;

	/* the key is in the file's group (100): S_ISGID stays */
	sa.has_ino = sa.has_valid = sa.has_mode = 1;
	sa.ino = file;
	sa.valid = SA(MODE);
	sa.mode = 02745;   /* no group x: a chown keeps S_ISGID */
	assert_int_equal(fsm_entry_apply_as(f, M(SETATTR), &sa.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, file), 02745);
	/* root moves it to group 7; the owner (not in 7) asks for it again: cleared */
	sa.valid = SA(GID);
	sa.has_gid = 1;
	sa.gid = 7;
	assert_int_equal(fsm_entry_apply_as(f, M(SETATTR), &sa.base, 0, 0, &res), 0);
	meta_fsm_result_release(&res);
	sa.valid = SA(MODE);
	assert_int_equal(fsm_entry_apply_as(f, M(SETATTR), &sa.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, file), 0745);
	/* chmod and chgrp to the key's own group together: the new group counts */
	sa.valid = SA(MODE) | SA(GID);
	sa.gid = 100;
	assert_int_equal(fsm_entry_apply_as(f, M(SETATTR), &sa.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, file), 02745);
	/* root outside the group keeps it */
	sa.valid = SA(GID);
	sa.gid = 7;
	assert_int_equal(fsm_entry_apply_as(f, M(SETATTR), &sa.base, 0, 0, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, file), 02745);
	/* an access ACL set by the owner outside the group: S_ISGID goes, although
	 * the request did not ask (ACL_KILL_SGID) */
	acl_build(&ab, acl, 5);
	x.has_ino = x.has_value = 1;
	x.ino = file;
	x.name = META_ACL_ACCESS;
	x.value.data = ab.buf;
	x.value.len = ab.len;
	assert_int_equal(fsm_entry_apply_as(f, M(SETXATTR), &x.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, file), 0775);

	/* create in a set-gid directory of group 50 (mode_strip_sgid) */
	mk.name = "sg";
	mk.mode = S_IFDIR | 02777;
	assert_int_equal(fsm_entry_apply_as(f, M(MKDIR), &mk.base, 0, 0, &res), 0);
	meta_fsm_result_release(&res);
	sa.ino = meta_fsm_state(f)->next_ino - 1;
	sa.valid = SA(GID);
	sa.gid = 50;
	assert_int_equal(fsm_entry_apply_as(f, M(SETATTR), &sa.base, 0, 0, &res), 0);
	meta_fsm_result_release(&res);
	mk.parent = sa.ino;
	/* a key outside group 50: a group-executable file loses S_ISGID... */
	mk.name = "x";
	mk.mode = S_IFREG | 02755;
	assert_int_equal(fsm_entry_apply_as(f, M(MKNOD), &mk.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, meta_fsm_state(f)->next_ino - 1), 0755);
	/* ...one without group x keeps it (no executable to run as the group) */
	mk.name = "nx";
	mk.mode = S_IFREG | 02745;
	assert_int_equal(fsm_entry_apply_as(f, M(MKNOD), &mk.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, meta_fsm_state(f)->next_ino - 1), 02745);
	/* a directory inherits it */
	mk.name = "d";
	mk.mode = S_IFDIR | 0755;
	assert_int_equal(fsm_entry_apply_as(f, M(MKDIR), &mk.base, 1000, 100, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, meta_fsm_state(f)->next_ino - 1), 02755);
	/* a key in group 50 keeps it, and so does root */
	mk.name = "y";
	mk.mode = S_IFREG | 02755;
	assert_int_equal(fsm_entry_apply_as(f, M(MKNOD), &mk.base, 1000, 50, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, meta_fsm_state(f)->next_ino - 1), 02755);
	mk.name = "z";
	assert_int_equal(fsm_entry_apply_as(f, M(MKNOD), &mk.base, 0, 0, &res), 0);
	meta_fsm_result_release(&res);
	assert_int_equal(mode_of(f, meta_fsm_state(f)->next_ino - 1), 02755);
	meta_fsm_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subtree_root, setup, teardown),
		cmocka_unit_test(test_mode_bits),
		cmocka_unit_test(test_apply_sgid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
