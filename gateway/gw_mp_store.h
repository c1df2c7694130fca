/* The staging area of multipart uploads, inside godfs itself so that any
 * gateway of several serves any step of any upload (docs/gateway.md
 * "Multipart uploads"). Every call goes through the gateway's own session
 * (the cluster key), the only one that reaches it:
 *
 *   /.godfs-gateway/uploads/            0700 root, made at the first init
 *     <id>/                             one upload (id: 32 hex digits)
 *       manifest                        JSON (gw_mp_rules.h), temp name + rename
 *       data                            zero-copy uploads: one sparse file, part
 *                                       N at (N - 1) * part_size
 *       part-N                          one per staged part, its record in the
 *                                       xattr user.godfs.part; the part's bytes
 *                                       (where=file) or empty (where=data);
 *                                       written under a temp name and renamed,
 *                                       so a re-upload replaces it whole
 *       complete                        the lock of a complete in progress
 *                                       (xattr: where its temp file is)
 *       writing-N-<16 hex>              one per part upload running (its mtime
 *                                       moves every GW_MP_LOCK_TOUCH_S)
 *
 * A part upload and a complete exclude each other through the meta, which
 * orders every call: a part upload makes its writing- marker, THEN checks
 * that no complete holds the lock (and, writing into the data file, that
 * the data file is still there); a complete takes the lock, THEN refuses
 * (409) while a fresh marker exists. Whichever came second sees the other,
 * so no part writes into a data file that a complete moves into place. A
 * part upload checks again before each write it sends and before its
 * fsync; the only window left is a write that stays in flight more than
 * GW_MP_LOCK_STALE_S - GW_MP_LOCK_TOUCH_S seconds after its check (a
 * marker that old counts as abandoned).
 *
 * Nothing here is cached across calls: another gateway may change any of it
 * at any time, and the meta orders what two of them do. Thread-safe: the
 * store keeps only the open counts of data files (under mu). */
#ifndef GW_MP_STORE_H
#define GW_MP_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gw_mp_rules.h"

struct gd_client;

#define GW_MP_ROOT_DIR ".godfs-gateway"
#define GW_MP_UPLOADS_DIR "uploads"
#define GW_MP_BLOCK (4u << 20)          /* bytes buffered per part upload */
/* a complete lock whose mtime is older than this is abandoned (its gateway
 * died): the holder touches it every GW_MP_LOCK_TOUCH_S while it copies */
#define GW_MP_LOCK_STALE_S 120
#define GW_MP_LOCK_TOUCH_S 30

struct gw_mp_open;                      /* a data file open in this process */

#define GW_MP_NOTE_MAX 320              /* bytes of a lock's note */
#define GW_MP_MARK_PREFIX "writing-"

/* A complete lock this process holds. */
struct gw_mp_lock {
	uint64_t ino;                   /* the lock file it made */
	/* the note of an abandoned lock it took over ("" when none): where
	 * that complete's temp file is */
	char prev_note[GW_MP_NOTE_MAX];
};

struct gw_mp_store {
	struct gd_client *sys;          /* the gateway's session; not owned */
	pthread_mutex_t mu;
	struct gw_mp_open *opens;       /* under mu */
};

/* One upload as a step finds it. */
struct gw_mp_upload {
	struct gw_mp_manifest m;
	uint64_t dir_ino;               /* uploads/<id> */
	uint64_t data_ino;              /* uploads/<id>/data; 0 when not zero-copy, or
					 * when a complete moved it out (and died) */
};

int gw_mp_store_init(struct gw_mp_store *s, struct gd_client *sys);
void gw_mp_store_release(struct gw_mp_store *s);

/* A new upload id (GW_MP_ID_LEN hex + NUL) from the system's random source. */
int gw_mp_new_id(char out[GW_MP_ID_LEN + 1]);

/* Makes the upload's directory, its data file (m->zero_copy) and its
 * manifest; the upload exists once the manifest is renamed into place.
 * Fills u. */
int gw_mp_store_create(struct gw_mp_store *s, const struct gw_mp_manifest *m,
		       struct gw_mp_upload *u);

/* Finds upload id: 0 and *u, or GD_ENOENT when there is none, its manifest
 * is unreadable, or it expired before now (unix seconds). */
int gw_mp_store_find(struct gw_mp_store *s, const char *id, int64_t now,
		     struct gw_mp_upload *u);

/* The staged parts of u, sorted by number, each with its inode: *out is
 * gd_malloc'd (NULL when *n is 0). A part whose record cannot be read is
 * left out (logged): it is as if it had not been uploaded. */
struct gw_mp_staged {
	struct gw_mp_part part;
	uint64_t ino;                   /* part-N (where=file: the bytes) */
};
int gw_mp_store_parts(struct gw_mp_store *s, const struct gw_mp_upload *u,
		      struct gw_mp_staged **out, size_t *n);

/* ---- one part upload: begin, write the body piece by piece, end ---- */
struct gw_mp_writer;
/* Stages part `number` of u. content_length is the declared body size, or
 * -1 (chunked): a zero-copy upload writes a part into the data file only when
 * the size is known and at most part_size, otherwise into its own file. A
 * body over GW_MP_MAX_PART_SIZE fails in gw_mp_part_write with GD_EFBIG. */
/* max_bytes: the most bytes this part may have (GW_MP_MAX_PART_SIZE, or
 * less under --max-upload: GD_EFBIG past it); block: bytes buffered
 * (GW_MP_BLOCK, or less past --upload-mem). GD_EBUSY when a complete runs,
 * GD_ENOENT when the upload is gone. */
int gw_mp_part_begin(struct gw_mp_store *s, const struct gw_mp_upload *u, uint32_t number,
		     int64_t content_length, uint64_t max_bytes, size_t block,
		     struct gw_mp_writer **out);
int gw_mp_part_write(struct gw_mp_writer *w, const void *data, size_t len);
/* Writes what is buffered, makes it durable, records the part (rename into
 * place). 0 and *out, or an error (the part is then not staged). */
int gw_mp_part_end(struct gw_mp_writer *w, struct gw_mp_part *out);
/* Frees w; a part not ended is dropped (its temp file removed). */
void gw_mp_part_free(struct gw_mp_writer *w);

/* Reads len bytes at off of a staged part into buf: 0, or an error (GD_EIO
 * when the part is shorter than its record says). */
int gw_mp_store_read(struct gw_mp_store *s, const struct gw_mp_upload *u,
		     const struct gw_mp_staged *p, uint64_t off, void *buf, size_t len);

/* ---- the complete lock ---- */
/* Takes the lock of u, recording note (where the complete's temp file is:
 * "<dir ino> <name>", or "-"): *out. GD_EBUSY when another complete holds
 * it (and touched it less than GW_MP_LOCK_STALE_S ago). An abandoned lock
 * is taken over atomically (a rename the meta applies only while the lock
 * is the very file, untouched, that was judged abandoned: two takers never
 * both win), its note kept in out->prev_note. Completes, aborts and the
 * expiry all take it. */
int gw_mp_store_lock(struct gw_mp_store *s, const struct gw_mp_upload *u, const char *note,
		     struct gw_mp_lock *out);
/* Whether the lock is still l (not taken over after a stall): checked
 * before each step that cannot be undone. */
bool gw_mp_store_lock_held(struct gw_mp_store *s, const struct gw_mp_upload *u,
			   const struct gw_mp_lock *l);
/* Whether a complete holds a lock that is not abandoned (part uploads are
 * refused meanwhile). */
bool gw_mp_store_locked(struct gw_mp_store *s, const struct gw_mp_upload *u);
/* Moves the lock's mtime to now (a long copy), if it is still l. */
void gw_mp_store_touch(struct gw_mp_store *s, const struct gw_mp_upload *u,
		       const struct gw_mp_lock *l);
/* Releases l, if it is still l. */
void gw_mp_store_unlock(struct gw_mp_store *s, const struct gw_mp_upload *u,
			const struct gw_mp_lock *l);
/* The part uploads of u running now (fresh writing- markers) into *n. */
int gw_mp_store_writers(struct gw_mp_store *s, const struct gw_mp_upload *u, unsigned *n);

/* Removes the upload's directory and everything in it (and the temp file a
 * dead complete left in the target directory, from the lock's note and
 * from extra_note, may be NULL: a lock's prev_note). GD_ENOENT when it is
 * already gone. The caller holds the lock (gw_mp_store_lock). */
int gw_mp_store_remove(struct gw_mp_store *s, const char *id, const char *extra_note);

/* Removes every upload that expired before now (an upload without a
 * readable manifest: when its directory is older than orphan_s), except one
 * a complete is finishing: it takes the lock first (GD_EBUSY: left alone);
 * *removed counts them; *active (may be NULL) the uploads left. */
int gw_mp_store_expire(struct gw_mp_store *s, int64_t now, int64_t orphan_s,
		       unsigned *removed, unsigned *active);

/* The data file, open in this process while a part writes into it or a
 * complete moves it: counted, so that the last one out drops the client's
 * write leases (gd_client_release). */
void gw_mp_store_data_ref(struct gw_mp_store *s, uint64_t ino);
void gw_mp_store_data_unref(struct gw_mp_store *s, uint64_t ino);

#endif
