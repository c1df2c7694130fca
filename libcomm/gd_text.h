/* A growable text buffer for pages a daemon builds whole before sending
 * them (the Prometheus exposition of gd_metrics, the meta's status page and
 * its JSON). Appends never fail one by one: the first failure (no memory,
 * or the text would pass its bound) is remembered and gd_text_finish
 * reports it, so that a renderer appends without checking every call.
 *
 * The text is NUL-terminated whenever it is not empty. One owner; not
 * thread-safe. Allocation goes through gd_alloc (tests can make it fail).
 *
 *   struct gd_text t;
 *   gd_text_init(&t, 0);
 *   gd_text_str(&t, "a");
 *   gd_text_fmt(&t, " %d\n", 1);
 *   rc = gd_text_finish(&t, &body, &len);   // body: malloc'd, or nothing on error
 */
#ifndef GD_TEXT_H
#define GD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bound when gd_text_init is given 0: far above any page we build, low
 * enough that a runaway renderer fails instead of eating the daemon. */
#define GD_TEXT_MAX_DEFAULT ((size_t)64 << 20)

struct gd_text {
	char *p;        /* gd_alloc'd, NULL until the first append */
	size_t len;     /* bytes of text, not counting the NUL */
	size_t cap;     /* bytes allocated */
	size_t max;     /* len never passes it */
	int err;        /* 0, or the first failure: GD_ENOMEM or GD_E2BIG (past max) */
};

/* An empty text of at most max bytes (0: GD_TEXT_MAX_DEFAULT). */
void gd_text_init(struct gd_text *t, size_t max);
/* Appends n bytes of s. */
void gd_text_mem(struct gd_text *t, const char *s, size_t n);
/* Appends the string s. */
void gd_text_str(struct gd_text *t, const char *s);
/* Appends printf(fmt, ...). */
__attribute__((format(printf, 2, 3)))
void gd_text_fmt(struct gd_text *t, const char *fmt, ...);
/* Records a failure of the caller's own (a copy it could not make): the
 * text is then incomplete and gd_text_finish returns the first failure. */
void gd_text_fail(struct gd_text *t, int err);
/* Hands the text over: 0 with *out (gd_free it; "" for an empty text) and
 * *len, or t->err (nothing to free). t is empty afterwards either way. */
int gd_text_finish(struct gd_text *t, char **out, size_t *len);
/* Drops the text (after an error of the caller's own). */
void gd_text_release(struct gd_text *t);

/* A byte count for people: "1023 B", "1.5 KiB", "80.0 GiB" (up to EiB),
 * written into buf, which is returned. */
const char *gd_text_bytes(uint64_t n, char *buf, size_t len);

#endif
