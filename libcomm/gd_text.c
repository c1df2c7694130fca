/* A growable text buffer (see gd_text.h). */
#include "gd_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_status.h"

#define TEXT_FIRST_CAP 4096

void gd_text_init(struct gd_text *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : GD_TEXT_MAX_DEFAULT;
}

/* Room for more bytes and the NUL; false (and t->err set) when there is none. */
static bool grow(struct gd_text *t, size_t more)
{
	size_t cap;
	char *p;

	if (t->err)
		return false;
	if (more > t->max - t->len) {
		t->err = GD_E2BIG;
		return false;
	}
	if (t->len + more + 1 <= t->cap)
		return true;
	/* doubling from 4 KiB cannot overflow: len + more + 1 <= max + 1 */
	cap = t->cap ? t->cap : TEXT_FIRST_CAP;
	while (cap < t->len + more + 1)
		cap *= 2;
	p = gd_realloc(t->p, cap);
	if (!p) {
		t->err = GD_ENOMEM;
		return false;
	}
	t->p = p;
	t->cap = cap;
	return true;
}

void gd_text_mem(struct gd_text *t, const char *s, size_t n)
{
	if (!grow(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

void gd_text_str(struct gd_text *t, const char *s)
{
	gd_text_mem(t, s, strlen(s));
}

void gd_text_fmt(struct gd_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->err = GD_EINVAL;
		return;
	}
	if (!grow(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void gd_text_fail(struct gd_text *t, int err)
{
	if (!t->err)
		t->err = err;
}

int gd_text_finish(struct gd_text *t, char **out, size_t *len)
{
	int rc;

	*out = NULL;
	*len = 0;
	if (grow(t, 0)) {      /* an empty text still hands over "" */
		t->p[t->len] = '\0';
		*out = t->p;
		*len = t->len;
		t->p = NULL;
	}
	rc = t->err;
	gd_text_release(t);
	return rc;
}

void gd_text_release(struct gd_text *t)
{
	size_t max = t->max;

	gd_free(t->p);
	memset(t, 0, sizeof(*t));
	t->max = max;
}

const char *gd_text_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return buf;
	}
	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}
