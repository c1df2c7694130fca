/* The FUSE low-level operations of mount.godfs. Each operation turns the
 * request into meta calls (libcomm/gd_ns.c) or data calls (fs_data.c) and
 * sends exactly one reply. Inode numbers: the kernel's FUSE_ROOT_ID is the meta
 * inode of the mounted directory (m->root) and the other way round; every
 * other number is the meta's own. */
#include "fs_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "fs_locks.h"
#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_ns.h"
#include "gd_status.h"
#include "proto/wire.pb-c.h"

#define CAPS_NAME "security.capability"

static struct fs_mount *mnt_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* FUSE number -> meta number. */
static uint64_t to_meta(const struct fs_mount *m, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return m->root;
	if (ino == m->root)
		return FUSE_ROOT_ID;
	return ino;
}

/* Meta number -> FUSE number (the same swap). */
static fuse_ino_t to_fuse(const struct fs_mount *m, uint64_t ino)
{
	return (fuse_ino_t)to_meta(m, ino);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reply_status(fuse_req_t req, int status)
{
	fuse_reply_err(req, gd_ns_errno(status));
}

/* Attributes as this process sees them (its unsent writes included), as a
 * stat for the kernel; records the meta's attributes in the table entry. */
static void attr_for_kernel(struct fs_mount *m, struct gd_attr *a, struct stat *st)
{
	struct fs_inode *in = fs_inode_find(m->it, a->ino);
	if (in) {
		fs_inode_set_attr(in, a);
		fs_data_attr_overlay(in, a);
		fs_inode_put(m->it, in);
	}
	gd_ns_attr_to_stat(a, to_fuse(m, a->ino), st);
}

/* Fills an entry for a name the kernel learns of; counts the lookup. */
static int entry_fill(struct fs_mount *m, struct gd_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	int rc = fs_inode_lookup_add(m->it, a->ino, a);
	if (rc)
		return rc;
	attr_for_kernel(m, a, &e->attr);
	e->ino = to_fuse(m, a->ino);
	e->generation = a->generation;
	e->attr_timeout = m->attr_timeout;
	e->entry_timeout = m->entry_timeout;
	return 0;
}

/* Replies with a new entry; an entry the kernel did not take is forgotten. */
static void reply_entry(fuse_req_t req, struct gd_attr *a)
{
	struct fs_mount *m = mnt_of(req);
	struct fuse_entry_param e;
	int rc = entry_fill(m, a, &e);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		fs_inode_forget(m->it, a->ino, 1);
}

/* ---- session ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_mount *m = userdata;
	conn->max_write = m->max_write;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				  FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE |
				  FUSE_CAP_HANDLE_KILLPRIV);
	const unsigned wanted = FUSE_CAP_ASYNC_READ | FUSE_CAP_ATOMIC_O_TRUNC |
				FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_READDIRPLUS |
				FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_AUTO_INVAL_DATA |
				FUSE_CAP_ASYNC_DIO;
	conn->want |= conn->capable & wanted;
	/* POSIX ACLs: the kernel checks them (and caches them); godfs stores
	 * them and keeps mode and ACL in sync (meta/meta_acl.h). DONT_MASK: the
	 * kernel would apply the umask even under a default ACL, so the meta
	 * applies it, knowing the parent's ACL. */
	if (m->posix_acl)
		conn->want |= conn->capable & (FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK);
	/* fcntl, OFD and flock locks reach us, for the meta (fs_locks.h) */
	conn->want |= conn->capable & (FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	atomic_store(&m->inited, 1);
	gd_info("FUSE session up: protocol %u.%u, max_write %u, capable 0x%x, want 0x%x",
		conn->proto_major, conn->proto_minor, conn->max_write, conn->capable,
		conn->want);
}

static void op_destroy(void *userdata)
{
	struct fs_mount *m = userdata;
	fs_data_flush_all(m->data);
}

/* ---- names ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_mount *m = mnt_of(req);
	struct gd_attr a;
	int rc = gd_ns_lookup(m->meta, to_meta(m, parent), name, &a);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	reply_entry(req, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_mount *m = mnt_of(req);
	fs_inode_forget(m->it, to_meta(m, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs_mount *m = mnt_of(req);
	for (size_t i = 0; i < count; i++)
		fs_inode_forget(m->it, to_meta(m, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

/* After a change in a directory the meta answered with the directory's new
 * attributes (CREATE, MKNOD, MKDIR, SYMLINK, UNLINK, RMDIR), the kernel, which dropped them, asks for them before
 * the next name in it: that GETATTR is answered from the answer's copy for
 * a moment (FS_DIR_FRESH_MS: a loop of creates asks at once), as fresh as a
 * GETATTR sent right after the change. */
#define FS_DIR_FRESH_MS 250

static void dir_attr_noted(struct fs_mount *m, const struct gd_attr *a)
{
	struct fs_inode *in = fs_inode_find(m->it, a->ino);

	if (!in)
		return;
	fs_inode_set_attr(in, a);
	pthread_mutex_lock(&in->mu);
	in->attr_fresh_until_ms = mono_ms() + FS_DIR_FRESH_MS;
	pthread_mutex_unlock(&in->mu);
	fs_inode_put(m->it, in);
}

/* A change in the directory that brought no attributes back (rename, link):
 * what dir_attr_noted kept is older than it, never to be answered. */
static void dir_attr_forget(struct fs_mount *m, uint64_t mino)
{
	struct fs_inode *in = fs_inode_find(m->it, mino);

	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	in->attr_fresh_until_ms = 0;
	pthread_mutex_unlock(&in->mu);
	fs_inode_put(m->it, in);
}

/* The fresh attributes of a directory (dir_attr_noted), taken once. */
static bool dir_attr_fresh(struct fs_mount *m, uint64_t mino, struct gd_attr *a)
{
	struct fs_inode *in = fs_inode_find(m->it, mino);
	bool fresh = false;

	if (!in)
		return false;
	pthread_mutex_lock(&in->mu);
	if (in->have_attr && S_ISDIR(in->attr.mode) && in->attr_fresh_until_ms > mono_ms()) {
		*a = in->attr;
		fresh = true;
	}
	in->attr_fresh_until_ms = 0;
	pthread_mutex_unlock(&in->mu);
	fs_inode_put(m->it, in);
	return fresh;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct fs_mount *m = mnt_of(req);
	struct gd_attr a;
	struct stat st;
	int rc = dir_attr_fresh(m, to_meta(m, ino), &a) ? 0 :
		 gd_ns_getattr(m->meta, to_meta(m, ino), &a);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	attr_for_kernel(m, &a, &st);
	fuse_reply_attr(req, &st, m->attr_timeout);
}

/* The meta's SA_* bits for what FUSE asks to set (size apart). */
static uint32_t setattr_bits(int to_set)
{
	uint32_t v = 0;
	if (to_set & FUSE_SET_ATTR_MODE)
		v |= GODFS__SET_ATTR_BITS__SA_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		v |= GODFS__SET_ATTR_BITS__SA_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		v |= GODFS__SET_ATTR_BITS__SA_GID;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		v |= GODFS__SET_ATTR_BITS__SA_ATIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		v |= GODFS__SET_ATTR_BITS__SA_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		v |= GODFS__SET_ATTR_BITS__SA_MTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		v |= GODFS__SET_ATTR_BITS__SA_MTIME;
	return v;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)fi;
	struct fs_mount *m = mnt_of(req);
	uint64_t mino = to_meta(m, ino);
	struct fs_inode *in = fs_inode_get(m->it, mino);
	struct gd_attr a;
	bool have = false;
	int rc = 0;

	if (!in) {
		reply_status(req, GD_ENOMEM);
		return;
	}
	/* Writes not yet committed would otherwise move size or mtime later. */
	int frc = fs_data_commit(m->data, in);
	if (frc)
		gd_warn("inode %llu: commit before setattr failed: %s",
			(unsigned long long)mino, gd_strerror(frc));
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			rc = GD_EINVAL;
			goto out;
		}
		rc = fs_data_truncate(m->data, in, (uint64_t)attr->st_size, &a);
		if (rc)
			goto out;
		have = true;
	}
	struct gd_ns_setattr sa = {
		.ino = mino,
		.valid = setattr_bits(to_set),
		.mode = attr->st_mode,
		.uid = attr->st_uid,
		.gid = attr->st_gid,
		.atime = attr->st_atim,
		.mtime = attr->st_mtim,
	};
	if (sa.valid) {
		rc = gd_ns_setattr(m->meta, &sa, &a);
		if (rc)
			goto out;
		have = true;
	}
	if (!have)
		rc = gd_ns_getattr(m->meta, mino, &a);
out:
	fs_inode_put(m->it, in);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	struct stat st;
	attr_for_kernel(m, &a, &st);
	fuse_reply_attr(req, &st, m->attr_timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_mount *m = mnt_of(req);
	char *target = NULL;
	int rc = gd_ns_readlink(m->meta, to_meta(m, ino), &target);
	if (rc)
		reply_status(req, rc);
	else
		fuse_reply_readlink(req, target);
	gd_free(target);
}

/* mknod, mkdir, symlink: a new name, answered with its entry. */
static void make_node(fuse_req_t req, uint16_t method, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *target)
{
	struct fs_mount *m = mnt_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct gd_ns_mknod r = {
		.parent = to_meta(m, parent),
		.name = name,
		.mode = mode,
		.umask = ctx->umask,
		.uid = ctx->uid,
		.gid = ctx->gid,
		.rdev = rdev,
		.target = target,
	};
	struct gd_attr a, pa;
	r.parent_out = &pa;
	int rc = gd_ns_mknod(m->meta, method, &r, &a);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	if (pa.ino)
		dir_attr_noted(m, &pa);
	reply_entry(req, &a);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	make_node(req, GODFS__METHOD__M_MKNOD, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, GODFS__METHOD__M_MKDIR, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, GODFS__METHOD__M_SYMLINK, parent, name, S_IFLNK | 0777, 0, link);
}

/* unlink, rmdir: the directory's attributes after it answer the kernel's
 * next GETATTR of it (dir_attr_noted). */
static void remove_name(fuse_req_t req, uint16_t method, fuse_ino_t parent, const char *name)
{
	struct fs_mount *m = mnt_of(req);
	struct gd_attr pa;
	int rc = gd_ns_remove_p(m->meta, method, to_meta(m, parent), name,
				gd_client_session(m->gc), &pa);
	if (rc == 0 && pa.ino)
		dir_attr_noted(m, &pa);
	reply_status(req, rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, GODFS__METHOD__M_UNLINK, parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, GODFS__METHOD__M_RMDIR, parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs_mount *m = mnt_of(req);
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = gd_ns_rename(m->meta, to_meta(m, parent), name, to_meta(m, newparent),
			      newname, flags, gd_client_session(m->gc));
	dir_attr_forget(m, to_meta(m, parent));
	dir_attr_forget(m, to_meta(m, newparent));
	reply_status(req, rc);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs_mount *m = mnt_of(req);
	struct gd_attr a;
	int rc = gd_ns_link(m->meta, to_meta(m, ino), to_meta(m, newparent), newname, &a);
	dir_attr_forget(m, to_meta(m, newparent));
	if (rc) {
		reply_status(req, rc);
		return;
	}
	reply_entry(req, &a);
}

/* ---- files ---- */

static bool ts_differ(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec || a.tv_nsec != b.tv_nsec;
}

/* Whether the meta's attributes of `in` differ from those last seen here
 * (and given to the kernel) in what marks a change of the data. */
static bool attr_changed(struct fs_inode *in, const struct gd_attr *a)
{
	pthread_mutex_lock(&in->mu);
	bool changed = !in->have_attr || in->attr.size != a->size ||
		       ts_differ(in->attr.mtime, a->mtime) || ts_differ(in->attr.ctime, a->ctime);
	pthread_mutex_unlock(&in->mu);
	return changed;
}

/* Makes the handle of an opened inode (the meta counted the open); on
 * failure the meta's open is released again. */
static int file_attach(struct fs_mount *m, uint64_t ino, struct fuse_file_info *fi,
		       const struct gd_attr *a, bool truncated)
{
	struct fs_inode *in = fs_inode_get(m->it, ino);
	struct fs_file *f = NULL;
	int rc = in ? fs_data_file_new(m->data, in, fi->flags, &f) : GD_ENOMEM;
	if (rc) {
		fs_inode_put(m->it, in);
		gd_ns_release(m->meta, ino, gd_client_session(m->gc));
		return rc;
	}
	if (truncated) {
		fs_data_truncated(m->data, in, a);
	} else {
		/* Close-to-open: what another mount closed before this open
		 * must be seen whole, not old chunk locations (a truncated
		 * file's chunks are freed lazily and still readable) nor the
		 * kernel's cached size over new bytes. */
		bool changed = attr_changed(in, a);
		gd_client_invalidate(m->gc, ino);
		fs_inode_set_attr(in, a);
		struct fuse_session *se = atomic_load(&m->se);
		if (changed && se)
			fuse_lowlevel_notify_inval_inode(se, to_fuse(m, ino), -1, 0);
	}
	fs_inode_opened(m->it, in);
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 0;
	fi->direct_io = 0;
	return 0;
}

/* Ends a handle: sends what it buffered, releases the meta's open and, after
 * the last handle of the inode here, its write leases. */
static int file_detach(struct fs_mount *m, struct fs_file *f)
{
	struct fs_inode *in = fs_data_file_inode(f);
	int rc = fs_data_flush(m->data, in);
	int mrc = gd_ns_release(m->meta, in->ino, gd_client_session(m->gc));
	if (mrc)
		gd_warn("inode %llu: release at the meta: %s", (unsigned long long)in->ino,
			gd_strerror(mrc));
	if (fs_inode_closed(m->it, in) == 0)
		fs_data_released(m->data, in);
	fs_data_file_free(m->data, f);
	return rc;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt_of(req);
	uint64_t mino = to_meta(m, ino);
	bool trunc = (fi->flags & O_TRUNC) != 0;
	struct gd_attr a;
	int rc;

	if (trunc) {
		/* Buffered writes of other handles go before the file empties. */
		struct fs_inode *in = fs_inode_find(m->it, mino);
		if (in) {
			fs_data_commit(m->data, in);
			fs_inode_put(m->it, in);
		}
	}
	/* Without O_TRUNC the answer also says where chunk 0 is: reading a
	 * small file needs no CHUNK_LOCATE. */
	struct Godfs__ChunkResp *chunk = NULL;
	rc = gd_ns_open(m->meta, mino, (uint32_t)fi->flags & ~(uint32_t)(O_CREAT | O_EXCL),
			gd_client_session(m->gc), &a, trunc ? NULL : &chunk);
	if (rc == 0 && a.nlink == 0 && S_ISREG(a.mode) && !fs_inode_open_here(m->it, mino)) {
		/* Unlinked (by another mount, while this kernel still had the
		 * name cached) but kept by someone's open: a path open must not
		 * reach it, or an open(O_CREAT) writes into a file nobody can
		 * name (SQLite's journal across two mounts). A file this mount
		 * holds open stays reachable (open of /proc/PID/fd/N, as on a
		 * local file system). */
		gd_ns_release(m->meta, mino, gd_client_session(m->gc));
		rc = GD_ENOENT;
	}
	if (rc == 0)
		rc = file_attach(m, mino, fi, &a, trunc && S_ISREG(a.mode));
	/* after file_attach, which forgets locations cached before this open */
	if (rc == 0 && chunk && gd_client_locate_seed(m->gc, mino, 0, chunk) != 0)
		gd_debug("inode %llu: the location OPEN sent not taken", (unsigned long long)mino);
	gd_ns_chunk_free(chunk);
	if (rc == GD_ENOENT) {
		/* The inode is gone: ESTALE makes the VFS walk the path again
		 * with a fresh lookup, as for NFS, so that an open(O_CREAT)
		 * creates the new file instead of failing. */
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (rc) {
		reply_status(req, rc);
		return;
	}
	if (fuse_reply_open(req, fi) != 0)
		file_detach(m, (struct fs_file *)(uintptr_t)fi->fh);
}

/* A file this mount just created: the next create asks for a lease only if
 * it gets a write (op_write), and the kernel's question for its
 * security.capability before each write is answered here (a new file has
 * no extended attribute) instead of by a GETXATTR at the meta. */
static void create_noted(struct fs_mount *m, uint64_t ino)
{
	struct fs_inode *in = fs_inode_find(m->it, ino);
	int64_t ttl = (int64_t)(m->attr_timeout * 1000);

	atomic_store(&m->create_last_ino, ino);
	atomic_store(&m->create_no_write, true);
	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	in->nocaps_until_ms = mono_ms() + (ttl > 1000 ? ttl : 1000);
	pthread_mutex_unlock(&in->mu);
	fs_inode_put(m->it, in);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct gd_ns_mknod r = {
		.parent = to_meta(m, parent),
		.name = name,
		.mode = S_IFREG | (mode & 07777),
		.umask = ctx->umask,
		.uid = ctx->uid,
		.gid = ctx->gid,
		.exclusive = (fi->flags & O_EXCL) != 0,
		.session_id = gd_client_session(m->gc),
	};
	struct gd_attr a, pa;
	bool created;
	bool lease = (fi->flags & O_ACCMODE) != O_RDONLY && !atomic_load(&m->create_no_write);
	int rc = gd_ns_create(m->gc, &r, lease, &a, &created, &pa);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	if (created && pa.ino)
		dir_attr_noted(m, &pa);
	rc = file_attach(m, a.ino, fi, &a, false);
	if (rc == 0 && created)
		create_noted(m, a.ino);
	if (rc == 0 && (fi->flags & O_TRUNC) && a.size > 0) {
		/* An existing file was opened: O_TRUNC still applies. */
		struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
		rc = fs_data_truncate(m->data, fs_data_file_inode(f), 0, &a);
		if (rc)
			file_detach(m, f);
	}
	if (rc) {
		reply_status(req, rc);
		return;
	}
	struct fuse_entry_param e;
	rc = entry_fill(m, &a, &e);
	if (rc) {
		file_detach(m, (struct fs_file *)(uintptr_t)fi->fh);
		reply_status(req, rc);
		return;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs_inode_forget(m->it, a.ino, 1);
		file_detach(m, (struct fs_file *)(uintptr_t)fi->fh);
	}
}

static void read_reply(void *ctx, const void *buf, size_t len)
{
	fuse_reply_buf((fuse_req_t)ctx, buf, len);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_mount *m = mnt_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = fs_data_read(m->data, f, (uint64_t)off, size, read_reply, req);
	if (rc)
		reply_status(req, rc);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (atomic_load(&m->create_last_ino) == to_meta(m, ino))
		atomic_store(&m->create_no_write, false);
	ssize_t n = fs_data_write(m->data, f, (uint64_t)off, buf, size);
	if (n < 0)
		reply_status(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_mount *m = mnt_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	int rc = fs_data_flush(m->data, fs_data_file_inode(f));
	/* a close drops its process's fcntl locks on the file */
	fs_locks_flush(m->locks, to_meta(m, ino), fi->lock_owner);
	reply_status(req, rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_mount *m = mnt_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	/* the last close of the open file: its OFD locks and flock go */
	fs_locks_release(m->locks, to_meta(m, ino), fi->fh, fi->flock_release ? fi->lock_owner : 0);
	int rc = file_detach(m, f);
	if (rc)
		gd_warn("inode %llu: writes lost at release: %s", (unsigned long long)to_meta(m, ino),
			gd_strerror(rc));
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	struct fs_mount *m = mnt_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	reply_status(req, fs_data_fsync(m->data, fs_data_file_inode(f)));
}

static void op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	struct fs_mount *m = mnt_of(req);
	fs_locks_getlk(m->locks, req, to_meta(m, ino), fi, lock);
}

static void op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	struct fs_mount *m = mnt_of(req);
	fs_locks_setlk(m->locks, req, ino, to_meta(m, ino), fi, lock, sleep);
}

static void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct fs_mount *m = mnt_of(req);
	fs_locks_flock(m->locks, req, ino, to_meta(m, ino), fi, op);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_mount *m = mnt_of(req);
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reply_status(req, fs_data_fallocate(m->data, f, mode, (uint64_t)off, (uint64_t)len));
}

/* ---- directories ---- */

#define FS_DIR_PAGE 512          /* entries asked of the meta at once */

/* An open directory: the last page of entries the meta sent, so that the
 * kernel's small readdir requests (one page of dirents each) do not each
 * cost a meta call. */
struct fs_dir {
	pthread_mutex_t mu;
	struct gd_ns_dirpage pg;   /* guarded by mu, as the rest */
	size_t next;                 /* first entry not yet given to the kernel */
	uint64_t after;              /* pg.ents[next] is the entry after this cookie */
	bool plus;
	bool have;
};

static void dir_forget(struct fs_dir *dir)
{
	if (dir->have)
		gd_ns_readdir_release(&dir->pg);
	dir->have = false;
}

/* The entry after `cookie` (NULL at the end), from the cached page when it
 * continues there, else from a new page. Caller holds dir->mu. */
static int dir_peek(struct fs_mount *m, struct fs_dir *dir, uint64_t ino, uint64_t cookie,
		    bool plus, struct gd_ns_dirent **out)
{
	if (!(dir->have && dir->plus == plus && dir->after == cookie &&
	      (dir->next < dir->pg.n || dir->pg.eof))) {
		dir_forget(dir);
		int rc = gd_ns_readdir(m->meta, ino, cookie, FS_DIR_PAGE, plus, &dir->pg);
		if (rc)
			return rc;
		dir->have = true;
		dir->plus = plus;
		dir->after = cookie;
		dir->next = 0;
	}
	*out = dir->next < dir->pg.n ? &dir->pg.ents[dir->next] : NULL;
	return 0;
}

/* readdir and readdirplus: "." (offset 1) and ".." (offset 2) from here, then
 * the meta's entries, each with its stable cookie as the offset to resume
 * after it. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus,
		       struct fuse_file_info *fi)
{
	struct fs_mount *m = mnt_of(req);
	uint64_t dir_ino = to_meta(m, ino);
	struct fs_dir local = { .have = false };
	struct fs_dir *dir = fi && fi->fh ? (struct fs_dir *)(uintptr_t)fi->fh : &local;
	char *buf = gd_malloc(size ? size : 1);
	size_t used = 0;
	int rc = 0;

	if (!buf) {
		reply_status(req, GD_ENOMEM);
		return;
	}
	if (off < 0) {
		gd_free(buf);
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (dir != &local)
		pthread_mutex_lock(&dir->mu);
	if (off == 0)
		dir_forget(dir); /* opendir or rewinddir: a fresh listing */
	/* "." and ".." (the kernel does not count lookups of these). */
	for (off_t k = off; k < 2; k++) {
		const char *name = k == 0 ? "." : "..";
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_ino = k == 0 || ino == FUSE_ROOT_ID ? ino : FUSE_ROOT_ID;
		st.st_mode = S_IFDIR;
		size_t n;
		if (plus) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof(e));
			e.attr = st;
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, k + 1);
		} else {
			n = fuse_add_direntry(req, buf + used, size - used, name, &st, k + 1);
		}
		if (n > size - used)
			goto reply;
		used += n;
	}
	uint64_t cookie = off >= 3 ? (uint64_t)off : 0;
	for (;;) {
		struct gd_ns_dirent *d;
		rc = dir_peek(m, dir, dir_ino, cookie, plus, &d);
		if (rc || !d)
			break;
		size_t n;
		if (plus) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof(e));
			if (d->has_attr) {
				/* Counted only once the entry is in the buffer. */
				struct gd_attr a = d->attr;
				e.ino = to_fuse(m, d->ino);
				struct fs_inode *in = fs_inode_find(m->it, d->ino);
				if (in) {
					fs_data_attr_overlay(in, &a);
					fs_inode_put(m->it, in);
				}
				gd_ns_attr_to_stat(&a, e.ino, &e.attr);
				e.generation = d->attr.generation;
				e.attr_timeout = m->attr_timeout;
				e.entry_timeout = m->entry_timeout;
			} else {
				e.attr.st_ino = to_fuse(m, d->ino);
				e.attr.st_mode = d->type;
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used, d->name, &e,
						   (off_t)d->cookie);
			if (n <= size - used && d->has_attr &&
			    fs_inode_lookup_add(m->it, d->ino, &d->attr) != 0) {
				/* Cannot count it: leave it for the next call. */
				n = size + 1;
			}
		} else {
			struct stat st;
			memset(&st, 0, sizeof(st));
			st.st_ino = to_fuse(m, d->ino);
			st.st_mode = d->type;
			n = fuse_add_direntry(req, buf + used, size - used, d->name, &st,
					      (off_t)d->cookie);
		}
		if (n > size - used)
			break;
		used += n;
		cookie = d->cookie;
		dir->after = cookie;
		dir->next++;
	}
reply:
	if (dir == &local)
		dir_forget(dir);
	else
		pthread_mutex_unlock(&dir->mu);
	if (rc && used == 0)
		reply_status(req, rc);
	else
		fuse_reply_buf(req, buf, used);
	gd_free(buf);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_dir *dir = gd_calloc(1, sizeof(*dir));
	if (!dir) {
		reply_status(req, GD_ENOMEM);
		return;
	}
	pthread_mutex_init(&dir->mu, NULL);
	fi->fh = (uintptr_t)dir;
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_destroy(&dir->mu);
		gd_free(dir);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_dir *dir = (struct fs_dir *)(uintptr_t)fi->fh;
	if (dir) {
		dir_forget(dir);
		pthread_mutex_destroy(&dir->mu);
		gd_free(dir);
	}
	fuse_reply_err(req, 0);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true, fi);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct fs_mount *m = mnt_of(req);
	struct statvfs st;
	int rc = gd_ns_statfs(m->meta, m->root, &st);
	if (rc)
		reply_status(req, rc);
	else
		fuse_reply_statfs(req, &st);
}

/* ---- extended attributes ---- */

/* Names the kernel may pass that the meta would refuse anyway. */
static int xattr_name_ok(const char *name)
{
	size_t len = strnlen(name, GD_NS_XATTR_NAME_MAX + 1);
	if (len == 0 || len > GD_NS_XATTR_NAME_MAX)
		return GD_ERANGE;
	return 0;
}

/* Replies to getxattr/listxattr: the size for a probe, ERANGE when the
 * caller's buffer is too small, else the bytes. */
static void reply_xattr_value(fuse_req_t req, size_t size, const void *val, size_t len)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs_mount *m = mnt_of(req);
	uint64_t mino = to_meta(m, ino);
	bool caps = strcmp(name, CAPS_NAME) == 0;
	struct fs_inode *in = NULL;
	int rc = xattr_name_ok(name);
	if (rc) {
		reply_status(req, rc);
		return;
	}
	/* The kernel asks for security.capability before every write: answer
	 * from the entry while it is known to be absent. */
	if (caps) {
		in = fs_inode_get(m->it, mino);
		if (in) {
			pthread_mutex_lock(&in->mu);
			bool absent = in->nocaps_until_ms > mono_ms();
			pthread_mutex_unlock(&in->mu);
			if (absent) {
				fs_inode_put(m->it, in);
				fuse_reply_err(req, ENODATA);
				return;
			}
		}
	}
	void *val = NULL;
	size_t len = 0;
	rc = gd_ns_getxattr(m->meta, mino, name, &val, &len);
	if (in) {
		if (rc == GD_ENODATA) {
			int64_t ttl = (int64_t)(m->attr_timeout * 1000);
			pthread_mutex_lock(&in->mu);
			in->nocaps_until_ms = mono_ms() + (ttl > 1000 ? ttl : 1000);
			pthread_mutex_unlock(&in->mu);
		}
		fs_inode_put(m->it, in);
	}
	if (rc)
		reply_status(req, rc);
	else
		reply_xattr_value(req, size, val, len);
	gd_free(val);
}

/* Forgets that the inode has no security.capability (it may have one now). */
static void caps_changed(struct fs_mount *m, uint64_t mino, const char *name)
{
	if (strcmp(name, CAPS_NAME) != 0)
		return;
	struct fs_inode *in = fs_inode_find(m->it, mino);
	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	in->nocaps_until_ms = 0;
	pthread_mutex_unlock(&in->mu);
	fs_inode_put(m->it, in);
}

/* Whether setting the access ACL must clear the set-group-id bit: the kernel
 * asks that (FUSE_SETXATTR_ACL_KILL_SGID) only of file systems with the
 * extended setxattr request, which libfuse 3.14 does not take, so the test of
 * posix_acl_update_mode() is made here: the file is set-group-id and the
 * caller is neither root nor in its group. One GETATTR, only then. */
static bool acl_kill_sgid(fuse_req_t req, struct fs_mount *m, uint64_t mino)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	struct gd_attr a;
	int n;

	if (ctx->uid == 0 || gd_ns_getattr(m->meta, mino, &a) != 0 ||
	    !(a.mode & S_ISGID) || ctx->gid == a.gid)
		return false;
	n = fuse_req_getgroups(req, (int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (int i = 0; i < n && i < (int)(sizeof(groups) / sizeof(groups[0])); i++)
		if (groups[i] == a.gid)
			return false;
	/* Not in the group, or the groups are unknown (more than 64, or no
	 * /proc): clear it, as for a caller outside the group. */
	return true;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct fs_mount *m = mnt_of(req);
	uint64_t mino = to_meta(m, ino);
	uint32_t xflags = (uint32_t)flags;
	int rc = xattr_name_ok(name);
	if (rc == 0 && size > GD_NS_XATTR_VALUE_MAX)
		rc = GD_E2BIG;
	if (rc == 0 && (flags & ~(XATTR_CREATE | XATTR_REPLACE)))
		rc = GD_EINVAL;
	if (rc == 0 && m->posix_acl && strcmp(name, "system.posix_acl_access") == 0 &&
	    acl_kill_sgid(req, m, mino))
		xflags |= GD_NS_XATTR_ACL_KILL_SGID;
	if (rc == 0) {
		caps_changed(m, mino, name);
		rc = gd_ns_setxattr(m->meta, mino, name, value, size, xflags);
	}
	reply_status(req, rc);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_mount *m = mnt_of(req);
	void *val = NULL;
	size_t len = 0;
	int rc = gd_ns_listxattr(m->meta, to_meta(m, ino), &val, &len);
	if (rc)
		reply_status(req, rc);
	else
		reply_xattr_value(req, size, val, len);
	gd_free(val);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs_mount *m = mnt_of(req);
	uint64_t mino = to_meta(m, ino);
	int rc = xattr_name_ok(name);
	if (rc == 0) {
		caps_changed(m, mino, name);
		rc = gd_ns_removexattr(m->meta, mino, name);
	}
	reply_status(req, rc);
}

size_t fs_ops_open_inodes(void *ctx, uint64_t *ino, size_t max)
{
	struct fs_mount *m = ctx;
	return m->it ? fs_itable_open_inodes(m->it, ino, max) : 0;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.getlk = op_getlk,
	.setlk = op_setlk,
	.flock = op_flock,
	.opendir = op_opendir,
	.releasedir = op_releasedir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.setxattr = op_setxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
};
