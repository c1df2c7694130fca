/* Query strings (see gw_query.h). */
#include "gw_query.h"

#include <stdio.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_hex.h"
#include "gd_status.h"

long gw_query_decode(const char *s, size_t len, char *out, int plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = gd_hex_digit(s[i + 1]);
			int lo = gd_hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

void gw_query_free(struct gw_arg *args, size_t nargs)
{
	for (size_t i = 0; i < nargs; i++) {
		gd_free(args[i].name);
		gd_free(args[i].value);
		args[i].name = args[i].value = NULL;
	}
}

int gw_query_parse(const char *target, struct gw_arg *args, size_t *nargs, char *why,
		   size_t whylen)
{
	*nargs = 0;
	const char *q = strchr(target, '?');
	if (!q)
		return 0;
	q++;
	int rc = 0;
	while (*q) {
		const char *end = strchr(q, '&');
		size_t n = end ? (size_t)(end - q) : strlen(q);
		if (n == 0) {          /* "a=1&&b=2": tolerated */
			q += end ? 1 : 0;
			continue;
		}
		if (*nargs == GW_MAX_ARGS) {
			snprintf(why, whylen, "more than %d query arguments", GW_MAX_ARGS);
			rc = GD_EINVAL;
			break;
		}
		const char *eq = memchr(q, '=', n);
		size_t nl = eq ? (size_t)(eq - q) : n;
		size_t vl = eq ? n - nl - 1 : 0;
		char *name = gd_malloc(nl + 1), *value = gd_malloc(vl + 1);
		if (!name || !value) {
			gd_free(name);
			gd_free(value);
			rc = GD_ENOMEM;
			break;
		}
		long dn = gw_query_decode(q, nl, name, 1);
		long dv = eq ? gw_query_decode(eq + 1, vl, value, 1) : (value[0] = '\0', 0);
		if (dn <= 0 || dv < 0) {
			gd_free(name);
			gd_free(value);
			snprintf(why, whylen, "bad percent-encoding or NUL in the query");
			rc = GD_EINVAL;
			break;
		}
		for (size_t i = 0; i < *nargs; i++) {
			if (strcmp(args[i].name, name) == 0) {
				snprintf(why, whylen, "query argument \"%.64s\" given twice", name);
				rc = GD_EINVAL;
			}
		}
		if (rc) {
			gd_free(name);
			gd_free(value);
			break;
		}
		args[*nargs] = (struct gw_arg){ name, value, (size_t)dv };
		(*nargs)++;
		if (!end)
			break;
		q = end + 1;
	}
	if (rc) {
		gw_query_free(args, *nargs);
		*nargs = 0;
	}
	return rc;
}
