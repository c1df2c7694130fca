#include "hashmap.h"
#include <stdlib.h>
#include <string.h>

unsigned long hashmap_hash(const char *s)
{
	unsigned long h = 1469598103934665603UL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211UL;
	return h;
}

void hashmap_init(struct hashmap *m) { m->tab = NULL; m->cap = m->len = 0; }

void hashmap_release(struct hashmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->tab[i].key);
	free(m->tab);
	hashmap_init(m);
}

static struct hm_entry *slot(struct hm_entry *tab, size_t cap, const char *key)
{
	size_t i = hashmap_hash(key) & (cap - 1);

	while (tab[i].key && strcmp(tab[i].key, key))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int rehash(struct hashmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct hm_entry *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->tab[i].key)
			*slot(tab, cap, m->tab[i].key) = m->tab[i];
	free(m->tab);
	m->tab = tab;
	m->cap = cap;
	return 0;
}

int hashmap_put(struct hashmap *m, const char *key, long val)
{
	struct hm_entry *e;

	if ((m->len + 1) * 4 > m->cap * 3 && rehash(m) < 0)
		return -1;
	e = slot(m->tab, m->cap, key);
	if (!e->key) {
		e->key = strdup(key);
		if (!e->key)
			return -1;
		m->len++;
	}
	e->val = val;
	return 0;
}

long *hashmap_get(struct hashmap *m, const char *key)
{
	struct hm_entry *e;

	if (!m->cap)
		return NULL;
	e = slot(m->tab, m->cap, key);
	return e->key ? &e->val : NULL;
}

int hashmap_add(struct hashmap *m, const char *key, long delta)
{
	long *v = hashmap_get(m, key);

	if (v) {
		*v += delta;
		return 0;
	}
	return hashmap_put(m, key, delta);
}
