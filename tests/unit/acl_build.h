/* Builds POSIX ACLs in their xattr form (system.posix_acl_access /
 * _default, meta/meta_acl.h) for the unit tests of the meta: short names for
 * the tags and one builder, shared by test_meta_acl and test_meta_perm.
 *
 *   struct acl a;
 *   ACL(&a, { UO, 6, NOID }, { U, 6, 1000 }, { GO, 4, NOID }, { MK, 4, NOID },
 *       { O, 0, NOID });
 *   meta_acl_set(in, META_ACL_ACCESS, a.buf, a.len, false);
 */
#ifndef ACL_BUILD_H
#define ACL_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "meta_acl.h"

#define UO META_ACL_USER_OBJ
#define U META_ACL_USER
#define GO META_ACL_GROUP_OBJ
#define G META_ACL_GROUP
#define MK META_ACL_MASK
#define O META_ACL_OTHER
#define NOID META_ACL_UNDEFINED_ID

/* One entry: tag, rwx bits, uid or gid (NOID for the unnamed ones). */
struct acl_e {
	uint16_t tag, perm;
	uint32_t id;
};

/* An ACL in its xattr form: 4 + 8 * n bytes in buf (room past the largest
 * valid one, for tests that write malformed values). */
struct acl {
	uint8_t buf[META_ACL_MAX_BYTES + 64];
	size_t len;
};

/* v in bytes little-endian bytes at p, as every field of the xattr form. */
void acl_put_le(uint8_t *p, uint32_t v, int bytes);
/* Writes the version header and the n entries, in order and unchecked (a test
 * may want them wrong), into a. n <= META_ACL_MAX_BYTES / 8. */
void acl_build(struct acl *a, const struct acl_e *es, size_t n);

/* acl_build from a list of { tag, perm, id } entries. */
#define ACL(a, ...) do { \
		const struct acl_e es_[] = { __VA_ARGS__ }; \
		acl_build((a), es_, sizeof(es_) / sizeof(es_[0])); \
	} while (0)

#endif
