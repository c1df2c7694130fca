/* HTTP validators, conditionals and byte ranges of /v1/fs/content (RFC
 * 9110 sections 8.8, 13 and 14), as pure functions of header strings and
 * the file's attributes, so that the unit tests can drive every case.
 * Thread-safe. */
#ifndef GW_RANGE_H
#define GW_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GW_RANGES_MAX 16
#define GW_HTTP_DATE_LEN 30     /* "Sun, 06 Dec 2026 10:00:00 GMT" + NUL */

struct gw_range {
	uint64_t first, last;   /* inclusive */
};

/* Parses a Range header for a body of `size` bytes. Returns 1 and
 * out[0..*n) (in the order asked, each clipped to the size, at most
 * GW_RANGES_MAX), 0 when the header is to be ignored (not the "bytes"
 * unit: the whole body is sent), or -1 when it is malformed, asks for more
 * than GW_RANGES_MAX ranges or none of them is satisfiable (416). */
int gw_range_parse(const char *hdr, uint64_t size, struct gw_range *out, size_t *n);

/* Formats t as an HTTP date (IMF-fixdate, GMT). */
void gw_http_date(time_t t, char out[GW_HTTP_DATE_LEN]);
/* Parses an IMF-fixdate (the only form HTTP/1.1 senders must use); 0 and
 * *t, or -1. */
int gw_http_date_parse(const char *s, time_t *t);

/* The strong ETag of a file's content, quoted:
 * "<ino>-<generation>-<size>-<mtime ns>-<ctime ns>" (hex). Any change of
 * the content changes size, mtime or ctime: the meta sets ctime to the
 * write's time at every commit and to its own clock at every setattr,
 * and a user can set mtime (touch -d) but never ctime; a replaced file is
 * another inode, a reused inode number another generation. out must hold
 * GW_ETAG_LEN bytes. */
#define GW_ETAG_LEN 96
void gw_etag_format(uint64_t ino, uint64_t generation, uint64_t size,
		    const struct timespec *mtime, const struct timespec *ctime, char *out,
		    size_t len);

/* Whether an If-Match / If-None-Match list ("*", or comma-separated
 * entity tags, possibly W/-prefixed) matches etag (a quoted strong tag).
 * weak: W/"x" matches "x" (If-None-Match); else a weak tag never matches. */
bool gw_etag_list_match(const char *list, const char *etag, bool weak);

/* What the preconditions of a request say. */
enum gw_cond {
	GW_COND_GO = 0,         /* go on */
	GW_COND_NOT_MODIFIED,   /* 304 (GET/HEAD) */
	GW_COND_FAILED,         /* 412 */
};
struct gw_cond_in {
	const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since;
	bool exists;            /* the resource exists (PUT may create it) */
	const char *etag;       /* its strong tag, when it exists */
	time_t mtime;           /* its mtime in seconds, when it exists */
	bool get;               /* GET or HEAD (304), else 412 */
};
/* RFC 9110 13.2.2 in its order: If-Match, else If-Unmodified-Since; then
 * If-None-Match, else If-Modified-Since (GET/HEAD only). */
enum gw_cond gw_cond_eval(const struct gw_cond_in *c);

/* Whether an If-Range value (a strong tag or an HTTP date) still holds:
 * the tag is the file's, or the date is exactly its Last-Modified (mtime);
 * then the Range applies, else the whole body is sent (200). */
bool gw_if_range_holds(const char *if_range, const char *etag, time_t mtime);

#endif
