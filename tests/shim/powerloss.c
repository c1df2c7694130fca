/* A simulated power loss of one data directory, for crash tests: an
 * LD_PRELOAD shim (the machine has no device-mapper, so no dm-log-writes).
 *
 * Every pwrite(2) and ftruncate(2) to a file under $GODFS_PL_DIR first saves
 * the bytes (and the file size) it replaces: an undo record of the file,
 * keyed by device and inode (so renames do not matter). fdatasync(2) or
 * fsync(2) of the file forgets its records: that state survives. A power loss
 * (godfs_powerloss_now(), called by a chunkd fault point with ":power", or
 * the file $GODFS_PL_TRIGGER appearing) undoes the records newest first, then
 * ends the process with _exit(137), as a host that lost power would never
 * finish anything it was doing:
 *   GODFS_PL_MODE=drop  every write not synced is lost, the sizes too;
 *   GODFS_PL_MODE=tear  (default) each 4 KiB page of each write not synced
 *                       is kept or lost at random, and so is each size change
 *                       (GODFS_PL_SEED seeds the choice).
 * Directory operations (create, rename, unlink) are not undone: the model is
 * a journalling file system that keeps them in order, and chunkd syncs its
 * directories where a name has to survive. The shim takes one lock around
 * every write it records, so a power loss never sees half a record. It is
 * only built for tests (make check) and works only where chunkd does its
 * file I/O with pwrite/ftruncate/fdatasync, i.e. with --force-pread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

struct undo {
	off_t off;
	size_t len;
	uint8_t *old;          /* len bytes: what was there (zeros past the end) */
	off_t old_size;
	struct undo *prev;
};

struct file {
	dev_t dev;
	ino_t ino;
	int fd;                /* a dup, so that a renamed or closed file can be undone */
	struct undo *last;
	struct file *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char root[PATH_MAX];
static size_t root_len;
static int tear = 1;
static unsigned seed = 1;
static struct file *files;          /* mu */

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);

static void resolve(void)
{
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
	real_ftruncate = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
	real_ftruncate64 = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate64");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (!real_pwrite64)
		real_pwrite64 = real_pwrite;
	if (!real_ftruncate64)
		real_ftruncate64 = real_ftruncate;
}

/* Whether fd is a regular file under the data dir. */
static int tracked(int fd)
{
	char link[64], path[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (root_len == 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return strncmp(path, root, root_len) == 0 && path[root_len] == '/';
}

static struct file *file_of(int fd, int create)
{
	struct stat st;
	struct file *f;

	if (fstat(fd, &st) != 0)
		return NULL;
	for (f = files; f; f = f->next)
		if (f->dev == st.st_dev && f->ino == st.st_ino)
			return f;
	if (!create)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	f->next = files;
	files = f;
	return f;
}

static void forget(struct file *f)
{
	while (f->last) {
		struct undo *u = f->last;
		f->last = u->prev;
		free(u->old);
		free(u);
	}
}

/* Saves what [off, off + len) of fd holds now (mu held). */
static void record(int fd, off_t off, size_t len)
{
	struct file *f = file_of(fd, 1);
	struct undo *u;
	struct stat st;

	if (!f || f->fd < 0 || fstat(fd, &st) != 0)
		return;
	u = calloc(1, sizeof(*u));
	if (!u)
		return;
	u->old = calloc(1, len ? len : 1);
	if (!u->old) {
		free(u);
		return;
	}
	u->off = off;
	u->len = len;
	u->old_size = st.st_size;
	if (off < st.st_size) {
		size_t have = (size_t)(st.st_size - off) < len ? (size_t)(st.st_size - off) : len;
		if (pread(f->fd, u->old, have, off) < 0)
			memset(u->old, 0, have);
	}
	u->prev = f->last;
	f->last = u;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r;

	if (!real_pwrite)
		resolve();
	if (!tracked(fd))
		return real_pwrite(fd, buf, n, off);
	pthread_mutex_lock(&mu);
	record(fd, off, n);
	r = real_pwrite(fd, buf, n, off);
	pthread_mutex_unlock(&mu);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

int ftruncate(int fd, off_t len)
{
	struct stat st;
	int r;

	if (!real_ftruncate)
		resolve();
	if (!tracked(fd) || fstat(fd, &st) != 0)
		return real_ftruncate(fd, len);
	pthread_mutex_lock(&mu);
	if (len < st.st_size)
		record(fd, len, (size_t)(st.st_size - len));
	else
		record(fd, st.st_size, 0);
	r = real_ftruncate(fd, len);
	pthread_mutex_unlock(&mu);
	return r;
}

int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

static int synced(int fd, int (*real)(int))
{
	struct file *f;
	int r;

	if (!tracked(fd))
		return real(fd);
	pthread_mutex_lock(&mu);
	r = real(fd);
	if (r == 0 && (f = file_of(fd, 0)) != NULL)
		forget(f);
	pthread_mutex_unlock(&mu);
	return r;
}

int fdatasync(int fd)
{
	if (!real_fdatasync)
		resolve();
	return synced(fd, real_fdatasync);
}

int fsync(int fd)
{
	if (!real_fsync)
		resolve();
	return synced(fd, real_fsync);
}

static int coin(void)
{
	return rand_r(&seed) & 1;
}

/* Undoes one record: all of it (drop) or a random half of its pages (tear). */
static void undo_one(struct file *f, const struct undo *u)
{
	off_t at = u->off;
	off_t end = u->off + (off_t)u->len;

	while (at < end) {
		off_t next = (at / PAGE + 1) * PAGE;
		if (next > end)
			next = end;
		if (!tear || coin())
			if (real_pwrite(f->fd, u->old + (at - u->off), (size_t)(next - at), at) < 0)
				perror("powerloss: undo");
		at = next;
	}
	if (!tear || coin())
		if (real_ftruncate(f->fd, u->old_size) != 0)
			perror("powerloss: undo size");
}

/* Exported: the power goes out now. */
void godfs_powerloss_now(void);
void godfs_powerloss_now(void)
{
	size_t n = 0;

	if (!real_pwrite)
		resolve();
	pthread_mutex_lock(&mu);   /* never released: nothing is written after this */
	for (struct file *f = files; f; f = f->next) {
		for (struct undo *u = f->last; u; u = u->prev, n++)
			undo_one(f, u);
		/* what the undo wrote stands for "the disk": make it real */
		if (f->fd >= 0)
			real_fdatasync(f->fd);
	}
	fprintf(stderr, "powerloss: power lost (%s), %zu unsynced writes undone\n",
		tear ? "torn at 4 KiB" : "dropped", n);
	_exit(137);
}

/* Polls for the trigger file, with every signal blocked (so that the
 * daemon's own signal handling is not disturbed). */
static void *watch(void *arg)
{
	const char *trigger = arg;
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		if (access(trigger, F_OK) == 0)
			godfs_powerloss_now();
		nanosleep(&ts, NULL);
	}
	return NULL;
}

__attribute__((constructor)) static void init(void)
{
	const char *dir = getenv("GODFS_PL_DIR");
	const char *mode = getenv("GODFS_PL_MODE");
	const char *s = getenv("GODFS_PL_SEED");
	const char *trigger = getenv("GODFS_PL_TRIGGER");
	pthread_t th;

	resolve();
	if (!dir || !realpath(dir, root)) {
		root[0] = '\0';
		return;
	}
	root_len = strlen(root);
	tear = !(mode && strcmp(mode, "drop") == 0);
	seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	if (trigger && *trigger) {
		static char tpath[PATH_MAX];
		snprintf(tpath, sizeof(tpath), "%s", trigger);
		if (pthread_create(&th, NULL, watch, tpath) == 0)
			pthread_detach(th);
	}
}
