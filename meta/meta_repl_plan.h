/* The leader's re-replication plan, kept apart from the scan that feeds it
 * (meta_repl.c) so that its rules can be tested alone:
 *
 * - which chunk under goal gets a new copy first: the one with the fewest
 *   live copies left (one more loss and a chunk with one copy is gone; one
 *   with two can still lose one), then the one under goal the longest, then
 *   the lowest chunk id (a stable order);
 * - how many chunks have how many live copies (the census `godfs-admin
 *   chunks` prints), and what is left to copy;
 * - how fast copies are confirmed (a sliding window of seconds), and the
 *   ETA that follows.
 *
 * Pure: no I/O, no clock (every call takes now_ms), no meta state. Not
 * thread-safe: the meta's loop thread owns every instance. */
#ifndef META_REPL_PLAN_H
#define META_REPL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One chunk under goal that the scan found ready to copy (no lease, no copy
 * on its way, a live source). */
struct meta_repl_cand {
	uint64_t chunk_id;        /* 0 = taken (see meta_repl_plan_take) */
	uint32_t live;            /* live copies at its version */
	uint32_t goal;
	uint64_t under_since_ms;  /* first seen under goal (monotonic ms) */
	uint64_t bytes;           /* data bytes of one copy (an estimate) */
};

/* qsort comparator of the priority: <0 when a goes first. */
int meta_repl_cand_cmp(const void *a, const void *b);

/* Candidates in priority order once sorted. v[head..n) are the ones not
 * taken yet (entries in between may be taken: chunk_id 0). */
struct meta_repl_plan {
	struct meta_repl_cand *v;
	size_t n;
	size_t cap;
	size_t head;
};

void meta_repl_plan_init(struct meta_repl_plan *p);
/* Frees the array; the plan is empty (and may be used again) after. */
void meta_repl_plan_release(struct meta_repl_plan *p);
/* Empties the plan, keeping its memory. */
void meta_repl_plan_reset(struct meta_repl_plan *p);
/* Appends a copy of *c. 0 or GD_ENOMEM (the plan is unchanged). */
int meta_repl_plan_add(struct meta_repl_plan *p, const struct meta_repl_cand *c);
/* Sorts by meta_repl_cand_cmp and starts from the first. */
void meta_repl_plan_sort(struct meta_repl_plan *p);
/* Exchanges two plans (a scan pass fills one while the other is served). */
void meta_repl_plan_swap(struct meta_repl_plan *a, struct meta_repl_plan *b);
/* Marks v[i] taken (ordered, or gone); head moves past taken entries. */
void meta_repl_plan_take(struct meta_repl_plan *p, size_t i);
/* Candidates not taken yet. */
size_t meta_repl_plan_left(const struct meta_repl_plan *p);

/* ---- census ---- */

#define META_REPL_HIST 8    /* chunks under goal by live copies 0..7 (7 = 7 or more) */

#define META_REPL_COPIES 5  /* every chunk by live copies 0..4 (4 = 4 or more) */

struct meta_repl_census {
	uint64_t by_live[META_REPL_COPIES]; /* every chunk, at goal or not */
	uint64_t under_by_live[META_REPL_HIST];
	uint64_t under_goal;
	uint64_t at_goal;
	uint64_t over_goal;
	uint64_t copies_todo;   /* missing copies of the chunks under goal */
	uint64_t bytes_todo;    /* their bytes (bytes of one copy each) */
};

/* Counts one chunk with live copies of goal, bytes per copy. */
void meta_repl_census_add(struct meta_repl_census *c, uint32_t live, uint32_t goal,
			  uint64_t bytes);

/* The data bytes of the chunk at index of a file of file_size, in chunks of
 * chunk_size: what a copy of it moves at most (a sparse chunk moves less). */
uint64_t meta_repl_chunk_bytes(uint64_t file_size, uint64_t index, uint64_t chunk_size);

/* ---- rate and ETA ---- */

#define META_REPL_RATE_SECS 10  /* the rate is over the last this many seconds */

/* Copies confirmed per second, over a window of whole seconds. */
struct meta_repl_rate {
	uint64_t sec[META_REPL_RATE_SECS];     /* which second (now_ms / 1000) a slot holds */
	uint64_t bytes[META_REPL_RATE_SECS];
	uint64_t copies[META_REPL_RATE_SECS];
	uint64_t first_ms;                     /* the first copy counted (0 = none) */
	uint64_t total_bytes;
	uint64_t total_copies;
};

void meta_repl_rate_init(struct meta_repl_rate *r);
/* One copy of bytes confirmed at now_ms. */
void meta_repl_rate_add(struct meta_repl_rate *r, uint64_t now_ms, uint64_t bytes);
/* Bytes and thousandths of copies per second over the window (or over the
 * time since the first copy, when that is shorter; at least one second). */
void meta_repl_rate_get(const struct meta_repl_rate *r, uint64_t now_ms, uint64_t *bps,
			uint64_t *mcps);

#define META_REPL_ETA_UNKNOWN UINT64_MAX
/* Seconds to copy what is left at the current rate: 0 when nothing is
 * left, META_REPL_ETA_UNKNOWN when nothing is moving. The slower of the
 * byte and the copy estimate (many small copies are bound by count, few
 * large ones by bytes). */
uint64_t meta_repl_eta_s(uint64_t copies_todo, uint64_t bytes_todo, uint64_t bps,
			 uint64_t mcps);

#endif
