#ifndef WL_STRBUF_H
#define WL_STRBUF_H
#include <stddef.h>
/* A growable string whose buf is never NULL and always NUL-terminated. */
struct strbuf { char *buf; size_t len, cap; };
void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
int strbuf_add(struct strbuf *sb, const char *s, size_t n);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_reset(struct strbuf *sb);
#endif
