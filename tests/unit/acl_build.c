/* POSIX ACLs in xattr form for the meta's unit tests (see acl_build.h). */
#include "acl_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

void acl_put_le(uint8_t *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void acl_build(struct acl *a, const struct acl_e *es, size_t n)
{
	assert_true(4 + 8 * n <= sizeof(a->buf));
	acl_put_le(a->buf, META_ACL_VERSION, 4);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = a->buf + 4 + 8 * i;

		acl_put_le(p, es[i].tag, 2);
		acl_put_le(p + 2, es[i].perm, 2);
		acl_put_le(p + 4, es[i].id, 4);
	}
	a->len = 4 + 8 * n;
}
