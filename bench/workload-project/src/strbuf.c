#include "strbuf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char empty[1];

void strbuf_init(struct strbuf *sb) { sb->buf = empty; sb->len = sb->cap = 0; }

void strbuf_release(struct strbuf *sb)
{
	if (sb->cap)
		free(sb->buf);
	strbuf_init(sb);
}

static int grow(struct strbuf *sb, size_t extra)
{
	size_t want = sb->len + extra + 1, cap = sb->cap ? sb->cap : 16;
	char *p;

	if (want <= sb->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	p = realloc(sb->cap ? sb->buf : NULL, cap);
	if (!p)
		return -1;
	if (!sb->cap)
		p[0] = 0;
	sb->buf = p;
	sb->cap = cap;
	return 0;
}

int strbuf_add(struct strbuf *sb, const char *s, size_t n)
{
	if (grow(sb, n) < 0)
		return -1;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = 0;
	return 0;
}

int strbuf_adds(struct strbuf *sb, const char *s) { return strbuf_add(sb, s, strlen(s)); }

int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(sb, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->cap)
		sb->buf[0] = 0;
}
