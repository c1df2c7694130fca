/* PUT /v1/fs/content: create or replace a file atomically (see
 * gw_content.h and docs/gateway.md).
 *
 * The body goes to a temporary file in the target's directory, named
 * GW_PUT_PREFIX<gateway instance>.<sequence> (hidden), created exclusively
 * and opened for the session, marked with the xattr GW_PUT_XATTR by the
 * gateway's own session (only root may set trusted.*: the janitor,
 * gw_janitor.c, removes only marked files nobody finished), its mtime moved
 * now and then while the body comes (gw_put.h: so that no janitor takes a
 * slow upload for an abandoned one). The connection's thread copies the
 * body into one buffer while PUT_WRITERS writer threads send the filled
 * ones to the chunkds (gd_client_write: every copy of the chain
 * acknowledges), so that receiving and writing overlap with PUT_BUFS
 * buffers of memory (one GW_MEM_SMALL buffer past --upload-mem, gw_mem.h).
 * At the end: fsync (every copy on disk, size and mtime committed), the
 * preconditions once more, the target's mode, owner, xattrs and goal onto
 * the temp file (gw_keep.h), the marker off, then one RENAME over the
 * target: RENAME_NOREPLACE when the target was absent and the request had
 * preconditions, and when it existed and had preconditions, a rename that
 * the meta applies only while the target is the inode, in the state, that
 * the preconditions were checked against (Rename.if_target_ino): two
 * conditional PUTs can never both win. Readers see the old file or the new
 * one, never a part. Whatever fails before the rename (the client goes
 * away, the body is too long or short, a chunkd dies beyond repair), the
 * temp file is removed when the request ends and the target is
 * untouched. */
#include "gw_content.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "gw.h"
#include "gw_error.h"
#include "gw_fs.h"
#include "gw_keep.h"
#include "gw_mem.h"
#include "gw_path.h"
#include "gw_put.h"
#include "gw_range.h"
#include "gw_req.h"
#include "proto/wire.pb-c.h"

#define PUT_BUF (4u << 20)       /* bytes per buffer */
#define PUT_BUFS 4                /* buffers per PUT (memory: 16 MiB) */
#define PUT_WRITERS 3             /* writer threads per PUT */
#define RENAME_NOREPLACE_FLAG 1u

struct put_job {
	char *buf;
	size_t len;
	uint64_t off;
};

struct put {
	struct gd_client *c;
	uint64_t parent;                 /* the target's directory */
	char name[GW_NAME_MAX + 1];      /* the target's name */
	char tmp[GW_NAME_MAX + 1];       /* the temp file's name */
	uint64_t ino;                    /* the temp file (0: not created) */
	bool renamed;                    /* the temp file became the target */
	uint64_t received;               /* body bytes taken */
	uint64_t expected;               /* Content-Length, or UINT64_MAX */
	char *fill;                      /* the buffer being filled (connection thread) */
	size_t fill_len;
	size_t buf_size;                 /* PUT_BUF, or GW_MEM_SMALL past --upload-mem */
	unsigned nbufs;                  /* PUT_BUFS, or 1 */
	uint64_t reserved;               /* of --upload-mem (gw_mem_take) */
	struct gw *gw;
	bool marked;                     /* GW_PUT_XATTR is on the temp file */
	time_t touched;                  /* when its mtime last moved */

	pthread_mutex_t mu;              /* guards what follows */
	pthread_cond_t cv;
	pthread_t writers[PUT_WRITERS];
	unsigned nwriters;
	char *free_bufs[PUT_BUFS];       /* buffers not in use */
	unsigned nfree;
	struct put_job jobs[PUT_BUFS];   /* filled, waiting for a writer (FIFO) */
	unsigned jhead, njobs;
	unsigned active;                 /* jobs being written */
	int werr;                        /* first write error */
	bool stop;
	char trace[GD_TRACE_MAX + 1];    /* the request's id, for the writers' requests */
};

/* A writer: several per PUT write different buffers at once (different
 * offsets of the file: gd_client is thread-safe), as the mount's workers do. */
static void *writer_main(void *arg)
{
	struct put *p = arg;
	gd_trace_set(p->trace);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && !p->njobs)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->njobs)
			break;
		struct put_job j = p->jobs[p->jhead];
		p->jhead = (p->jhead + 1) % PUT_BUFS;
		p->njobs--;
		p->active++;
		bool skip = p->werr != 0;
		pthread_mutex_unlock(&p->mu);
		int rc = skip ? 0 : gd_client_write(p->c, p->ino, j.off, j.buf, j.len);
		pthread_mutex_lock(&p->mu);
		if (rc < 0 && !p->werr)
			p->werr = rc;
		p->active--;
		p->free_bufs[p->nfree++] = j.buf;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Queues the filled buffer for the writers and takes a free one (waiting
 * for one). Returns the first write error so far. */
static int send_fill(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	int rc = p->werr;
	if (p->fill_len && !rc) {
		p->jobs[(p->jhead + p->njobs) % PUT_BUFS] =
			(struct put_job){ p->fill, p->fill_len, p->received - p->fill_len };
		p->njobs++;
		p->fill = NULL;
		p->fill_len = 0;
		pthread_cond_broadcast(&p->cv);
		while (!p->nfree && !p->werr)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->nfree)
			p->fill = p->free_bufs[--p->nfree];
		rc = p->werr;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Waits until nothing is queued or being written; the first write error. */
static int drain(struct put *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->njobs || p->active)
		pthread_cond_wait(&p->cv, &p->mu);
	int rc = p->werr;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void put_free(struct gw_req *r, bool completed)
{
	struct put *p = r->state;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	p->werr = p->werr ? p->werr : GD_ESHUTDOWN;   /* queued jobs are dropped */
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nwriters; i++)
		pthread_join(p->writers[i], NULL);
	if (p->ino) {
		struct gd_meta_client *m = gd_client_meta(p->c);
		uint64_t session = gd_client_session(p->c);
		if (!p->renamed) {
			int rc = gd_ns_remove(m, GODFS__METHOD__M_UNLINK, p->parent, p->tmp, session);
			if (rc && rc != GD_ENOENT)
				gd_warn("PUT: cannot remove the temporary file %s (inode %"
					PRIu64 "): %s; the janitor will", p->tmp,
					p->ino, gd_strerror(rc));
			else
				gd_info("PUT of %s %s: temporary file removed, the target "
					"is untouched", p->name,
					completed ? "failed" : "abandoned by the client");
		}
		gd_client_release(p->c, p->ino);
		gd_ns_release(m, p->ino, session);
	}
	gd_free(p->fill);
	for (unsigned i = 0; i < p->nfree; i++)
		gd_free(p->free_bufs[i]);
	for (unsigned i = 0; i < p->njobs; i++)
		gd_free(p->jobs[(p->jhead + i) % PUT_BUFS].buf);
	gw_mem_give(p->gw, p->reserved);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	gd_free(p);
	r->state = NULL;
}

/* The preconditions of a PUT against the target as it is now (*a: its
 * attributes when it exists). */
static int check_target(struct gw_req *r, struct put *p, const char *path, bool *exists,
			struct gd_attr *ap)
{
	struct gd_attr a;
	char etag[GW_ETAG_MAX] = "";
	int rc = gd_ns_lookup(gd_client_meta(p->c), p->parent, p->name, &a);
	if (rc && rc != GD_ENOENT)
		return gw_reply_status(r, rc, path), GD_EIO;
	*exists = rc == 0;
	if (*exists && S_ISDIR(a.mode))
		return gw_reply_error(r, 409, GW_IS_DIRECTORY, "%s is a directory", path),
		       GD_EISDIR;
	if (*exists && !S_ISREG(a.mode))
		return gw_reply_error(r, 409, GW_BAD_REQUEST, "%s is not a regular file", path),
		       GD_EINVAL;
	if (*exists)
		gw_content_etag(&a, etag, sizeof(etag));
	struct gw_cond_in ci = {
		.if_match = gw_req_header(r, "If-Match"),
		.if_none_match = gw_req_header(r, "If-None-Match"),
		.if_unmodified_since = gw_req_header(r, "If-Unmodified-Since"),
		.exists = *exists, .etag = etag, .mtime = *exists ? a.mtime.tv_sec : 0,
	};
	if (gw_cond_eval(&ci) != GW_COND_GO)
		return gw_reply_error(r, 412, GW_PRECONDITION_FAILED,
				      "%s does not match the request's preconditions", path),
		       GD_EEXIST;
	if (ap)
		*ap = a;
	return 0;
}

/* Whether the request has preconditions on the target (then the rename
 * must replace exactly what they were checked against). */
static bool has_preconditions(struct gw_req *r)
{
	return gw_req_header(r, "If-Match") || gw_req_header(r, "If-None-Match") ||
	       gw_req_header(r, "If-Unmodified-Since");
}

/* The temp file's marker for the janitor, set or removed by the gateway's
 * own session (trusted.*: only root may). */
static int mark(struct put *p, bool on)
{
	struct gd_meta_client *m = gd_client_meta(p->gw->client);
	if (on)
		return gd_ns_setxattr(m, p->ino, GW_PUT_XATTR, p->tmp, strlen(p->tmp), 0);
	int rc = gd_ns_removexattr(m, p->ino, GW_PUT_XATTR);
	return rc == GD_ENODATA ? 0 : rc;
}

/* Moves the temp file's mtime now and then during a long upload (gw_put.h):
 * the janitors of every gateway see it is alive. */
static void keep_alive(struct put *p)
{
	time_t now = time(NULL), every = (time_t)(p->gw->opt.put_stale_s / 4);
	if (every > GW_PUT_TOUCH_S)
		every = GW_PUT_TOUCH_S;
	if (now - p->touched < (every < 1 ? 1 : every))
		return;
	p->touched = now;
	struct gd_ns_setattr sa = { .ino = p->ino, .valid = GODFS__SET_ATTR_BITS__SA_MTIME_NOW };
	int rc = gd_ns_setattr(gd_client_meta(p->c), &sa, NULL);
	if (rc)
		gd_warn("PUT of %s: cannot touch the temporary file %s: %s", p->name, p->tmp,
			gd_strerror(rc));
}

int gw_put_begin(struct gw_req *r)
{
	const char *path, *cl = gw_req_header(r, "Content-Length");
	struct gd_attr a;
	bool exists;
	if (gw_path_take(r, "path", gw_req_arg(r, "path"), &path))
		return 0;
	uint64_t expected = UINT64_MAX;
	if (cl) {
		char *end;
		expected = strtoull(cl, &end, 10);
		if (end == cl || *end)
			return gw_reply_error(r, 400, GW_BAD_REQUEST, "bad Content-Length");
	}
	if (r->gw->opt.max_upload && expected != UINT64_MAX && expected > r->gw->opt.max_upload)
		return gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE,
				      "uploads are limited to %" PRIu64 " bytes",
				      r->gw->opt.max_upload);
	struct put *p = gd_calloc(1, sizeof(*p));
	if (!p)
		return GD_ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->c = r->client;
	p->gw = r->gw;
	p->expected = expected;
	r->state = p;
	r->state_free = put_free;
	int rc = gw_path_resolve_parent(gd_client_meta(p->c), r->principal.subtree, path, &a,
					p->name);
	if (rc == GD_EINVAL)
		return gw_reply_error(r, 409, GW_IS_DIRECTORY, "/ is a directory");
	if (rc)
		return gw_reply_status(r, rc, path);
	p->parent = a.ino;
	if (check_target(r, p, path, &exists, NULL))
		return 0;
	snprintf(p->tmp, sizeof(p->tmp), GW_PUT_PREFIX "%016" PRIx64 ".%lx", r->gw->instance,
		 (unsigned long)atomic_fetch_add(&r->gw->put_seq, 1));
	struct gd_ns_mknod mk = {
		.parent = p->parent, .name = p->tmp, .mode = S_IFREG | 0666, .umask = 022,
		.uid = r->principal.uid, .gid = r->principal.gid, .exclusive = 1,
		.session_id = gd_client_session(p->c),
	};
	rc = gd_ns_mknod(gd_client_meta(p->c), GODFS__METHOD__M_MKNOD, &mk, &a);
	if (rc)
		return gw_reply_status(r, rc, path);
	p->ino = a.ino;
	p->touched = time(NULL);
	rc = mark(p, true);
	if (rc)
		return gw_reply_status(r, rc, "PUT: marking the temporary file");
	p->marked = true;
	p->reserved = gw_mem_take(r->gw, (uint64_t)PUT_BUFS * PUT_BUF);
	p->buf_size = p->reserved ? PUT_BUF : GW_MEM_SMALL;
	p->nbufs = p->reserved ? PUT_BUFS : 1;
	if (!(p->fill = gd_malloc(p->buf_size)))
		return GD_ENOMEM;
	for (unsigned i = 1; i < p->nbufs; i++) {
		if (!(p->free_bufs[p->nfree] = gd_malloc(p->buf_size)))
			return GD_ENOMEM;
		p->nfree++;
	}
	gd_trace_save(p->trace);
	for (unsigned i = 0; i < PUT_WRITERS && i < p->nbufs; i++) {
		if (pthread_create(&p->writers[i], NULL, writer_main, p) != 0)
			return GD_ENOMEM;
		p->nwriters++;
	}
	return 0;
}

int gw_put_body(struct gw_req *r, const char *data, size_t len)
{
	struct put *p = r->state;
	uint64_t max = r->gw->opt.max_upload;
	if ((max && p->received + len > max) ||
	    (p->expected != UINT64_MAX && p->received + len > p->expected))
		return gw_reply_error(r, 413, GW_PAYLOAD_TOO_LARGE,
				      "the body is longer than %" PRIu64 " bytes",
				      max ? max : p->expected);
	keep_alive(p);
	while (len) {
		size_t n = p->buf_size - p->fill_len;
		if (n > len)
			n = len;
		memcpy(p->fill + p->fill_len, data, n);
		p->fill_len += n;
		p->received += n;
		data += n;
		len -= n;
		if (p->fill_len == p->buf_size) {
			int rc = send_fill(p);
			if (rc)
				return gw_reply_status(r, rc, "PUT: writing the data");
		}
	}
	return 0;
}

int gw_put_finish(struct gw_req *r)
{
	struct put *p = r->state;
	const char *path = gw_req_arg(r, "path");
	struct gd_attr a, t;
	bool exists;
	char etag[GW_ETAG_MAX];
	if (p->expected != UINT64_MAX && p->received != p->expected)
		return gw_reply_error(r, 400, GW_BAD_REQUEST,
				      "the body has %" PRIu64 " bytes, Content-Length said %" PRIu64,
				      p->received, p->expected);
	int rc = send_fill(p);
	if (rc == 0)
		rc = drain(p);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (rc == 0)
		rc = gd_client_fsync(p->c, p->ino, p->received, &now, &a);
	if (rc)
		return gw_reply_status(r, rc, "PUT: writing the data");
	/* the target may have changed while the body came */
	if (check_target(r, p, path, &exists, &t))
		return 0;
	if (exists) {
		struct gw_keep_in k = { .kc = p->c, .sys = r->gw->client, .key_uid = r->principal.uid,
					.target = &t, .ino = p->ino, .what = path };
		rc = gw_keep_attrs(&k);
		if (rc)
			return gw_reply_status(r, rc, "PUT: the file's permissions");
	}
	rc = mark(p, false);
	if (rc)
		return gw_reply_status(r, rc, "PUT: unmarking the temporary file");
	p->marked = false;
	bool cond = has_preconditions(r);
	rc = gw_keep_rename(p->c, p->parent, p->tmp, p->name,
			    cond && !exists ? RENAME_NOREPLACE_FLAG : 0, cond && exists ? &t : NULL);
	if ((rc == GD_EEXIST && cond && !exists) || (rc == GD_ESTALE && cond && exists))
		return gw_reply_error(r, 412, GW_PRECONDITION_FAILED,
				      "%s changed while the body was sent", path);
	if (rc)
		return gw_reply_status(r, rc, path);
	p->renamed = true;
	/* the rename moved the file's ctime: the ETag is the one GET gives now */
	if (gd_ns_getattr(gd_client_meta(p->c), p->ino, &t) == 0)
		a = t;
	gw_content_etag(&a, etag, sizeof(etag));
	gw_reply_header(r, "ETag", etag);
	return gw_reply_json(r, exists ? 200 : 201, gw_fs_attr_json(path, &a));
}
