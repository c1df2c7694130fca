/* The query string of a request, decoded once and strictly: "a=1&b=%2F"
 * gives a = "1", b = "/". '+' is a space (as HTML forms and Python's
 * urlencode send it; a literal '+' is %2B). A '%' not followed by two hex
 * digits, a decoded NUL, more than GW_MAX_ARGS arguments or a repeated
 * name is refused: MHD's own decoder leaves bad escapes as they are, and
 * two readings of one argument must never disagree. Thread-safe. */
#ifndef GW_QUERY_H
#define GW_QUERY_H

#include <stddef.h>

#include "gw_req.h"

/* Percent-decodes s[0..len) into out (len + 1 bytes); returns the decoded
 * length, or -1 (bad escape, NUL). plus_space: '+' becomes ' '. */
long gw_query_decode(const char *s, size_t len, char *out, int plus_space);

/* Parses the query of a request target ("/v1/x?a=1": the part after the
 * first '?', none is fine) into args (at most GW_MAX_ARGS, strings
 * gd_malloc'd: free with gw_query_free). Returns 0 or GD_EINVAL with why. */
int gw_query_parse(const char *target, struct gw_arg *args, size_t *nargs, char *why,
		   size_t whylen);
void gw_query_free(struct gw_arg *args, size_t nargs);

#endif
