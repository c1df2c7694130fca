/* POSIX ACLs of the meta (see meta_acl.h). An ACL is handled in its xattr
 * bytes: the entries have a fixed size, so chmod and the masking at create
 * edit them in place, and nothing is parsed into another structure. Every
 * function but meta_acl_check expects a value that meta_acl_check accepted. */
#include "meta_acl.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_status.h"

#define PERM_BITS 07u           /* rwx of one entry */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* One entry of an ACL in its xattr bytes. */
struct ent {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static size_t n_entries(size_t len)
{
	return (len - META_ACL_HEADER_BYTES) / META_ACL_ENTRY_BYTES;
}

static uint8_t *entry_at(uint8_t *v, size_t i)
{
	return v + META_ACL_HEADER_BYTES + i * META_ACL_ENTRY_BYTES;
}

static struct ent entry_get(const uint8_t *v, size_t i)
{
	const uint8_t *p = v + META_ACL_HEADER_BYTES + i * META_ACL_ENTRY_BYTES;
	struct ent e = { get16(p), get16(p + 2), get32(p + 4) };
	return e;
}

static void perm_set(uint8_t *v, size_t i, uint32_t perm)
{
	put16(entry_at(v, i) + 2, (uint16_t)(perm & PERM_BITS));
}

enum meta_acl_type meta_acl_type(const char *name)
{
	if (strcmp(name, META_ACL_ACCESS) == 0)
		return META_ACL_TYPE_ACCESS;
	if (strcmp(name, META_ACL_DEFAULT) == 0)
		return META_ACL_TYPE_DEFAULT;
	return META_ACL_NONE;
}

/* The order posix_acl_valid() wants: owner, named users (ids rising), group,
 * named groups (ids rising), mask, other. `stage` is the next tag allowed. */
int meta_acl_check(const void *value, size_t len)
{
	const uint8_t *v = value;
	uint16_t stage = META_ACL_USER_OBJ;
	bool named = false, have_prev = false;
	uint32_t prev = 0;
	size_t i, n;

	if (len > META_ACL_MAX_BYTES)
		return GD_E2BIG;
	if (!v || len < META_ACL_HEADER_BYTES + META_ACL_ENTRY_BYTES ||
	    (len - META_ACL_HEADER_BYTES) % META_ACL_ENTRY_BYTES)
		return GD_EINVAL;
	if (get32(v) != META_ACL_VERSION)
		return GD_EINVAL;
	n = n_entries(len);
	for (i = 0; i < n; i++) {
		struct ent e = entry_get(v, i);
		if (e.perm & ~PERM_BITS)
			return GD_EINVAL;
		switch (e.tag) {
		case META_ACL_USER_OBJ:
			if (stage != META_ACL_USER_OBJ)
				return GD_EINVAL;
			stage = META_ACL_USER;
			have_prev = false;
			break;
		case META_ACL_USER:
		case META_ACL_GROUP:
			if (stage != e.tag || (have_prev && e.id <= prev))
				return GD_EINVAL;
			prev = e.id;
			have_prev = true;
			named = true;
			break;
		case META_ACL_GROUP_OBJ:
			if (stage != META_ACL_USER)
				return GD_EINVAL;
			stage = META_ACL_GROUP;
			have_prev = false;
			break;
		case META_ACL_MASK:
			if (stage != META_ACL_GROUP)
				return GD_EINVAL;
			stage = META_ACL_OTHER;
			break;
		case META_ACL_OTHER:
			if (stage == META_ACL_GROUP && named)
				return GD_EINVAL; /* named entries need a mask */
			if (stage != META_ACL_GROUP && stage != META_ACL_OTHER)
				return GD_EINVAL;
			stage = 0;        /* nothing may follow */
			break;
		default:
			return GD_EINVAL;
		}
	}
	return stage == 0 ? 0 : GD_EINVAL;
}

/* The permission bits the ACL gives the mode (posix_acl_equiv_mode): sets
 * *mode's 0777 and returns true when the ACL holds nothing more (no mask, no
 * named entry). */
static bool equiv_mode(const uint8_t *v, size_t len, uint32_t *mode)
{
	uint32_t m = 0;
	bool equiv = true;
	size_t i, n = n_entries(len);

	for (i = 0; i < n; i++) {
		struct ent e = entry_get(v, i);
		switch (e.tag) {
		case META_ACL_USER_OBJ:
			m |= (uint32_t)e.perm << 6;
			break;
		case META_ACL_GROUP_OBJ: /* before the mask, which replaces it */
			m |= (uint32_t)e.perm << 3;
			break;
		case META_ACL_MASK:
			m = (m & ~(uint32_t)S_IRWXG) | (uint32_t)e.perm << 3;
			equiv = false;
			break;
		case META_ACL_OTHER:
			m |= e.perm;
			break;
		default:
			equiv = false;
			break;
		}
	}
	*mode = (*mode & ~(uint32_t)0777) | m;
	return equiv;
}

/* Index of the first entry with tag, or n when there is none. */
static size_t find_tag(const uint8_t *v, size_t len, uint16_t tag)
{
	size_t i, n = n_entries(len);
	for (i = 0; i < n; i++)
		if (entry_get(v, i).tag == tag)
			break;
	return i;
}

/* The entry that stands for the group bits of the mode: the mask if there is
 * one, else the owning group's entry. */
static size_t group_bits_entry(const uint8_t *v, size_t len)
{
	size_t i = find_tag(v, len, META_ACL_MASK);
	return i < n_entries(len) ? i : find_tag(v, len, META_ACL_GROUP_OBJ);
}

/* posix_acl_chmod_masq: owner, other and the group-bits entry take the mode's bits. */
static void chmod_masq(uint8_t *v, size_t len, uint32_t mode)
{
	perm_set(v, find_tag(v, len, META_ACL_USER_OBJ), mode >> 6);
	perm_set(v, group_bits_entry(v, len), mode >> 3);
	perm_set(v, find_tag(v, len, META_ACL_OTHER), mode);
}

/* posix_acl_create_masq: the ACL and the create mode mask each other (owner,
 * group-bits entry, other); returns true when the result says no more than
 * *mode, whose 0777 bits it sets. */
static bool create_masq(uint8_t *v, size_t len, uint32_t *mode)
{
	static const struct { uint16_t tag; unsigned shift; } slots[] = {
		{ META_ACL_USER_OBJ, 6 }, { 0, 3 }, { META_ACL_OTHER, 0 },
	};
	uint32_t m = *mode;
	size_t i, k;
	bool equiv = true;

	for (i = 0; i < n_entries(len); i++) {
		uint16_t tag = entry_get(v, i).tag;
		if (tag == META_ACL_USER || tag == META_ACL_GROUP || tag == META_ACL_MASK)
			equiv = false;
	}
	for (k = 0; k < sizeof(slots) / sizeof(slots[0]); k++) {
		unsigned s = slots[k].shift;
		i = slots[k].tag ? find_tag(v, len, slots[k].tag) : group_bits_entry(v, len);
		uint32_t perm = entry_get(v, i).perm & (m >> s);
		perm_set(v, i, perm);
		m = (m & ~((uint32_t)PERM_BITS << s)) | perm << s;
	}
	*mode = m;
	return equiv;
}

int meta_acl_set(struct meta_ns_inode *in, const char *name, const void *value, size_t len,
		 bool kill_sgid)
{
	enum meta_acl_type type = meta_acl_type(name);
	uint32_t mode = in->mode;
	int rc = meta_acl_check(value, len);

	if (rc)
		return rc;
	if (S_ISLNK(in->mode))
		return GD_ENOTSUP;
	if (type == META_ACL_TYPE_DEFAULT) {
		if (!S_ISDIR(in->mode))
			return GD_EACCES;
		return meta_ns_xattr_set(in, name, value, len);
	}
	if (kill_sgid)
		mode &= ~(uint32_t)S_ISGID;
	if (equiv_mode(value, len, &mode)) {
		meta_ns_xattr_remove(in, name); /* GD_ENODATA: there was none */
	} else {
		rc = meta_ns_xattr_set(in, name, value, len);
		if (rc)
			return rc;
	}
	in->mode = mode;
	return 0;
}

void meta_acl_chmod(struct meta_ns_inode *in, uint32_t mode)
{
	struct meta_ns_xattr *x = meta_ns_xattr_find(in, META_ACL_ACCESS);

	in->mode = (in->mode & S_IFMT) | (mode & 07777);
	/* ACLs stored before godfs understood them (a plain xattr then) may be
	 * invalid, or no more than a mode: the first are left as they are rather
	 * than half rewritten, the others go, so that a chmod -R mends them. */
	if (!x || meta_acl_check(x->value, x->len) != 0)
		return;
	chmod_masq(x->value, x->len, in->mode);
	uint32_t m = in->mode;
	if (equiv_mode(x->value, x->len, &m))
		meta_ns_xattr_remove(in, META_ACL_ACCESS);
}

/* Walks the entries in their sorted order like the kernel: the first that
 * names the caller decides, through the mask for all but owner and other;
 * among groups, one granting want is enough, and a matching group that
 * grants less stops the walk before "other". */
int meta_acl_permission(const struct meta_ns_inode *in, uint32_t uid, uint32_t gid,
			uint32_t want)
{
	const struct meta_ns_xattr *x = meta_ns_xattr_find(in, META_ACL_ACCESS);
	bool found = false;
	size_t i, n;

	if (!x || meta_acl_check(x->value, x->len) != 0)
		return GD_ENODATA;
	want &= PERM_BITS;
	n = n_entries(x->len);
	for (i = 0; i < n; i++) {
		struct ent e = entry_get(x->value, i);
		bool match = false;

		switch (e.tag) {
		case META_ACL_USER_OBJ:
			if (in->uid == uid)
				return (e.perm & want) == want ? 0 : GD_EACCES;
			break;
		case META_ACL_USER:
			match = e.id == uid;
			break;
		case META_ACL_GROUP_OBJ:
		case META_ACL_GROUP:
			if ((e.tag == META_ACL_GROUP_OBJ ? in->gid : e.id) == gid) {
				found = true;
				match = (e.perm & want) == want;
			}
			break;
		case META_ACL_OTHER:
			if (found)
				return GD_EACCES;
			return (e.perm & want) == want ? 0 : GD_EACCES;
		default:        /* the mask: applied below */
			break;
		}
		if (match) {
			size_t m = find_tag(x->value, x->len, META_ACL_MASK);
			uint16_t perm = e.perm;
			if (m < n)
				perm &= entry_get(x->value, m).perm;
			return (perm & want) == want ? 0 : GD_EACCES;
		}
	}
	return GD_EACCES;       /* not reached: meta_acl_check wants an "other" entry */
}

int meta_acl_inherit(struct meta_ns_inode *in, const struct meta_ns_inode *parent,
		     uint32_t umask)
{
	const struct meta_ns_xattr *def = meta_ns_xattr_find(parent, META_ACL_DEFAULT);
	uint32_t mode = in->mode;
	uint8_t *acl;
	int rc = 0;

	if (S_ISLNK(in->mode))
		return 0;
	if (!def || meta_acl_check(def->value, def->len) != 0) {
		in->mode &= ~(umask & 0777);
		return 0;
	}
	if (S_ISDIR(in->mode)) {
		rc = meta_ns_xattr_set(in, META_ACL_DEFAULT, def->value, def->len);
		if (rc)
			return rc;
	}
	acl = gd_malloc(def->len);
	if (!acl)
		return GD_ENOMEM;
	memcpy(acl, def->value, def->len);
	if (!create_masq(acl, def->len, &mode))
		rc = meta_ns_xattr_set(in, META_ACL_ACCESS, acl, def->len);
	gd_free(acl);
	if (rc == 0)
		in->mode = mode;
	return rc;
}
