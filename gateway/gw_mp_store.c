/* The staging area of multipart uploads inside godfs (see gw_mp_store.h). */
#include "gw_mp_store.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_client.h"
#include "gd_hex.h"
#include "gd_log.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "gw_keep.h"
#include "proto/wire.pb-c.h"

#define MANIFEST_MAX 16384               /* bytes of a manifest we read */
#define LOCK_XATTR "user.godfs.complete"
#define LIST_PAGE 512                    /* directory entries per READDIR */
#define REMOVE_ROUNDS 64                 /* pages of unlinks before giving up */
#define RENAME_NOREPLACE_FLAG 1u         /* wire.proto Rename.flags */
#define BUSY_WAIT_MS 200                 /* a part upload that finds the lock... */
#define BUSY_WAITS 5                     /* ...looks again this many times */

struct gw_mp_open {
	uint64_t ino;
	unsigned refs;
	struct gw_mp_open *next;
};

static struct gd_meta_client *meta(struct gw_mp_store *s)
{
	return gd_client_meta(s->sys);
}

static uint64_t sess(struct gw_mp_store *s)
{
	return gd_client_session(s->sys);
}

int gw_mp_store_init(struct gw_mp_store *s, struct gd_client *sys)
{
	memset(s, 0, sizeof(*s));
	s->sys = sys;
	return pthread_mutex_init(&s->mu, NULL) == 0 ? 0 : GD_ENOMEM;
}

void gw_mp_store_release(struct gw_mp_store *s)
{
	while (s->opens) {
		struct gw_mp_open *o = s->opens;
		s->opens = o->next;
		gd_free(o);
	}
	pthread_mutex_destroy(&s->mu);
}

static int random_hex(char *out, size_t bytes)
{
	uint8_t b[32];
	if (bytes > sizeof(b) || gnutls_rnd(GNUTLS_RND_RANDOM, b, bytes) < 0)
		return GD_EIO;
	gd_hex_encode(b, bytes, out);
	return 0;
}

int gw_mp_new_id(char out[GW_MP_ID_LEN + 1])
{
	return random_hex(out, GW_MP_ID_LEN / 2);
}

void gw_mp_store_data_ref(struct gw_mp_store *s, uint64_t ino)
{
	struct gw_mp_open *o;
	pthread_mutex_lock(&s->mu);
	for (o = s->opens; o && o->ino != ino; o = o->next)
		;
	if (!o && (o = gd_calloc(1, sizeof(*o))) != NULL) {
		o->ino = ino;
		o->next = s->opens;
		s->opens = o;
	}
	if (o)
		o->refs++;
	pthread_mutex_unlock(&s->mu);
}

void gw_mp_store_data_unref(struct gw_mp_store *s, uint64_t ino)
{
	struct gw_mp_open **pp, *o = NULL;
	bool last = true;
	pthread_mutex_lock(&s->mu);
	for (pp = &s->opens; *pp && (*pp)->ino != ino; pp = &(*pp)->next)
		;
	if ((o = *pp) != NULL && --o->refs == 0)
		*pp = o->next;
	else if (o)
		last = false;
	pthread_mutex_unlock(&s->mu);
	if (o && last)
		gd_free(o);
	if (last)   /* (also when the ref failed to allocate: leases are then dropped early, harmlessly) */
		gd_client_release(s->sys, ino);
}

/* The directory `name` in parent, made (mode 0700, root) when missing. */
static int ensure_dir(struct gw_mp_store *s, uint64_t parent, const char *name, bool create,
		      uint64_t *ino)
{
	struct gd_attr a;
	int rc = gd_ns_lookup(meta(s), parent, name, &a);
	if (rc == GD_ENOENT && create) {
		struct gd_ns_mknod r = { .parent = parent, .name = name, .mode = S_IFDIR | 0700 };
		rc = gd_ns_mknod(meta(s), GODFS__METHOD__M_MKDIR, &r, &a);
		if (rc == GD_EEXIST)   /* another gateway made it meanwhile */
			rc = gd_ns_lookup(meta(s), parent, name, &a);
	}
	if (rc == 0 && !S_ISDIR(a.mode))
		rc = GD_ENOTDIR;
	if (rc == 0)
		*ino = a.ino;
	return rc;
}

static int uploads_dir(struct gw_mp_store *s, bool create, uint64_t *ino)
{
	uint64_t root;
	int rc = ensure_dir(s, 1, GW_MP_ROOT_DIR, create, &root);
	return rc ? rc : ensure_dir(s, root, GW_MP_UPLOADS_DIR, create, ino);
}

/* Drops this session's open of ino (made by an M_MKNOD with session_id). */
static void release_file(struct gw_mp_store *s, uint64_t ino)
{
	gd_ns_release(meta(s), ino, sess(s));
	gd_client_release(s->sys, ino);
}

/* A temp name beside `name`: "<name>.tmp-<16 hex>". */
static int tmp_name(const char *name, char *out, size_t len)
{
	char hex[17];
	int rc = random_hex(hex, 8);
	if (rc)
		return rc;
	return (size_t)snprintf(out, len, "%s.tmp-%s", name, hex) < len ? 0 : GD_ENAMETOOLONG;
}

/* Creates (exclusive, open for the session, mode 0600) a file; *ino. */
static int create_file(struct gw_mp_store *s, uint64_t dir, const char *name, bool open,
		       uint64_t *ino)
{
	struct gd_ns_mknod r = { .parent = dir, .name = name, .mode = S_IFREG | 0600,
				   .exclusive = 1, .session_id = open ? sess(s) : 0 };
	struct gd_attr a;
	int rc = gd_ns_mknod(meta(s), GODFS__METHOD__M_MKNOD, &r, &a);
	if (rc == 0)
		*ino = a.ino;
	return rc;
}

/* Writes a whole small file atomically: data (may be empty) and an xattr
 * (may be NULL) under a temp name, durable, then renamed over `name`. */
static int put_file(struct gw_mp_store *s, uint64_t dir, const char *name, const void *data,
		    size_t len, const char *xname, const void *xval, size_t xlen)
{
	char tmp[GD_NS_NAME_MAX + 1];
	uint64_t ino;
	int rc = tmp_name(name, tmp, sizeof(tmp));
	if (rc)
		return rc;
	rc = create_file(s, dir, tmp, true, &ino);
	if (rc)
		return rc;
	if (len > 0) {
		rc = gd_client_write(s->sys, ino, 0, data, len);
		if (rc == 0)
			rc = gd_client_fsync(s->sys, ino, len, NULL, NULL);
	}
	if (rc == 0 && xname)
		rc = gd_ns_setxattr(meta(s), ino, xname, xval, xlen, 0);
	if (rc == 0)
		rc = gd_ns_rename(meta(s), dir, tmp, dir, name, 0, sess(s));
	if (rc)
		gd_ns_remove(meta(s), GODFS__METHOD__M_UNLINK, dir, tmp, sess(s));
	release_file(s, ino);
	return rc;
}

/* Reads all `len` bytes at off of ino (whose size is size) into buf. */
static int read_full(struct gw_mp_store *s, uint64_t ino, uint64_t off, void *buf, size_t len,
		     uint64_t size)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = gd_client_read(s->sys, ino, off + done, (char *)buf + done, len - done,
					   size);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return GD_EIO;   /* shorter than its record or manifest says */
		done += (size_t)n;
	}
	return 0;
}

int gw_mp_store_create(struct gw_mp_store *s, const struct gw_mp_manifest *m,
		       struct gw_mp_upload *u)
{
	uint64_t up;
	char *json = NULL;
	int rc = uploads_dir(s, true, &up);
	if (rc)
		return rc;
	memset(u, 0, sizeof(*u));
	u->m = *m;
	struct gd_ns_mknod r = { .parent = up, .name = m->id, .mode = S_IFDIR | 0700,
				   .exclusive = 1 };
	struct gd_attr a;
	rc = gd_ns_mknod(meta(s), GODFS__METHOD__M_MKDIR, &r, &a);
	if (rc)
		return rc;
	u->dir_ino = a.ino;
	if (m->zero_copy) {
		rc = create_file(s, u->dir_ino, "data", false, &u->data_ino);
		if (rc)
			goto err_after_mkdir;
	}
	rc = gw_mp_manifest_encode(m, &json);
	if (rc)
		goto err_after_mkdir;
	rc = put_file(s, u->dir_ino, "manifest", json, strlen(json), NULL, NULL, 0);
	gd_free(json);
	if (rc)
		goto err_after_mkdir;
	return 0;
err_after_mkdir:
	gw_mp_store_remove(s, m->id, NULL);
	return rc;
}

/* The staging directory of upload id (*dir) and the uploads directory it
 * is in (*up): 0, or GD_ENOENT (a malformed id too) or the meta's error. */
static int upload_dir(struct gw_mp_store *s, const char *id, uint64_t *up, uint64_t *dir)
{
	struct gd_attr a;
	int rc;

	if (!gw_mp_id_valid(id))
		return GD_ENOENT;
	rc = uploads_dir(s, false, up);
	if (rc == 0)
		rc = gd_ns_lookup(meta(s), *up, id, &a);
	if (rc == 0)
		*dir = a.ino;
	return rc;
}

int gw_mp_store_find(struct gw_mp_store *s, const char *id, int64_t now,
		     struct gw_mp_upload *u)
{
	uint64_t up, dir;
	struct gd_attr a;
	char *buf = NULL;
	int rc;

	rc = upload_dir(s, id, &up, &dir);
	if (rc)
		return rc;
	memset(u, 0, sizeof(*u));
	u->dir_ino = dir;
	rc = gd_ns_lookup(meta(s), u->dir_ino, "manifest", &a);
	if (rc)
		return rc;
	if (a.size == 0 || a.size > MANIFEST_MAX) {
		gd_warn("multipart upload %s: manifest of %" PRIu64 " bytes", id, a.size);
		return GD_ENOENT;
	}
	buf = gd_malloc(a.size);
	if (!buf)
		return GD_ENOMEM;
	rc = read_full(s, a.ino, 0, buf, a.size, a.size);
	if (rc == 0 && (gw_mp_manifest_decode(buf, a.size, &u->m) != 0 ||
			strcmp(u->m.id, id) != 0)) {
		gd_warn("multipart upload %s: unreadable manifest", id);
		rc = GD_ENOENT;
	}
	gd_free(buf);
	if (rc == 0 && u->m.expires <= now)
		rc = GD_ENOENT;   /* the janitor removes it soon */
	if (rc == 0 && u->m.zero_copy) {
		/* gone when a complete moved it out and died before the end:
		 * data_ino 0 (gw_mp_complete.c picks it up again) */
		int dr = gd_ns_lookup(meta(s), u->dir_ino, "data", &a);
		if (dr == 0)
			u->data_ino = a.ino;
		else if (dr != GD_ENOENT)
			rc = dr;
	}
	return rc;
}

static int staged_cmp(const void *a, const void *b)
{
	const struct gw_mp_staged *x = a, *y = b;
	return x->part.number < y->part.number ? -1 : x->part.number > y->part.number;
}

int gw_mp_store_parts(struct gw_mp_store *s, const struct gw_mp_upload *u,
		      struct gw_mp_staged **out, size_t *n)
{
	struct gw_mp_staged *v = NULL;
	size_t nv = 0, cap = 0;
	uint64_t cookie = 0;
	int rc = 0, eof = 0;

	while (!eof && rc == 0) {
		struct gd_ns_dirpage pg;
		rc = gd_ns_readdir(meta(s), u->dir_ino, cookie, LIST_PAGE, 0, &pg);
		if (rc)
			break;
		eof = pg.eof || pg.n == 0;
		for (size_t i = 0; i < pg.n && rc == 0; i++) {
			const struct gd_ns_dirent *e = &pg.ents[i];
			uint32_t num = gw_mp_part_name_number(e->name);
			void *val = NULL;
			size_t vlen = 0;
			struct gw_mp_part p;

			cookie = e->cookie;
			if (num == 0)
				continue;   /* manifest, data, lock, temp names */
			if (nv >= GW_MP_MAX_PARTS) {
				rc = GD_EIO;
				break;
			}
			int xr = gd_ns_getxattr(meta(s), e->ino, GW_MP_XATTR, &val, &vlen);
			if (xr == GD_ENOENT || xr == GD_ENODATA) {
				gd_free(val);
				continue;   /* unlinked meanwhile, or a foreign file */
			}
			if (xr) {
				rc = xr;
				gd_free(val);
				break;
			}
			xr = gw_mp_record_parse(val, vlen, &p);
			gd_free(val);
			if (xr) {
				gd_warn("multipart upload %s: %s has a bad record", u->m.id, e->name);
				continue;
			}
			p.number = num;
			if (nv == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct gw_mp_staged *nvv = gd_realloc(v, nc * sizeof(*v));
				if (!nvv) {
					rc = GD_ENOMEM;
					break;
				}
				v = nvv;
				cap = nc;
			}
			v[nv].part = p;
			v[nv].ino = e->ino;
			nv++;
		}
		gd_ns_readdir_release(&pg);
	}
	if (rc) {
		gd_free(v);
		return rc;
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), staged_cmp);
	*out = v;
	*n = nv;
	return 0;
}

/* ---- part uploads ---- */

struct gw_mp_writer {
	struct gw_mp_store *s;
	struct gw_mp_upload u;
	uint32_t number;
	enum gw_mp_where where;
	uint64_t ino;              /* the data file or the temp part file */
	uint64_t base;             /* offset of the part's byte 0 in ino */
	uint64_t limit;            /* most bytes this part may have */
	char tmp[GD_NS_NAME_MAX + 1]; /* where=file: the temp name */
	char name[16];             /* "part-N" */
	uint64_t size;             /* bytes received */
	uint64_t flushed;          /* bytes sent to godfs */
	uint8_t *buf;              /* block bytes */
	size_t block, blen;
	char mark[GD_NS_NAME_MAX + 1]; /* its writing- marker ("" until made) */
	uint64_t mark_ino;
	time_t touched;            /* when the marker's mtime last moved */
	gnutls_hash_hd_t hash;
	bool hashing, ended;
};

/* Moves the writer's marker's mtime now and then: a complete sees the part
 * upload is alive (gw_mp_store.h). */
static void touch_mark(struct gw_mp_writer *w)
{
	time_t now = time(NULL);
	if (!w->mark_ino || now - w->touched < GW_MP_LOCK_TOUCH_S)
		return;
	struct gd_ns_setattr sa = { .ino = w->mark_ino,
				      .valid = GODFS__SET_ATTR_BITS__SA_MTIME_NOW };
	if (gd_ns_setattr(meta(w->s), &sa, NULL) == 0)
		w->touched = now;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Whether the writer may write now (its marker is up): no complete holds
 * the lock (one that found this marker lets go at once: wait a little),
 * and, into the data file, the data file is still in staging. 0, GD_EBUSY
 * or GD_ENOENT. */
static int writer_check(struct gw_mp_writer *w)
{
	touch_mark(w);
	for (int i = 0; gw_mp_store_locked(w->s, &w->u); i++) {
		if (i == BUSY_WAITS)
			return GD_EBUSY;
		nap_ms(BUSY_WAIT_MS);
	}
	if (w->where == GW_MP_IN_DATA) {
		struct gd_attr a;
		int rc = gd_ns_lookup(meta(w->s), w->u.dir_ino, "data", &a);
		if (rc == 0 && a.ino != w->ino)
			rc = GD_ENOENT;
		return rc;
	}
	return 0;
}

int gw_mp_part_begin(struct gw_mp_store *s, const struct gw_mp_upload *u, uint32_t number,
		     int64_t content_length, uint64_t max_bytes, size_t block,
		     struct gw_mp_writer **out)
{
	struct gw_mp_writer *w;
	char hex[17];
	int rc;

	if (number < 1 || number > GW_MP_MAX_PARTS || block == 0)
		return GD_EINVAL;
	if (max_bytes > GW_MP_MAX_PART_SIZE)
		max_bytes = GW_MP_MAX_PART_SIZE;
	if (content_length > (int64_t)max_bytes)
		return GD_EFBIG;
	w = gd_calloc(1, sizeof(*w));
	if (!w)
		return GD_ENOMEM;
	w->s = s;
	w->u = *u;
	w->number = number;
	w->limit = max_bytes;
	w->block = block;
	snprintf(w->name, sizeof(w->name), "part-%u", number);
	/* the marker first, then the lock (writer_check): see gw_mp_store.h */
	rc = random_hex(hex, 8);
	if (rc)
		goto err;
	snprintf(w->mark, sizeof(w->mark), GW_MP_MARK_PREFIX "%u-%s", number, hex);
	rc = create_file(s, u->dir_ino, w->mark, false, &w->mark_ino);
	if (rc) {
		w->mark[0] = '\0';
		goto err;
	}
	w->touched = time(NULL);
	w->buf = gd_malloc(block);
	if (!w->buf) {
		rc = GD_ENOMEM;
		goto err;
	}
	if (gnutls_hash_init(&w->hash, GNUTLS_DIG_SHA256) < 0) {
		rc = GD_ENOMEM;
		goto err;
	}
	w->hashing = true;
	if (u->m.zero_copy && u->data_ino && content_length >= 0 &&
	    (uint64_t)content_length <= u->m.part_size) {
		/* the bytes go to their final place; the old record goes first, so
		 * that it never describes half-replaced bytes */
		rc = gd_ns_remove(meta(s), GODFS__METHOD__M_UNLINK, u->dir_ino, w->name, sess(s));
		if (rc && rc != GD_ENOENT)
			goto err;
		w->where = GW_MP_IN_DATA;
		w->ino = u->data_ino;
		w->base = (uint64_t)(number - 1) * u->m.part_size;
		if (w->limit > u->m.part_size)
			w->limit = u->m.part_size;
		gw_mp_store_data_ref(s, w->ino);
	} else {
		w->where = GW_MP_IN_FILE;
		rc = tmp_name(w->name, w->tmp, sizeof(w->tmp));
		if (rc == 0)
			rc = create_file(s, u->dir_ino, w->tmp, true, &w->ino);
		if (rc) {
			w->tmp[0] = '\0';
			goto err;
		}
	}
	rc = writer_check(w);
	if (rc)
		goto err;
	*out = w;
	return 0;
err:
	gw_mp_part_free(w);
	return rc;
}

static int flush(struct gw_mp_writer *w)
{
	if (w->blen == 0)
		return 0;
	int rc = w->where == GW_MP_IN_DATA ? writer_check(w) : 0;
	if (rc)
		return rc;
	rc = gd_client_write(w->s->sys, w->ino, w->base + w->flushed, w->buf, w->blen);
	if (rc == 0) {
		w->flushed += w->blen;
		w->blen = 0;
	}
	return rc;
}

int gw_mp_part_write(struct gw_mp_writer *w, const void *data, size_t len)
{
	const char *p = data;
	if (len > w->limit - w->size)
		return GD_EFBIG;
	if (gnutls_hash(w->hash, data, len) < 0)
		return GD_EIO;
	touch_mark(w);
	w->size += len;
	while (len > 0) {
		size_t n = w->block - w->blen;
		if (n > len)
			n = len;
		memcpy(w->buf + w->blen, p, n);
		w->blen += n;
		p += n;
		len -= n;
		if (w->blen == w->block) {
			int rc = flush(w);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int gw_mp_part_end(struct gw_mp_writer *w, struct gw_mp_part *out)
{
	struct gw_mp_store *s = w->s;
	char rec[GW_MP_RECORD_SIZE];
	size_t rlen;
	int rc = flush(w);

	if (rc == 0 && w->where == GW_MP_IN_DATA)
		rc = writer_check(w);
	if (rc == 0 && w->size > 0)
		rc = gd_client_fsync(s->sys, w->ino, w->base + w->size, NULL, NULL);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	out->number = w->number;
	out->size = w->size;
	out->where = w->where;
	gnutls_hash_deinit(w->hash, out->sha);
	w->hashing = false;
	rlen = gw_mp_record_format(out, rec);
	if (w->where == GW_MP_IN_FILE) {
		rc = gd_ns_setxattr(meta(s), w->ino, GW_MP_XATTR, rec, rlen, 0);
		if (rc == 0)
			rc = gd_ns_rename(meta(s), w->u.dir_ino, w->tmp, w->u.dir_ino, w->name, 0,
					  sess(s));
	} else {
		rc = put_file(s, w->u.dir_ino, w->name, NULL, 0, GW_MP_XATTR, rec, rlen);
	}
	if (rc == 0)
		w->ended = true;
	return rc;
}

void gw_mp_part_free(struct gw_mp_writer *w)
{
	if (!w)
		return;
	if (w->hashing) {
		uint8_t junk[GW_MP_SHA_LEN];
		gnutls_hash_deinit(w->hash, junk);
	}
	if (w->where == GW_MP_IN_DATA && w->ino) {
		gw_mp_store_data_unref(w->s, w->ino);
	} else if (w->ino) {
		if (!w->ended)
			gd_ns_remove(meta(w->s), GODFS__METHOD__M_UNLINK, w->u.dir_ino, w->tmp,
				     sess(w->s));
		release_file(w->s, w->ino);
	}
	if (w->mark[0])
		gd_ns_remove(meta(w->s), GODFS__METHOD__M_UNLINK, w->u.dir_ino, w->mark, sess(w->s));
	gd_free(w->buf);
	gd_free(w);
}

int gw_mp_store_read(struct gw_mp_store *s, const struct gw_mp_upload *u,
		     const struct gw_mp_staged *p, uint64_t off, void *buf, size_t len)
{
	if (off > p->part.size || len > p->part.size - off)
		return GD_EINVAL;
	if (p->part.where == GW_MP_IN_DATA) {
		uint64_t base = (uint64_t)(p->part.number - 1) * u->m.part_size;
		return read_full(s, u->data_ino, base + off, buf, len, base + p->part.size);
	}
	return read_full(s, p->ino, off, buf, len, p->part.size);
}

/* ---- the complete lock ---- */

/* 0 and *fresh when the lock exists; GD_ENOENT when not. */
static int lock_state(struct gw_mp_store *s, const struct gw_mp_upload *u, bool *fresh)
{
	struct gd_attr a;
	int rc = gd_ns_lookup(meta(s), u->dir_ino, "complete", &a);
	if (rc == 0)
		*fresh = a.mtime.tv_sec + GW_MP_LOCK_STALE_S > time(NULL);
	return rc;
}

/* The note of lock file ino into note ("" when it has none). */
static void read_note(struct gw_mp_store *s, uint64_t ino, char *note, size_t len)
{
	void *val = NULL;
	size_t vlen = 0;
	note[0] = '\0';
	if (gd_ns_getxattr(meta(s), ino, LOCK_XATTR, &val, &vlen) == 0 && vlen < len) {
		memcpy(note, val, vlen);
		note[vlen] = '\0';
	}
	gd_free(val);
}

int gw_mp_store_lock(struct gw_mp_store *s, const struct gw_mp_upload *u, const char *note,
		     struct gw_mp_lock *out)
{
	char tmp[GD_NS_NAME_MAX + 1];
	struct gd_attr cur;
	uint64_t ino;
	int rc;

	memset(out, 0, sizeof(*out));
	if (strlen(note) >= GW_MP_NOTE_MAX)
		return GD_EINVAL;
	/* the lock is whole (with its note) before it has its name */
	rc = tmp_name("complete", tmp, sizeof(tmp));
	if (rc == 0)
		rc = create_file(s, u->dir_ino, tmp, false, &ino);
	if (rc)
		return rc;
	rc = gd_ns_setxattr(meta(s), ino, LOCK_XATTR, note, strlen(note), 0);
	for (int round = 0; rc == 0 && round < 2; round++) {
		rc = gd_ns_rename(meta(s), u->dir_ino, tmp, u->dir_ino, "complete",
				  RENAME_NOREPLACE_FLAG, sess(s));
		if (rc != GD_EEXIST)
			break;
		rc = gd_ns_lookup(meta(s), u->dir_ino, "complete", &cur);
		if (rc == GD_ENOENT) {
			rc = 0;   /* released meanwhile: once more */
			continue;
		}
		if (rc == 0 && cur.mtime.tv_sec + GW_MP_LOCK_STALE_S > time(NULL))
			rc = GD_EBUSY;
		if (rc)
			break;
		/* abandoned: replace exactly that file, untouched since we looked */
		read_note(s, cur.ino, out->prev_note, sizeof(out->prev_note));
		rc = gw_keep_rename(s->sys, u->dir_ino, tmp, "complete", 0, &cur);
		if (rc == GD_ESTALE)
			rc = GD_EBUSY;   /* another took it over, or its holder woke up */
		if (rc == 0)
			gd_warn("multipart upload %s: took over an abandoned complete lock (%s)",
				u->m.id, out->prev_note[0] ? out->prev_note : "no note");
		break;
	}
	if (rc) {
		gd_ns_remove(meta(s), GODFS__METHOD__M_UNLINK, u->dir_ino, tmp, sess(s));
		out->prev_note[0] = '\0';
		return rc;
	}
	out->ino = ino;
	return 0;
}

bool gw_mp_store_lock_held(struct gw_mp_store *s, const struct gw_mp_upload *u,
			   const struct gw_mp_lock *l)
{
	struct gd_attr a;
	return gd_ns_lookup(meta(s), u->dir_ino, "complete", &a) == 0 && a.ino == l->ino;
}

bool gw_mp_store_locked(struct gw_mp_store *s, const struct gw_mp_upload *u)
{
	bool fresh = false;
	return lock_state(s, u, &fresh) == 0 && fresh;
}

void gw_mp_store_touch(struct gw_mp_store *s, const struct gw_mp_upload *u,
		       const struct gw_mp_lock *l)
{
	if (gw_mp_store_lock_held(s, u, l)) {
		struct gd_ns_setattr sa = { .ino = l->ino,
					      .valid = GODFS__SET_ATTR_BITS__SA_MTIME_NOW };
		gd_ns_setattr(meta(s), &sa, NULL);
	}
}

void gw_mp_store_unlock(struct gw_mp_store *s, const struct gw_mp_upload *u,
			const struct gw_mp_lock *l)
{
	/* (a lookup, then the unlink: a taker would have to find this lock
	 * abandoned, GW_MP_LOCK_STALE_S untouched, between the two) */
	if (gw_mp_store_lock_held(s, u, l))
		gd_ns_remove(meta(s), GODFS__METHOD__M_UNLINK, u->dir_ino, "complete", sess(s));
}

int gw_mp_store_writers(struct gw_mp_store *s, const struct gw_mp_upload *u, unsigned *n)
{
	uint64_t cookie = 0;
	int rc = 0, eof = 0;
	time_t now = time(NULL);

	*n = 0;
	while (!eof && rc == 0) {
		struct gd_ns_dirpage pg;
		rc = gd_ns_readdir(meta(s), u->dir_ino, cookie, LIST_PAGE, 1, &pg);
		if (rc)
			break;
		eof = pg.eof || pg.n == 0;
		for (size_t i = 0; i < pg.n; i++) {
			const struct gd_ns_dirent *e = &pg.ents[i];
			cookie = e->cookie;
			if (strncmp(e->name, GW_MP_MARK_PREFIX, strlen(GW_MP_MARK_PREFIX)) == 0 &&
			    (!e->has_attr || e->attr.mtime.tv_sec + GW_MP_LOCK_STALE_S > now))
				(*n)++;
		}
		gd_ns_readdir_release(&pg);
	}
	return rc;
}

/* ---- removal and expiry ---- */

/* The temp file a complete made in the target directory, from a lock's
 * note: removed with the upload (a gateway that died mid-complete). Only a
 * name of ours (".godfs-upload-<id>...") is ever removed there. */
static void remove_note_tmp(struct gw_mp_store *s, const char *note, const char *id)
{
	char name[GD_NS_NAME_MAX + 1], want[64];
	unsigned long long tdir;

	snprintf(want, sizeof(want), GW_MP_TMP_PREFIX "%s", id);
	if (sscanf(note, "%llu %255s", &tdir, name) == 2 &&
	    strncmp(name, want, strlen(want)) == 0 &&
	    gd_ns_remove(meta(s), GODFS__METHOD__M_UNLINK, tdir, name, sess(s)) == 0)
		gd_info("multipart upload %s: removed the temp file of a dead complete", id);
}

static void remove_complete_tmp(struct gw_mp_store *s, uint64_t dir, const char *id)
{
	struct gd_attr a;
	char note[GW_MP_NOTE_MAX];
	if (gd_ns_lookup(meta(s), dir, "complete", &a) != 0)
		return;
	read_note(s, a.ino, note, sizeof(note));
	remove_note_tmp(s, note, id);
}

int gw_mp_store_remove(struct gw_mp_store *s, const char *id, const char *extra_note)
{
	uint64_t up, dir;
	int rc, round;

	rc = upload_dir(s, id, &up, &dir);
	if (rc)
		return rc;
	remove_complete_tmp(s, dir, id);
	if (extra_note && extra_note[0])
		remove_note_tmp(s, extra_note, id);
	/* unlink page by page from the start until the directory is empty (a
	 * part being written meanwhile may add a name: a few rounds) */
	for (round = 0; round < REMOVE_ROUNDS; round++) {
		struct gd_ns_dirpage pg;
		rc = gd_ns_readdir(meta(s), dir, 0, LIST_PAGE, 0, &pg);
		if (rc)
			return rc;
		size_t n = pg.n;
		for (size_t i = 0; i < pg.n; i++) {
			int ur = gd_ns_remove(meta(s), GODFS__METHOD__M_UNLINK, dir,
					      pg.ents[i].name, sess(s));
			if (ur && ur != GD_ENOENT)
				gd_warn("multipart upload %s: unlink %s: %s", id, pg.ents[i].name,
					gd_strerror(ur));
		}
		gd_ns_readdir_release(&pg);
		if (n == 0) {
			rc = gd_ns_remove(meta(s), GODFS__METHOD__M_RMDIR, up, id, sess(s));
			if (rc != GD_ENOTEMPTY)
				return rc;
		}
	}
	return GD_ENOTEMPTY;
}

int gw_mp_store_expire(struct gw_mp_store *s, int64_t now, int64_t orphan_s,
		       unsigned *removed, unsigned *active)
{
	uint64_t up, cookie = 0;
	unsigned nrm = 0, nact = 0;
	int rc = uploads_dir(s, false, &up), eof = 0;

	if (rc == GD_ENOENT)
		rc = 0, eof = 1;   /* no upload was ever made */
	while (!eof && rc == 0) {
		struct gd_ns_dirpage pg;
		rc = gd_ns_readdir(meta(s), up, cookie, LIST_PAGE, 1, &pg);
		if (rc)
			break;
		eof = pg.eof || pg.n == 0;
		for (size_t i = 0; i < pg.n; i++) {
			const struct gd_ns_dirent *e = &pg.ents[i];
			struct gw_mp_upload u;
			bool expired;
			cookie = e->cookie;
			if (!gw_mp_id_valid(e->name))
				continue;
			struct gw_mp_lock l = { 0 };
			int fr = gw_mp_store_find(s, e->name, INT64_MIN + 1, &u);
			if (fr == 0)
				expired = u.m.expires <= now;
			else if (fr == GD_ENOENT)   /* no manifest: an init that died */
				expired = !e->has_attr || e->attr.ctime.tv_sec + orphan_s <= now;
			else
				continue;           /* try again next round */
			/* a complete running late is left to finish: the lock is taken
			 * first (with a manifest: without one, no complete can run) */
			if (expired && fr == 0 && gw_mp_store_lock(s, &u, "-", &l) != 0)
				expired = false;
			if (!expired) {
				nact++;
				continue;
			}
			int rr = gw_mp_store_remove(s, e->name, l.prev_note);
			if (rr == 0) {
				nrm++;
				gd_info("multipart upload %s expired: removed", e->name);
			} else if (rr != GD_ENOENT) {
				gd_warn("multipart upload %s expired, not removed: %s", e->name,
					gd_strerror(rr));
			}
		}
		gd_ns_readdir_release(&pg);
	}
	*removed = nrm;
	if (active)
		*active = nact;
	return rc;
}
