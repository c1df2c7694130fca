/* Downloads (see gw_content.h).
 *
 * The body is a list of pieces: literal text (the part headers of a
 * multipart/byteranges body) and file ranges. MHD pulls it through
 * body_read() on the connection's thread; the file bytes come from two
 * buffers that GW_READ_THREADS reader threads fill in order (each
 * gd_client_read keeps 8 chunkd reads in flight; several readers keep more,
 * as the mount's read-ahead workers do), so that the network and
 * the cluster work at the same time and memory stays at GW_READ_BUFS
 * buffers per response whatever the size. Bodies that fit one buffer are read on the
 * connection's thread, without a reader. */
#include "gw_content.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "gw.h"
#include "gw_error.h"
#include "gw_path.h"
#include "gw_range.h"
#include "gw_req.h"

void gw_content_etag(const struct gd_attr *a, char *out, size_t len)
{
	gw_etag_format(a->ino, a->generation, a->size, &a->mtime, &a->ctime, out, len);
}

/* ------------------------------------------------------------- the body */

struct piece {
	char *text;              /* literal bytes, or NULL for a file range */
	uint64_t off, len;       /* file range, or text length */
};

enum { BUF_EMPTY = 0, BUF_LOADING, BUF_READY };

struct rbuf {
	int state;               /* guarded by body.mu */
	int status;              /* of the read: 0 or GD_E* */
	size_t piece;            /* the piece these bytes belong to */
	uint64_t off;            /* offset of data[0] in the piece */
	size_t len;
	char *data;
};

struct body {
	struct gw *gw;
	uint64_t reserved;       /* bytes of gw->read_ahead_used this body holds */
	struct gd_client *c;
	uint64_t ino, size;      /* the file's size when the answer began */
	struct piece *pieces;
	size_t npieces;
	size_t block;            /* bytes per buffer */
	unsigned nbufs;          /* GW_READ_BUFS, or 1 without readers */

	/* consumer (MHD's thread) */
	size_t cur_piece;
	uint64_t cur_off;        /* bytes of cur_piece sent */
	uint64_t pos;            /* body bytes sent */
	uint64_t cur_seq;        /* the block to take next: bufs[cur_seq % nbufs] */

	/* readers: they claim blocks in order, guarded by mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rbuf bufs[GW_READ_BUFS];
	size_t rd_piece;
	uint64_t rd_off;
	uint64_t rd_seq;         /* the next block a reader claims */
	bool stop;               /* the answer is over (or failed): readers end */
	unsigned nthreads;
	pthread_t threads[GW_READ_THREADS];
	char trace[GD_TRACE_MAX + 1];   /* the request's id, for the readers' requests */
};

/* Advances (piece, off) past empty and literal pieces to the next file
 * range; false when none is left. */
static bool next_file_piece(const struct body *b, size_t *piece, uint64_t *off)
{
	while (*piece < b->npieces &&
	       (b->pieces[*piece].text || *off >= b->pieces[*piece].len)) {
		(*piece)++;
		*off = 0;
	}
	return *piece < b->npieces;
}

/* Reads rb's block (piece, off, len set); only its claimer touches it. */
static void fill(struct body *b, struct rbuf *rb)
{
	const struct piece *p = &b->pieces[rb->piece];
	size_t got = 0;
	rb->status = 0;
	while (got < rb->len) {
		ssize_t n = gd_client_read(b->c, b->ino, p->off + rb->off + got, rb->data + got,
					   rb->len - got, b->size);
		if (n <= 0) {
			/* short: the file shrank under the download */
			rb->status = n < 0 ? (int)n : GD_EIO;
			break;
		}
		got += (size_t)n;
	}
}

/* Claims the next block into rb (mu held); false when none is left. */
static bool claim(struct body *b, struct rbuf *rb)
{
	if (!next_file_piece(b, &b->rd_piece, &b->rd_off))
		return false;
	uint64_t want = b->pieces[b->rd_piece].len - b->rd_off;
	rb->piece = b->rd_piece;
	rb->off = b->rd_off;
	rb->len = (size_t)(want < b->block ? want : b->block);
	b->rd_off += rb->len;
	b->rd_seq++;
	return true;
}

/* A reader: several run at once, each filling the next free buffer, so
 * that more chunkd reads are in flight than one gd_client_read keeps. */
static void *reader_main(void *arg)
{
	struct body *b = arg;
	gd_trace_set(b->trace);
	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct rbuf *rb = &b->bufs[b->rd_seq % b->nbufs];
		while (!b->stop && rb->state != BUF_EMPTY) {
			pthread_cond_wait(&b->cv, &b->mu);
			rb = &b->bufs[b->rd_seq % b->nbufs];
		}
		if (b->stop || !claim(b, rb))
			break;
		rb->state = BUF_LOADING;
		pthread_mutex_unlock(&b->mu);
		fill(b, rb);
		pthread_mutex_lock(&b->mu);
		rb->state = BUF_READY;
		if (rb->status)
			b->stop = true;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* The buffer holding the next file bytes (at (piece, off)). */
static struct rbuf *take(struct body *b, size_t piece, uint64_t off)
{
	struct rbuf *rb = &b->bufs[b->cur_seq % b->nbufs];
	if (!b->nthreads) {
		if (rb->state == BUF_READY && rb->piece == piece && off >= rb->off &&
		    off < rb->off + rb->len)
			return rb;
		uint64_t want = b->pieces[piece].len - off;
		rb->piece = piece;
		rb->off = off;
		rb->len = (size_t)(want < b->block ? want : b->block);
		fill(b, rb);
		rb->state = BUF_READY;
		return rb;
	}
	pthread_mutex_lock(&b->mu);
	while (rb->state != BUF_READY)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
	return rb;
}

static void give_back(struct body *b, struct rbuf *rb)
{
	if (!b->nthreads)
		return;
	pthread_mutex_lock(&b->mu);
	rb->state = BUF_EMPTY;
	b->cur_seq++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static ssize_t body_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct body *b = cls;
	size_t done = 0;
	if (pos != b->pos)
		return MHD_CONTENT_READER_END_WITH_ERROR;   /* MHD reads in order */
	while (done < max && b->cur_piece < b->npieces) {
		const struct piece *p = &b->pieces[b->cur_piece];
		uint64_t left = p->len - b->cur_off;
		if (left == 0) {
			b->cur_piece++;
			b->cur_off = 0;
			continue;
		}
		if (p->text) {
			size_t n = (size_t)(left < max - done ? left : max - done);
			memcpy(out + done, p->text + b->cur_off, n);
			b->cur_off += n;
			done += n;
			continue;
		}
		struct rbuf *rb = take(b, b->cur_piece, b->cur_off);
		if (rb->status) {
			gd_warn("download of inode %" PRIu64 " at %" PRIu64 " failed: %s; "
				"closing the connection", b->ino, p->off + b->cur_off,
				gd_strerror(rb->status));
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		uint64_t in = b->cur_off - rb->off;
		size_t n = rb->len - (size_t)in;
		if (n > max - done)
			n = max - done;
		memcpy(out + done, rb->data + in, n);
		b->cur_off += n;
		done += n;
		if (b->cur_off == rb->off + rb->len)
			give_back(b, rb);
	}
	if (done == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	b->pos += done;
	return (ssize_t)done;
}

static void body_free(void *cls)
{
	struct body *b = cls;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	for (unsigned i = 0; i < b->nthreads; i++)
		pthread_join(b->threads[i], NULL);
	for (size_t i = 0; i < b->npieces; i++)
		gd_free(b->pieces[i].text);
	gd_free(b->pieces);
	for (unsigned i = 0; i < GW_READ_BUFS; i++)
		gd_free(b->bufs[i].data);
	atomic_fetch_sub(&b->gw->read_ahead_used, b->reserved);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	gd_free(b);
}

/* A body over pieces (taken over, even on failure); NULL without memory. */
static struct body *body_new(struct gw_req *r, const struct gd_attr *a, struct piece *pieces,
			     size_t n, bool head)
{
	struct body *b = gd_calloc(1, sizeof(*b));
	if (!b) {
		for (size_t i = 0; i < n; i++)
			gd_free(pieces[i].text);
		gd_free(pieces);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->gw = r->gw;
	b->c = r->client;
	b->ino = a->ino;
	b->size = a->size;
	b->pieces = pieces;
	b->npieces = n;
	uint64_t file_bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (!pieces[i].text)
			file_bytes += pieces[i].len;
	if (head || file_bytes == 0)
		return b;
	b->block = file_bytes < GW_READ_BLOCK ? (size_t)file_bytes : GW_READ_BLOCK;
	b->nbufs = file_bytes > GW_READ_BLOCK ? GW_READ_BUFS : 1;
	if (b->nbufs > 1) {
		uint64_t want = (uint64_t)b->nbufs * b->block;
		uint64_t used = atomic_fetch_add(&b->gw->read_ahead_used, want);
		if (used + want <= b->gw->opt.read_ahead_mem) {
			b->reserved = want;
		} else {
			atomic_fetch_sub(&b->gw->read_ahead_used, want);
			b->nbufs = 1;
			b->block = GW_READ_SMALL;
		}
	}
	for (unsigned i = 0; i < b->nbufs; i++) {
		if (!(b->bufs[i].data = gd_malloc(b->block))) {
			body_free(b);
			return NULL;
		}
	}
	gd_trace_save(b->trace);
	for (unsigned i = 0; b->nbufs > 1 && i < GW_READ_THREADS; i++) {
		if (pthread_create(&b->threads[i], NULL, reader_main, b) != 0) {
			body_free(b);
			return NULL;
		}
		b->nthreads++;
	}
	return b;
}

/* ---------------------------------------------------------------- GET/HEAD */

static int answer_ranges(struct gw_req *r, const struct gd_attr *a, const struct gw_range *rg,
			 size_t nr, bool head)
{
	size_t n = nr == 1 ? 1 : nr * 2 + 1;
	struct piece *pc = gd_calloc(n, sizeof(*pc));
	char boundary[40], hdr[256];
	uint64_t total = 0;
	uint64_t rnd = 0;
	if (!pc)
		return GD_ENOMEM;
	if (nr == 1) {
		pc[0] = (struct piece){ NULL, rg[0].first, rg[0].last - rg[0].first + 1 };
		snprintf(hdr, sizeof(hdr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, rg[0].first,
			 rg[0].last, a->size);
		gw_reply_header(r, "Content-Range", hdr);
		gw_reply_header(r, "Content-Type", "application/octet-stream");
		total = pc[0].len;
	} else {
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = gw_now_ns();
		snprintf(boundary, sizeof(boundary), "godfs-%016" PRIx64, rnd);
		for (size_t i = 0; i < nr; i++) {
			int len = snprintf(hdr, sizeof(hdr),
					   "%s--%s\r\nContent-Type: application/octet-stream\r\n"
					   "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64
					   "\r\n\r\n", i ? "\r\n" : "", boundary, rg[i].first,
					   rg[i].last, a->size);
			pc[2 * i] = (struct piece){ gd_strdup(hdr), 0, (uint64_t)len };
			pc[2 * i + 1] = (struct piece){ NULL, rg[i].first,
							rg[i].last - rg[i].first + 1 };
			total += (uint64_t)len + pc[2 * i + 1].len;
		}
		int len = snprintf(hdr, sizeof(hdr), "\r\n--%s--\r\n", boundary);
		pc[n - 1] = (struct piece){ gd_strdup(hdr), 0, (uint64_t)len };
		total += (uint64_t)len;
		for (size_t i = 0; i < n; i++) {
			if ((i % 2 == 0 || i == n - 1) && !pc[i].text) {
				for (size_t k = 0; k < n; k++)
					gd_free(pc[k].text);
				gd_free(pc);
				return GD_ENOMEM;
			}
		}
		snprintf(hdr, sizeof(hdr), "multipart/byteranges; boundary=%s", boundary);
		gw_reply_header(r, "Content-Type", hdr);
	}
	struct body *b = body_new(r, a, pc, n, head);
	if (!b)
		return GD_ENOMEM;
	return gw_reply_stream(r, 206, total, 256 << 10, body_read, b, body_free);
}

int gw_content_get(struct gw_req *r)
{
	const char *path;
	struct gd_attr a;
	char etag[GW_ETAG_MAX], date[GW_HTTP_DATE_LEN];
	bool head = strcmp(r->method, "HEAD") == 0;
	if (gw_path_take(r, "path", gw_req_arg(r, "path"), &path))
		return 0;
	int rc = gw_path_resolve(gd_client_meta(r->client), r->principal.subtree, path, &a);
	if (rc)
		return gw_reply_status(r, rc, path);
	if (S_ISDIR(a.mode))
		return gw_reply_error(r, 409, GW_IS_DIRECTORY, "%s is a directory", path);
	if (!S_ISREG(a.mode))
		return gw_reply_error(r, 409, GW_BAD_REQUEST, "%s is not a regular file", path);
	gw_content_etag(&a, etag, sizeof(etag));
	gw_http_date(a.mtime.tv_sec, date);
	gw_reply_header(r, "ETag", etag);
	gw_reply_header(r, "Last-Modified", date);
	gw_reply_header(r, "Accept-Ranges", "bytes");
	struct gw_cond_in ci = {
		.if_match = gw_req_header(r, "If-Match"),
		.if_none_match = gw_req_header(r, "If-None-Match"),
		.if_modified_since = gw_req_header(r, "If-Modified-Since"),
		.if_unmodified_since = gw_req_header(r, "If-Unmodified-Since"),
		.exists = true, .etag = etag, .mtime = a.mtime.tv_sec, .get = true,
	};
	switch (gw_cond_eval(&ci)) {
	case GW_COND_NOT_MODIFIED:
		return gw_reply_empty(r, 304);
	case GW_COND_FAILED:
		return gw_reply_error(r, 412, GW_PRECONDITION_FAILED,
				      "%s does not match the request's preconditions", path);
	case GW_COND_GO:
		break;
	}
	const char *range = gw_req_header(r, "Range");
	const char *if_range = gw_req_header(r, "If-Range");
	if (range && (!if_range || gw_if_range_holds(if_range, etag, a.mtime.tv_sec))) {
		struct gw_range rg[GW_RANGES_MAX];
		size_t nr;
		int pr = gw_range_parse(range, a.size, rg, &nr);
		if (pr < 0) {
			char cr[48];
			snprintf(cr, sizeof(cr), "bytes */%" PRIu64, a.size);
			gw_reply_header(r, "Content-Range", cr);
			return gw_reply_error(r, 416, GW_RANGE_NOT_SATISFIABLE,
					      "Range \"%.100s\" does not fit %s (%" PRIu64
					      " bytes, at most %d ranges)", range, path, a.size,
					      GW_RANGES_MAX);
		}
		if (pr > 0)
			return answer_ranges(r, &a, rg, nr, head);
	}
	struct piece *pc = gd_calloc(1, sizeof(*pc));
	if (!pc)
		return GD_ENOMEM;
	pc[0] = (struct piece){ NULL, 0, a.size };
	gw_reply_header(r, "Content-Type", "application/octet-stream");
	struct body *b = body_new(r, &a, pc, 1, head);
	if (!b)
		return GD_ENOMEM;
	return gw_reply_stream(r, 200, a.size, 256 << 10, body_read, b, body_free);
}
