/* Cluster-wide file locks of the FSM (see meta_locks.h). Per inode, the held
 * locks and the waiters (in arrival order) are arrays; the tables are small
 * and bounded, so every operation is a linear walk of one inode's arrays. */
#include "meta_locks.h"

#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_ns.h"

/* Owners one deadlock search follows (also its recursion depth). */
#define DEADLOCK_OWNERS_MAX 256u
/* Bytes of one lock in the snapshot form. */
#define LOCK_BYTES (5 * 8 + 4 + 2)
/* A restored table may exceed the bounds a little (a grant converting a
 * waiter may split a lock: meta_locks_set checks bounds, grants do not). */
#define RESTORE_SLACK 2u

struct ino_locks {
	uint64_t ino;
	struct meta_lock *held;     /* granted, in grant order */
	uint32_t n_held, cap_held;
	struct meta_lock *wait;     /* waiting, in arrival order */
	uint32_t n_wait, cap_wait;
};

struct meta_locks {
	struct meta_ns_map inodes;   /* ino -> struct ino_locks */
	struct meta_ns_map sessions; /* session -> held + waiting (as a pointer-sized count) */
	size_t total;                /* held + waiting */
};

void meta_locks_grants_release(struct meta_locks_grants *g)
{
	if (!g)
		return;
	gd_free(g->v);
	memset(g, 0, sizeof(*g));
}

/* Room for one more grant. */
static int grants_reserve(struct meta_locks_grants *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct meta_locks_grant *v = gd_realloc(g->v, cap * sizeof(*v));

		if (!v)
			return GD_ENOMEM;
		g->v = v;
		g->cap = cap;
	}
	return 0;
}

static int grants_add(struct meta_locks_grants *g, uint64_t session, uint64_t wait_id)
{
	if (grants_reserve(g))
		return GD_ENOMEM;
	g->v[g->n].session = session;
	g->v[g->n].wait_id = wait_id;
	g->n++;
	return 0;
}

int meta_locks_new(struct meta_locks **out)
{
	struct meta_locks *l = gd_calloc(1, sizeof(*l));

	if (!l)
		return GD_ENOMEM;
	meta_ns_map_init(&l->inodes);
	meta_ns_map_init(&l->sessions);
	*out = l;
	return 0;
}

static void ino_free(struct ino_locks *il)
{
	gd_free(il->held);
	gd_free(il->wait);
	gd_free(il);
}

void meta_locks_free(struct meta_locks *l)
{
	struct ino_locks *il;
	size_t pos = 0;

	if (!l)
		return;
	while ((il = meta_ns_map_next(&l->inodes, &pos, NULL)) != NULL)
		ino_free(il);
	meta_ns_map_release(&l->inodes);
	meta_ns_map_release(&l->sessions);
	gd_free(l);
}

/* ---- counts ---------------------------------------------------------------------------- */

size_t meta_locks_count(const struct meta_locks *l)
{
	return l ? l->total : 0;
}

size_t meta_locks_session_count(const struct meta_locks *l, uint64_t session)
{
	return l && session ? (size_t)(uintptr_t)meta_ns_map_get(&l->sessions, session) : 0;
}

/* Adds delta to the counts of session and the total. Removing a count
 * never allocates; adding one may (GD_ENOMEM: nothing changed). */
static int count_add(struct meta_locks *l, uint64_t session, long delta)
{
	size_t c = meta_locks_session_count(l, session);
	int rc = 0;

	if (delta == 0)
		return 0;
	if (delta < 0 && (size_t)-delta >= c)
		meta_ns_map_del(&l->sessions, session);
	else
		rc = meta_ns_map_put(&l->sessions, session, (void *)(uintptr_t)(c + (size_t)delta));
	if (rc == 0)
		l->total = delta < 0 && (size_t)-delta > l->total ? 0 : l->total + (size_t)delta;
	return rc;
}

/* Whether n more locks of session on il fit every bound. */
static bool fits(const struct meta_locks *l, const struct ino_locks *il, uint64_t session,
		 size_t n)
{
	size_t on_ino = il ? il->n_held + il->n_wait : 0;

	return l->total + n <= META_LOCKS_MAX && on_ino + n <= META_LOCKS_INODE_MAX &&
	       meta_locks_session_count(l, session) + n <= META_LOCKS_SESSION_MAX;
}

/* ---- relations between locks ------------------------------------------------------------- */

static bool same_owner(const struct meta_lock *a, const struct meta_lock *b)
{
	return a->session == b->session && a->owner == b->owner;
}

static bool overlap(const struct meta_lock *a, const struct meta_lock *b)
{
	return a->start <= b->end && b->start <= a->end;
}

static bool conflict(const struct meta_lock *a, const struct meta_lock *b)
{
	return a->kind == b->kind && !same_owner(a, b) && overlap(a, b) &&
	       (a->type == META_LOCK_WRITE || b->type == META_LOCK_WRITE);
}

/* Whether the owner of r holds a lock of r's kind on il. */
static bool holds_kind(const struct ino_locks *il, const struct meta_lock *r)
{
	for (uint32_t i = 0; i < il->n_held; i++)
		if (same_owner(&il->held[i], r) && il->held[i].kind == r->kind)
			return true;
	return false;
}

static bool held_conflict(const struct ino_locks *il, const struct meta_lock *r)
{
	for (uint32_t i = 0; i < il->n_held; i++)
		if (conflict(&il->held[i], r))
			return true;
	return false;
}

/* Whether a waiter before index upto conflicts with r (the arrival order
 * rule: r may not pass it), unless r's owner already holds a lock of that
 * kind here (then the earlier waiter may be waiting for r's owner). */
static bool queue_blocks(const struct ino_locks *il, const struct meta_lock *r, uint32_t upto)
{
	if (holds_kind(il, r))
		return false;
	for (uint32_t i = 0; i < upto && i < il->n_wait; i++)
		if (conflict(&il->wait[i], r))
			return true;
	return false;
}

/* ---- changing the held locks of one owner ------------------------------------------------- */

/* Reserves room for n locks in *a (of capacity *cap). */
static int reserve(struct meta_lock **a, uint32_t *cap, size_t n)
{
	struct meta_lock *v;
	size_t c;

	if (n <= *cap)
		return 0;
	c = *cap ? *cap : 4;
	while (c < n)
		c *= 2;
	v = gd_realloc(*a, c * sizeof(*v));
	if (!v)
		return GD_ENOMEM;
	*a = v;
	*cap = (uint32_t)c;
	return 0;
}

/* Gives r's owner exactly r's type over r's range (META_LOCK_UNLOCK: none),
 * keeping its locks outside the range and merging neighbours of the same
 * type. With bounded, GD_ENOLCK when the owner's locks would grow past a
 * bound. Nothing changes on an error. */
static int apply_lock(struct meta_locks *l, struct ino_locks *il, const struct meta_lock *r,
		      bool bounded)
{
	struct meta_lock *out, nl = *r;
	uint32_t n = 0, i, cap = il->n_held + 2;
	long delta;
	int rc;

	out = gd_malloc((size_t)cap * sizeof(*out));
	if (!out)
		return GD_ENOMEM;
	nl.wait_id = 0;
	for (i = 0; i < il->n_held; i++) {
		const struct meta_lock *h = &il->held[i];

		if (!same_owner(h, r) || h->kind != r->kind || !overlap(h, r)) {
			out[n++] = *h;
			continue;
		}
		if (h->start < r->start) {
			out[n] = *h;
			out[n++].end = r->start - 1;
		}
		if (h->end > r->end) {
			out[n] = *h;
			out[n++].start = r->end + 1;
		}
	}
	if (r->type != META_LOCK_UNLOCK) {
		/* neighbours of the same type join the new lock */
		uint32_t k = 0;

		for (i = 0; i < n; i++) {
			const struct meta_lock *h = &out[i];
			bool touches = same_owner(h, &nl) && h->kind == nl.kind && h->type == nl.type &&
				       ((nl.start > 0 && h->end == nl.start - 1) ||
					(nl.end < META_LOCKS_EOF && h->start == nl.end + 1));

			if (touches) {
				if (h->start < nl.start)
					nl.start = h->start;
				if (h->end > nl.end)
					nl.end = h->end;
				continue;
			}
			out[k++] = *h;
		}
		n = k;
		out[n++] = nl;
	}
	delta = (long)n - (long)il->n_held;
	if (bounded && delta > 0 && !fits(l, il, r->session, (size_t)delta)) {
		gd_free(out);
		return GD_ENOLCK;
	}
	rc = count_add(l, r->session, delta);
	if (rc) {
		gd_free(out);
		return rc;
	}
	gd_free(il->held);
	il->held = out;
	il->n_held = n;
	il->cap_held = cap;
	return 0;
}

/* ---- waiters ------------------------------------------------------------------------------- */

static int find_waiter(const struct ino_locks *il, uint64_t session, uint64_t wait_id)
{
	for (uint32_t i = 0; i < il->n_wait; i++)
		if (il->wait[i].session == session && il->wait[i].wait_id == wait_id)
			return (int)i;
	return -1;
}

static void remove_waiter(struct meta_locks *l, struct ino_locks *il, uint32_t i)
{
	uint64_t session = il->wait[i].session;

	memmove(&il->wait[i], &il->wait[i + 1], (il->n_wait - i - 1) * sizeof(il->wait[0]));
	il->n_wait--;
	count_add(l, session, -1);
}

/* Grants, in arrival order, every waiter that may go now; appends them to g. */
static int grant_pass(struct meta_locks *l, struct ino_locks *il, struct meta_locks_grants *g)
{
	uint32_t i = 0;

	while (i < il->n_wait) {
		struct meta_lock w = il->wait[i];
		int rc;

		if (held_conflict(il, &w) || queue_blocks(il, &w, i)) {
			i++;
			continue;
		}
		/* room first: a grant that cannot be told is not made */
		if (grants_reserve(g))
			return GD_ENOMEM;
		remove_waiter(l, il, i);
		rc = apply_lock(l, il, &w, false);
		if (rc)
			return rc;
		grants_add(g, w.session, w.wait_id);
		/* the waiters before i stay blocked (held locks only grew) */
	}
	return 0;
}

/* Forgets an inode without locks or waiters. */
static void ino_tidy(struct meta_locks *l, struct ino_locks *il)
{
	if (il->n_held == 0 && il->n_wait == 0) {
		meta_ns_map_del(&l->inodes, il->ino);
		ino_free(il);
	}
}

static struct ino_locks *ino_get(struct meta_locks *l, uint64_t ino, bool create)
{
	struct ino_locks *il = meta_ns_map_get(&l->inodes, ino);

	if (il || !create)
		return il;
	il = gd_calloc(1, sizeof(*il));
	if (!il)
		return NULL;
	il->ino = ino;
	if (meta_ns_map_put(&l->inodes, ino, il) != 0) {
		gd_free(il);
		return NULL;
	}
	return il;
}

/* ---- deadlock detection ------------------------------------------------------------------- */

struct dl_search {
	const struct meta_locks *l;
	const struct meta_lock *me;   /* the request about to wait */
	struct { uint64_t session, owner; } seen[DEADLOCK_OWNERS_MAX];
	unsigned n_seen;
	unsigned steps;
	bool gave_up;
};

static bool dl_waits_for_me(struct dl_search *s, const struct meta_lock *owner);

/* Whether waiter w (index i of il) waits, by the grant rule, for an owner
 * that waits for s->me. */
static bool dl_blockers(struct dl_search *s, const struct ino_locks *il,
			const struct meta_lock *w, uint32_t i)
{
	for (uint32_t k = 0; k < il->n_held; k++)
		if (conflict(&il->held[k], w) && dl_waits_for_me(s, &il->held[k]))
			return true;
	if (holds_kind(il, w))
		return false;
	for (uint32_t k = 0; k < i && k < il->n_wait; k++)
		if (conflict(&il->wait[k], w) && dl_waits_for_me(s, &il->wait[k]))
			return true;
	return false;
}

/* Whether the owner of o is s->me's owner, or waits (through other owners'
 * waits) for it. */
static bool dl_waits_for_me(struct dl_search *s, const struct meta_lock *o)
{
	const struct ino_locks *il;
	size_t pos = 0;

	if (same_owner(o, s->me))
		return true;
	for (unsigned k = 0; k < s->n_seen; k++)
		if (s->seen[k].session == o->session && s->seen[k].owner == o->owner)
			return false;
	if (s->n_seen == DEADLOCK_OWNERS_MAX) {
		s->gave_up = true;
		return false;
	}
	s->seen[s->n_seen].session = o->session;
	s->seen[s->n_seen].owner = o->owner;
	s->n_seen++;
	while ((il = meta_ns_map_next(&s->l->inodes, &pos, NULL)) != NULL) {
		for (uint32_t i = 0; i < il->n_wait; i++) {
			const struct meta_lock *w = &il->wait[i];

			if (!same_owner(w, o) || w->kind != META_LOCK_POSIX)
				continue;
			if (++s->steps > META_LOCKS_DEADLOCK_STEPS) {
				s->gave_up = true;
				return false;
			}
			if (dl_blockers(s, il, w, i))
				return true;
		}
	}
	return false;
}

/* Whether r, about to wait on il behind every current waiter, closes a cycle. */
static bool deadlock(const struct meta_locks *l, const struct ino_locks *il,
		     const struct meta_lock *r)
{
	struct dl_search *s = gd_calloc(1, sizeof(*s));
	bool found;

	if (!s)
		return false;   /* no search, no false report */
	s->l = l;
	s->me = r;
	found = dl_blockers(s, il, r, il->n_wait);
	gd_free(s);
	return found;
}

/* ---- the operations ------------------------------------------------------------------------ */

static int check_req(const struct meta_lock *r, bool wait)
{
	if (r->session == 0 || r->kind > META_LOCK_FLOCK || r->type > META_LOCK_WRITE ||
	    r->start > r->end)
		return GD_EINVAL;
	if (wait && (r->wait_id == 0 || r->type == META_LOCK_UNLOCK))
		return GD_EINVAL;
	return 0;
}

int meta_locks_set(struct meta_locks *l, uint64_t ino, const struct meta_lock *req, bool wait,
		   bool *queued, struct meta_locks_grants *g)
{
	struct meta_lock r = *req;
	struct ino_locks *il;
	int rc, prc;

	*queued = false;
	rc = check_req(&r, wait);
	if (rc || ino == 0)
		return rc ? rc : GD_EINVAL;
	if (r.kind == META_LOCK_FLOCK) {
		r.start = 0;
		r.end = META_LOCKS_EOF;
	}
	if (!wait)
		r.wait_id = 0;
	il = ino_get(l, ino, r.type != META_LOCK_UNLOCK);
	if (!il)
		return r.type == META_LOCK_UNLOCK ? 0 : GD_ENOMEM;
	if (wait && find_waiter(il, r.session, r.wait_id) >= 0) {
		*queued = true;         /* a resend of a wait */
		return 0;
	}
	if (r.kind == META_LOCK_FLOCK && r.type != META_LOCK_UNLOCK) {
		for (uint32_t i = 0; i < il->n_held; i++) {
			const struct meta_lock *h = &il->held[i];

			if (!same_owner(h, &r) || h->kind != META_LOCK_FLOCK)
				continue;
			if (h->type == r.type)
				return 0;       /* already held */
			/* a conversion drops the old lock first, as Linux does */
			struct meta_lock un = r;
			un.type = META_LOCK_UNLOCK;
			rc = apply_lock(l, il, &un, false);
			if (rc)
				return rc;
			break;
		}
	}
	if (r.type == META_LOCK_UNLOCK) {
		rc = apply_lock(l, il, &r, true);
	} else if (!held_conflict(il, &r) && !(wait && queue_blocks(il, &r, il->n_wait))) {
		rc = apply_lock(l, il, &r, true);
	} else if (!wait) {
		rc = GD_EAGAIN;
	} else if (r.kind == META_LOCK_POSIX && deadlock(l, il, &r)) {
		rc = GD_EDEADLK;
	} else if (!fits(l, il, r.session, 1)) {
		rc = GD_ENOLCK;
	} else if ((rc = reserve(&il->wait, &il->cap_wait, (size_t)il->n_wait + 1)) == 0 &&
		   (rc = count_add(l, r.session, 1)) == 0) {
		il->wait[il->n_wait++] = r;
		*queued = true;
	}
	/* whatever went (an unlock, a downgrade, a converted flock) may let
	 * waiters go */
	prc = grant_pass(l, il, g);
	ino_tidy(l, il);
	return rc ? rc : prc;
}

int meta_locks_cancel(struct meta_locks *l, uint64_t ino, uint64_t session, uint64_t wait_id,
		      struct meta_locks_grants *g)
{
	struct ino_locks *il = meta_ns_map_get(&l->inodes, ino);
	int i, rc;

	if (!il || (i = find_waiter(il, session, wait_id)) < 0)
		return GD_ENOENT;
	remove_waiter(l, il, (uint32_t)i);
	rc = grant_pass(l, il, g);
	ino_tidy(l, il);
	return rc;
}

bool meta_locks_test(const struct meta_locks *l, uint64_t ino, const struct meta_lock *req,
		     struct meta_lock *out)
{
	const struct ino_locks *il = l ? meta_ns_map_get(&l->inodes, ino) : NULL;
	struct meta_lock r = *req;

	if (!il)
		return false;
	if (r.kind == META_LOCK_FLOCK) {
		r.start = 0;
		r.end = META_LOCKS_EOF;
	}
	for (uint32_t i = 0; i < il->n_held; i++) {
		if (conflict(&il->held[i], &r)) {
			*out = il->held[i];
			return true;
		}
	}
	return false;
}

bool meta_locks_waiting(const struct meta_locks *l, uint64_t ino, uint64_t session,
			uint64_t wait_id)
{
	const struct ino_locks *il = l ? meta_ns_map_get(&l->inodes, ino) : NULL;

	return il && find_waiter(il, session, wait_id) >= 0;
}

/* Removes every lock of session from a (n items), keeping the order. */
static uint32_t drop_from(struct meta_lock *a, uint32_t n, uint64_t session)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		if (a[i].session != session)
			a[k++] = a[i];
	return k;
}

int meta_locks_drop_session(struct meta_locks *l, uint64_t session, struct meta_locks_grants *g)
{
	struct ino_locks *il, **empty;
	size_t pos = 0, n_empty = 0, i;
	int rc = 0;

	if (!l || meta_locks_session_count(l, session) == 0)
		return 0;
	empty = gd_malloc((l->inodes.count ? l->inodes.count : 1) * sizeof(*empty));
	if (!empty)
		return GD_ENOMEM;
	while ((il = meta_ns_map_next(&l->inodes, &pos, NULL)) != NULL) {
		uint32_t nh = drop_from(il->held, il->n_held, session);
		uint32_t nw = drop_from(il->wait, il->n_wait, session);

		if (nh == il->n_held && nw == il->n_wait)
			continue;
		il->n_held = nh;
		il->n_wait = nw;
		if (rc == 0)
			rc = grant_pass(l, il, g);
		if (il->n_held == 0 && il->n_wait == 0)
			empty[n_empty++] = il;
	}
	/* after the walk: the map must not change during it */
	for (i = 0; i < n_empty; i++)
		ino_tidy(l, empty[i]);
	gd_free(empty);
	l->total -= meta_locks_session_count(l, session);
	meta_ns_map_del(&l->sessions, session);
	return rc;
}

int meta_locks_each_session(const struct meta_locks *l, int (*fn)(void *ctx, uint64_t session),
			    void *ctx)
{
	size_t pos = 0;
	uint64_t session;
	int rc = 0;

	while (l && rc == 0 && meta_ns_map_next(&l->sessions, &pos, &session) != NULL)
		rc = fn(ctx, session);
	return rc;
}

/* ---- snapshot form --------------------------------------------------------------------------- */

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_lock(uint8_t *p, const struct meta_lock *k)
{
	p = put_u64(p, k->session);
	p = put_u64(p, k->owner);
	p = put_u64(p, k->start);
	p = put_u64(p, k->end);
	p = put_u64(p, k->wait_id);
	p = put_u32(p, k->pid);
	*p++ = k->kind;
	*p++ = k->type;
	return p;
}

static int cmp_ino(const void *a, const void *b)
{
	const struct ino_locks *x = *(const struct ino_locks *const *)a;
	const struct ino_locks *y = *(const struct ino_locks *const *)b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

int meta_locks_encode(const struct meta_locks *l, uint8_t **buf, size_t *len)
{
	size_t n = l ? l->inodes.count : 0, pos = 0, i, bytes = 8;
	struct ino_locks **all, *il;
	uint8_t *p;

	all = gd_malloc((n ? n : 1) * sizeof(*all));
	if (!all)
		return GD_ENOMEM;
	n = 0;
	while (l && (il = meta_ns_map_next(&l->inodes, &pos, NULL)) != NULL) {
		all[n++] = il;
		bytes += 16 + ((size_t)il->n_held + il->n_wait) * LOCK_BYTES;
	}
	qsort(all, n, sizeof(*all), cmp_ino);
	*buf = gd_malloc(bytes);
	if (!*buf) {
		gd_free(all);
		return GD_ENOMEM;
	}
	p = put_u64(*buf, n);
	for (i = 0; i < n; i++) {
		p = put_u64(p, all[i]->ino);
		p = put_u32(p, all[i]->n_held);
		p = put_u32(p, all[i]->n_wait);
		for (uint32_t k = 0; k < all[i]->n_held; k++)
			p = put_lock(p, &all[i]->held[k]);
		for (uint32_t k = 0; k < all[i]->n_wait; k++)
			p = put_lock(p, &all[i]->wait[k]);
	}
	*len = (size_t)(p - *buf);
	gd_free(all);
	return 0;
}

struct rd {
	const uint8_t *p;
	size_t left;
	int err;
};

static uint64_t get_u(struct rd *r, unsigned bytes)
{
	uint64_t v = 0;

	if (r->err || r->left < bytes) {
		r->err = GD_EPROTO;
		return 0;
	}
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	r->left -= bytes;
	return v;
}

static void get_lock(struct rd *r, struct meta_lock *k, bool waiter)
{
	k->session = get_u(r, 8);
	k->owner = get_u(r, 8);
	k->start = get_u(r, 8);
	k->end = get_u(r, 8);
	k->wait_id = get_u(r, 8);
	k->pid = (uint32_t)get_u(r, 4);
	k->kind = (uint8_t)get_u(r, 1);
	k->type = (uint8_t)get_u(r, 1);
	if (!r->err && (check_req(k, waiter) || k->type == META_LOCK_UNLOCK ||
			(waiter ? k->wait_id == 0 : k->wait_id != 0) ||
			(k->kind == META_LOCK_FLOCK && (k->start != 0 || k->end != META_LOCKS_EOF))))
		r->err = GD_EPROTO;
}

/* Reads one inode's record into l. */
static void get_inode(struct rd *r, struct meta_locks *l, uint64_t *prev)
{
	uint64_t ino = get_u(r, 8);
	uint32_t nh = (uint32_t)get_u(r, 4), nw = (uint32_t)get_u(r, 4);
	struct ino_locks *il;
	int rc;

	if (r->err)
		return;
	if (ino <= *prev || (uint64_t)nh + nw == 0 ||
	    (uint64_t)nh + nw > (uint64_t)META_LOCKS_INODE_MAX * RESTORE_SLACK ||
	    ((uint64_t)nh + nw) * LOCK_BYTES > r->left) {
		r->err = GD_EPROTO;
		return;
	}
	*prev = ino;
	il = ino_get(l, ino, true);
	if (!il || reserve(&il->held, &il->cap_held, nh ? nh : 1) ||
	    reserve(&il->wait, &il->cap_wait, nw ? nw : 1)) {
		r->err = GD_ENOMEM;
		return;
	}
	for (uint32_t k = 0; k < nh && !r->err; k++) {
		get_lock(r, &il->held[k], false);
		il->n_held = k + 1;
		if (!r->err && (rc = count_add(l, il->held[k].session, 1)) != 0)
			r->err = rc;
	}
	for (uint32_t k = 0; k < nw && !r->err; k++) {
		get_lock(r, &il->wait[k], true);
		il->n_wait = k + 1;
		if (!r->err && find_waiter(il, il->wait[k].session, il->wait[k].wait_id) != (int)k)
			r->err = GD_EPROTO;   /* one wait under one id */
		if (!r->err && (rc = count_add(l, il->wait[k].session, 1)) != 0)
			r->err = rc;
	}
}

int meta_locks_decode(const uint8_t *buf, size_t len, struct meta_locks **out)
{
	struct rd r = { buf, len, 0 };
	struct meta_locks *l;
	uint64_t n, i, prev = 0;
	int rc = meta_locks_new(&l);

	if (rc)
		return rc;
	n = get_u(&r, 8);
	if (!r.err && n > r.left / (16 + LOCK_BYTES))
		r.err = GD_EPROTO;
	for (i = 0; i < n && !r.err; i++)
		get_inode(&r, l, &prev);
	if (!r.err && (r.left != 0 || l->total > (size_t)META_LOCKS_MAX * RESTORE_SLACK))
		r.err = GD_EPROTO;
	if (!r.err) {
		size_t pos = 0;
		uint64_t s;
		void *c;

		while ((c = meta_ns_map_next(&l->sessions, &pos, &s)) != NULL)
			if ((size_t)(uintptr_t)c > (size_t)META_LOCKS_SESSION_MAX * RESTORE_SLACK)
				r.err = GD_EPROTO;
	}
	if (r.err) {
		meta_locks_free(l);
		return r.err;
	}
	*out = l;
	return 0;
}
