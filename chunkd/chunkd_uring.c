#include "chunkd_uring.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define RING_DEPTH 64u

/* The ring of one thread; lives until the thread exits or the engine goes. */
struct ring_slot {
	struct io_uring ring;
	struct chunkd_uring *owner;
	struct ring_slot *prev, *next;   /* owner->mu */
};

struct chunkd_uring {
	pthread_key_t key;               /* thread -> struct ring_slot */
	pthread_mutex_t mu;
	struct ring_slot *slots;         /* mu: every live ring, to free them */
	int force_fallback;              /* set at create, read-only */
	atomic_int disabled;             /* io_uring_queue_init failed once */
	atomic_int logged;               /* the fallback was logged */
};

static void ring_slot_unlink(struct chunkd_uring *u, struct ring_slot *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		u->slots = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* Thread exit: the thread's ring goes with it. */
static void ring_slot_destructor(void *p)
{
	struct ring_slot *r = p;
	struct chunkd_uring *u = r->owner;

	pthread_mutex_lock(&u->mu);
	ring_slot_unlink(u, r);
	pthread_mutex_unlock(&u->mu);
	io_uring_queue_exit(&r->ring);
	gd_free(r);
}

int chunkd_uring_create(int force_fallback, struct chunkd_uring **out)
{
	struct chunkd_uring *u = gd_calloc(1, sizeof(*u));

	if (!u)
		return GD_ENOMEM;
	if (pthread_key_create(&u->key, ring_slot_destructor) != 0) {
		gd_free(u);
		return GD_ENOMEM;
	}
	pthread_mutex_init(&u->mu, NULL);
	u->force_fallback = force_fallback;
	if (force_fallback) {
		atomic_store(&u->disabled, 1);
		gd_info("disk I/O: pread/pwrite (io_uring disabled by option)");
		atomic_store(&u->logged, 1);
	}
	*out = u;
	return 0;
}

void chunkd_uring_destroy(struct chunkd_uring *u)
{
	if (!u)
		return;
	/* After pthread_key_delete no destructor runs, so free every ring here. */
	pthread_key_delete(u->key);
	pthread_mutex_lock(&u->mu);
	while (u->slots) {
		struct ring_slot *r = u->slots;
		ring_slot_unlink(u, r);
		io_uring_queue_exit(&r->ring);
		gd_free(r);
	}
	pthread_mutex_unlock(&u->mu);
	pthread_mutex_destroy(&u->mu);
	gd_free(u);
}

/* The calling thread's ring, made on first use; NULL means use pread/pwrite. */
static struct ring_slot *thread_ring(struct chunkd_uring *u)
{
	struct ring_slot *r;
	int rc;

	if (atomic_load(&u->disabled))
		return NULL;
	r = pthread_getspecific(u->key);
	if (r)
		return r;
	r = gd_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	rc = io_uring_queue_init(RING_DEPTH, &r->ring, 0);
	if (rc < 0) {
		gd_free(r);
		atomic_store(&u->disabled, 1);
		if (!atomic_exchange(&u->logged, 1))
			gd_warn("io_uring_queue_init failed (%s): disk I/O falls back to pread/pwrite",
				strerror(-rc));
		return NULL;
	}
	if (!atomic_exchange(&u->logged, 1))
		gd_info("disk I/O: io_uring, one ring per worker thread");
	r->owner = u;
	pthread_mutex_lock(&u->mu);
	r->next = u->slots;
	if (u->slots)
		u->slots->prev = r;
	u->slots = r;
	pthread_mutex_unlock(&u->mu);
	if (pthread_setspecific(u->key, r) != 0) {
		pthread_mutex_lock(&u->mu);
		ring_slot_unlink(u, r);
		pthread_mutex_unlock(&u->mu);
		io_uring_queue_exit(&r->ring);
		gd_free(r);
		return NULL;
	}
	return r;
}

int chunkd_uring_active(struct chunkd_uring *u)
{
	return thread_ring(u) != NULL;
}

/* One op with plain syscalls, to the end (or EOF for reads). */
static int op_run_plain(struct chunkd_uring_op *op)
{
	while (op->done < op->len) {
		uint8_t *p = (uint8_t *)op->buf + op->done;
		size_t left = op->len - op->done;
		off_t off = (off_t)(op->off + op->done);
		ssize_t n = op->write ? pwrite(op->fd, p, left, off)
				      : pread(op->fd, p, left, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return gd_status_from_errno(errno);
		}
		if (n == 0) {
			if (op->write)
				return GD_EIO;
			break;   /* end of file */
		}
		op->done += (size_t)n;
	}
	return 0;
}

/* The batch through the ring: submit what is left of every op, reap, repeat
 * until each op is complete, at EOF, or failed. */
static int run_ring(struct ring_slot *r, struct chunkd_uring_op *ops, int n)
{
	int first_err = 0;
	uint8_t state[RING_DEPTH];   /* 0 = pending, 1 = finished */

	memset(state, 0, sizeof(state));
	for (;;) {
		unsigned queued = 0;

		for (int i = 0; i < n; i++) {
			struct chunkd_uring_op *op = &ops[i];
			struct io_uring_sqe *sqe;

			if (state[i] || op->done >= op->len) {
				state[i] = 1;
				continue;
			}
			sqe = io_uring_get_sqe(&r->ring);
			if (!sqe)
				break;   /* cannot happen: n <= RING_DEPTH */
			if (op->write)
				io_uring_prep_write(sqe, op->fd, (uint8_t *)op->buf + op->done,
						    (unsigned)(op->len - op->done),
						    op->off + op->done);
			else
				io_uring_prep_read(sqe, op->fd, (uint8_t *)op->buf + op->done,
						   (unsigned)(op->len - op->done),
						   op->off + op->done);
			io_uring_sqe_set_data64(sqe, (uint64_t)i);
			queued++;
		}
		if (queued == 0)
			break;
		int rc = io_uring_submit_and_wait(&r->ring, queued);
		if (rc < 0 && rc != -EINTR)
			return gd_status_from_errno(-rc);
		for (unsigned got = 0; got < queued;) {
			struct io_uring_cqe *cqe;

			rc = io_uring_wait_cqe(&r->ring, &cqe);
			if (rc == -EINTR)
				continue;
			if (rc < 0)
				return gd_status_from_errno(-rc);
			uint64_t i = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&r->ring, cqe);
			got++;
			if (i >= (uint64_t)n)
				continue;
			struct chunkd_uring_op *op = &ops[i];
			if (res == -EINTR || res == -EAGAIN)
				continue;   /* resubmitted next round */
			if (res < 0) {
				if (!first_err)
					first_err = gd_status_from_errno(-res);
				state[i] = 1;
			} else if (res == 0) {
				if (op->write && !first_err)
					first_err = GD_EIO;
				state[i] = 1;   /* read: end of file */
			} else {
				op->done += (size_t)res;
			}
		}
	}
	return first_err;
}

int chunkd_uring_run(struct chunkd_uring *u, struct chunkd_uring_op *ops, int n)
{
	struct ring_slot *r = thread_ring(u);
	int first_err = 0;

	for (int i = 0; i < n; i++)
		ops[i].done = 0;
	/* A lone buffered write gains nothing from the ring: ext4 cannot do it
	 * without blocking, so io_uring hands it to an io-wq worker and this
	 * thread sleeps until the worker is done (two context switches per
	 * write, costly on a VM). pwrite(2) copies into the page cache here. */
	if (n == 1 && ops[0].write)
		return op_run_plain(&ops[0]);
	if (r) {
		for (int at = 0; at < n; at += (int)RING_DEPTH) {
			int m = n - at < (int)RING_DEPTH ? n - at : (int)RING_DEPTH;
			int rc = run_ring(r, ops + at, m);
			if (rc && !first_err)
				first_err = rc;
		}
		return first_err;
	}
	for (int i = 0; i < n; i++) {
		int rc = op_run_plain(&ops[i]);
		if (rc && !first_err)
			first_err = rc;
	}
	return first_err;
}

int chunkd_uring_fdatasync(struct chunkd_uring *u, int fd)
{
	struct ring_slot *r = thread_ring(u);

	if (r) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
		struct io_uring_cqe *cqe;
		int rc;

		if (sqe) {
			io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, UINT64_MAX);
			rc = io_uring_submit_and_wait(&r->ring, 1);
			if (rc < 0 && rc != -EINTR)
				return gd_status_from_errno(-rc);
			do {
				rc = io_uring_wait_cqe(&r->ring, &cqe);
			} while (rc == -EINTR);
			if (rc < 0)
				return gd_status_from_errno(-rc);
			rc = cqe->res;
			io_uring_cqe_seen(&r->ring, cqe);
			return rc < 0 ? gd_status_from_errno(-rc) : 0;
		}
	}
	while (fdatasync(fd) != 0) {
		if (errno != EINTR)
			return gd_status_from_errno(errno);
	}
	return 0;
}
