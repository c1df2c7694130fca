#include "gd_log.h"
#include "gd_status.h"
#include "gd_trace.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int gd_log_level_current = GD_LOG_INFO;
static char gd_log_program[32] = "godfs";
static const char *const gd_log_names[] = { "error", "warn", "info", "debug" };
/* Set before threads start (gd_log_init, gd_log_set_format); read by all. */
static enum gd_log_format gd_log_fmt = GD_LOG_TEXT;
/* getpid() once, again in a forked child (mount.godfs daemonizes). */
static atomic_int gd_log_pid;
static pthread_once_t gd_log_once = PTHREAD_ONCE_INIT;

/* Longest message kept (longer ones are cut), and a line buffer that holds
 * any of them escaped for JSON (6 bytes per byte at worst) with the other
 * fields (program 31 bytes, source name, an id of 64). */
#define MSG_MAX 1024
#define LINE_MAX_BYTES (8 * MSG_MAX)

static void pid_refresh(void)
{
	atomic_store(&gd_log_pid, (int)getpid());
}

static void log_once(void)
{
	const char *env = getenv("GODFS_LOG_FORMAT");

	pid_refresh();
	pthread_atfork(NULL, NULL, pid_refresh);
	if (env && *env)
		(void)gd_log_set_format(env);
}

int gd_log_init(const char *program, const char *level)
{
	pthread_once(&gd_log_once, log_once);
	if (program)
		snprintf(gd_log_program, sizeof(gd_log_program), "%s", program);
	if (!level)
		return 0;
	for (int i = 0; i <= GD_LOG_DEBUG; i++) {
		if (strcmp(level, gd_log_names[i]) == 0) {
			gd_log_level_current = i;
			return 0;
		}
	}
	return GD_EINVAL;
}

void gd_log_set_level(enum gd_log_level level)
{
	gd_log_level_current = level;
}

int gd_log_set_format(const char *name)
{
	if (name && strcmp(name, "text") == 0)
		gd_log_fmt = GD_LOG_TEXT;
	else if (name && strcmp(name, "json") == 0)
		gd_log_fmt = GD_LOG_JSON;
	else
		return GD_EINVAL;
	return 0;
}

enum gd_log_format gd_log_get_format(void)
{
	return gd_log_fmt;
}

/* Appends to a line buffer, never past its end (the end stays a NUL). */
struct line {
	char *p;
	size_t len, cap;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
	if (l->len + 1 >= l->cap)
		return;
	if (n > l->cap - 1 - l->len)
		n = l->cap - 1 - l->len;
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len] = '\0';
}

static void put(struct line *l, const char *s)
{
	put_raw(l, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void putf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len + 1 >= l->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->p + l->len, l->cap - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < l->cap - l->len ? (size_t)n : l->cap - 1 - l->len;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t want;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		want = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		want = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		want = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (want > n)
		return 0;
	for (size_t i = 1; i < want; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and what is past U+10FFFF are not UTF-8 */
	if ((want == 2 && cp < 0x80) || (want == 3 && cp < 0x800) ||
	    (want == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return want;
}

/* A JSON string: quotes, backslashes and control characters escaped,
 * anything that is not UTF-8 replaced by U+FFFD (a log line is text). */
static void put_json_str(struct line *l, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s);

	put(l, "\"");
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		size_t k;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put_raw(l, esc, 2);
			i++;
		} else if (c == '\n') {
			put(l, "\\n");
			i++;
		} else if (c == '\t') {
			put(l, "\\t");
			i++;
		} else if (c == '\r') {
			put(l, "\\r");
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(l, esc);
			i++;
		} else if ((k = utf8_len(u + i, n - i)) > 0) {
			put_raw(l, s + i, k);
			i += k;
		} else {
			put(l, "\\ufffd");
			i++;
		}
	}
	put(l, "\"");
}

/* A text-format message: control characters (C0, DEL) escaped as \n, \r,
 * \t or \xNN, so that a name from the network (a path with a newline, a
 * terminal escape) can neither forge a line nor drive the terminal. */
static void put_text(struct line *l, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c >= 0x20 && c != 0x7f)
			continue;
		put_raw(l, run, (size_t)(s - run));
		if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			put_raw(l, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			put(l, esc);
		}
		run = s + 1;
	}
	put_raw(l, run, (size_t)(s - run));
}

void gd_log_format_line(char *out, size_t len, enum gd_log_level level, const char *file,
			int line, const char *msg)
{
	struct line l = { out, 0, len };
	const char *base = strrchr(file, '/');
	const char *req = gd_trace_get();
	char ts[96];
	struct timespec now;
	struct tm tm;

	if (len == 0)
		return;
	out[0] = '\0';
	if ((unsigned)level > GD_LOG_DEBUG)
		level = GD_LOG_DEBUG;
	base = base ? base + 1 : file;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000);
	if (gd_log_fmt == GD_LOG_JSON) {
		putf(&l, "{\"ts\":\"%s\",\"prog\":", ts);
		put_json_str(&l, gd_log_program);
		putf(&l, ",\"pid\":%d,\"level\":\"%s\",\"src\":", atomic_load(&gd_log_pid),
		     gd_log_names[level]);
		{
			char src[256];
			snprintf(src, sizeof(src), "%s:%d", base, line);
			put_json_str(&l, src);
		}
		put(&l, ",\"msg\":");
		put_json_str(&l, msg);
		if (req) {
			put(&l, ",\"req\":");
			put_json_str(&l, req);   /* valid ids need no escaping, but cheap */
		}
		put(&l, "}");
		/* A cut line would not parse: say so in one that does. */
		if (l.len + 1 >= l.cap)
			snprintf(out, len, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(line too long)\"}",
				 ts, gd_log_names[level]);
	} else {
		putf(&l, "%s %s[%d] %s %s:%d: ", ts, gd_log_program,
		     atomic_load(&gd_log_pid), gd_log_names[level], base, line);
		put_text(&l, msg);
		if (req)
			putf(&l, " req=%s", req);
	}
}

void gd_log_write(enum gd_log_level level, const char *file, int line,
		  const char *fmt, ...)
{
	char msg[MSG_MAX];
	char out[LINE_MAX_BYTES];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (atomic_load(&gd_log_pid) == 0)
		pthread_once(&gd_log_once, log_once);
	gd_log_format_line(out, sizeof(out) - 1, level, file, line, msg);
	n = strlen(out);
	out[n++] = '\n';
	/* One write per line so that lines from several threads do not mix. */
	fwrite(out, 1, n, stderr);
}

bool gd_log_limit_allow(struct gd_log_limit *l, unsigned *dropped)
{
	struct timespec ts;
	uint64_t now;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	pthread_mutex_lock(&l->lock);
	if (now - l->window_ms >= 1000u) {
		l->window_ms = now;
		l->lines = 0;
	}
	ok = l->lines < GD_LOG_LIMIT_BURST;
	*dropped = 0;
	if (ok) {
		l->lines++;
		*dropped = l->dropped;
		l->dropped = 0;
	} else {
		l->dropped++;
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}
