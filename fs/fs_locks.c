/* The mount's side of cluster-wide locks (see fs_locks.h).
 *
 * A blocking request is a waiter in `waits` from before its LOCK is sent
 * until exactly one of these replies to its FUSE request and takes it out:
 * the LOCK answer (granted, or an error), the LOCK_GRANTED push, the cancel
 * after an interrupt, a resend's answer, or fs_locks_free. Whoever takes it
 * out of the list under mu replies, outside mu. */
#include "fs_locks.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>

#include "gd_ns.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_meta_client.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define RECS_MAX 65536u          /* (handle, owner) pairs that locked, per mount */
#define LOCK_EOF UINT64_MAX

enum wait_state {
	W_SENDING,       /* its LOCK (or a resend) is on its way */
	W_QUEUED,        /* the meta answered queued: a push or a cancel ends it */
};

struct waiter {
	struct waiter *next;
	fuse_req_t req;
	uint64_t wait_id;
	fuse_ino_t fino;         /* the kernel's number of ino */
	uint64_t ino, fh, owner;
	uint32_t pid;
	uint8_t kind, type;      /* wire.proto LockKind, LockType */
	uint64_t start, end;
	enum wait_state state;
	bool granted;            /* a push came while W_SENDING */
	bool interrupted;        /* an interrupt came: cancel at the meta */
	bool cancel_queued;      /* the worker has a cancel of it to send */
};

/* Who locked through which file handle: what a close releases. */
struct rec {
	uint64_t fh, ino, owner;
	uint8_t kind;
};

struct fs_locks {
	struct gd_meta_client *meta;  /* set by fs_locks_start, then read-only */
	pthread_mutex_t mu;           /* guards everything below */
	pthread_cond_t cv;            /* work for the worker */
	struct waiter *waits;
	uint64_t next_wait_id;
	bool resend;                  /* a new meta connection: send the waits again */
	bool stop;
	pthread_t worker;
	bool worker_started;
	struct rec *recs;
	size_t n_recs, cap_recs;
};

int fs_locks_new(struct fs_locks **out)
{
	struct fs_locks *l = gd_calloc(1, sizeof(*l));

	if (!l)
		return GD_ENOMEM;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	*out = l;
	return 0;
}

/* ---- waiters (caller holds mu) ---- */

static struct waiter *take_waiter(struct fs_locks *l, uint64_t wait_id)
{
	for (struct waiter **pp = &l->waits; *pp; pp = &(*pp)->next) {
		struct waiter *w = *pp;
		if (w->wait_id == wait_id) {
			*pp = w->next;
			return w;
		}
	}
	return NULL;
}

static struct waiter *find_waiter(struct fs_locks *l, uint64_t wait_id)
{
	for (struct waiter *w = l->waits; w; w = w->next)
		if (w->wait_id == wait_id)
			return w;
	return NULL;
}

size_t fs_locks_waiting(struct fs_locks *l)
{
	size_t n = 0;

	pthread_mutex_lock(&l->mu);
	for (struct waiter *w = l->waits; w; w = w->next)
		n++;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* ---- records of who locked through which handle (caller holds mu) ---- */

static bool rec_has(struct fs_locks *l, uint64_t fh, uint64_t ino, uint64_t owner, uint8_t kind)
{
	for (size_t i = 0; i < l->n_recs; i++) {
		const struct rec *r = &l->recs[i];
		if (r->fh == fh && r->ino == ino && r->owner == owner && r->kind == kind)
			return true;
	}
	return false;
}

static int rec_add(struct fs_locks *l, uint64_t fh, uint64_t ino, uint64_t owner, uint8_t kind)
{
	if (rec_has(l, fh, ino, owner, kind))
		return 0;
	if (l->n_recs == RECS_MAX)
		return GD_ENOLCK;
	if (l->n_recs == l->cap_recs) {
		size_t cap = l->cap_recs ? l->cap_recs * 2 : 16;
		struct rec *v = gd_realloc(l->recs, cap * sizeof(*v));
		if (!v)
			return GD_ENOMEM;
		l->recs = v;
		l->cap_recs = cap;
	}
	l->recs[l->n_recs++] = (struct rec){ fh, ino, owner, kind };
	return 0;
}

/* ---- meta calls ---- */

static void lock_msg(struct fs_locks *l, Godfs__Lock *m, uint64_t ino, uint64_t owner,
		     uint32_t pid, uint8_t kind, uint8_t type, uint64_t start, uint64_t end)
{
	godfs__lock__init(m);
	m->has_session_id = m->has_ino = m->has_owner = m->has_pid = 1;
	m->has_kind = m->has_type = m->has_start = m->has_end = 1;
	m->session_id = gd_meta_client_session(l->meta);
	m->ino = ino;
	m->owner = owner;
	m->pid = pid;
	m->kind = (Godfs__LockKind)kind;
	m->type = (Godfs__LockType)type;
	m->start = start;
	m->end = end;
}

/* One call; *queued from the answer. */
static int call(struct fs_locks *l, uint16_t method, const Godfs__Lock *m, bool *queued,
		Godfs__LockResp **out)
{
	ProtobufCMessage *resp = NULL;
	int rc = gd_meta_call(l->meta, method, &m->base, &godfs__lock_resp__descriptor, &resp);

	if (queued)
		*queued = rc == 0 && resp && ((Godfs__LockResp *)resp)->queued;
	if (out && rc == 0 && resp) {
		*out = (Godfs__LockResp *)resp;
		return 0;
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* Releases [0, EOF] of owner's locks of kind on ino (a close). */
static void unlock_all(struct fs_locks *l, uint64_t ino, uint64_t owner, uint8_t kind)
{
	Godfs__Lock m;
	int rc;

	lock_msg(l, &m, ino, owner, 0, kind, GODFS__LOCK_TYPE__LOCK_UNLOCK, 0, LOCK_EOF);
	rc = call(l, GODFS__METHOD__M_LOCK, &m, NULL, NULL);
	if (rc)
		gd_warn("inode %llu: releasing the %s locks of a closed file failed: %s (they "
			"go when this mount's session ends)", (unsigned long long)ino,
			kind == GODFS__LOCK_KIND__LOCK_FLOCK ? "flock" : "fcntl",
			gd_strerror(rc));
}

/* ---- coherence: what a lock means for cached data ---- */

/* A lock was granted: what this mount cached of the file may be older than
 * what the last holder (on another mount) wrote, so the kernel's pages and
 * attributes, the read-ahead slots and the chunk locations are dropped (a
 * lock is how programs such as SQLite say "now I read what others wrote";
 * NFS does the same). */
static void lock_acquired(struct fs_mount *m, fuse_ino_t fino, uint64_t ino)
{
	struct fs_inode *in = fs_inode_find(m->it, ino);
	struct fuse_session *se = atomic_load(&m->se);

	if (in) {
		pthread_mutex_lock(&in->mu);
		in->data_gen++;         /* read-ahead slots loaded before: stale */
		pthread_mutex_unlock(&in->mu);
		fs_inode_put(m->it, in);
	}
	gd_client_invalidate(m->gc, ino);
	if (se)
		fuse_lowlevel_notify_inval_inode(se, fino, 0, 0);
}

/* An unlock: what this mount wrote goes to the chunkds and its size to the
 * meta first, so that the next holder reads it. */
static void before_unlock(struct fs_mount *m, uint64_t ino)
{
	struct fs_inode *in = fs_inode_find(m->it, ino);
	int rc;

	if (!in)
		return;
	rc = fs_data_flush(m->data, in);
	if (rc)
		gd_warn("inode %llu: writes before an unlock failed: %s (the next flush or "
			"fsync reports it)", (unsigned long long)ino, gd_strerror(rc));
	fs_inode_put(m->it, in);
}

/* ---- replies ---- */

/* A granted lock is recorded for its close, then the request answered. */
static void reply_granted(struct fs_locks *l, struct waiter *w)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = rec_add(l, w->fh, w->ino, w->owner, w->kind);
	pthread_mutex_unlock(&l->mu);
	if (rc) {
		/* untracked, it would outlive the close: give it back */
		unlock_all(l, w->ino, w->owner, w->kind);
		fuse_reply_err(w->req, gd_ns_errno(rc));
	} else {
		lock_acquired(fuse_req_userdata(w->req), w->fino, w->ino);
		fuse_reply_err(w->req, 0);
	}
}

static void finish(struct fs_locks *l, struct waiter *w, int status)
{
	if (status == 0)
		reply_granted(l, w);
	else
		fuse_reply_err(w->req, gd_ns_errno(status));
	gd_free(w);
}

/* ---- the worker: cancels and resends ---- */

/* Sends the cancel of an interrupted wait (still in the list) and answers
 * it: EINTR, or granted when the grant came first. */
static void do_cancel(struct fs_locks *l, uint64_t wait_id)
{
	struct waiter *w;
	Godfs__Lock m;
	int rc;

	pthread_mutex_lock(&l->mu);
	w = find_waiter(l, wait_id);
	if (!w) {
		pthread_mutex_unlock(&l->mu);
		return;
	}
	lock_msg(l, &m, w->ino, w->owner, w->pid, w->kind, w->type, w->start, w->end);
	m.has_wait = m.has_wait_id = 1;
	m.wait = 1;
	m.wait_id = wait_id;
	pthread_mutex_unlock(&l->mu);
	rc = call(l, GODFS__METHOD__M_LOCK_CANCEL, &m, NULL, NULL);
	pthread_mutex_lock(&l->mu);
	w = take_waiter(l, wait_id);
	pthread_mutex_unlock(&l->mu);
	if (!w)
		return;         /* the push came first and replied */
	/* GD_ENOENT: it no longer waits, so it was granted meanwhile */
	finish(l, w, rc == 0 ? GD_EINTR : rc == GD_ENOENT ? 0 : rc);
}

/* Sends one wait again (a new meta connection). */
static void do_resend(struct fs_locks *l, uint64_t wait_id)
{
	struct waiter *w;
	Godfs__Lock m;
	bool queued;
	int rc;

	pthread_mutex_lock(&l->mu);
	w = find_waiter(l, wait_id);
	if (!w || w->state != W_QUEUED || w->interrupted) {
		pthread_mutex_unlock(&l->mu);
		return;
	}
	lock_msg(l, &m, w->ino, w->owner, w->pid, w->kind, w->type, w->start, w->end);
	m.has_wait = m.has_wait_id = 1;
	m.wait = 1;
	m.wait_id = wait_id;
	pthread_mutex_unlock(&l->mu);
	rc = call(l, GODFS__METHOD__M_LOCK, &m, &queued, NULL);
	if (rc == 0 && queued)
		return;
	pthread_mutex_lock(&l->mu);
	w = take_waiter(l, wait_id);
	pthread_mutex_unlock(&l->mu);
	if (w)
		finish(l, w, rc);
}

static void *worker_main(void *arg)
{
	struct fs_locks *l = arg;

	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		uint64_t id = 0;
		bool resend = false;

		for (struct waiter *w = l->waits; w && !id; w = w->next) {
			if (w->cancel_queued) {
				w->cancel_queued = false;
				id = w->wait_id;
			}
		}
		if (!id && l->resend) {
			l->resend = false;
			resend = true;
		}
		if (!id && !resend) {
			pthread_cond_wait(&l->cv, &l->mu);
			continue;
		}
		if (id) {
			pthread_mutex_unlock(&l->mu);
			do_cancel(l, id);
			pthread_mutex_lock(&l->mu);
			continue;
		}
		/* every queued wait, one at a time (the list may change) */
		for (uint64_t last = 0;;) {
			uint64_t next = 0;
			for (struct waiter *w = l->waits; w; w = w->next)
				if (w->state == W_QUEUED && w->wait_id > last &&
				    (next == 0 || w->wait_id < next))
					next = w->wait_id;
			if (!next || l->stop)
				break;
			pthread_mutex_unlock(&l->mu);
			do_resend(l, next);
			pthread_mutex_lock(&l->mu);
			last = next;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int fs_locks_start(struct fs_locks *l, struct gd_meta_client *meta)
{
	l->meta = meta;
	if (pthread_create(&l->worker, NULL, worker_main, l) != 0)
		return GD_ENOMEM;
	l->worker_started = true;
	return 0;
}

void fs_locks_stop(struct fs_locks *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (l->worker_started)
		pthread_join(l->worker, NULL);
	l->worker_started = false;
}

void fs_locks_free(struct fs_locks *l)
{
	struct waiter *w;

	if (!l)
		return;
	fs_locks_stop(l);
	/* the FUSE session is gone: its requests are not answered any more */
	while ((w = l->waits) != NULL) {
		l->waits = w->next;
		gd_free(w);
	}
	gd_free(l->recs);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	gd_free(l);
}

/* ---- pushes and new connections ---- */

void fs_locks_push(void *ctx, uint16_t push, const uint8_t *pb, size_t len)
{
	struct fs_locks *l = ctx;
	Godfs__LockGranted *g;
	struct waiter *w = NULL;

	if (push != GODFS__PUSH__P_LOCK_GRANTED)
		return;
	g = godfs__lock_granted__unpack(NULL, len, pb);
	if (!g) {
		gd_warn("meta: a LOCK_GRANTED push that does not unpack: dropped");
		return;
	}
	pthread_mutex_lock(&l->mu);
	if (g->has_wait_id) {
		w = find_waiter(l, g->wait_id);
		if (w && w->state == W_SENDING) {
			w->granted = true;      /* its sender replies */
			w = NULL;
		} else if (w) {
			w = take_waiter(l, g->wait_id);
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (w)
		finish(l, w, g->has_status ? g->status : 0);
	godfs__lock_granted__free_unpacked(g, NULL);
}

void fs_locks_connected(void *ctx)
{
	struct fs_locks *l = ctx;

	pthread_mutex_lock(&l->mu);
	if (l->waits) {
		l->resend = true;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

/* The interrupt of a waiting request (libfuse calls it with the request's
 * own lock held, so it only marks the waiter and wakes the worker). data is
 * the wait id: the waiter may be gone already. */
static void interrupted(fuse_req_t req, void *data)
{
	struct fs_locks *l = fuse_req_userdata(req) ? ((struct fs_mount *)fuse_req_userdata(req))->locks
						     : NULL;
	uint64_t wait_id = (uint64_t)(uintptr_t)data;
	struct waiter *w;

	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	w = find_waiter(l, wait_id);
	if (w && !w->interrupted) {
		w->interrupted = true;
		if (w->state == W_QUEUED) {
			w->cancel_queued = true;
			pthread_cond_broadcast(&l->cv);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

/* ---- the operations ---- */

/* A wait: registered first (a push may beat the answer), then sent. */
static void set_wait(struct fs_locks *l, fuse_req_t req, struct waiter *w)
{
	Godfs__Lock m;
	bool queued = false, granted, intr;
	int rc;

	pthread_mutex_lock(&l->mu);
	w->wait_id = ++l->next_wait_id;
	w->state = W_SENDING;
	w->next = l->waits;
	l->waits = w;
	pthread_mutex_unlock(&l->mu);
	fuse_req_interrupt_func(req, interrupted, (void *)(uintptr_t)w->wait_id);

	lock_msg(l, &m, w->ino, w->owner, w->pid, w->kind, w->type, w->start, w->end);
	m.has_wait = m.has_wait_id = 1;
	m.wait = 1;
	m.wait_id = w->wait_id;
	rc = call(l, GODFS__METHOD__M_LOCK, &m, &queued, NULL);

	pthread_mutex_lock(&l->mu);
	granted = w->granted;
	intr = w->interrupted;
	if (rc != 0 || !queued || granted) {
		take_waiter(l, w->wait_id);
		pthread_mutex_unlock(&l->mu);
		finish(l, w, rc);
		return;
	}
	w->state = W_QUEUED;
	if (intr) {
		w->cancel_queued = true;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
	/* no reply now: the push, a cancel or a resend answers it */
}

/* F_SETLK(W) and flock: one request of kind/type over [start, end]. */
static void set_lock(struct fs_locks *l, fuse_req_t req, fuse_ino_t fino, uint64_t ino,
		     struct fuse_file_info *fi, uint8_t kind, uint8_t type, uint64_t start,
		     uint64_t end, bool sleep)
{
	struct waiter *w = gd_calloc(1, sizeof(*w));
	Godfs__Lock m;
	int rc;

	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->req = req;
	w->fino = fino;
	w->ino = ino;
	w->fh = fi->fh;
	w->owner = fi->lock_owner;
	w->pid = (uint32_t)fuse_req_ctx(req)->pid;
	w->kind = kind;
	w->type = type;
	w->start = start;
	w->end = end;
	if (sleep && type != GODFS__LOCK_TYPE__LOCK_UNLOCK) {
		set_wait(l, req, w);
		return;
	}
	if (type == GODFS__LOCK_TYPE__LOCK_UNLOCK)
		before_unlock(fuse_req_userdata(req), ino);
	lock_msg(l, &m, ino, w->owner, w->pid, kind, type, start, end);
	rc = call(l, GODFS__METHOD__M_LOCK, &m, NULL, NULL);
	if (type == GODFS__LOCK_TYPE__LOCK_UNLOCK && rc == 0) {
		fuse_reply_err(req, 0);
		gd_free(w);
		return;
	}
	finish(l, w, rc);
}

/* The byte range of a struct flock as libfuse gives it (l_start from
 * SEEK_SET, l_len 0 = to the end of the file). */
static int range_of(const struct flock *lock, uint64_t *start, uint64_t *end)
{
	if (lock->l_start < 0 || lock->l_len < 0)
		return EINVAL;
	*start = (uint64_t)lock->l_start;
	*end = lock->l_len == 0 ? LOCK_EOF : *start + (uint64_t)lock->l_len - 1;
	return *end < *start ? EINVAL : 0;
}

static int type_of(short l_type, uint8_t *type)
{
	switch (l_type) {
	case F_RDLCK: *type = GODFS__LOCK_TYPE__LOCK_READ; return 0;
	case F_WRLCK: *type = GODFS__LOCK_TYPE__LOCK_WRITE; return 0;
	case F_UNLCK: *type = GODFS__LOCK_TYPE__LOCK_UNLOCK; return 0;
	default: return EINVAL;
	}
}

void fs_locks_getlk(struct fs_locks *l, fuse_req_t req, uint64_t ino,
		    struct fuse_file_info *fi, struct flock *lock)
{
	Godfs__LockResp *r = NULL;
	uint64_t start, end;
	uint8_t type;
	Godfs__Lock m;
	int rc = range_of(lock, &start, &end);

	if (rc == 0)
		rc = type_of(lock->l_type, &type);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	lock_msg(l, &m, ino, fi->lock_owner, (uint32_t)fuse_req_ctx(req)->pid,
		 GODFS__LOCK_KIND__LOCK_POSIX, type, start, end);
	rc = call(l, GODFS__METHOD__M_LOCK_GET, &m, NULL, &r);
	if (rc) {
		fuse_reply_err(req, gd_ns_errno(rc));
		return;
	}
	if (!r->has_type || r->type == GODFS__LOCK_TYPE__LOCK_UNLOCK) {
		lock->l_type = F_UNLCK;
	} else {
		lock->l_type = r->type == GODFS__LOCK_TYPE__LOCK_WRITE ? F_WRLCK : F_RDLCK;
		lock->l_whence = SEEK_SET;
		lock->l_start = r->start > INT64_MAX ? INT64_MAX : (off_t)r->start;
		lock->l_len = r->end == LOCK_EOF || r->end > INT64_MAX ? 0
			      : (off_t)(r->end - r->start + 1);
		/* a holder on another mount: no pid of this host (docs/locks.md) */
		lock->l_pid = (pid_t)r->pid;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	fuse_reply_lock(req, lock);
}

void fs_locks_setlk(struct fs_locks *l, fuse_req_t req, fuse_ino_t fino, uint64_t ino,
		    struct fuse_file_info *fi, struct flock *lock, int sleep)
{
	uint64_t start, end;
	uint8_t type;
	int rc = range_of(lock, &start, &end);

	if (rc == 0)
		rc = type_of(lock->l_type, &type);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	set_lock(l, req, fino, ino, fi, GODFS__LOCK_KIND__LOCK_POSIX, type, start, end, sleep != 0);
}

void fs_locks_flock(struct fs_locks *l, fuse_req_t req, fuse_ino_t fino, uint64_t ino,
		    struct fuse_file_info *fi, int op)
{
	uint8_t type;

	switch (op & ~LOCK_NB) {
	case LOCK_SH: type = GODFS__LOCK_TYPE__LOCK_READ; break;
	case LOCK_EX: type = GODFS__LOCK_TYPE__LOCK_WRITE; break;
	case LOCK_UN: type = GODFS__LOCK_TYPE__LOCK_UNLOCK; break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	set_lock(l, req, fino, ino, fi, GODFS__LOCK_KIND__LOCK_FLOCK, type, 0, LOCK_EOF,
		 !(op & LOCK_NB));
}

void fs_locks_flush(struct fs_locks *l, uint64_t ino, uint64_t owner)
{
	bool had = false;
	size_t k = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->n_recs; i++) {
		const struct rec *r = &l->recs[i];
		if (r->ino == ino && r->owner == owner && r->kind == GODFS__LOCK_KIND__LOCK_POSIX)
			had = true;
		else
			l->recs[k++] = *r;
	}
	l->n_recs = k;
	pthread_mutex_unlock(&l->mu);
	if (had)
		unlock_all(l, ino, owner, GODFS__LOCK_KIND__LOCK_POSIX);
}

void fs_locks_release(struct fs_locks *l, uint64_t ino, uint64_t fh, uint64_t flock_owner)
{
	for (;;) {
		struct rec r;
		bool found = false;

		/* one record at a time: a handle rarely has more than one */
		pthread_mutex_lock(&l->mu);
		for (size_t i = 0; i < l->n_recs && !found; i++) {
			if (l->recs[i].fh == fh) {
				r = l->recs[i];
				l->recs[i] = l->recs[--l->n_recs];
				found = true;
			}
		}
		pthread_mutex_unlock(&l->mu);
		if (!found)
			break;
		if (r.kind == GODFS__LOCK_KIND__LOCK_FLOCK && r.owner == flock_owner)
			flock_owner = 0;
		unlock_all(l, r.ino, r.owner, r.kind);
	}
	/* the kernel says this handle held a flock that is not recorded (its
	 * record could not be kept): release it anyway */
	if (flock_owner)
		unlock_all(l, ino, flock_owner, GODFS__LOCK_KIND__LOCK_FLOCK);
}
