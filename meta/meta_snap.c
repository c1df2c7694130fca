/* Snapshot serialisation of the meta FSM's state (see meta_snap.h). */
#include "meta_snap.h"

#include <raft.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_auth.h"
#include "gd_status.h"
#include "meta_locks.h"

#define SNAP_MAGIC "GDFSSNAP"
/* Version 2 added the recorded answers of client sessions (exactly-once)
 * after the node registry, version 3 the truncate counts of the inodes after
 * those, version 4 the client tokens after those and the way up (parent) of
 * non-directories, version 5 the draining chunkds after those, version 6 the
 * uid and gid of each token (API keys), version 7 the cluster-wide file locks
 * after the draining chunkds; version 1 to 6 snapshots still load (counts 0,
 * no tokens, ways up rebuilt from the directory entries, no node draining,
 * tokens without an identity and without the API-key flag, no locks). */
#define SNAP_VERSION 7u
#define SNAP_VERSION_MIN 1u
#define SNAP_HEADER 24
#define SNAP_TRAILER 8
#define SNAP_STR_MAX META_NS_STR_MAX     /* hosts, mount points, node ids, addresses */
#define SNAP_NODES_MAX META_NS_NODES_MAX /* valid copies of one chunk */
#define SNAP_LOCKS_MAX (64u << 20)       /* bytes of the lock table (meta_locks.h bounds it) */

/* Smallest encodings, to bound counts by the bytes left before allocating. */
#define MIN_INODE_BYTES 101
#define MIN_XATTR_BYTES 8
#define MIN_CHUNK_BYTES 40
#define MIN_DIRENT_BYTES 24
#define MIN_SESSION_BYTES 16
#define MIN_NODE_BYTES 12
#define MIN_DRAIN_BYTES 5     /* a node id: length and one byte */
#define MIN_REPLIES_BYTES 20
#define MIN_REPLY_BYTES 20
#define MIN_TRUNC_BYTES 24
#define MIN_TOKEN_BYTES 41
/* check_structure: a non-directory's recorded way up holds a link of it
 * (marked in the high bit of scratch, whose low bits count links). */
#define SCRATCH_WAY_UP (1ULL << 63)

uint64_t meta_snap_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;
	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- writer ------------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;             /* raft_malloc'd */
	size_t len;
	size_t cap;
	int err;
};

static void w_reserve(struct wbuf *w, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (w->err || w->len + n <= w->cap)
		return;
	cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n)
		cap *= 2;
	p = raft_realloc(w->p, cap);
	if (!p) {
		w->err = GD_ENOMEM;
		return;
	}
	w->p = p;
	w->cap = cap;
}

static void w_bytes(struct wbuf *w, const void *b, size_t n)
{
	w_reserve(w, n);
	if (w->err)
		return;
	if (n)
		memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void w_u64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];
	int i;
	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, 8);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4];
	int i;
	for (i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, 4);
}

static void w_u8(struct wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

/* A length-prefixed byte string (u32 length). */
static void w_blob(struct wbuf *w, const void *b, size_t n)
{
	w_u32(w, (uint32_t)n);
	w_bytes(w, b, n);
}

static void w_str(struct wbuf *w, const char *s)
{
	w_blob(w, s, s ? strlen(s) : 0);
}

static int cmp_inode(const void *a, const void *b)
{
	const struct meta_ns_inode *x = *(const struct meta_ns_inode *const *)a;
	const struct meta_ns_inode *y = *(const struct meta_ns_inode *const *)b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void w_inode(struct wbuf *w, const struct meta_ns_inode *in)
{
	size_t i, j;

	w_u64(w, in->ino);
	w_u64(w, in->generation);
	w_u32(w, in->mode);
	w_u32(w, in->uid);
	w_u32(w, in->gid);
	w_u32(w, in->nlink);
	w_u64(w, in->size);
	w_u64(w, in->rdev);
	w_u64(w, (uint64_t)in->atime_sec);
	w_u32(w, in->atime_nsec);
	w_u64(w, (uint64_t)in->mtime_sec);
	w_u32(w, in->mtime_nsec);
	w_u64(w, (uint64_t)in->ctime_sec);
	w_u32(w, in->ctime_nsec);
	w_u32(w, in->goal);
	w_u64(w, in->parent);
	w_u8(w, in->orphan);
	w_str(w, in->target);
	w_u32(w, (uint32_t)in->n_xattrs);
	for (i = 0; i < in->n_xattrs; i++) {
		w_str(w, in->xattrs[i].name);
		w_blob(w, in->xattrs[i].value, in->xattrs[i].len);
	}
	w_u64(w, in->n_chunks);
	for (i = 0; i < in->n_chunks; i++) {
		const struct meta_ns_chunk *c = in->chunks[i];
		w_u64(w, c->index);
		w_u64(w, c->chunk_id);
		w_u64(w, c->version);
		w_u64(w, c->prev_version);
		w_u32(w, c->goal);
		w_u32(w, (uint32_t)c->n_nodes);
		for (j = 0; j < c->n_nodes; j++)
			w_str(w, c->nodes[j]);
	}
	if (in->dir) {
		const struct meta_ns_dirent *de;
		w_u64(w, in->dir->next_cookie);
		w_u64(w, in->dir->count);
		for (de = meta_ns_dir_next(in->dir, 0); de; de = meta_ns_dir_next(in->dir, de->cookie)) {
			w_u64(w, de->cookie);
			w_u64(w, de->ino);
			w_u32(w, de->type);
			w_blob(w, de->name, de->name_len);
		}
	}
}

/* Version 2: the recorded answers of the sessions that have any (or a floor). */
static void w_replies(struct wbuf *w, const struct meta_ns_state *s)
{
	size_t i, j, n = 0;

	for (i = 0; i < s->n_sessions; i++)
		n += s->sessions[i].n_replies || s->sessions[i].replies_floor;
	w_u64(w, n);
	for (i = 0; i < s->n_sessions; i++) {
		const struct meta_ns_session *se = &s->sessions[i];
		if (!se->n_replies && !se->replies_floor)
			continue;
		w_u64(w, se->id);
		w_u64(w, se->replies_floor);
		w_u32(w, (uint32_t)se->n_replies);
		for (j = 0; j < se->n_replies; j++) {
			w_u64(w, se->replies[j].seq);
			w_u32(w, se->replies[j].method);
			w_u32(w, (uint32_t)se->replies[j].status);
			w_blob(w, se->replies[j].resp, se->replies[j].resp_len);
		}
	}
}

/* Version 3: (ino, trunc_seq, trunc_size) of the inodes truncated at least
 * once, in inode order (all[] is sorted). */
static void w_trunc_seqs(struct wbuf *w, struct meta_ns_inode *const *all, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += all[i]->trunc_seq != 0;
	w_u64(w, k);
	for (i = 0; i < n; i++) {
		if (!all[i]->trunc_seq)
			continue;
		w_u64(w, all[i]->ino);
		w_u64(w, all[i]->trunc_seq);
		w_u64(w, all[i]->trunc_size);
	}
}

/* Version 4: the token counter and every token, in id order. */
static void w_tokens(struct wbuf *w, const struct meta_ns_state *s)
{
	size_t i;

	w_u64(w, s->next_token_id);
	w_u64(w, s->n_tokens);
	for (i = 0; i < s->n_tokens; i++) {
		const struct meta_ns_token *t = &s->tokens[i];
		w_u64(w, t->id);
		w_u64(w, t->subtree);
		w_u64(w, t->expires);
		w_u64(w, (uint64_t)t->created);
		w_u32(w, t->flags);
		w_u8(w, t->revoked);
		w_str(w, t->name);
		w_u32(w, t->uid);     /* version 6 */
		w_u32(w, t->gid);
	}
}

/* Version 5: the ids of the draining nodes, in registry (node id) order. */
static void w_drains(struct wbuf *w, const struct meta_ns_state *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->n_nodes; i++)
		n += s->nodes[i].draining;
	w_u64(w, n);
	for (i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].draining)
			w_str(w, s->nodes[i].id);
}

/* Version 7: the lock table, as one blob in meta_locks' own form. */
static void w_locks(struct wbuf *w, const struct meta_ns_state *s)
{
	uint8_t *b = NULL;
	size_t n = 0;
	int rc;

	if (w->err)
		return;
	rc = meta_locks_encode(s->locks, &b, &n);
	if (rc == 0 && n > SNAP_LOCKS_MAX)
		rc = GD_EINVAL;
	if (rc)
		w->err = rc;
	else
		w_blob(w, b, n);
	gd_free(b);
}

int meta_snap_write(const struct meta_ns_state *s, void **buf, size_t *len)
{
	struct wbuf w = { NULL, 0, 0, 0 };
	struct meta_ns_inode **all, *in;
	size_t n = 0, pos = 0, i;
	uint8_t hdr_len[8];
	uint64_t body;

	all = gd_malloc((s->inodes.count ? s->inodes.count : 1) * sizeof(*all));
	if (!all)
		return GD_ENOMEM;
	while ((in = meta_ns_map_next(&s->inodes, &pos, NULL)))
		all[n++] = in;
	qsort(all, n, sizeof(*all), cmp_inode);

	w_bytes(&w, SNAP_MAGIC, 8);
	w_u32(&w, SNAP_VERSION);
	w_u32(&w, 0);
	w_u64(&w, 0); /* body length, filled in below */
	w_u64(&w, s->chunk_size);
	w_u32(&w, s->default_goal);
	w_u64(&w, s->next_ino);
	w_u64(&w, s->next_chunk_id);
	w_u64(&w, n);
	for (i = 0; i < n; i++)
		w_inode(&w, all[i]);
	w_u64(&w, s->n_sessions);
	for (i = 0; i < s->n_sessions; i++) {
		w_u64(&w, s->sessions[i].id);
		w_str(&w, s->sessions[i].host);
		w_str(&w, s->sessions[i].mountpoint);
	}
	w_u64(&w, s->n_nodes);
	for (i = 0; i < s->n_nodes; i++) {
		w_str(&w, s->nodes[i].id);
		w_str(&w, s->nodes[i].address);
		w_str(&w, s->nodes[i].label);
	}
	w_replies(&w, s);
	w_trunc_seqs(&w, all, n);
	w_tokens(&w, s);
	w_drains(&w, s);
	w_locks(&w, s);
	gd_free(all);
	if (w.err) {
		raft_free(w.p);
		return w.err;
	}
	body = w.len - SNAP_HEADER;
	for (i = 0; i < 8; i++)
		hdr_len[i] = (uint8_t)(body >> (8 * i));
	memcpy(w.p + 16, hdr_len, 8);
	w_u64(&w, meta_snap_checksum(w.p, w.len));
	if (w.err) {
		raft_free(w.p);
		return w.err;
	}
	*buf = w.p;
	*len = w.len;
	return 0;
}

/* ---- reader ------------------------------------------------------------------ */

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err;                /* sticky: the first failure */
	uint32_t version;       /* of the snapshot being read */
};

static size_t r_left(const struct rbuf *r)
{
	return r->err ? 0 : r->len - r->off;
}

static const uint8_t *r_take(struct rbuf *r, size_t n)
{
	const uint8_t *p;
	if (r->err)
		return NULL;    /* keep the first failure (GD_ENOMEM stays GD_ENOMEM) */
	if (n > r->len - r->off) {
		r->err = GD_EPROTO;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t r_u64(struct rbuf *r)
{
	const uint8_t *b = r_take(r, 8);
	uint64_t v = 0;
	int i;
	if (!b)
		return 0;
	for (i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

static uint32_t r_u32(struct rbuf *r)
{
	const uint8_t *b = r_take(r, 4);
	if (!b)
		return 0;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint8_t r_u8(struct rbuf *r)
{
	const uint8_t *b = r_take(r, 1);
	return b ? b[0] : 0;
}

/* A length-prefixed blob of at most max bytes: a pointer into the buffer. */
static const uint8_t *r_blob(struct rbuf *r, size_t max, size_t *n)
{
	uint32_t l = r_u32(r);
	*n = 0;
	if (r->err)
		return NULL;
	if (l > max) {
		r->err = GD_EPROTO;
		return NULL;
	}
	*n = l;
	return r_take(r, l);
}

/* A length-prefixed string of min..max bytes without NUL, copied (NUL-terminated). */
static char *r_str(struct rbuf *r, size_t min, size_t max)
{
	size_t n;
	const uint8_t *b = r_blob(r, max, &n);
	char *s;

	if (!b)
		return NULL;
	if (n < min || memchr(b, '\0', n)) {
		r->err = GD_EPROTO;
		return NULL;
	}
	s = gd_strndup((const char *)b, n);
	if (!s)
		r->err = GD_ENOMEM;
	return s;
}

/* A count of items of at least min_bytes each: no more than the bytes left allow. */
static uint64_t r_count(struct rbuf *r, size_t min_bytes)
{
	uint64_t n = r_u64(r);
	if (!r->err && n > r_left(r) / min_bytes)
		r->err = GD_EPROTO;
	return r->err ? 0 : n;
}

static bool valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO:
	case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		return true;
	default:
		return false;
	}
}

static bool valid_goal(uint32_t g)
{
	return g >= 1 && g <= META_NS_GOAL_STORED_MAX;
}

static void r_xattrs(struct rbuf *r, struct meta_ns_inode *in)
{
	uint32_t n = r_u32(r), i;

	if (r->err)
		return;
	if (n > r_left(r) / MIN_XATTR_BYTES) {
		r->err = GD_EPROTO;
		return;
	}
	for (i = 0; i < n && !r->err; i++) {
		char *name = r_str(r, 1, META_NS_XATTR_NAME_MAX);
		size_t vlen;
		const uint8_t *v = r_blob(r, META_NS_XATTR_VALUE_MAX, &vlen);
		int rc;

		if (!r->err && meta_ns_xattr_find(in, name))
			r->err = GD_EPROTO;
		if (!r->err) {
			rc = meta_ns_xattr_set(in, name, v, vlen);
			if (rc)
				r->err = rc == GD_ENOSPC ? GD_EPROTO : rc;
		}
		gd_free(name);
	}
}

static void r_chunks(struct rbuf *r, struct meta_ns_state *s, struct meta_ns_inode *in)
{
	uint64_t n = r_count(r, MIN_CHUNK_BYTES), i;
	uint64_t max_index = ((uint64_t)INT64_MAX - 1) / s->chunk_size;

	if (r->err || n == 0)
		return;
	if (!S_ISREG(in->mode)) {
		r->err = GD_EPROTO;
		return;
	}
	in->chunks = gd_calloc(n, sizeof(*in->chunks));
	if (!in->chunks) {
		r->err = GD_ENOMEM;
		return;
	}
	in->cap_chunks = n;
	for (i = 0; i < n && !r->err; i++) {
		struct meta_ns_chunk *c = gd_calloc(1, sizeof(*c));
		uint32_t nn, j;

		if (!c) {
			r->err = GD_ENOMEM;
			return;
		}
		in->chunks[in->n_chunks++] = c;
		c->ino = in->ino;
		c->index = r_u64(r);
		c->chunk_id = r_u64(r);
		c->version = r_u64(r);
		c->prev_version = r_u64(r);
		c->goal = r_u32(r);
		nn = r_u32(r);
		if (r->err)
			return;
		if (c->index > max_index || (i > 0 && c->index <= in->chunks[i - 1]->index) ||
		    c->chunk_id == 0 || c->chunk_id >= s->next_chunk_id || c->version == 0 ||
		    c->prev_version >= c->version || !valid_goal(c->goal) ||
		    nn > SNAP_NODES_MAX || meta_ns_map_get(&s->chunks, c->chunk_id)) {
			r->err = GD_EPROTO;
			return;
		}
		if (nn) {
			c->nodes = gd_calloc(nn, sizeof(*c->nodes));
			if (!c->nodes) {
				r->err = GD_ENOMEM;
				return;
			}
		}
		for (j = 0; j < nn && !r->err; j++) {
			c->nodes[j] = r_str(r, 1, SNAP_STR_MAX);
			if (c->nodes[j])
				c->n_nodes++;
		}
		if (!r->err) {
			int rc = meta_ns_map_put(&s->chunks, c->chunk_id, c);
			if (rc)
				r->err = rc;
		}
	}
}

static void r_dir(struct rbuf *r, struct meta_ns_inode *in)
{
	uint64_t next = r_u64(r);
	uint64_t n = r_count(r, MIN_DIRENT_BYTES), i;

	if (r->err)
		return;
	if (next < META_NS_FIRST_COOKIE || next == UINT64_MAX) {
		r->err = GD_EPROTO;
		return;
	}
	for (i = 0; i < n && !r->err; i++) {
		uint64_t cookie = r_u64(r);
		uint64_t ino = r_u64(r);
		uint32_t type = r_u32(r);
		size_t len;
		const uint8_t *name = r_blob(r, META_NS_NAME_MAX, &len);
		int rc;

		if (r->err)
			return;
		if (cookie >= next || ino == 0 || !valid_type(type) || (type & ~(uint32_t)S_IFMT) ||
		    meta_ns_name_check((const char *)name, len)) {
			r->err = GD_EPROTO;
			return;
		}
		rc = meta_ns_dir_add_cookie(in->dir, (const char *)name, len, ino, type, cookie);
		if (rc)
			r->err = rc;
	}
	if (!r->err)
		in->dir->next_cookie = next;
}

/* One inode record, whose number must be above prev_ino; on success it is in
 * s->inodes. Returns its number. */
static uint64_t r_inode(struct rbuf *r, struct meta_ns_state *s, uint64_t prev_ino)
{
	struct meta_ns_inode *in;
	uint64_t ino = r_u64(r), gen = r_u64(r);
	uint32_t mode = r_u32(r);
	int rc;

	if (r->err)
		return 0;
	if (ino <= prev_ino || ino >= s->next_ino || !valid_type(mode) ||
	    (mode & ~(uint32_t)(S_IFMT | 07777))) {
		r->err = GD_EPROTO;
		return 0;
	}
	in = meta_ns_inode_new(ino, mode);
	if (!in) {
		r->err = GD_ENOMEM;
		return 0;
	}
	rc = meta_ns_map_put(&s->inodes, ino, in);
	if (rc) {
		meta_ns_inode_free(in);
		r->err = rc;
		return 0;
	}
	in->generation = gen;
	in->uid = r_u32(r);
	in->gid = r_u32(r);
	in->nlink = r_u32(r);
	in->size = r_u64(r);
	in->rdev = r_u64(r);
	in->atime_sec = (int64_t)r_u64(r);
	in->atime_nsec = r_u32(r);
	in->mtime_sec = (int64_t)r_u64(r);
	in->mtime_nsec = r_u32(r);
	in->ctime_sec = (int64_t)r_u64(r);
	in->ctime_nsec = r_u32(r);
	in->goal = r_u32(r);
	in->parent = r_u64(r);
	{
		uint8_t orphan = r_u8(r);
		if (orphan > 1)
			r->err = GD_EPROTO;
		in->orphan = orphan;
	}
	if (r->err)
		return 0;
	if (in->atime_nsec >= 1000000000u || in->mtime_nsec >= 1000000000u ||
	    in->ctime_nsec >= 1000000000u || !valid_goal(in->goal) ||
	    in->size > (uint64_t)INT64_MAX || in->nlink > META_NS_LINK_MAX ||
	    (!S_ISDIR(mode) && in->parent != 0 && r->version < 4) ||
	    (S_ISDIR(mode) && in->parent == 0 && !in->orphan)) {
		r->err = GD_EPROTO;
		return 0;
	}
	in->target = S_ISLNK(mode) ? r_str(r, 1, META_NS_SYMLINK_MAX) : r_str(r, 0, 0);
	if (!r->err && !S_ISLNK(mode)) {
		gd_free(in->target);
		in->target = NULL;
	}
	if (!r->err && S_ISLNK(mode) && in->size != strlen(in->target))
		r->err = GD_EPROTO;
	r_xattrs(r, in);
	r_chunks(r, s, in);
	if (in->dir)
		r_dir(r, in);
	if (!r->err && in->orphan) {
		rc = meta_ns_map_put(&s->orphans, ino, in);
		if (rc)
			r->err = rc;
	}
	return ino;
}

static void r_sessions(struct rbuf *r, struct meta_ns_state *s)
{
	uint64_t n = r_count(r, MIN_SESSION_BYTES), i;

	if (r->err || n == 0)
		return;
	s->sessions = gd_calloc(n, sizeof(*s->sessions));
	if (!s->sessions) {
		r->err = GD_ENOMEM;
		return;
	}
	for (i = 0; i < n && !r->err; i++) {
		struct meta_ns_session *se = &s->sessions[i];
		se->id = r_u64(r);
		if (!r->err && (se->id == 0 || (i > 0 && se->id <= s->sessions[i - 1].id))) {
			r->err = GD_EPROTO;
			return;
		}
		s->n_sessions++;
		se->host = r_str(r, 0, SNAP_STR_MAX);
		se->mountpoint = r_str(r, 0, SNAP_STR_MAX);
	}
}

static void r_nodes(struct rbuf *r, struct meta_ns_state *s)
{
	uint64_t n = r_count(r, MIN_NODE_BYTES), i;

	if (r->err || n == 0)
		return;
	s->nodes = gd_calloc(n, sizeof(*s->nodes));
	if (!s->nodes) {
		r->err = GD_ENOMEM;
		return;
	}
	for (i = 0; i < n && !r->err; i++) {
		struct meta_ns_node *nd = &s->nodes[i];
		nd->id = r_str(r, 1, SNAP_STR_MAX);
		if (!nd->id)
			return;
		s->n_nodes++;
		if (i > 0 && strcmp(nd->id, s->nodes[i - 1].id) <= 0) {
			r->err = GD_EPROTO;
			return;
		}
		nd->address = r_str(r, 0, SNAP_STR_MAX);
		nd->label = r_str(r, 0, SNAP_STR_MAX);
	}
}

/* Version 3: truncate counts and last truncate sizes of existing inodes,
 * inode numbers increasing, counts not 0. */
static void r_trunc_seqs(struct rbuf *r, struct meta_ns_state *s)
{
	uint64_t n = r_count(r, MIN_TRUNC_BYTES), i, prev = 0;

	for (i = 0; i < n && !r->err; i++) {
		uint64_t ino = r_u64(r), seq = r_u64(r), size = r_u64(r);
		struct meta_ns_inode *in;

		if (r->err)
			return;
		in = meta_ns_map_get(&s->inodes, ino);
		if (!in || ino <= prev || seq == 0) {
			r->err = GD_EPROTO;
			return;
		}
		prev = ino;
		in->trunc_seq = seq;
		in->trunc_size = size;
	}
}

/* Version 4: the token counter and tokens (ids increasing, below the
 * counter, known flags). */
static void r_tokens(struct rbuf *r, struct meta_ns_state *s)
{
	uint64_t next = r_u64(r), n = r_count(r, MIN_TOKEN_BYTES), i;

	if (!r->err && (next == 0 || n > META_NS_TOKENS_MAX))
		r->err = GD_EPROTO;
	s->next_token_id = next;
	for (i = 0; i < n && !r->err; i++) {
		struct meta_ns_token t;
		uint8_t revoked;
		int rc;

		t.id = r_u64(r);
		t.subtree = r_u64(r);
		t.expires = r_u64(r);
		t.created = (int64_t)r_u64(r);
		t.flags = r_u32(r);
		revoked = r_u8(r);
		t.revoked = revoked;
		t.name = r_str(r, 0, META_NS_TOKEN_NAME_MAX);
		t.uid = t.gid = 0;
		if (r->version >= 6) {
			t.uid = r_u32(r);
			t.gid = r_u32(r);
		}
		if (!r->err && (t.id == 0 || t.id >= next || t.subtree == 0 || revoked > 1 ||
				(t.flags & ~(r->version >= 6 ? GD_TOKEN_FLAGS_KNOWN : GD_TOKEN_READ_ONLY)) ||
				(!(t.flags & GD_TOKEN_APIKEY) && (t.uid || t.gid))))
			r->err = GD_EPROTO;
		if (!r->err) {
			rc = meta_ns_token_add(s, &t);
			if (rc)
				r->err = rc == GD_ENOMEM ? rc : GD_EPROTO;
		}
		gd_free(t.name);
	}
}

/* Versions 1 to 3 kept no way up for non-directories: each gets the lowest
 * numbered directory holding one of its links (the same on every voter). */
static void rebuild_ways_up(struct meta_ns_state *s)
{
	struct meta_ns_inode *in;
	size_t pos = 0;

	while ((in = meta_ns_map_next(&s->inodes, &pos, NULL))) {
		const struct meta_ns_dirent *de;
		if (!in->dir)
			continue;
		for (de = meta_ns_dir_next(in->dir, 0); de; de = meta_ns_dir_next(in->dir, de->cookie)) {
			struct meta_ns_inode *t = meta_ns_map_get(&s->inodes, de->ino);
			if (t && !S_ISDIR(t->mode) && (t->parent == 0 || in->ino < t->parent))
				t->parent = in->ino;
		}
	}
}

/* Version 2: recorded answers, per existing session (ids increasing), seqs
 * increasing and above the floor, at most META_NS_REPLIES_MAX each. */
static void r_replies(struct rbuf *r, struct meta_ns_state *s)
{
	uint64_t n = r_count(r, MIN_REPLIES_BYTES), i, prev_id = 0;

	for (i = 0; i < n && !r->err; i++) {
		uint64_t id = r_u64(r), floor = r_u64(r);
		uint32_t k = r_u32(r), j;
		struct meta_ns_session *se;

		if (r->err)
			return;
		se = meta_ns_session_find(s, id);
		if (!se || id <= prev_id || k > META_NS_REPLIES_MAX ||
		    k > r_left(r) / MIN_REPLY_BYTES || (k == 0 && floor == 0)) {
			r->err = GD_EPROTO;
			return;
		}
		prev_id = id;
		se->replies_floor = floor;
		for (j = 0; j < k && !r->err; j++) {
			uint64_t seq = r_u64(r);
			uint32_t method = r_u32(r);
			int32_t status = (int32_t)r_u32(r);
			size_t len;
			const uint8_t *resp = r_blob(r, META_NS_REPLY_RESP_MAX, &len);
			int rc;

			if (r->err)
				return;
			if (status > 0 || (se->n_replies && seq <= se->replies[se->n_replies - 1].seq)) {
				r->err = GD_EPROTO;
				return;
			}
			rc = meta_ns_reply_put(se, seq, method, status, resp, len);
			if (rc)
				r->err = rc == GD_ENOMEM ? rc : GD_EPROTO;
		}
	}
}

/* The links between inodes: every entry names an existing inode of its type,
 * every directory but the root has exactly one entry in its parent, link
 * counts match, orphans have none, and every directory hangs off the root. */
static int check_structure(struct meta_ns_state *s)
{
	struct meta_ns_inode *in, *root, **queue = NULL;
	size_t pos = 0, n_dirs = 0, head = 0, tail = 0;
	int rc = GD_EPROTO;

	root = meta_ns_map_get(&s->inodes, META_NS_ROOT_INO);
	if (!root || !S_ISDIR(root->mode) || root->orphan || root->parent != META_NS_ROOT_INO)
		return GD_EPROTO;
	while ((in = meta_ns_map_next(&s->inodes, &pos, NULL))) {
		in->scratch = 0;
		if (S_ISDIR(in->mode) && !in->orphan)
			n_dirs++;
	}
	pos = 0;
	while ((in = meta_ns_map_next(&s->inodes, &pos, NULL))) {
		const struct meta_ns_dirent *de;
		uint64_t subdirs = 0;
		if (!in->dir)
			continue;
		if (in->orphan && in->dir->count)
			return GD_EPROTO;
		for (de = meta_ns_dir_next(in->dir, 0); de; de = meta_ns_dir_next(in->dir, de->cookie)) {
			struct meta_ns_inode *t = meta_ns_map_get(&s->inodes, de->ino);
			if (!t || t->orphan || t == root || (t->mode & S_IFMT) != de->type)
				return GD_EPROTO;
			if (S_ISDIR(t->mode)) {
				if (t->parent != in->ino)
					return GD_EPROTO;
				subdirs++;
			} else if (t->parent == in->ino) {
				t->scratch |= SCRATCH_WAY_UP;
			}
			t->scratch++;
		}
		if (!in->orphan && in->nlink != 2 + subdirs)
			return GD_EPROTO;
	}
	pos = 0;
	while ((in = meta_ns_map_next(&s->inodes, &pos, NULL))) {
		if (in->orphan != (in->nlink == 0))
			return GD_EPROTO;
		if (S_ISDIR(in->mode)) {
			if (in != root && in->scratch != (in->orphan ? 0u : 1u))
				return GD_EPROTO;
		} else if ((in->scratch & ~SCRATCH_WAY_UP) != in->nlink ||
			   (!in->orphan && in->parent != 0 && !(in->scratch & SCRATCH_WAY_UP))) {
			/* a linked non-directory's way up must hold one of its links */
			return GD_EPROTO;
		}
	}
	/* Reachability: a cycle of directories away from the root passes the
	 * checks above, not this walk. */
	queue = gd_malloc(n_dirs * sizeof(*queue));
	if (!queue)
		return GD_ENOMEM;
	queue[tail++] = root;
	while (head < tail) {
		const struct meta_ns_dirent *de;
		in = queue[head++];
		for (de = meta_ns_dir_next(in->dir, 0); de; de = meta_ns_dir_next(in->dir, de->cookie)) {
			if (de->type != S_IFDIR)
				continue;
			if (tail == n_dirs)
				goto out;
			queue[tail++] = meta_ns_map_get(&s->inodes, de->ino);
		}
	}
	if (tail == n_dirs)
		rc = 0;
out:
	gd_free(queue);
	return rc;
}

/* Version 5: draining nodes, each a node of the registry, named once. */
static void r_drains(struct rbuf *r, struct meta_ns_state *s)
{
	uint64_t n = r_count(r, MIN_DRAIN_BYTES), i;

	for (i = 0; i < n && !r->err; i++) {
		char *id = r_str(r, 1, SNAP_STR_MAX);
		struct meta_ns_node *nd;

		if (!id)
			return;
		nd = meta_ns_node_find(s, id);
		gd_free(id);
		if (!nd || nd->draining) {
			r->err = GD_EPROTO;
			return;
		}
		nd->draining = true;
	}
}

static int lock_session_known(void *ctx, uint64_t session)
{
	return meta_ns_session_find(ctx, session) ? 0 : GD_EPROTO;
}

/* Version 7: the lock table; every session in it must be one of the state's. */
static void r_locks(struct rbuf *r, struct meta_ns_state *s)
{
	const uint8_t *b;
	size_t n;
	int rc;

	b = r_blob(r, SNAP_LOCKS_MAX, &n);
	if (!b)
		return;
	rc = meta_locks_decode(b, n, &s->locks);
	if (rc == 0)
		rc = meta_locks_each_session(s->locks, lock_session_known, s);
	if (rc)
		r->err = rc;
}

int meta_snap_read(struct meta_ns_state *out, const void *buf, size_t len)
{
	struct rbuf r = { buf, len, 0, 0, 0 };
	struct meta_ns_state s;
	uint64_t body, n, i, prev = 0;
	const uint8_t *magic;
	uint32_t version;
	int rc;

	if (!buf || len < SNAP_HEADER + SNAP_TRAILER)
		return GD_EPROTO;
	magic = r_take(&r, 8);
	if (memcmp(magic, SNAP_MAGIC, 8) != 0)
		return GD_EPROTO;
	version = r_u32(&r);
	if (version < SNAP_VERSION_MIN || version > SNAP_VERSION || r_u32(&r) != 0)
		return GD_EPROTO;
	body = r_u64(&r);
	if (body != len - SNAP_HEADER - SNAP_TRAILER)
		return GD_EPROTO;
	{
		struct rbuf t = { buf, len, len - SNAP_TRAILER, 0, 0 };
		if (r_u64(&t) != meta_snap_checksum(buf, len - SNAP_TRAILER))
			return GD_EPROTO;
	}
	r.len = len - SNAP_TRAILER;
	r.version = version;

	meta_ns_state_init_empty(&s, 1);
	s.chunk_size = r_u64(&r);
	s.default_goal = r_u32(&r);
	s.next_ino = r_u64(&r);
	s.next_chunk_id = r_u64(&r);
	if (!r.err && (s.chunk_size == 0 || !valid_goal(s.default_goal) ||
		       s.next_ino <= META_NS_ROOT_INO || s.next_chunk_id == 0))
		r.err = GD_EPROTO;
	n = r_count(&r, MIN_INODE_BYTES);
	/* inode numbers are strictly increasing */
	for (i = 0; i < n && !r.err; i++)
		prev = r_inode(&r, &s, prev);
	r_sessions(&r, &s);
	r_nodes(&r, &s);
	if (version >= 2)
		r_replies(&r, &s);
	if (version >= 3)
		r_trunc_seqs(&r, &s);
	if (version >= 4)
		r_tokens(&r, &s);
	else if (!r.err)
		rebuild_ways_up(&s);
	if (version >= 5)
		r_drains(&r, &s);
	if (version >= 7)
		r_locks(&r, &s);
	if (!r.err && r.off != r.len)
		r.err = GD_EPROTO;
	rc = r.err;
	if (!rc)
		rc = check_structure(&s);
	if (rc) {
		meta_ns_state_release(&s);
		return rc;
	}
	*out = s;
	return 0;
}
