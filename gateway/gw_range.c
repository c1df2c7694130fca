/* Validators, conditionals and ranges (see gw_range.h). */
#include "gw_range.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Skips optional whitespace. */
static const char *ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A decimal number of at most 19 digits; NULL when there is none. */
static const char *number(const char *p, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;
	while (isdigit((unsigned char)*p)) {
		if (++digits > 19)
			return NULL;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (!digits)
		return NULL;
	*out = v;
	return p;
}

int gw_range_parse(const char *hdr, uint64_t size, struct gw_range *out, size_t *n)
{
	*n = 0;
	const char *p = ows(hdr);
	if (strncasecmp(p, "bytes", 5) != 0)
		return 0;
	p = ows(p + 5);
	if (*p++ != '=')
		return strchr(hdr, '=') ? -1 : 0;
	size_t asked = 0;
	for (;;) {
		p = ows(p);
		uint64_t a = 0, b = 0;
		bool has_a = false, has_b = false;
		if (*p != '-') {
			p = number(p, &a);
			if (!p)
				return -1;
			has_a = true;
		}
		if (*p++ != '-')
			return -1;
		if (isdigit((unsigned char)*p)) {
			p = number(p, &b);
			if (!p)
				return -1;
			has_b = true;
		}
		if (!has_a && !has_b)
			return -1;
		if (has_a && has_b && b < a)
			return -1;
		if (++asked > GW_RANGES_MAX)
			return -1;
		struct gw_range r;
		bool ok = true;
		if (!has_a) {                 /* suffix: the last b bytes */
			if (b == 0 || size == 0)
				ok = false;
			r.first = b >= size ? 0 : size - b;
			r.last = size - 1;
		} else {
			if (a >= size)
				ok = false;
			r.first = a;
			r.last = has_b && b < size ? b : size - 1;
		}
		if (ok)
			out[(*n)++] = r;
		p = ows(p);
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return -1;
	}
	return *n ? 1 : -1;
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void gw_http_date(time_t t, char out[GW_HTTP_DATE_LEN])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	/* the daemons never call setlocale: %a and %b are the C locale's English */
	if (strftime(out, GW_HTTP_DATE_LEN, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		out[0] = '\0';
}

int gw_http_date_parse(const char *s, time_t *t)
{
	char wd[4], mon[4];
	int d, y, h, mi, se, used = 0;
	if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi, &se,
		   &used) != 7 || used == 0 || s[used] != '\0')
		return -1;
	struct tm tm = { 0 };
	int m = -1;
	for (int i = 0; i < 12; i++)
		if (strcmp(mon, months[i]) == 0)
			m = i;
	if (m < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t = timegm(&tm);
	return 0;
}

static uint64_t ns_of(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

void gw_etag_format(uint64_t ino, uint64_t generation, uint64_t size,
		    const struct timespec *mtime, const struct timespec *ctime, char *out,
		    size_t len)
{
	snprintf(out, len, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", ino,
		 generation, size, ns_of(mtime), ns_of(ctime));
}

bool gw_etag_list_match(const char *list, const char *etag, bool weak)
{
	const char *p = ows(list);
	if (strcmp(p, "*") == 0)
		return true;
	size_t elen = strlen(etag);
	while (*p) {
		p = ows(p);
		bool is_weak = false;
		if (p[0] == 'W' && p[1] == '/') {
			is_weak = true;
			p += 2;
		}
		const char *start = p;
		if (*p == '"') {
			p = strchr(p + 1, '"');
			if (!p)
				return false;
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ')
				p++;
		}
		size_t len = (size_t)(p - start);
		if ((!is_weak || weak) && len == elen && memcmp(start, etag, elen) == 0)
			return true;
		p = ows(p);
		if (*p == ',')
			p++;
		else if (*p)
			return false;
	}
	return false;
}

enum gw_cond gw_cond_eval(const struct gw_cond_in *c)
{
	time_t t;
	if (c->if_match) {
		if (!c->exists || !gw_etag_list_match(c->if_match, c->etag, false))
			return GW_COND_FAILED;
	} else if (c->if_unmodified_since && c->exists &&
		   gw_http_date_parse(c->if_unmodified_since, &t) == 0 && c->mtime > t) {
		return GW_COND_FAILED;
	}
	if (c->if_none_match) {
		if (c->exists && gw_etag_list_match(c->if_none_match, c->etag, true))
			return c->get ? GW_COND_NOT_MODIFIED : GW_COND_FAILED;
	} else if (c->get && c->if_modified_since && c->exists &&
		   gw_http_date_parse(c->if_modified_since, &t) == 0 && c->mtime <= t) {
		return GW_COND_NOT_MODIFIED;
	}
	return GW_COND_GO;
}

bool gw_if_range_holds(const char *if_range, const char *etag, time_t mtime)
{
	const char *p = ows(if_range);
	time_t t;
	if (*p == '"')
		return strcmp(p, etag) == 0;
	if (p[0] == 'W' && p[1] == '/')
		return false;   /* a weak tag never validates a range */
	/* RFC 9110 13.1.5: a date validates only when it is exactly the
	 * Last-Modified we would send (not "not modified since") */
	return gw_http_date_parse(p, &t) == 0 && mtime == t;
}
