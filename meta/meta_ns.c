/* Namespace data structures of the meta FSM (see meta_ns.h). */
#include "meta_ns.h"

#include <stddef.h>

#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_locks.h"

/* ---- u64 -> pointer map ---------------------------------------------------- */

/* A 64-bit mixer (splitmix64 finaliser): inode numbers and chunk ids are
 * sequential, so the low bits alone would cluster. */
static size_t map_hash(uint64_t k)
{
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return (size_t)k;
}

void meta_ns_map_init(struct meta_ns_map *m)
{
	memset(m, 0, sizeof(*m));
}

void meta_ns_map_release(struct meta_ns_map *m)
{
	gd_free(m->keys);
	gd_free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t map_slot(const struct meta_ns_map *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	size_t i = map_hash(key) & mask;
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & mask;
	return i;
}

void *meta_ns_map_get(const struct meta_ns_map *m, uint64_t key)
{
	if (m->cap == 0 || key == 0)
		return NULL;
	return m->vals[map_slot(m, key)];
}

/* Rehashes into a table of new_cap slots. */
static int map_grow(struct meta_ns_map *m, size_t new_cap)
{
	uint64_t *keys = gd_calloc(new_cap, sizeof(*keys));
	void **vals = gd_calloc(new_cap, sizeof(*vals));
	struct meta_ns_map n = { keys, vals, new_cap, 0 };
	size_t i;

	if (!keys || !vals) {
		gd_free(keys);
		gd_free(vals);
		return GD_ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->vals[i]) {
			size_t s = map_slot(&n, m->keys[i]);
			n.keys[s] = m->keys[i];
			n.vals[s] = m->vals[i];
			n.count++;
		}
	}
	gd_free(m->keys);
	gd_free(m->vals);
	*m = n;
	return 0;
}

int meta_ns_map_put(struct meta_ns_map *m, uint64_t key, void *val)
{
	size_t s;
	int rc;

	if (key == 0 || !val)
		return GD_EINVAL;
	if ((m->count + 1) * 4 > m->cap * 3) {
		rc = map_grow(m, m->cap ? m->cap * 2 : 16);
		if (rc)
			return rc;
	}
	s = map_slot(m, key);
	if (!m->vals[s])
		m->count++;
	m->keys[s] = key;
	m->vals[s] = val;
	return 0;
}

void *meta_ns_map_del(struct meta_ns_map *m, uint64_t key)
{
	size_t mask, i, j;
	void *val;

	if (m->cap == 0 || key == 0)
		return NULL;
	mask = m->cap - 1;
	i = map_slot(m, key);
	val = m->vals[i];
	if (!val)
		return NULL;
	/* Backward-shift deletion: pull later members of the probe run into the
	 * hole when the hole lies between their home slot and where they are. */
	j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (!m->vals[j])
			break;
		home = map_hash(m->keys[j]) & mask;
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->vals[i] = NULL;
	m->keys[i] = 0;
	m->count--;
	return val;
}

void *meta_ns_map_next(const struct meta_ns_map *m, size_t *pos, uint64_t *key)
{
	while (*pos < m->cap) {
		size_t i = (*pos)++;
		if (m->vals[i]) {
			if (key)
				*key = m->keys[i];
			return m->vals[i];
		}
	}
	return NULL;
}

/* ---- names ----------------------------------------------------------------- */

int meta_ns_name_check(const char *name, size_t len)
{
	if (!name || len == 0)
		return GD_EINVAL;
	if (len > META_NS_NAME_MAX)
		return GD_ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return GD_EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return GD_EINVAL;
	return 0;
}

/* ---- directories ----------------------------------------------------------- */

/* FNV-1a over the name bytes. */
static size_t name_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

void meta_ns_dir_init(struct meta_ns_dir *d)
{
	memset(d, 0, sizeof(*d));
	d->next_cookie = META_NS_FIRST_COOKIE;
}

void meta_ns_dir_release(struct meta_ns_dir *d)
{
	size_t i;
	for (i = 0; i < d->n_order; i++)
		gd_free(d->order[i].de);
	gd_free(d->order);
	gd_free(d->buckets);
	memset(d, 0, sizeof(*d));
}

struct meta_ns_dirent *meta_ns_dir_lookup(const struct meta_ns_dir *d,
					  const char *name, size_t len)
{
	struct meta_ns_dirent *de;
	if (d->n_buckets == 0)
		return NULL;
	for (de = d->buckets[name_hash(name, len) & (d->n_buckets - 1)]; de; de = de->hnext)
		if (de->name_len == len && memcmp(de->name, name, len) == 0)
			return de;
	return NULL;
}

/* Doubles the bucket array when the chains average more than one entry. */
static int dir_buckets_grow(struct meta_ns_dir *d)
{
	size_t n = d->n_buckets ? d->n_buckets * 2 : 8;
	struct meta_ns_dirent **b = gd_calloc(n, sizeof(*b));
	size_t i;

	if (!b)
		return GD_ENOMEM;
	for (i = 0; i < d->n_buckets; i++) {
		struct meta_ns_dirent *de = d->buckets[i], *next;
		for (; de; de = next) {
			size_t h = name_hash(de->name, de->name_len) & (n - 1);
			next = de->hnext;
			de->hnext = b[h];
			b[h] = de;
		}
	}
	gd_free(d->buckets);
	d->buckets = b;
	d->n_buckets = n;
	return 0;
}

/* Drops the tombstones from the cookie-ordered array. */
static void dir_compact(struct meta_ns_dir *d)
{
	size_t i, j = 0;
	for (i = 0; i < d->n_order; i++)
		if (d->order[i].de)
			d->order[j++] = d->order[i];
	d->n_order = j;
	d->n_dead = 0;
}

/* Common part of add and add_cookie: allocates the entry and links it in. */
static int dir_insert(struct meta_ns_dir *d, const char *name, size_t len,
		      uint64_t ino, uint32_t type, uint64_t cookie,
		      struct meta_ns_dirent **out)
{
	struct meta_ns_dirent *de;
	size_t h;
	int rc;

	if (len > META_NS_NAME_MAX)
		return GD_ENAMETOOLONG;
	if ((d->count + 1) > d->n_buckets) {
		rc = dir_buckets_grow(d);
		if (rc)
			return rc;
	}
	if (d->n_order == d->cap_order) {
		if (d->n_dead > 0) {
			dir_compact(d);
		} else {
			size_t cap = d->cap_order ? d->cap_order * 2 : 8;
			struct meta_ns_dir_slot *o = gd_realloc(d->order, cap * sizeof(*o));
			if (!o)
				return GD_ENOMEM;
			d->order = o;
			d->cap_order = cap;
		}
	}
	de = gd_malloc(sizeof(*de) + len + 1);
	if (!de)
		return GD_ENOMEM;
	de->ino = ino;
	de->cookie = cookie;
	de->type = type & S_IFMT;
	de->name_len = (uint16_t)len;
	memcpy(de->name, name, len);
	de->name[len] = '\0';
	h = name_hash(name, len) & (d->n_buckets - 1);
	de->hnext = d->buckets[h];
	d->buckets[h] = de;
	d->order[d->n_order].cookie = cookie;
	d->order[d->n_order].de = de;
	d->n_order++;
	d->count++;
	d->next_cookie = cookie + 1;
	if (out)
		*out = de;
	return 0;
}

int meta_ns_dir_add(struct meta_ns_dir *d, const char *name, size_t len,
		    uint64_t ino, uint32_t type, struct meta_ns_dirent **out)
{
	return dir_insert(d, name, len, ino, type, d->next_cookie, out);
}

int meta_ns_dir_add_cookie(struct meta_ns_dir *d, const char *name, size_t len,
			   uint64_t ino, uint32_t type, uint64_t cookie)
{
	if (cookie < d->next_cookie || cookie == UINT64_MAX)
		return GD_EPROTO;
	if (meta_ns_dir_lookup(d, name, len))
		return GD_EPROTO;
	return dir_insert(d, name, len, ino, type, cookie, NULL);
}

/* Index of the first slot whose cookie is above `after`. */
static size_t dir_order_after(const struct meta_ns_dir *d, uint64_t after)
{
	size_t lo = 0, hi = d->n_order;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->order[mid].cookie <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int meta_ns_dir_remove(struct meta_ns_dir *d, const char *name, size_t len)
{
	struct meta_ns_dirent **pp, *de;
	size_t pos;

	if (d->n_buckets == 0)
		return GD_ENOENT;
	pp = &d->buckets[name_hash(name, len) & (d->n_buckets - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if ((*pp)->name_len == len && memcmp((*pp)->name, name, len) == 0)
			break;
	de = *pp;
	if (!de)
		return GD_ENOENT;
	*pp = de->hnext;
	/* de->cookie is in the array: the slot just before the first larger one. */
	pos = dir_order_after(d, de->cookie) - 1;
	d->order[pos].de = NULL;
	d->n_dead++;
	d->count--;
	gd_free(de);
	if (d->n_dead > 16 && d->n_dead > d->count)
		dir_compact(d);
	return 0;
}

struct meta_ns_dirent *meta_ns_dir_next(const struct meta_ns_dir *d, uint64_t after)
{
	size_t i;
	for (i = dir_order_after(d, after); i < d->n_order; i++)
		if (d->order[i].de)
			return d->order[i].de;
	return NULL;
}

/* ---- inodes and chunk records ------------------------------------------------ */

struct meta_ns_inode *meta_ns_inode_new(uint64_t ino, uint32_t mode)
{
	struct meta_ns_inode *in = gd_calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->ino = ino;
	in->mode = mode;
	in->generation = 1;
	if (S_ISDIR(mode)) {
		in->dir = gd_malloc(sizeof(*in->dir));
		if (!in->dir) {
			gd_free(in);
			return NULL;
		}
		meta_ns_dir_init(in->dir);
	}
	return in;
}

void meta_ns_chunk_free(struct meta_ns_chunk *c)
{
	size_t i;
	if (!c)
		return;
	for (i = 0; i < c->n_nodes; i++)
		gd_free(c->nodes[i]);
	gd_free(c->nodes);
	gd_free(c);
}

void meta_ns_inode_free(struct meta_ns_inode *in)
{
	size_t i;
	if (!in)
		return;
	for (i = 0; i < in->n_xattrs; i++) {
		gd_free(in->xattrs[i].name);
		gd_free(in->xattrs[i].value);
	}
	gd_free(in->xattrs);
	for (i = 0; i < in->n_chunks; i++)
		meta_ns_chunk_free(in->chunks[i]);
	gd_free(in->chunks);
	if (in->dir) {
		meta_ns_dir_release(in->dir);
		gd_free(in->dir);
	}
	gd_free(in->target);
	gd_free(in);
}

size_t meta_ns_chunk_pos(const struct meta_ns_inode *in, uint64_t index, bool *found)
{
	size_t lo = 0, hi = in->n_chunks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (in->chunks[mid]->index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < in->n_chunks && in->chunks[lo]->index == index;
	return lo;
}

struct meta_ns_chunk *meta_ns_chunk_find(const struct meta_ns_inode *in, uint64_t index)
{
	bool found;
	size_t pos = meta_ns_chunk_pos(in, index, &found);
	return found ? in->chunks[pos] : NULL;
}

int meta_ns_chunk_insert(struct meta_ns_inode *in, size_t pos, struct meta_ns_chunk *c)
{
	if (in->n_chunks == in->cap_chunks) {
		size_t cap = in->cap_chunks ? in->cap_chunks * 2 : 4;
		struct meta_ns_chunk **a = gd_realloc(in->chunks, cap * sizeof(*a));
		if (!a)
			return GD_ENOMEM;
		in->chunks = a;
		in->cap_chunks = cap;
	}
	memmove(&in->chunks[pos + 1], &in->chunks[pos],
		(in->n_chunks - pos) * sizeof(in->chunks[0]));
	in->chunks[pos] = c;
	in->n_chunks++;
	return 0;
}

int meta_ns_chunk_set_nodes(struct meta_ns_chunk *c, char *const *nodes, size_t n)
{
	char **copy = NULL;
	size_t i;

	if (n) {
		copy = gd_calloc(n, sizeof(*copy));
		if (!copy)
			return GD_ENOMEM;
		for (i = 0; i < n; i++) {
			copy[i] = gd_strdup(nodes[i]);
			if (!copy[i])
				goto err_after_alloc;
		}
	}
	for (i = 0; i < c->n_nodes; i++)
		gd_free(c->nodes[i]);
	gd_free(c->nodes);
	c->nodes = copy;
	c->n_nodes = n;
	return 0;

err_after_alloc:
	for (i = 0; i < n; i++)
		gd_free(copy[i]);
	gd_free(copy);
	return GD_ENOMEM;
}

struct meta_ns_xattr *meta_ns_xattr_find(const struct meta_ns_inode *in, const char *name)
{
	size_t i;
	for (i = 0; i < in->n_xattrs; i++)
		if (strcmp(in->xattrs[i].name, name) == 0)
			return &in->xattrs[i];
	return NULL;
}

int meta_ns_xattr_set(struct meta_ns_inode *in, const char *name,
		      const void *value, size_t len)
{
	struct meta_ns_xattr *x = meta_ns_xattr_find(in, name);
	size_t name_len = strlen(name);
	size_t total = in->xattr_bytes;
	uint8_t *v;

	if (x)
		total -= x->len;
	else
		total += name_len;
	if (total + len > META_NS_XATTR_TOTAL_MAX)
		return GD_ENOSPC;
	v = gd_malloc(len);
	if (!v)
		return GD_ENOMEM;
	if (len)
		memcpy(v, value, len);
	if (!x) {
		struct meta_ns_xattr *a;
		char *n = gd_strdup(name);
		if (!n) {
			gd_free(v);
			return GD_ENOMEM;
		}
		a = gd_realloc(in->xattrs, (in->n_xattrs + 1) * sizeof(*a));
		if (!a) {
			gd_free(n);
			gd_free(v);
			return GD_ENOMEM;
		}
		in->xattrs = a;
		x = &a[in->n_xattrs++];
		x->name = n;
		x->value = NULL;
	}
	gd_free(x->value);
	x->value = v;
	x->len = len;
	in->xattr_bytes = total + len;
	return 0;
}

int meta_ns_xattr_remove(struct meta_ns_inode *in, const char *name)
{
	struct meta_ns_xattr *x = meta_ns_xattr_find(in, name);
	size_t i;

	if (!x)
		return GD_ENODATA;
	i = (size_t)(x - in->xattrs);
	in->xattr_bytes -= strlen(x->name) + x->len;
	gd_free(x->name);
	gd_free(x->value);
	memmove(&in->xattrs[i], &in->xattrs[i + 1],
		(in->n_xattrs - i - 1) * sizeof(in->xattrs[0]));
	in->n_xattrs--;
	return 0;
}

/* ---- the whole state ----------------------------------------------------------- */

void meta_ns_state_init_empty(struct meta_ns_state *s, uint64_t chunk_size)
{
	memset(s, 0, sizeof(*s));
	s->chunk_size = chunk_size;
	s->default_goal = 3;
	s->next_ino = META_NS_ROOT_INO + 1;
	s->next_chunk_id = 1;
	s->next_token_id = 1;
	meta_ns_map_init(&s->inodes);
	meta_ns_map_init(&s->chunks);
	meta_ns_map_init(&s->orphans);
}

int meta_ns_state_init(struct meta_ns_state *s, uint64_t chunk_size, uint32_t default_goal)
{
	struct meta_ns_inode *root;
	int rc;

	meta_ns_state_init_empty(s, chunk_size);
	s->default_goal = default_goal;
	root = meta_ns_inode_new(META_NS_ROOT_INO, S_IFDIR | 0755);
	if (!root)
		return GD_ENOMEM;
	root->nlink = 2;
	root->goal = default_goal;
	root->parent = META_NS_ROOT_INO;
	rc = meta_ns_map_put(&s->inodes, META_NS_ROOT_INO, root);
	if (rc) {
		meta_ns_inode_free(root);
		return rc;
	}
	return 0;
}

void meta_ns_state_release(struct meta_ns_state *s)
{
	struct meta_ns_inode *in;
	size_t pos = 0, i;

	while ((in = meta_ns_map_next(&s->inodes, &pos, NULL)))
		meta_ns_inode_free(in);
	meta_ns_map_release(&s->inodes);
	meta_ns_map_release(&s->chunks);
	meta_ns_map_release(&s->orphans);
	meta_locks_free(s->locks);
	s->locks = NULL;
	for (i = 0; i < s->n_sessions; i++) {
		gd_free(s->sessions[i].host);
		gd_free(s->sessions[i].mountpoint);
		meta_ns_replies_release(&s->sessions[i]);
	}
	gd_free(s->sessions);
	for (i = 0; i < s->n_nodes; i++) {
		gd_free(s->nodes[i].id);
		gd_free(s->nodes[i].address);
		gd_free(s->nodes[i].label);
	}
	gd_free(s->nodes);
	for (i = 0; i < s->n_tokens; i++)
		gd_free(s->tokens[i].name);
	gd_free(s->tokens);
	memset(s, 0, sizeof(*s));
}

/* Binary search in an array of n elements of `size` bytes sorted by the
 * uint64_t key at offset `key_off`: the index of key, or where it goes. */
static size_t sorted_pos(const void *base, size_t n, size_t size, size_t key_off, uint64_t key,
			 bool *found)
{
	const char *b = base;
	size_t lo = 0, hi = n;
	uint64_t k;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		memcpy(&k, b + mid * size + key_off, sizeof(k));
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	if (lo < n) {
		memcpy(&k, b + lo * size + key_off, sizeof(k));
		*found = k == key;
	}
	return lo;
}

/* The sorted session array: index of id or where it goes. */
static size_t session_pos(const struct meta_ns_state *s, uint64_t id, bool *found)
{
	return sorted_pos(s->sessions, s->n_sessions, sizeof(*s->sessions),
			  offsetof(struct meta_ns_session, id), id, found);
}

struct meta_ns_session *meta_ns_session_find(const struct meta_ns_state *s, uint64_t id)
{
	bool found;
	size_t pos = session_pos(s, id, &found);
	return found ? &s->sessions[pos] : NULL;
}

int meta_ns_session_put(struct meta_ns_state *s, uint64_t id, const char *host,
			const char *mountpoint)
{
	char *h = gd_strdup(host ? host : "");
	char *m = gd_strdup(mountpoint ? mountpoint : "");
	struct meta_ns_session *a;
	bool found;
	size_t pos;

	if (!h || !m)
		goto err_nomem;
	pos = session_pos(s, id, &found);
	if (found) {
		gd_free(s->sessions[pos].host);
		gd_free(s->sessions[pos].mountpoint);
	} else {
		a = gd_realloc(s->sessions, (s->n_sessions + 1) * sizeof(*a));
		if (!a)
			goto err_nomem;
		s->sessions = a;
		memmove(&a[pos + 1], &a[pos], (s->n_sessions - pos) * sizeof(*a));
		s->n_sessions++;
		memset(&a[pos], 0, sizeof(a[pos]));
		a[pos].id = id;
	}
	s->sessions[pos].host = h;
	s->sessions[pos].mountpoint = m;
	return 0;

err_nomem:
	gd_free(h);
	gd_free(m);
	return GD_ENOMEM;
}

int meta_ns_session_remove(struct meta_ns_state *s, uint64_t id)
{
	bool found;
	size_t pos = session_pos(s, id, &found);

	if (!found)
		return GD_ENOSESSION;
	gd_free(s->sessions[pos].host);
	gd_free(s->sessions[pos].mountpoint);
	meta_ns_replies_release(&s->sessions[pos]);
	memmove(&s->sessions[pos], &s->sessions[pos + 1],
		(s->n_sessions - pos - 1) * sizeof(s->sessions[0]));
	s->n_sessions--;
	return 0;
}

/* ---- recorded answers (exactly-once) ---- */

/* A session's records, sorted by seq: index of seq or where it goes. */
static size_t reply_pos(const struct meta_ns_session *se, uint64_t seq, bool *found)
{
	return sorted_pos(se->replies, se->n_replies, sizeof(*se->replies),
			  offsetof(struct meta_ns_reply, seq), seq, found);
}

struct meta_ns_reply *meta_ns_reply_find(const struct meta_ns_session *se, uint64_t seq)
{
	bool found;
	size_t pos = reply_pos(se, seq, &found);
	return found ? &se->replies[pos] : NULL;
}

/* Drops the first n records (the lowest seqs). */
static void reply_drop_front(struct meta_ns_session *se, size_t n)
{
	size_t i;

	if (n == 0)
		return; /* replies may be NULL: no memmove from it */
	for (i = 0; i < n; i++)
		gd_free(se->replies[i].resp);
	memmove(se->replies, se->replies + n, (se->n_replies - n) * sizeof(*se->replies));
	se->n_replies -= n;
}

void meta_ns_reply_trim(struct meta_ns_session *se, uint64_t ack)
{
	bool found;
	size_t pos;

	if (ack <= se->replies_floor)
		return;
	pos = reply_pos(se, ack, &found);
	reply_drop_front(se, found ? pos + 1 : pos);
	se->replies_floor = ack;
}

int meta_ns_reply_put(struct meta_ns_session *se, uint64_t seq, uint32_t method, int32_t status,
		      const uint8_t *resp, size_t resp_len)
{
	struct meta_ns_reply *r;
	uint8_t *copy = NULL;
	bool found;
	size_t pos;

	if (seq == 0 || seq <= se->replies_floor || resp_len > META_NS_REPLY_RESP_MAX)
		return GD_EINVAL;
	pos = reply_pos(se, seq, &found);
	if (found)
		return GD_EINVAL;
	if (se->n_replies == se->cap_replies && se->n_replies < META_NS_REPLIES_MAX) {
		size_t cap = se->cap_replies ? se->cap_replies * 2 : 8;
		if (cap > META_NS_REPLIES_MAX)
			cap = META_NS_REPLIES_MAX;
		r = gd_realloc(se->replies, cap * sizeof(*r));
		if (!r)
			return GD_ENOMEM;
		se->replies = r;
		se->cap_replies = cap;
	}
	if (resp_len) {
		copy = gd_malloc(resp_len);
		if (!copy)
			return GD_ENOMEM;
		memcpy(copy, resp, resp_len);
	}
	if (se->n_replies == META_NS_REPLIES_MAX) {
		/* full: the oldest record goes, and with it any resend of it */
		if (pos == 0) {
			/* seq is below every record: it is the one to go */
			gd_free(copy);
			se->replies_floor = seq;
			return 0;
		}
		se->replies_floor = se->replies[0].seq;
		reply_drop_front(se, 1);
		pos--;
	}
	memmove(&se->replies[pos + 1], &se->replies[pos],
		(se->n_replies - pos) * sizeof(*se->replies));
	r = &se->replies[pos];
	r->seq = seq;
	r->method = method;
	r->status = status;
	r->resp = copy;
	r->resp_len = (uint32_t)resp_len;
	se->n_replies++;
	return 0;
}

void meta_ns_replies_release(struct meta_ns_session *se)
{
	size_t i;
	for (i = 0; i < se->n_replies; i++)
		gd_free(se->replies[i].resp);
	gd_free(se->replies);
	se->replies = NULL;
	se->n_replies = se->cap_replies = 0;
}

/* Binary search in the sorted node array. */
static size_t node_pos(const struct meta_ns_state *s, const char *id, bool *found)
{
	size_t lo = 0, hi = s->n_nodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->nodes[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n_nodes && strcmp(s->nodes[lo].id, id) == 0;
	return lo;
}

struct meta_ns_node *meta_ns_node_find(const struct meta_ns_state *s, const char *id)
{
	bool found;
	size_t pos = node_pos(s, id, &found);
	return found ? &s->nodes[pos] : NULL;
}

int meta_ns_node_put(struct meta_ns_state *s, const char *id, const char *address,
		     const char *label)
{
	char *i = NULL;
	char *a = gd_strdup(address ? address : "");
	char *l = gd_strdup(label ? label : "");
	struct meta_ns_node *arr;
	bool found;
	size_t pos;

	if (!a || !l)
		goto err_nomem;
	pos = node_pos(s, id, &found);
	if (found) {
		gd_free(s->nodes[pos].address);
		gd_free(s->nodes[pos].label);
	} else {
		i = gd_strdup(id);
		if (!i)
			goto err_nomem;
		arr = gd_realloc(s->nodes, (s->n_nodes + 1) * sizeof(*arr));
		if (!arr)
			goto err_nomem;
		s->nodes = arr;
		memmove(&arr[pos + 1], &arr[pos], (s->n_nodes - pos) * sizeof(*arr));
		s->n_nodes++;
		arr[pos].id = i;
		arr[pos].draining = false;
	}
	s->nodes[pos].address = a;
	s->nodes[pos].label = l;
	return 0;

err_nomem:
	gd_free(i);
	gd_free(a);
	gd_free(l);
	return GD_ENOMEM;
}

/* ---- client tokens ---- */

struct meta_ns_token *meta_ns_token_find(const struct meta_ns_state *s, uint64_t id)
{
	bool found;
	size_t pos = sorted_pos(s->tokens, s->n_tokens, sizeof(*s->tokens),
				offsetof(struct meta_ns_token, id), id, &found);

	return found ? &s->tokens[pos] : NULL;
}

int meta_ns_token_add(struct meta_ns_state *s, const struct meta_ns_token *t)
{
	struct meta_ns_token *arr;
	char *name;

	if (t->id == 0 || (s->n_tokens && t->id <= s->tokens[s->n_tokens - 1].id) ||
	    s->n_tokens >= META_NS_TOKENS_MAX)
		return GD_EINVAL;
	name = gd_strdup(t->name ? t->name : "");
	if (!name)
		return GD_ENOMEM;
	arr = gd_realloc(s->tokens, (s->n_tokens + 1) * sizeof(*arr));
	if (!arr) {
		gd_free(name);
		return GD_ENOMEM;
	}
	s->tokens = arr;
	arr[s->n_tokens] = *t;
	arr[s->n_tokens].name = name;
	s->n_tokens++;
	return 0;
}
