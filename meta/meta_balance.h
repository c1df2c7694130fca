/* The leader's bookkeeping of where copies should be, beside the
 * re-replication scan (meta_repl.c): per scan pass, the chunks
 * whose live copies share a rack or zone (for `godfs-admin placement`) and
 * the copies each node holds (drain progress); per chunk at its goal,
 * whether a copy should move (drain, labels, disk balance: meta_place.h)
 * and at what rate; and which copy goes when a chunk is above its goal.
 *
 * Soft state, rebuilt by every pass; one struct meta_balance per meta
 * server, held by struct meta_server (ms->balance). Loop thread only:
 * nothing is locked. */
#ifndef META_BALANCE_H
#define META_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_fsm.h"
#include "meta_ns.h"
#include "meta_place.h"
#include "meta_registry.h"
#include "proto/wire.pb-c.h"

#define META_BALANCE_REPORT_MAX 1000    /* chunks listed by a placement report */

struct meta_balance;

/* An empty one: 0 or GD_ENOMEM. */
int meta_balance_new(struct meta_balance **out);
void meta_balance_free(struct meta_balance *bal);

struct meta_balance_opts {
	unsigned threshold_pct; /* a disk this many points from the mean: rebalance (0 = never) */
	unsigned rate;          /* label and disk moves started per second (0 = none) */
};

/* Before the scan looks at chunks in a tick: the views of the nodes, the
 * disk balance of the cluster, the move budget (it grows by rate a second,
 * up to one second's worth). */
void meta_balance_tick(struct meta_balance *bal, struct meta_registry *reg, uint64_t now_ms,
		       const struct meta_balance_opts *o);
/* A scan pass starts / ends (publishes its counts and its report). */
void meta_balance_pass_begin(struct meta_balance *bal);
void meta_balance_pass_end(struct meta_balance *bal, struct meta_registry *reg);

/* One chunk record of the pass: counts its valid copies per node, and
 * reports it when its live copies live[0..n_live) share a domain. */
void meta_balance_note(struct meta_balance *bal, struct meta_registry *reg,
		       const struct meta_fsm_chunk *c, const char *const *live, size_t n_live);

/* Whether chunk c (live[0..n_live), at least its goal, nothing pending on
 * it) should move a copy now: returns the reason and the node ids *from
 * and *to (registry strings), or META_MOVE_NONE. Drain moves are not rate
 * limited here (the caller's limit on pending copies bounds them); label
 * and disk moves spend the budget, and the caller calls meta_balance_spent
 * once the order is queued. */
enum meta_move_why meta_balance_move(struct meta_balance *bal, struct meta_registry *reg,
				     const struct meta_fsm_chunk *c, const char *const *live,
				     size_t n_live, const char **from, const char **to);
void meta_balance_spent(struct meta_balance *bal, enum meta_move_why why);

/* Which of live[0..n_live) (n_live >= 2) to drop from a chunk above its
 * goal (meta_place_victim). */
size_t meta_balance_victim(struct meta_registry *reg, const char *const *live, size_t n_live);

/* Fills an AdminPlacementResp from the last complete pass (pointers into
 * this module's state: valid until the next pass ends); limit 0 = all
 * (at most META_BALANCE_REPORT_MAX). The caller frees only the arrays
 * through meta_balance_report_release. */
int meta_balance_report(const struct meta_balance *bal, Godfs__AdminPlacementResp *r,
			uint32_t limit);
void meta_balance_report_release(Godfs__AdminPlacementResp *r);

/* Forgets everything (this node stops or starts being leader). */
void meta_balance_clear(struct meta_balance *bal);

#endif
