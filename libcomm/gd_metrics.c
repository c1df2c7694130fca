/* The metrics registry and its text exposition (see gd_metrics.h). */
#include "gd_metrics.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gd_text.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double gd_metrics_seconds_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t gd_metrics_seconds_nbuckets =
	sizeof(gd_metrics_seconds_buckets) / sizeof(gd_metrics_seconds_buckets[0]);

struct gd_mseries {
	struct gd_metric *m;                /* const */
	/* counter: the count; gauge: the bits of a double */
	_Atomic uint64_t v;
	_Atomic uint64_t sum_bits;          /* histogram: the bits of the sum */
	_Atomic uint64_t *buckets;          /* histogram: nbounds + 1 (+Inf), not cumulative */
	char *values[GD_METRICS_MAX_LABELS]; /* const */
	struct gd_mseries *next;            /* m->mu */
};

struct gd_metric {
	char *name;                         /* const, like everything down to ctx */
	char *help;
	enum gd_metric_type type;
	size_t nlabels;
	char *labels[GD_METRICS_MAX_LABELS];
	double *bounds;
	size_t nbounds;
	gd_metrics_collect_fn fn;           /* a collector: no series of its own */
	void *ctx;
	pthread_mutex_t mu;                 /* guards everything down to other */
	struct gd_mseries *head, *tail;
	size_t n, max;
	struct gd_mseries *other;           /* the label sets over max */
	struct gd_metric *next;             /* reg->mu */
};

struct gd_metrics {
	pthread_mutex_t mu;                 /* guards the list of families */
	struct gd_metric *head, *tail;
};

struct gd_metrics_emit {
	struct gd_metric *m;
	struct gd_text *tb;
};

/* ---- doubles in atomics ---- */

static uint64_t dbits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double dval(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void atomic_dadd(_Atomic uint64_t *a, double delta)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(dval(old) + delta),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* ---- names and values ---- */

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (colon && c == ':')))
			return false;
	}
	return true;
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A copy of a label value: at most GD_METRICS_VALUE_MAX bytes, cut on a
 * character boundary, bytes that are not UTF-8 turned into '?'. */
static char *value_copy(const char *v)
{
	char *out = gd_malloc(GD_METRICS_VALUE_MAX + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	while (*v) {
		size_t n = utf8_len((const unsigned char *)v);

		if (o + (n ? n : 1) > GD_METRICS_VALUE_MAX)
			break;
		if (n == 0) {
			out[o++] = '?';
			v++;
			continue;
		}
		memcpy(out + o, v, n);
		o += n;
		v += n;
	}
	out[o] = '\0';
	return out;
}

/* ---- the exposition text ---- */

/* Escapes \ and newline (HELP), and " too (label values). */
static void tb_escaped(struct gd_text *tb, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			gd_text_mem(tb, "\\\\", 2);
		else if (*s == '\n')
			gd_text_mem(tb, "\\n", 2);
		else if (quote && *s == '"')
			gd_text_mem(tb, "\\\"", 2);
		else
			gd_text_mem(tb, s, 1);
	}
}

/* A sample value the way Prometheus reads it back exactly. */
static void fmt_double(double v, char *out, size_t len)
{
	if (isnan(v))
		snprintf(out, len, "NaN");
	else if (isinf(v))
		snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
	else if (fabs(v) < 1e15 && v == (double)(int64_t)v)
		snprintf(out, len, "%lld", (long long)v);
	else {
		snprintf(out, len, "%.15g", v);
		if (strtod(out, NULL) != v)
			snprintf(out, len, "%.17g", v);
	}
}

/* name{l1="v1",...,extra_name="extra_value"} value\n; suffix after the name
 * ("_bucket"), extra label (le) may be NULL. */
static void tb_sample(struct gd_text *tb, const struct gd_metric *m, const char *suffix,
		      char *const *values, const char *extra_name, const char *extra_value,
		      const char *value)
{
	size_t i;
	bool any = m->nlabels > 0 || extra_name;

	gd_text_str(tb, m->name);
	if (suffix)
		gd_text_str(tb, suffix);
	if (any) {
		gd_text_mem(tb, "{", 1);
		for (i = 0; i < m->nlabels; i++) {
			if (i)
				gd_text_mem(tb, ",", 1);
			gd_text_str(tb, m->labels[i]);
			gd_text_mem(tb, "=\"", 2);
			tb_escaped(tb, values[i], true);
			gd_text_mem(tb, "\"", 1);
		}
		if (extra_name) {
			if (m->nlabels)
				gd_text_mem(tb, ",", 1);
			gd_text_str(tb, extra_name);
			gd_text_mem(tb, "=\"", 2);
			gd_text_str(tb, extra_value);
			gd_text_mem(tb, "\"", 1);
		}
		gd_text_mem(tb, "}", 1);
	}
	gd_text_mem(tb, " ", 1);
	gd_text_str(tb, value);
	gd_text_mem(tb, "\n", 1);
}

/* ---- registry ---- */

int gd_metrics_new(struct gd_metrics **out)
{
	struct gd_metrics *reg = gd_calloc(1, sizeof(*reg));

	if (!reg)
		return GD_ENOMEM;
	pthread_mutex_init(&reg->mu, NULL);
	*out = reg;
	return 0;
}

static void series_free(struct gd_mseries *s)
{
	size_t i;

	for (i = 0; i < GD_METRICS_MAX_LABELS; i++)
		gd_free(s->values[i]);
	gd_free(s->buckets);
	gd_free(s);
}

static void metric_free(struct gd_metric *m)
{
	struct gd_mseries *s, *next;
	size_t i;

	for (s = m->head; s; s = next) {
		next = s->next;
		series_free(s);
	}
	if (m->other)
		series_free(m->other);
	for (i = 0; i < m->nlabels; i++)
		gd_free(m->labels[i]);
	pthread_mutex_destroy(&m->mu);
	gd_free(m->bounds);
	gd_free(m->name);
	gd_free(m->help);
	gd_free(m);
}

void gd_metrics_free(struct gd_metrics *reg)
{
	struct gd_metric *m, *next;

	if (!reg)
		return;
	for (m = reg->head; m; m = next) {
		next = m->next;
		metric_free(m);
	}
	pthread_mutex_destroy(&reg->mu);
	gd_free(reg);
}

static struct gd_metrics *global_reg;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_make(void)
{
	if (gd_metrics_new(&global_reg) != 0)
		global_reg = NULL;
}

struct gd_metrics *gd_metrics_global(void)
{
	pthread_once(&global_once, global_make);
	return global_reg;
}

/* Splits "a,b" into m->labels; false when a name is bad or there are too many. */
static bool labels_parse(struct gd_metric *m, const char *labels)
{
	const char *p = labels;

	if (!labels || !*labels)
		return true;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (m->nlabels == GD_METRICS_MAX_LABELS)
			return false;
		m->labels[m->nlabels] = gd_strndup(p, n);
		if (!m->labels[m->nlabels])
			return false;
		m->nlabels++;
		if (!name_ok(m->labels[m->nlabels - 1], false) ||
		    strncmp(m->labels[m->nlabels - 1], "__", 2) == 0 ||
		    strcmp(m->labels[m->nlabels - 1], "le") == 0)
			return false;
		p += n;
		if (*p == ',')
			p++;
	}
	return true;
}

static bool same_shape(const struct gd_metric *a, const struct gd_metric *b)
{
	size_t i;

	if (a->type != b->type || a->nlabels != b->nlabels || (a->fn == NULL) != (b->fn == NULL))
		return false;
	for (i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	return true;
}

/* Registers m (built by the caller) or returns the family of that name. */
static struct gd_metric *metric_add(struct gd_metrics *reg, struct gd_metric *m)
{
	struct gd_metric *x;

	pthread_mutex_lock(&reg->mu);
	for (x = reg->head; x; x = x->next) {
		if (strcmp(x->name, m->name) == 0)
			break;
	}
	if (x) {
		pthread_mutex_unlock(&reg->mu);
		if (!same_shape(x, m) || (m->fn && (x->fn != m->fn || x->ctx != m->ctx))) {
			gd_error("metric %s registered twice with another type or labels", m->name);
			x = NULL;
		}
		metric_free(m);
		return x;
	}
	if (reg->tail)
		reg->tail->next = m;
	else
		reg->head = m;
	reg->tail = m;
	pthread_mutex_unlock(&reg->mu);
	return m;
}

static struct gd_metric *metric_new(struct gd_metrics *reg, const char *name, const char *help,
				    enum gd_metric_type type, const char *labels,
				    const double *bounds, size_t nbounds)
{
	struct gd_metric *m;
	size_t i;

	if (!reg)
		return NULL;
	if (!name_ok(name, true)) {
		gd_error("metric name \"%s\" is not [a-zA-Z_:][a-zA-Z0-9_:]*", name ? name : "");
		return NULL;
	}
	m = gd_calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->mu, NULL);
	m->type = type;
	m->max = GD_METRICS_DEFAULT_MAX_SERIES;
	m->name = gd_strdup(name);
	m->help = gd_strdup(help ? help : "");
	if (!m->name || !m->help)
		goto err_after_alloc;
	if (!labels_parse(m, labels)) {
		gd_error("metric %s: bad label names \"%s\"", name, labels);
		goto err_after_alloc;
	}
	if (type == GD_METRIC_HISTOGRAM) {
		if (!bounds) {
			bounds = gd_metrics_seconds_buckets;
			nbounds = gd_metrics_seconds_nbuckets;
		}
		if (nbounds == 0 || nbounds > GD_METRICS_MAX_BUCKETS) {
			gd_error("metric %s: %zu buckets (1..%d)", name, nbounds,
				 GD_METRICS_MAX_BUCKETS);
			goto err_after_alloc;
		}
		for (i = 1; i < nbounds; i++) {
			if (!(bounds[i] > bounds[i - 1])) {
				gd_error("metric %s: bucket bounds do not increase", name);
				goto err_after_alloc;
			}
		}
		m->bounds = gd_malloc(nbounds * sizeof(*m->bounds));
		if (!m->bounds)
			goto err_after_alloc;
		memcpy(m->bounds, bounds, nbounds * sizeof(*m->bounds));
		m->nbounds = nbounds;
	}
	return m;

err_after_alloc:
	metric_free(m);
	return NULL;
}

struct gd_metric *gd_metrics_counter(struct gd_metrics *reg, const char *name,
				     const char *help, const char *labels)
{
	struct gd_metric *m = metric_new(reg, name, help, GD_METRIC_COUNTER, labels, NULL, 0);

	return m ? metric_add(reg, m) : NULL;
}

struct gd_metric *gd_metrics_gauge(struct gd_metrics *reg, const char *name,
				   const char *help, const char *labels)
{
	struct gd_metric *m = metric_new(reg, name, help, GD_METRIC_GAUGE, labels, NULL, 0);

	return m ? metric_add(reg, m) : NULL;
}

struct gd_metric *gd_metrics_histogram(struct gd_metrics *reg, const char *name,
				       const char *help, const char *labels,
				       const double *bounds, size_t nbounds)
{
	struct gd_metric *m = metric_new(reg, name, help, GD_METRIC_HISTOGRAM, labels, bounds,
					 nbounds);

	return m ? metric_add(reg, m) : NULL;
}

struct gd_metric *gd_metrics_collector(struct gd_metrics *reg, const char *name,
				       const char *help, enum gd_metric_type type,
				       const char *labels, gd_metrics_collect_fn fn, void *ctx)
{
	struct gd_metric *m;

	if (type == GD_METRIC_HISTOGRAM || !fn) {
		gd_error("metric %s: a collector is a counter or a gauge with a function", name);
		return NULL;
	}
	m = metric_new(reg, name, help, type, labels, NULL, 0);
	if (!m)
		return NULL;
	m->fn = fn;
	m->ctx = ctx;
	return metric_add(reg, m);
}

void gd_metric_set_max_series(struct gd_metric *m, size_t max_series)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->max = max_series ? max_series : 1;
	pthread_mutex_unlock(&m->mu);
}

/* ---- series ---- */

static struct gd_mseries *series_new(struct gd_metric *m, const char *const *values)
{
	struct gd_mseries *s = gd_calloc(1, sizeof(*s));
	size_t i;

	if (!s)
		return NULL;
	s->m = m;
	for (i = 0; i < m->nlabels; i++) {
		s->values[i] = value_copy(values[i]);
		if (!s->values[i])
			goto err_after_alloc;
	}
	if (m->type == GD_METRIC_HISTOGRAM) {
		s->buckets = gd_calloc(m->nbounds + 1, sizeof(*s->buckets));
		if (!s->buckets)
			goto err_after_alloc;
	}
	return s;

err_after_alloc:
	series_free(s);
	return NULL;
}

/* Whether s has exactly these values (compared as value_copy stores them). */
static bool series_is(const struct gd_mseries *s, const char *const *values, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t l = strlen(s->values[i]);

		if (strncmp(s->values[i], values[i], l) != 0 ||
		    (values[i][l] != '\0' && l < GD_METRICS_VALUE_MAX))
			return false;
	}
	return true;
}

struct gd_mseries *gd_metric_at_(struct gd_metric *m, ...)
{
	const char *values[GD_METRICS_MAX_LABELS];
	static const char *const others[GD_METRICS_MAX_LABELS] = { "other", "other", "other",
								   "other" };
	struct gd_mseries *s;
	const char *v;
	size_t n = 0;
	va_list ap;

	if (!m || m->fn)
		return NULL;
	va_start(ap, m);
	while ((v = va_arg(ap, const char *)) != NULL) {
		if (n == m->nlabels) {
			n++;
			break;
		}
		values[n++] = v;
	}
	va_end(ap);
	if (n != m->nlabels) {
		gd_error("metric %s: %zu label values given, %zu wanted", m->name, n, m->nlabels);
		return NULL;
	}
	pthread_mutex_lock(&m->mu);
	for (s = m->head; s; s = s->next)
		if (series_is(s, values, n))
			goto out;
	if (m->n >= m->max) {
		/* over the bound: the shared "other" series */
		if (!m->other)
			m->other = series_new(m, others);
		s = m->other;
		goto out;
	}
	s = series_new(m, values);
	if (s) {
		if (m->tail)
			m->tail->next = s;
		else
			m->head = s;
		m->tail = s;
		m->n++;
	}
out:
	pthread_mutex_unlock(&m->mu);
	return s;
}

void gd_mseries_add(struct gd_mseries *s, uint64_t n)
{
	if (s && s->m->type == GD_METRIC_COUNTER)
		atomic_fetch_add_explicit(&s->v, n, memory_order_relaxed);
}

void gd_mseries_set(struct gd_mseries *s, double v)
{
	if (s && s->m->type == GD_METRIC_GAUGE)
		atomic_store_explicit(&s->v, dbits(v), memory_order_relaxed);
}

void gd_mseries_gauge_add(struct gd_mseries *s, double delta)
{
	if (s && s->m->type == GD_METRIC_GAUGE)
		atomic_dadd(&s->v, delta);
}

void gd_mseries_observe(struct gd_mseries *s, double v)
{
	size_t i;

	if (!s || s->m->type != GD_METRIC_HISTOGRAM || isnan(v))
		return;
	for (i = 0; i < s->m->nbounds && v > s->m->bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	atomic_dadd(&s->sum_bits, v);
}

double gd_mseries_value(const struct gd_mseries *s)
{
	uint64_t n = 0;
	size_t i;

	if (!s)
		return 0;
	switch (s->m->type) {
	case GD_METRIC_COUNTER:
		return (double)atomic_load_explicit(&s->v, memory_order_relaxed);
	case GD_METRIC_GAUGE:
		return dval(atomic_load_explicit(&s->v, memory_order_relaxed));
	case GD_METRIC_HISTOGRAM:
		for (i = 0; i <= s->m->nbounds; i++)
			n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		return (double)n;
	}
	return 0;
}

/* ---- exposition ---- */

void gd_metrics_emit_(struct gd_metrics_emit *e, double value, ...)
{
	char *values[GD_METRICS_MAX_LABELS];
	char num[40];
	const char *v;
	size_t n = 0, i;
	va_list ap;

	va_start(ap, value);
	while ((v = va_arg(ap, const char *)) != NULL && n <= e->m->nlabels) {
		if (n < e->m->nlabels)
			values[n] = value_copy(v);
		n++;
	}
	va_end(ap);
	if (n != e->m->nlabels) {
		gd_error("metric %s: a collector gave %zu label values, %zu wanted", e->m->name,
			 n, e->m->nlabels);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!values[i]) {
			gd_text_fail(e->tb, GD_ENOMEM);
			goto out;
		}
	fmt_double(value, num, sizeof(num));
	tb_sample(e->tb, e->m, NULL, values, NULL, NULL, num);
out:
	for (i = 0; i < n && i < e->m->nlabels; i++)
		gd_free(values[i]);
}

static void render_series(struct gd_text *tb, const struct gd_metric *m, const struct gd_mseries *s)
{
	char num[40], le[40];
	uint64_t cum = 0;
	size_t i;

	if (m->type != GD_METRIC_HISTOGRAM) {
		fmt_double(gd_mseries_value(s), num, sizeof(num));
		tb_sample(tb, m, NULL, s->values, NULL, NULL, num);
		return;
	}
	/* The count is the sum of the buckets read here, so that the +Inf
	 * bucket and _count agree even while observations come in. */
	for (i = 0; i <= m->nbounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < m->nbounds)
			fmt_double(m->bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
		tb_sample(tb, m, "_bucket", s->values, "le", le, num);
	}
	fmt_double(dval(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)), num,
		   sizeof(num));
	tb_sample(tb, m, "_sum", s->values, NULL, NULL, num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
	tb_sample(tb, m, "_count", s->values, NULL, NULL, num);
}

static const char *type_name(enum gd_metric_type t)
{
	return t == GD_METRIC_COUNTER ? "counter" : t == GD_METRIC_GAUGE ? "gauge" : "histogram";
}

int gd_metrics_render(struct gd_metrics *reg, char **out, size_t *len)
{
	struct gd_text tb;
	struct gd_metric *m;
	struct gd_mseries *s;

	gd_text_init(&tb, 0);
	pthread_mutex_lock(&reg->mu);
	for (m = reg->head; m; m = m->next) {
		gd_text_str(&tb, "# HELP ");
		gd_text_str(&tb, m->name);
		gd_text_mem(&tb, " ", 1);
		tb_escaped(&tb, m->help, false);
		gd_text_str(&tb, "\n# TYPE ");
		gd_text_str(&tb, m->name);
		gd_text_mem(&tb, " ", 1);
		gd_text_str(&tb, type_name(m->type));
		gd_text_mem(&tb, "\n", 1);
		if (m->fn) {
			struct gd_metrics_emit e = { m, &tb };

			m->fn(m->ctx, &e);
			continue;
		}
		pthread_mutex_lock(&m->mu);
		for (s = m->head; s; s = s->next)
			render_series(&tb, m, s);
		if (m->other)
			render_series(&tb, m, m->other);
		pthread_mutex_unlock(&m->mu);
	}
	pthread_mutex_unlock(&reg->mu);
	return gd_text_finish(&tb, out, len);
}
