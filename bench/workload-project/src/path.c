#include "path.h"
#include <stdio.h>
#include <string.h>

int path_normalize(const char *in, char *out, size_t n)
{
	size_t o = 0;
	int abs = in[0] == '/';

	if (n < 2)
		return -1;
	if (abs)
		out[o++] = '/';
	while (*in) {
		const char *s;
		size_t len;

		while (*in == '/')
			in++;
		s = in;
		while (*in && *in != '/')
			in++;
		len = (size_t)(in - s);
		if (!len || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (o > (size_t)abs) {
				while (o > (size_t)abs && out[o - 1] != '/')
					o--;
				if (o > (size_t)abs)
					o--;
				continue;
			}
			if (abs)
				continue;
		}
		if (o > (size_t)abs) {
			if (o + 1 >= n)
				return -1;
			out[o++] = '/';
		}
		if (o + len >= n)
			return -1;
		memcpy(out + o, s, len);
		o += len;
	}
	if (!o)
		out[o++] = '.';
	out[o] = 0;
	return 0;
}

int path_join(const char *a, const char *b, char *out, size_t n)
{
	size_t la = strlen(a);
	int r;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	r = snprintf(out, n, "%.*s%s%s", (int)la, a, la && a[la - 1] == '/' ? "" : "/", b);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

const char *path_base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}
