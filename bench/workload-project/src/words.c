#include "words.h"
#include "msort.h"
#include "strbuf.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

long words_count(const char *text, struct hashmap *m)
{
	struct strbuf w;
	long n = 0;

	strbuf_init(&w);
	for (;; text++) {
		if (isalpha((unsigned char)*text)) {
			char c = (char)tolower((unsigned char)*text);
			if (strbuf_add(&w, &c, 1) < 0)
				goto oom;
			continue;
		}
		if (w.len) {
			if (hashmap_add(m, w.buf, 1) < 0)
				goto oom;
			n++;
			strbuf_reset(&w);
		}
		if (!*text)
			break;
	}
	strbuf_release(&w);
	return n;
oom:
	strbuf_release(&w);
	return -1;
}

static int by_count(const void *a, const void *b)
{
	const struct hm_entry *x = a, *y = b;

	if (x->val != y->val)
		return x->val > y->val ? -1 : 1;
	return strcmp(x->key, y->key);
}

size_t words_top(struct hashmap *m, struct hm_entry *out, size_t n)
{
	struct hm_entry *all = malloc((m->len + 1) * sizeof(*all));
	size_t k = 0;

	if (!all)
		return 0;
	for (size_t i = 0; i < m->cap; i++)
		if (m->tab[i].key)
			all[k++] = m->tab[i];
	if (msort(all, k, sizeof(*all), by_count) < 0)
		k = 0;
	if (k > n)
		k = n;
	memcpy(out, all, k * sizeof(*all));
	free(all);
	return k;
}
