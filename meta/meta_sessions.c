/* Soft state of the client sessions (see meta_sessions.h). Counts are stored
 * in the maps' value pointers (a count is never 0 while its key is there). */
#include "meta_sessions.h"

#include <string.h>

#include "gd_alloc.h"
#include "gd_status.h"
#include "meta_ns.h"

#define SESS_LEASES_MAX 65536  /* leases one session may hold at once */
#define ORPHAN_WAITING ((void *)(uintptr_t)1)
#define ORPHAN_PROPOSED ((void *)(uintptr_t)2)

struct lease {
	struct meta_sessions_grant g;
	uint64_t expire_ms;
};

struct sess {
	uint64_t id;
	uint64_t last_renew_ms;
	bool expiring;           /* an M_FSM_SESSION_EXPIRE is in flight */
	struct meta_ns_map opens; /* ino -> open count */
	struct lease *leases;
	size_t n_leases;
	size_t cap_leases;
};

struct meta_sessions {
	struct meta_ns_map sessions; /* id -> struct sess */
	struct meta_ns_map opens;    /* ino -> open count over all sessions */
	struct meta_ns_map orphans;  /* ino -> ORPHAN_WAITING / ORPHAN_PROPOSED */
};

int meta_sessions_new(struct meta_sessions **out)
{
	struct meta_sessions *s = gd_calloc(1, sizeof(*s));

	if (s == NULL)
		return GD_ENOMEM;
	meta_ns_map_init(&s->sessions);
	meta_ns_map_init(&s->opens);
	meta_ns_map_init(&s->orphans);
	*out = s;
	return 0;
}

static void sess_free(struct sess *x)
{
	meta_ns_map_release(&x->opens);
	gd_free(x->leases);
	gd_free(x);
}

void meta_sessions_clear(struct meta_sessions *s)
{
	size_t pos = 0;
	uint64_t key;
	struct sess *x;

	while ((x = meta_ns_map_next(&s->sessions, &pos, &key)) != NULL)
		sess_free(x);
	meta_ns_map_release(&s->sessions);
	meta_ns_map_release(&s->opens);
	meta_ns_map_release(&s->orphans);
}

void meta_sessions_free(struct meta_sessions *s)
{
	if (s == NULL)
		return;
	meta_sessions_clear(s);
	gd_free(s);
}

static uint64_t count_get(const struct meta_ns_map *m, uint64_t key)
{
	return (uint64_t)(uintptr_t)meta_ns_map_get(m, key);
}

/* Adds delta (+1 or -1) to key's count; the key goes when it reaches 0. */
static int count_add(struct meta_ns_map *m, uint64_t key, int delta)
{
	uint64_t c = count_get(m, key);

	if (delta < 0) {
		if (c == 0)
			return GD_ENOENT;
		if (c == 1) {
			meta_ns_map_del(m, key);
			return 0;
		}
		return meta_ns_map_put(m, key, (void *)(uintptr_t)(c - 1));
	}
	return meta_ns_map_put(m, key, (void *)(uintptr_t)(c + 1));
}

int meta_sessions_add(struct meta_sessions *s, uint64_t id, uint64_t now_ms)
{
	struct sess *x;
	int rc;

	if (id == 0)
		return GD_EINVAL;
	x = meta_ns_map_get(&s->sessions, id);
	if (x != NULL) {
		x->last_renew_ms = now_ms;
		return 0;
	}
	x = gd_calloc(1, sizeof(*x));
	if (x == NULL)
		return GD_ENOMEM;
	x->id = id;
	x->last_renew_ms = now_ms;
	meta_ns_map_init(&x->opens);
	rc = meta_ns_map_put(&s->sessions, id, x);
	if (rc != 0)
		sess_free(x);
	return rc;
}

bool meta_sessions_known(struct meta_sessions *s, uint64_t id)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;

	return x != NULL && !x->expiring;
}

int meta_sessions_check(struct meta_sessions *s, uint64_t conn_session, uint64_t named)
{
	if (named == 0 || named == conn_session || !meta_sessions_known(s, named))
		return 0;
	return GD_EPERM;
}

int meta_sessions_renew(struct meta_sessions *s, uint64_t id, uint64_t now_ms)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;

	if (x == NULL || x->expiring)
		return GD_ENOSESSION;
	x->last_renew_ms = now_ms;
	return 0;
}

/* Takes every open of the session out of the global counts. */
static void drop_opens(struct meta_sessions *s, struct sess *x)
{
	size_t pos = 0;
	uint64_t ino, c;
	void *v;

	while ((v = meta_ns_map_next(&x->opens, &pos, &ino)) != NULL) {
		for (c = (uint64_t)(uintptr_t)v; c > 0; c--)
			count_add(&s->opens, ino, -1);
	}
	meta_ns_map_release(&x->opens);
	meta_ns_map_init(&x->opens);
}

void meta_sessions_remove(struct meta_sessions *s, uint64_t id)
{
	struct sess *x = id ? meta_ns_map_del(&s->sessions, id) : NULL;

	if (x == NULL)
		return;
	drop_opens(s, x);
	sess_free(x);
}

int meta_sessions_open(struct meta_sessions *s, uint64_t id, uint64_t ino)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;
	int rc;

	if (x == NULL || ino == 0)
		return GD_ENOSESSION;
	rc = count_add(&x->opens, ino, 1);
	if (rc != 0)
		return rc;
	rc = count_add(&s->opens, ino, 1);
	if (rc != 0)
		count_add(&x->opens, ino, -1);
	return rc;
}

int meta_sessions_release(struct meta_sessions *s, uint64_t id, uint64_t ino)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;

	if (x == NULL || ino == 0)
		return GD_ENOENT;
	if (count_add(&x->opens, ino, -1) != 0)
		return GD_ENOENT;
	count_add(&s->opens, ino, -1);
	return 0;
}

int meta_sessions_reclaim(struct meta_sessions *s, uint64_t id, const uint64_t *inos, size_t n)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;
	size_t i;
	int rc = 0;

	if (x == NULL)
		return GD_ENOSESSION;
	drop_opens(s, x);
	for (i = 0; i < n && rc == 0; i++)
		if (inos[i] != 0)
			rc = meta_sessions_open(s, id, inos[i]);
	return rc;
}

uint64_t meta_sessions_open_count(struct meta_sessions *s, uint64_t ino)
{
	return ino ? count_get(&s->opens, ino) : 0;
}

int meta_sessions_lease(struct meta_sessions *s, uint64_t id,
			const struct meta_sessions_grant *g, uint64_t expire_ms)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;
	struct lease *l;
	size_t i;

	if (x == NULL)
		return GD_ENOSESSION;
	for (i = 0; i < x->n_leases; i++) {
		if (x->leases[i].g.ino == g->ino && x->leases[i].g.index == g->index) {
			x->leases[i].g = *g;
			x->leases[i].expire_ms = expire_ms;
			return 0;
		}
	}
	if (x->n_leases >= SESS_LEASES_MAX)
		return GD_EBUSY;
	if (x->n_leases == x->cap_leases) {
		size_t cap = x->cap_leases ? x->cap_leases * 2 : 8;
		l = gd_realloc(x->leases, cap * sizeof(*l));
		if (l == NULL)
			return GD_ENOMEM;
		x->leases = l;
		x->cap_leases = cap;
	}
	l = &x->leases[x->n_leases++];
	l->g = *g;
	l->expire_ms = expire_ms;
	return 0;
}

bool meta_sessions_holds(struct meta_sessions *s, uint64_t id,
			 const struct meta_sessions_grant *g)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;
	size_t i;

	if (x == NULL || x->expiring)
		return false;
	for (i = 0; i < x->n_leases; i++) {
		const struct lease *l = &x->leases[i];
		if (l->g.ino == g->ino && l->g.index == g->index)
			return l->g.chunk_id == g->chunk_id && l->g.version == g->version;
	}
	return false;
}

size_t meta_sessions_expire_leases(struct meta_sessions *s, uint64_t now_ms)
{
	size_t pos = 0, i, left = 0;
	uint64_t key;
	struct sess *x;

	while ((x = meta_ns_map_next(&s->sessions, &pos, &key)) != NULL) {
		for (i = 0; i < x->n_leases;) {
			if (x->leases[i].expire_ms <= now_ms)
				x->leases[i] = x->leases[--x->n_leases];
			else
				i++;
		}
		left += x->n_leases;
	}
	return left;
}

size_t meta_sessions_take_expired(struct meta_sessions *s, uint64_t now_ms,
				  uint64_t timeout_ms, uint64_t *ids, size_t max)
{
	size_t pos = 0, n = 0;
	uint64_t key;
	struct sess *x;

	while (n < max && (x = meta_ns_map_next(&s->sessions, &pos, &key)) != NULL) {
		if (x->expiring || now_ms - x->last_renew_ms < timeout_ms)
			continue;
		x->expiring = true;
		ids[n++] = x->id;
	}
	return n;
}

void meta_sessions_unmark(struct meta_sessions *s, uint64_t id)
{
	struct sess *x = id ? meta_ns_map_get(&s->sessions, id) : NULL;

	if (x != NULL)
		x->expiring = false;
}

size_t meta_sessions_count(struct meta_sessions *s)
{
	return s->sessions.count;
}

int meta_sessions_orphan_add(struct meta_sessions *s, uint64_t ino)
{
	if (ino == 0 || meta_ns_map_get(&s->orphans, ino) != NULL)
		return 0;
	return meta_ns_map_put(&s->orphans, ino, ORPHAN_WAITING);
}

void meta_sessions_orphan_del(struct meta_sessions *s, uint64_t ino)
{
	if (ino != 0)
		meta_ns_map_del(&s->orphans, ino);
}

bool meta_sessions_is_orphan(struct meta_sessions *s, uint64_t ino)
{
	return ino != 0 && meta_ns_map_get(&s->orphans, ino) != NULL;
}

size_t meta_sessions_take_purgeable(struct meta_sessions *s, uint64_t *inos, size_t max)
{
	size_t pos = 0, n = 0, i;
	uint64_t ino;
	void *v;

	while (n < max && (v = meta_ns_map_next(&s->orphans, &pos, &ino)) != NULL) {
		if (v == ORPHAN_PROPOSED || count_get(&s->opens, ino) != 0)
			continue;
		inos[n++] = ino;
	}
	/* Marked after the walk: the map must not change during it. */
	for (i = 0; i < n; i++)
		meta_ns_map_put(&s->orphans, inos[i], ORPHAN_PROPOSED);
	return n;
}

void meta_sessions_orphan_unmark(struct meta_sessions *s, uint64_t ino)
{
	if (ino != 0 && meta_ns_map_get(&s->orphans, ino) != NULL)
		meta_ns_map_put(&s->orphans, ino, ORPHAN_WAITING);
}

bool meta_sessions_orphan_proposed(struct meta_sessions *s, uint64_t ino)
{
	return ino != 0 && meta_ns_map_get(&s->orphans, ino) == ORPHAN_PROPOSED;
}
