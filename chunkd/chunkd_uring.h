/* The disk I/O engine of chunkd: positioned reads, writes and fdatasync on
 * chunk files through liburing, one ring per calling thread (each gd_server
 * worker gets its own ring the first time it does I/O, so requests of several
 * workers overlap in the kernel without sharing a submission queue lock).
 *
 * Where io_uring_queue_init fails (a kernel or container that forbids it) or
 * the engine is created with force_fallback, the same calls run as
 * pread/pwrite/fdatasync; the switch is logged once per engine.
 *
 * Every call completes the whole transfer (short transfers are resubmitted)
 * except reads, which stop at end of file: *done says how much was read. */
#ifndef CHUNKD_URING_H
#define CHUNKD_URING_H

#include <stddef.h>
#include <stdint.h>

struct chunkd_uring;

/* One read or write of a batch. */
struct chunkd_uring_op {
	int fd;
	int write;          /* 0 = read, 1 = write */
	void *buf;
	size_t len;
	uint64_t off;
	size_t done;        /* out: bytes transferred (reads: short at EOF) */
};

/* Creates an engine. Returns 0 or GD_ENOMEM. */
int chunkd_uring_create(int force_fallback, struct chunkd_uring **out);
/* Frees every ring the engine made (call once no thread uses it). */
void chunkd_uring_destroy(struct chunkd_uring *u);

/* Whether this engine uses io_uring (1) or pread/pwrite (0) on this thread. */
int chunkd_uring_active(struct chunkd_uring *u);

/* Runs the ops concurrently (one submission for the batch) and waits for all
 * of them. Returns 0 or the first error as a GD_E* code (GD_EIO, GD_ENOSPC,
 * ...); the ops that succeeded still have `done` set. */
int chunkd_uring_run(struct chunkd_uring *u, struct chunkd_uring_op *ops, int n);

/* fdatasync(fd) through the ring. Returns 0 or a GD_E* code. */
int chunkd_uring_fdatasync(struct chunkd_uring *u, int fd);

#endif
