/* godfs_fsx: a random-operation data checker for one file, seen through one
 * or two paths (two mounts of the same file system).
 *
 * It keeps the file's expected contents in memory (the model) and applies
 * random operations both to the file and to the model: buffered pwrite and
 * pread, O_DIRECT reads and writes, io_uring (AIO) reads and writes, shared
 * mmap reads and writes, ftruncate up and down, copy_file_range inside the
 * file, fallocate (allocate, keep size, punch hole, zero range), SEEK_DATA
 * and SEEK_HOLE, fsync, close and reopen with the page cache dropped, and,
 * with a second path, close on one mount and open on the other
 * (close-to-open). Every read is checked against the model; the first
 * difference stops the run with the seed, the operation log and the bytes.
 *
 *   godfs_fsx [-n OPS] [-s SEED] [-S MAXSIZE] [-l MAXLEN] [-o OPSET] [-v] FILE [FILE2]
 *
 * OPSET is a list of letters (default: all that apply):
 *   w buffered write   r buffered read    d O_DIRECT      a io_uring
 *   m mmap             t truncate         c copy_file_range
 *   f fallocate        h SEEK_DATA/HOLE   s fsync         o close/reopen
 *   x switch mount (needs FILE2)
 * Exit status: 0 every check passed, 1 a check failed, 2 usage or setup. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ALIGN 4096u
#define LOG_KEEP 64

static const char *paths[2];
static int npaths;
static int cur;                  /* the path in use */
static int fd = -1;              /* buffered handle */
static int dfd = -1;             /* O_DIRECT handle, opened when first needed */
static unsigned char *model;     /* expected bytes, maxsize long */
static uint64_t msize;           /* expected size */
static uint64_t maxsize = 3u << 20;
static uint64_t maxlen = 256u << 10;
static unsigned char *buf, *gbuf; /* scratch, aligned, maxsize + ALIGN */
static uint64_t seed;
static uint64_t opno;
static bool verbose;
static struct io_uring ring;
static bool have_ring;

static char oplog[LOG_KEEP][128];

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* splitmix64: the same seed gives the same run on every machine. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void logop(const char *fmt, ...)
{
	va_list ap;
	char *s = oplog[opno % LOG_KEEP];
	int k = snprintf(s, sizeof(oplog[0]), "%6" PRIu64 " [%d] ", opno, cur);
	va_start(ap, fmt);
	vsnprintf(s + k, sizeof(oplog[0]) - (size_t)k, fmt, ap);
	va_end(ap);
	if (verbose)
		fprintf(stderr, "%s\n", s);
}

static void dump_log(void)
{
	uint64_t from = opno >= LOG_KEEP - 1 ? opno - (LOG_KEEP - 1) : 0;
	fprintf(stderr, "last operations (seed %" PRIu64 "):\n", seed);
	for (uint64_t i = from; i <= opno; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOG_KEEP]);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "godfs_fsx: FAIL at op %" PRIu64 " (seed %" PRIu64 "): ", opno, seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dump_log();
	exit(1);
}

static void hexline(const char *what, const unsigned char *p, size_t n)
{
	fprintf(stderr, "  %-8s", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", p[i]);
	fputc('\n', stderr);
}

/* got holds len bytes read at off: compare with the model. */
static void check(const char *how, uint64_t off, const unsigned char *got, size_t len)
{
	if (memcmp(got, model + off, len) == 0)
		return;
	size_t i = 0;
	while (got[i] == model[off + i])
		i++;
	size_t n = len - i < 16 ? len - i : 16;
	fprintf(stderr, "godfs_fsx: %s of %zu bytes at 0x%" PRIx64 ": first difference at 0x%" PRIx64
		" (file size 0x%" PRIx64 ")\n", how, len, off, off + i, msize);
	hexline("expected", model + off + i, n);
	hexline("got", got + i, n);
	fail("data mismatch");
}

static void fill_random(unsigned char *p, size_t n)
{
	/* Never all zeros, so that a hole or a lost write shows. */
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(rnd() % 255 + 1);
}

static void open_files(void)
{
	fd = open(paths[cur], O_RDWR);
	if (fd < 0)
		fail("open %s: %s", paths[cur], strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0)
		fail("fstat: %s", strerror(errno));
	if ((uint64_t)st.st_size != msize)
		fail("size after open on %s is 0x%jx, expected 0x%" PRIx64, paths[cur],
		     (intmax_t)st.st_size, msize);
}

static int direct_fd(void)
{
	if (dfd < 0) {
		dfd = open(paths[cur], O_RDWR | O_DIRECT);
		if (dfd < 0)
			fail("open O_DIRECT %s: %s", paths[cur], strerror(errno));
	}
	return dfd;
}

static void close_files(void)
{
	if (dfd >= 0 && close(dfd) != 0)
		fail("close (O_DIRECT): %s", strerror(errno));
	dfd = -1;
	if (fd >= 0 && close(fd) != 0)
		fail("close: %s", strerror(errno));
	fd = -1;
}

static void full_read(int f, uint64_t off, unsigned char *p, size_t len, const char *how)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(f, p + done, len - done, (off_t)(off + done));
		if (n < 0)
			fail("%s pread 0x%" PRIx64 "+%zu: %s", how, off + done, len - done,
			     strerror(errno));
		if (n == 0)
			fail("%s pread 0x%" PRIx64 "+%zu: end of file before 0x%" PRIx64, how,
			     off + done, len - done, msize);
		done += (size_t)n;
	}
}

static void full_write(int f, uint64_t off, const unsigned char *p, size_t len, const char *how)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(f, p + done, len - done, (off_t)(off + done));
		if (n <= 0)
			fail("%s pwrite 0x%" PRIx64 "+%zu: %s", how, off + done, len - done,
			     n < 0 ? strerror(errno) : "wrote nothing");
		done += (size_t)n;
	}
}

static void model_write(uint64_t off, const unsigned char *p, size_t len)
{
	if (off > msize)
		memset(model + msize, 0, off - msize);
	memcpy(model + off, p, len);
	if (off + len > msize)
		msize = off + len;
}

static void model_size(uint64_t size)
{
	if (size > msize)
		memset(model + msize, 0, size - msize);
	msize = size;
}

/* A random range for a write: inside maxsize, len >= 1. */
static void pick_write(uint64_t *off, size_t *len)
{
	uint64_t l = rnd_below(10) == 0 ? 1 + rnd_below(maxlen) : 1 + rnd_below(maxlen / 16 + 1);
	if (l > maxsize)
		l = maxsize;
	*off = rnd_below(maxsize - l + 1);
	*len = (size_t)l;
}

/* A random range for a read, mostly inside the file. */
static void pick_read(uint64_t *off, size_t *len)
{
	uint64_t span = msize ? msize : 1;
	*off = rnd_below(span);
	uint64_t l = 1 + rnd_below(rnd_below(8) == 0 ? maxlen : maxlen / 8 + 1);
	*len = (size_t)l;
}

static void op_write(void)
{
	uint64_t off;
	size_t len;
	pick_write(&off, &len);
	logop("write 0x%" PRIx64 " +0x%zx (size 0x%" PRIx64 ")", off, len, msize);
	fill_random(buf, len);
	full_write(fd, off, buf, len, "buffered");
	model_write(off, buf, len);
}

static void op_read(void)
{
	uint64_t off;
	size_t len;
	pick_read(&off, &len);
	logop("read 0x%" PRIx64 " +0x%zx (size 0x%" PRIx64 ")", off, len, msize);
	ssize_t n = pread(fd, gbuf, len, (off_t)off);
	if (n < 0)
		fail("pread: %s", strerror(errno));
	uint64_t want = off >= msize ? 0 : (msize - off < len ? msize - off : len);
	if ((uint64_t)n != want) {
		/* A short read is allowed only at the end of the file. */
		fail("pread 0x%" PRIx64 "+0x%zx returned %zd, expected %" PRIu64, off, len, n,
		     want);
	}
	check("buffered read", off, gbuf, (size_t)n);
}

static void aligned_range(uint64_t *off, size_t *len, uint64_t limit)
{
	uint64_t blocks = limit / ALIGN;
	if (blocks == 0) {
		*off = 0;
		*len = ALIGN;
		return;
	}
	uint64_t b = rnd_below(blocks);
	uint64_t nb = 1 + rnd_below(maxlen / ALIGN);
	if (b + nb > blocks)
		nb = blocks - b;
	if (nb == 0)
		nb = 1;
	*off = b * ALIGN;
	*len = (size_t)(nb * ALIGN);
}

static void op_direct(void)
{
	int f = direct_fd();
	uint64_t off;
	size_t len;
	if (rnd_below(2)) {
		aligned_range(&off, &len, maxsize);
		logop("direct write 0x%" PRIx64 " +0x%zx (size 0x%" PRIx64 ")", off, len, msize);
		fill_random(buf, len);
		full_write(f, off, buf, len, "O_DIRECT");
		model_write(off, buf, len);
	} else {
		aligned_range(&off, &len, msize + ALIGN);
		logop("direct read 0x%" PRIx64 " +0x%zx (size 0x%" PRIx64 ")", off, len, msize);
		ssize_t n = pread(f, gbuf, len, (off_t)off);
		if (n < 0)
			fail("O_DIRECT pread: %s", strerror(errno));
		uint64_t want = off >= msize ? 0 : (msize - off < len ? msize - off : len);
		if ((uint64_t)n != want)
			fail("O_DIRECT pread 0x%" PRIx64 "+0x%zx returned %zd, expected %" PRIu64,
			     off, len, n, want);
		check("O_DIRECT read", off, gbuf, (size_t)n);
	}
}

/* One io_uring read or write, on the buffered or the O_DIRECT handle. */
static void op_aio(void)
{
	if (!have_ring)
		return;
	bool direct = rnd_below(2);
	int f = direct ? direct_fd() : fd;
	bool write = rnd_below(2);
	uint64_t off;
	size_t len;
	if (direct)
		aligned_range(&off, &len, write ? maxsize : msize + ALIGN);
	else if (write)
		pick_write(&off, &len);
	else
		pick_read(&off, &len);
	logop("aio %s %s 0x%" PRIx64 " +0x%zx (size 0x%" PRIx64 ")", direct ? "direct" : "buffered",
	      write ? "write" : "read", off, len, msize);
	if (write)
		fill_random(buf, len);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		fail("io_uring_get_sqe: ring full");
	if (write)
		io_uring_prep_write(sqe, f, buf, (unsigned)len, off);
	else
		io_uring_prep_read(sqe, f, gbuf, (unsigned)len, off);
	int rc = io_uring_submit(&ring);
	if (rc != 1)
		fail("io_uring_submit: %s", strerror(-rc));
	struct io_uring_cqe *cqe;
	rc = io_uring_wait_cqe(&ring, &cqe);
	if (rc)
		fail("io_uring_wait_cqe: %s", strerror(-rc));
	int res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (res < 0)
		fail("aio %s: %s", write ? "write" : "read", strerror(-res));
	if (write) {
		if ((size_t)res != len)
			fail("aio write of 0x%zx wrote 0x%x", len, res);
		model_write(off, buf, len);
		return;
	}
	uint64_t want = off >= msize ? 0 : (msize - off < len ? msize - off : len);
	if ((uint64_t)res != want)
		fail("aio read 0x%" PRIx64 "+0x%zx returned %d, expected %" PRIu64, off, len, res,
		     want);
	check("aio read", off, gbuf, (size_t)res);
}

static void op_mmap(void)
{
	if (msize == 0)
		return;
	bool write = rnd_below(2);
	uint64_t off = rnd_below(msize);
	uint64_t len = 1 + rnd_below(msize - off < maxlen ? msize - off : maxlen);
	uint64_t moff = off / ALIGN * ALIGN;
	size_t mlen = (size_t)(off + len - moff);
	logop("mmap %s 0x%" PRIx64 " +0x%" PRIx64 " (size 0x%" PRIx64 ")", write ? "write" : "read",
	      off, len, msize);
	unsigned char *p = mmap(NULL, mlen, write ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
				fd, (off_t)moff);
	if (p == MAP_FAILED)
		fail("mmap 0x%" PRIx64 "+0x%zx: %s", moff, mlen, strerror(errno));
	if (write) {
		fill_random(buf, (size_t)len);
		memcpy(p + (off - moff), buf, (size_t)len);
		if (msync(p, mlen, MS_SYNC) != 0)
			fail("msync: %s", strerror(errno));
		model_write(off, buf, (size_t)len);
	} else {
		memcpy(gbuf, p + (off - moff), (size_t)len);
	}
	if (munmap(p, mlen) != 0)
		fail("munmap: %s", strerror(errno));
	if (!write)
		check("mmap read", off, gbuf, (size_t)len);
}

static void op_truncate(void)
{
	uint64_t size = rnd_below(3) == 0 ? rnd_below(msize + 1) : rnd_below(maxsize + 1);
	logop("truncate 0x%" PRIx64 " -> 0x%" PRIx64, msize, size);
	if (ftruncate(fd, (off_t)size) != 0)
		fail("ftruncate 0x%" PRIx64 ": %s", size, strerror(errno));
	model_size(size);
}

static void op_copy_range(void)
{
	if (msize < 2)
		return;
	uint64_t len = 1 + rnd_below(msize / 2 < maxlen ? msize / 2 : maxlen);
	uint64_t src = rnd_below(msize - len + 1);
	/* The destination may not overlap the source (EINVAL in one file). */
	uint64_t dst;
	for (int tries = 0;; tries++) {
		dst = rnd_below(maxsize - len + 1);
		if (dst + len <= src || src + len <= dst)
			break;
		if (tries > 20)
			return;
	}
	logop("copy_file_range 0x%" PRIx64 " -> 0x%" PRIx64 " +0x%" PRIx64 " (size 0x%" PRIx64 ")",
	      src, dst, len, msize);
	loff_t in = (loff_t)src, out = (loff_t)dst;
	uint64_t done = 0;
	while (done < len) {
		ssize_t n = copy_file_range(fd, &in, fd, &out, (size_t)(len - done), 0);
		if (n < 0)
			fail("copy_file_range: %s", strerror(errno));
		if (n == 0)
			fail("copy_file_range copied nothing at 0x%" PRIx64, src + done);
		done += (uint64_t)n;
	}
	memcpy(buf, model + src, (size_t)len);
	model_write(dst, buf, (size_t)len);
}

static void op_fallocate(void)
{
	static const struct {
		int mode;
		const char *name;
	} kinds[] = {
		{ 0, "allocate" },
		{ FALLOC_FL_KEEP_SIZE, "keep size" },
		{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "punch hole" },
		{ FALLOC_FL_ZERO_RANGE, "zero range" },
		{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "zero range keep size" },
	};
	unsigned k = (unsigned)rnd_below(sizeof(kinds) / sizeof(kinds[0]));
	uint64_t off, len;
	size_t l;
	pick_write(&off, &l);
	len = l;
	logop("fallocate %s 0x%" PRIx64 " +0x%" PRIx64 " (size 0x%" PRIx64 ")", kinds[k].name, off,
	      len, msize);
	if (fallocate(fd, kinds[k].mode, (off_t)off, (off_t)len) != 0)
		fail("fallocate %s: %s", kinds[k].name, strerror(errno));
	int mode = kinds[k].mode;
	uint64_t end = off + len;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t zend = keep && end > msize ? msize : end;
		if (off < zend) {
			if (zend > msize)
				model_size(zend);
			memset(model + off, 0, zend - off);
		}
	}
	if (!keep && end > msize)
		model_size(end);
}

/* SEEK_DATA and SEEK_HOLE may report the whole file as data; whatever they
 * report as a hole must read as zeros, and the answers must be in range. */
static void op_seek(void)
{
	uint64_t off = rnd_below(msize + 2);
	logop("seek data/hole 0x%" PRIx64 " (size 0x%" PRIx64 ")", off, msize);
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);
	off_t h = lseek(fd, (off_t)off, SEEK_HOLE);
	if (off >= msize) {
		if (d != -1 || errno != ENXIO || h != -1)
			fail("seek past the end 0x%" PRIx64 ": data %jd hole %jd (want ENXIO)", off,
			     (intmax_t)d, (intmax_t)h);
		return;
	}
	if (h < 0 || (uint64_t)h < off || (uint64_t)h > msize)
		fail("SEEK_HOLE 0x%" PRIx64 " = %jd (%s), size 0x%" PRIx64, off, (intmax_t)h,
		     h < 0 ? strerror(errno) : "out of range", msize);
	uint64_t dend = d < 0 ? msize : (uint64_t)d;
	if (d < 0 && errno != ENXIO)
		fail("SEEK_DATA 0x%" PRIx64 ": %s", off, strerror(errno));
	if (dend < off || dend > msize)
		fail("SEEK_DATA 0x%" PRIx64 " = %jd, size 0x%" PRIx64, off, (intmax_t)d, msize);
	for (uint64_t i = off; i < dend; i++)
		if (model[i])
			fail("SEEK_DATA 0x%" PRIx64 " = %jd skips data at 0x%" PRIx64, off,
			     (intmax_t)d, i);
}

static void op_fsync(void)
{
	logop("fsync");
	if (fsync(fd) != 0)
		fail("fsync: %s", strerror(errno));
}

/* Reads the whole file and checks it and its size. */
static void verify_all(const char *why)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		fail("fstat: %s", strerror(errno));
	if ((uint64_t)st.st_size != msize)
		fail("%s: size is 0x%jx, expected 0x%" PRIx64, why, (intmax_t)st.st_size, msize);
	full_read(fd, 0, gbuf, (size_t)msize, why);
	check(why, 0, gbuf, (size_t)msize);
	char c;
	ssize_t n = pread(fd, &c, 1, (off_t)msize);
	if (n != 0)
		fail("%s: a read at the end returned %zd", why, n);
}

static void op_reopen(bool other)
{
	logop(other ? "close, open on the other mount" : "close, drop cache, reopen");
	if (!other && posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
		fail("posix_fadvise: %s", strerror(errno));
	close_files();
	if (other)
		cur ^= 1;
	open_files();
	verify_all(other ? "read on the other mount" : "read after reopen");
}

static void usage(void)
{
	fprintf(stderr, "usage: godfs_fsx [-n OPS] [-s SEED] [-S MAXSIZE] [-l MAXLEN] [-o OPSET] "
			"[-v] FILE [FILE2]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t nops = 10000;
	const char *opset = "wrdamtcfhsox";
	int c;
	seed = (uint64_t)getpid();
	while ((c = getopt(argc, argv, "n:s:S:l:o:v")) != -1) {
		switch (c) {
		case 'n': nops = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'S': maxsize = strtoull(optarg, NULL, 0); break;
		case 'l': maxlen = strtoull(optarg, NULL, 0); break;
		case 'o': opset = optarg; break;
		case 'v': verbose = true; break;
		default: usage();
		}
	}
	npaths = argc - optind;
	if (npaths < 1 || npaths > 2 || maxsize < ALIGN || maxsize > (1ull << 31) || maxlen < 1)
		usage();
	if (maxlen > maxsize)
		maxlen = maxsize;
	paths[0] = argv[optind];
	paths[1] = npaths == 2 ? argv[optind + 1] : NULL;
	rng_state = seed;

	model = calloc(1, maxsize + ALIGN);
	if (posix_memalign((void **)&buf, ALIGN, maxsize + ALIGN) ||
	    posix_memalign((void **)&gbuf, ALIGN, maxsize + ALIGN) || !model) {
		fprintf(stderr, "godfs_fsx: out of memory\n");
		return 2;
	}
	have_ring = strchr(opset, 'a') && io_uring_queue_init(8, &ring, 0) == 0;

	int f = open(paths[0], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (f < 0) {
		fprintf(stderr, "godfs_fsx: create %s: %s\n", paths[0], strerror(errno));
		return 2;
	}
	close(f);
	open_files();

	/* Operations and their weights. */
	struct {
		char letter;
		unsigned weight;
	} table[] = { { 'w', 20 }, { 'r', 20 }, { 'd', 6 }, { 'a', 6 }, { 'm', 8 }, { 't', 6 },
		      { 'c', 5 }, { 'f', 5 }, { 'h', 4 }, { 's', 2 }, { 'o', 3 }, { 'x', 4 } };
	unsigned total = 0;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!strchr(opset, table[i].letter) || (table[i].letter == 'x' && npaths < 2))
			table[i].weight = 0;
		total += table[i].weight;
	}
	if (total == 0)
		usage();
	for (opno = 1; opno <= nops; opno++) {
		unsigned r = (unsigned)rnd_below(total);
		char op = 0;
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
			if (r < table[i].weight) {
				op = table[i].letter;
				break;
			}
			r -= table[i].weight;
		}
		switch (op) {
		case 'w': op_write(); break;
		case 'r': op_read(); break;
		case 'd': op_direct(); break;
		case 'a': op_aio(); break;
		case 'm': op_mmap(); break;
		case 't': op_truncate(); break;
		case 'c': op_copy_range(); break;
		case 'f': op_fallocate(); break;
		case 'h': op_seek(); break;
		case 's': op_fsync(); break;
		case 'o': op_reopen(false); break;
		case 'x': op_reopen(true); break;
		}
	}
	opno = nops;
	logop("final check");
	verify_all("final read");
	op_reopen(npaths == 2);
	close_files();
	if (have_ring)
		io_uring_queue_exit(&ring);
	printf("godfs_fsx: %" PRIu64 " operations passed (seed %" PRIu64 ", max size 0x%" PRIx64 ")\n",
	       nops, seed, maxsize);
	free(model);
	free(buf);
	free(gbuf);
	return 0;
}
