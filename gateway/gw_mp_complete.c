/* Completing a multipart upload (see gw_mp_complete.h). */
#include "gw_mp_complete.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "gw_keep.h"
#include "gw_path.h"
#include "proto/wire.pb-c.h"

#define RENAME_NOREPLACE_FLAG 1u         /* wire.proto Rename.flags */
#define FILE_MODE 0644u                  /* as a PUT makes it */
#define ACL_ACCESS "system.posix_acl_access"

struct job {
	const struct gw_mp_complete_in *in;
	struct gw_mp_complete_out *out;
	struct gw_mp_upload u;           /* a copy of in->u */
	struct gw_mp_lock lock;
	size_t block;                    /* bytes per buffer */
	struct gw_mp_plan plan;
	struct gw_mp_staged *staged;
	size_t nstaged;
	struct gd_attr parent;
	char name[GW_NAME_MAX + 1];
	char tmp[GW_NAME_MAX + 1];
	uint64_t tmp_ino;                /* the key's temp file, open for its session */
	struct gd_attr tmp_attr;         /* as the meta created it (a create there) */
	bool moved;                      /* zero-copy: the data file is at tmp now */
	uint8_t *buf[2];                 /* block bytes each */
	time_t touched;
};

static struct gd_meta_client *kmeta(const struct job *j)
{
	return gd_client_meta(j->in->kc);
}

static uint64_t ksess(const struct job *j)
{
	return gd_client_session(j->in->kc);
}

static struct gd_meta_client *smeta(const struct job *j)
{
	return gd_client_meta(j->in->store->sys);
}

/* Keeps the lock alive during a long copy. */
static void maybe_touch(struct job *j)
{
	time_t now = time(NULL);
	if (now - j->touched >= GW_MP_LOCK_TOUCH_S) {
		gw_mp_store_touch(j->in->store, &j->u, &j->lock);
		j->touched = now;
	}
}

/* The staged part a step names (the plan copied it; its inode is here). */
static const struct gw_mp_staged *staged_of(const struct job *j, uint32_t number)
{
	for (size_t i = 0; i < j->nstaged; i++)
		if (j->staged[i].part.number == number)
			return &j->staged[i];
	return NULL;
}

/* Part i's hash against its record: 0, or GD_EINVAL with why set. */
static int check_hash(struct job *j, const struct gw_mp_step *st, const uint8_t *sha)
{
	if (memcmp(sha, st->part.sha, GW_MP_SHA_LEN) == 0)
		return 0;
	snprintf(j->out->why, sizeof(j->out->why),
		 "part %u changed since it was uploaded (two uploads of it at once?): upload it "
		 "again", st->part.number);
	return GD_EINVAL;
}

/* Reads every part from staging and checks its hash (zero-copy: the bytes
 * stay where they are, but a part mixed by two uploads of it must not
 * become the file). */
static int verify(struct job *j)
{
	const struct gw_mp_complete_in *in = j->in;
	for (size_t i = 0; i < j->plan.n; i++) {
		const struct gw_mp_step *st = &j->plan.steps[i];
		const struct gw_mp_staged *sp = staged_of(j, st->part.number);
		gnutls_hash_hd_t h;
		uint8_t sha[GW_MP_SHA_LEN];
		int rc = 0;

		if (!sp)
			return GD_EIO;
		if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
			return GD_ENOMEM;
		for (uint64_t off = 0; off < st->part.size && rc == 0; off += j->block) {
			size_t n = st->part.size - off < j->block ? (size_t)(st->part.size - off)
								   : j->block;
			rc = gw_mp_store_read(in->store, &j->u, sp, off, j->buf[0], n);
			if (rc == 0 && gnutls_hash(h, j->buf[0], n) < 0)
				rc = GD_EIO;
			maybe_touch(j);
		}
		gnutls_hash_deinit(h, sha);
		if (rc == 0)
			rc = check_hash(j, st, sha);
		if (rc)
			return rc;
	}
	return 0;
}

/* One copy, overlapped: a reader thread reads (and hashes) block k+1 from
 * staging while the request's thread writes block k into the temp file
 * through the key's session; two buffers in all. */
struct copy {
	struct job *j;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t len[2];                   /* under mu: bytes in buf[i] */
	uint64_t dst[2];                 /* under mu: where they go */
	bool full[2];                    /* under mu */
	bool done;                       /* under mu: the reader handed out all */
	int rc;                          /* under mu: the first error of either side */
	char trace[GD_TRACE_MAX + 1];    /* the request's id, for the reader's requests */
};

static void copy_fail(struct copy *c, int rc)
{
	pthread_mutex_lock(&c->mu);
	if (c->rc == 0)
		c->rc = rc;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void *copy_reader(void *arg)
{
	struct copy *c = arg;
	struct job *j = c->j;
	const struct gw_mp_complete_in *in = j->in;
	int slot = 0, rc = 0;

	gd_trace_set(c->trace);
	for (size_t i = 0; i < j->plan.n && rc == 0; i++) {
		const struct gw_mp_step *st = &j->plan.steps[i];
		const struct gw_mp_staged *sp = staged_of(j, st->part.number);
		gnutls_hash_hd_t h;
		uint8_t sha[GW_MP_SHA_LEN];

		if (!sp) {
			rc = GD_EIO;
			break;
		}
		if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
			rc = GD_ENOMEM;
			break;
		}
		for (uint64_t off = 0; off < st->part.size && rc == 0; off += j->block) {
			size_t n = st->part.size - off < j->block ? (size_t)(st->part.size - off)
								   : j->block;
			pthread_mutex_lock(&c->mu);
			while (c->full[slot] && c->rc == 0)
				pthread_cond_wait(&c->cv, &c->mu);
			rc = c->rc;
			pthread_mutex_unlock(&c->mu);
			if (rc)
				break;
			rc = gw_mp_store_read(in->store, &j->u, sp, off, j->buf[slot], n);
			if (rc == 0 && gnutls_hash(h, j->buf[slot], n) < 0)
				rc = GD_EIO;
			if (rc)
				break;
			pthread_mutex_lock(&c->mu);
			c->len[slot] = n;
			c->dst[slot] = st->dst_off + off;
			c->full[slot] = true;
			pthread_cond_broadcast(&c->cv);
			pthread_mutex_unlock(&c->mu);
			slot ^= 1;
		}
		gnutls_hash_deinit(h, sha);
		/* the part's last block may be written already: the temp file
		 * goes when the complete fails */
		if (rc == 0)
			rc = check_hash(j, st, sha);
	}
	if (rc) {
		copy_fail(c, rc);
	} else {
		pthread_mutex_lock(&c->mu);
		c->done = true;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

static int copy_parts(struct job *j)
{
	struct copy c = { .j = j };
	pthread_t reader;
	int slot = 0, rc;

	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	gd_trace_save(c.trace);
	if (pthread_create(&reader, NULL, copy_reader, &c) != 0) {
		rc = GD_ENOMEM;
		goto out;
	}
	for (;;) {
		pthread_mutex_lock(&c.mu);
		while (!c.full[slot] && !c.done && c.rc == 0)
			pthread_cond_wait(&c.cv, &c.mu);
		bool stop = c.rc != 0 || !c.full[slot];   /* an error, or all written */
		size_t n = c.len[slot];
		uint64_t dst = c.dst[slot];
		pthread_mutex_unlock(&c.mu);
		if (stop)
			break;
		int wr = gd_client_write(j->in->kc, j->tmp_ino, dst, j->buf[slot], n);
		maybe_touch(j);
		if (wr) {
			copy_fail(&c, wr);
			break;
		}
		pthread_mutex_lock(&c.mu);
		c.full[slot] = false;
		pthread_cond_broadcast(&c.cv);
		pthread_mutex_unlock(&c.mu);
		slot ^= 1;
	}
	pthread_join(reader, NULL);
	rc = c.rc;
out:
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	return rc;
}

/* The key's empty temp file in the target's directory (a dead complete's
 * leftover of the same name is replaced: we hold the lock). */
static int make_tmp(struct job *j)
{
	struct gd_ns_mknod r = {
		.parent = j->parent.ino, .name = j->tmp, .mode = S_IFREG | FILE_MODE,
		.uid = j->in->uid, .gid = j->in->gid, .exclusive = 1, .session_id = ksess(j),
	};
	struct gd_attr a;
	int rc = gd_ns_mknod(kmeta(j), GODFS__METHOD__M_MKNOD, &r, &a);
	if (rc == GD_EEXIST) {
		gd_ns_remove(kmeta(j), GODFS__METHOD__M_UNLINK, j->parent.ino, j->tmp, ksess(j));
		rc = gd_ns_mknod(kmeta(j), GODFS__METHOD__M_MKNOD, &r, &a);
	}
	if (rc == 0) {
		j->tmp_ino = a.ino;
		j->tmp_attr = a;
	}
	return rc;
}

/* The data file gets what a create in the target's directory gave the
 * key's temp file (made there by the key's session): mode, owner, the
 * group (the directory's when it is set-group-id), the goal, the ACL
 * inherited from a default ACL; not the staging directory's. */
static int like_tmp(struct job *j, uint64_t data)
{
	struct gd_client *sys = j->in->store->sys;
	const struct gd_attr *t = &j->tmp_attr;
	struct gd_ns_setattr sa = {
		.ino = data, .mode = t->mode & 07777, .uid = t->uid, .gid = t->gid,
		.valid = GODFS__SET_ATTR_BITS__SA_MODE | GODFS__SET_ATTR_BITS__SA_UID |
			 GODFS__SET_ATTR_BITS__SA_GID | GODFS__SET_ATTR_BITS__SA_MTIME_NOW,
	};
	struct gd_attr now;
	void *acl = NULL;
	size_t len = 0;
	int rc = gd_ns_setattr(smeta(j), &sa, &now);
	if (rc == 0 && t->goal && now.goal != t->goal)
		rc = gw_keep_set_goal(sys, data, t->goal);
	if (rc == 0) {
		rc = gd_ns_getxattr(smeta(j), j->tmp_ino, ACL_ACCESS, &acl, &len);
		if (rc == 0)
			rc = gd_ns_setxattr(smeta(j), data, ACL_ACCESS, acl, len, 0);
		else if (rc == GD_ENODATA)
			rc = 0;
		gd_free(acl);
	}
	return rc;
}

/* Zero-copy: the data file, checked and cut to size, replaces the temp file. */
static int move_data(struct job *j)
{
	const struct gw_mp_complete_in *in = j->in;
	struct gd_client *sys = in->store->sys;
	uint64_t data = j->u.data_ino;
	int rc;

	gw_mp_store_data_ref(in->store, data);
	rc = verify(j);
	if (rc == 0)
		rc = gd_client_truncate(sys, data, j->plan.total, NULL);
	if (rc == 0)
		rc = like_tmp(j, data);
	if (rc == 0 && !gw_mp_store_lock_held(in->store, &j->u, &j->lock))
		rc = GD_EBUSY;   /* taken over while we stalled: the taker goes on */
	if (rc == 0)
		rc = gd_ns_rename(smeta(j), j->u.dir_ino, "data", j->parent.ino, j->tmp, 0,
				  gd_client_session(sys));
	j->moved = rc == 0;
	gw_mp_store_data_unref(in->store, data);
	return rc;
}

static int run(struct job *j)
{
	const struct gw_mp_complete_in *in = j->in;
	struct gw_mp_complete_out *out = j->out;
	struct gd_attr a;
	char note[GW_MP_NOTE_MAX], hex[GW_MP_ID_LEN + 1];
	int rc;

	/* 1. the target, as the key sees it */
	rc = gw_path_resolve_parent(kmeta(j), in->root, in->u->m.path, &j->parent, j->name);
	if (rc)
		return rc;
	rc = gd_ns_lookup(kmeta(j), j->parent.ino, j->name, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		return GD_EISDIR;
	if (rc == 0 && !in->overwrite)
		return GD_EEXIST;
	if (rc && rc != GD_ENOENT)
		return rc;

	/* 2. the lock (a temp name of this attempt's own in its note), no part
	 * upload running, the plan */
	rc = gw_mp_new_id(hex) ? GD_EIO : 0;   /* 16 of its hex digits name the attempt */
	if (rc)
		return rc;
	hex[16] = '\0';
	snprintf(j->tmp, sizeof(j->tmp), GW_MP_TMP_PREFIX "%s.%s", j->u.m.id, hex);
	snprintf(note, sizeof(note), "%" PRIu64 " %s", j->parent.ino, j->tmp);
	rc = gw_mp_store_lock(in->store, &j->u, note, &j->lock);
	if (rc)
		return rc;
	j->touched = time(NULL);
	unsigned writers = 0;
	rc = gw_mp_store_writers(in->store, &j->u, &writers);
	if (rc == 0 && writers) {
		snprintf(out->why, sizeof(out->why), "%u part upload%s of this upload %s still "
			 "running: complete once every part is answered", writers,
			 writers > 1 ? "s" : "", writers > 1 ? "are" : "is");
		rc = GD_EBUSY;
	}
	if (rc)
		goto err_after_lock;
	rc = gw_mp_store_parts(in->store, &j->u, &j->staged, &j->nstaged);
	if (rc)
		goto err_after_lock;
	{
		struct gw_mp_part *parts = gd_calloc(j->nstaged + 1, sizeof(*parts));
		if (!parts) {
			rc = GD_ENOMEM;
			goto err_after_lock;
		}
		for (size_t i = 0; i < j->nstaged; i++)
			parts[i] = j->staged[i].part;
		rc = gw_mp_plan_complete(in->want, in->nwant, parts, j->nstaged, &j->u.m,
					 in->max_total, &j->plan, out->why, sizeof(out->why));
		gd_free(parts);
	}
	if (rc)
		goto err_after_lock;
	j->buf[0] = gd_malloc(j->block);
	j->buf[1] = gd_malloc(j->block);
	if (!j->buf[0] || !j->buf[1]) {
		rc = GD_ENOMEM;
		goto err_after_lock;
	}

	/* 3. the bytes, in the temp file */
	if (j->plan.zero_copy && j->u.data_ino == 0) {
		/* a complete moved the data file over its temp file and died
		 * before the rename into place (its lock was abandoned, we took
		 * it; its note says where): that temp file is the checked, cut
		 * file; finish its job under our own temp name */
		unsigned long long pdir = 0;
		char pname[GW_NAME_MAX + 1], want[64];
		struct gd_attr t;
		snprintf(want, sizeof(want), GW_MP_TMP_PREFIX "%s", j->u.m.id);
		rc = GD_ENOENT;
		if (sscanf(j->lock.prev_note, "%llu %255s", &pdir, pname) == 2 &&
		    pdir == j->parent.ino && strncmp(pname, want, strlen(want)) == 0)
			rc = gd_ns_lookup(kmeta(j), j->parent.ino, pname, &t);
		if (rc == 0 && (!S_ISREG(t.mode) || t.size != j->plan.total))
			rc = GD_ENOENT;
		if (rc == 0)
			rc = gd_ns_rename(kmeta(j), j->parent.ino, pname, j->parent.ino, j->tmp, 0,
					  ksess(j));
		if (rc) {
			snprintf(out->why, sizeof(out->why), "the upload's data is gone "
				 "(completed already?)");
			goto err_after_lock;
		}
		gd_info("multipart upload %s: resuming a complete that died after the move",
			j->u.m.id);
		out->zero_copy = j->moved = true;
		goto into_place;
	}
	rc = make_tmp(j);
	if (rc)
		goto err_after_lock;
	out->zero_copy = j->plan.zero_copy && j->u.data_ino != 0;
	if (out->zero_copy) {
		rc = move_data(j);
	} else {
		rc = copy_parts(j);
		if (rc == 0)
			rc = gd_client_fsync(in->kc, j->tmp_ino, j->plan.total, NULL, NULL);
	}
	if (rc)
		goto err_after_tmp;

	/* 4. into place: an existing target's permissions kept (gw_keep.h);
	 * nothing if the lock was taken over while we stalled */
into_place:
	if (in->overwrite && gd_ns_lookup(kmeta(j), j->parent.ino, j->name, &a) == 0 &&
	    S_ISREG(a.mode)) {
		struct gd_attr t;
		rc = gd_ns_lookup(kmeta(j), j->parent.ino, j->tmp, &t);
		if (rc == 0) {
			struct gw_keep_in k = { .kc = in->kc, .sys = in->store->sys,
						.key_uid = in->uid, .target = &a, .ino = t.ino,
						.what = j->u.m.path };
			rc = gw_keep_attrs(&k);
		}
		if (rc)
			goto err_after_tmp;
	}
	if (!gw_mp_store_lock_held(in->store, &j->u, &j->lock)) {
		snprintf(out->why, sizeof(out->why), "another complete of this upload took over");
		rc = GD_EBUSY;
		goto err_after_tmp;
	}
	rc = gd_ns_rename(kmeta(j), j->parent.ino, j->tmp, j->parent.ino, j->name,
			  in->overwrite ? 0 : RENAME_NOREPLACE_FLAG, ksess(j));
	if (rc)
		goto err_after_tmp;
	rc = gd_ns_lookup(kmeta(j), j->parent.ino, j->name, &out->attr);
	if (rc) {   /* it is in place: say so, with what we know */
		memset(&out->attr, 0, sizeof(out->attr));
		out->attr.size = j->plan.total;
	}
	int rr = gw_mp_store_remove(in->store, j->u.m.id, NULL);
	if (rr)
		gd_warn("multipart upload %s: completed, staging not removed: %s", j->u.m.id,
			gd_strerror(rr));
	return 0;

err_after_tmp:
	if (j->moved) {
		/* the data file moved already: put it back, so that a
		 * retry (say with overwrite) still has the parts */
		int br = gd_ns_rename(smeta(j), j->parent.ino, j->tmp, j->u.dir_ino, "data", 0,
				      gd_client_session(in->store->sys));
		if (br && br != GD_ENOENT)
			gd_warn("multipart upload %s: the data file could not go back: %s",
				j->u.m.id, gd_strerror(br));
	}
	gd_ns_remove(kmeta(j), GODFS__METHOD__M_UNLINK, j->parent.ino, j->tmp, ksess(j));
err_after_lock:
	gw_mp_store_unlock(in->store, &j->u, &j->lock);
	return rc;
}

int gw_mp_complete(const struct gw_mp_complete_in *in, struct gw_mp_complete_out *out)
{
	struct job j = { .in = in, .out = out, .u = *in->u,
			 .block = in->block ? in->block : GW_MP_BLOCK };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = run(&j);
	if (j.tmp_ino) {
		gd_ns_release(kmeta(&j), j.tmp_ino, ksess(&j));
		gd_client_release(in->kc, j.tmp_ino);
	}
	gw_mp_plan_release(&j.plan);
	gd_free(j.staged);
	gd_free(j.buf[0]);
	gd_free(j.buf[1]);
	return rc;
}
