/* The leader's re-replication scan: walks the FSM's chunk records a slice
 * per tick, counts the chunks by live copies (the census of `godfs-admin
 * chunks`) and those below goal (and why each is not being copied, for
 * ADMIN_STATUS), puts those that may get a copy into the plan of the pass
 * (meta_repl_plan.h: fewest live copies first), and orders copies from the
 * last pass's plan (one pending copy per chunk, from a live holder to the
 * best placed node, at most --repl-max-per-node on their way to one
 * chunkd). It also moves copies left at the previous version up when no
 * lease can still write, moves copies of chunks at their goal when
 * meta_balance.h says so (drain, labels, disk balance), and drops copies
 * above goal. The copies it ordered are confirmed by the target's
 * heartbeat (meta_repl_replicated) or its next report (meta_locs_register
 * calls meta_repl_confirmed), which records the new valid set through Raft;
 * the confirmations make the rate and ETA.
 *
 * Ownership and threads: one struct meta_repl per meta server, held by
 * struct meta_server (ms->repl); loop thread only. It runs on the location
 * soft state of meta_locs.h. */
#ifndef META_REPL_H
#define META_REPL_H

#include <stdbool.h>
#include <stdint.h>

#include "meta_fsm.h"
#include "meta_server.h"
#include "proto/wire.pb-c.h"

struct meta_repl;
struct meta_repl_census;

int meta_repl_new(struct meta_repl **out);
void meta_repl_free(struct meta_repl *r);
/* Forgets the scan, its plans and its counters (a change of leader). */
void meta_repl_clear(struct meta_repl *r);
/* This node just became leader at now_ms: no copies until the leases a
 * former leader may have granted have ended. */
void meta_repl_leader_start(struct meta_server *ms, uint64_t now_ms);

/* Looks at the next chunk records: counts them by live copies, and (with
 * may_order) puts those below goal that may get a copy into the plan of
 * this pass; moves copies of chunks at goal (meta_balance.h); drops copies
 * above goal. */
void meta_repl_scan(struct meta_server *ms, uint64_t now_ms, bool may_order);

/* Orders copies from the plan of the last scan pass, in its order (fewest
 * copies left first), within the bounds: per tick, in all, per chunkd. A
 * candidate whose chunkds are all busy stays for a later tick; one that no
 * longer needs a copy (or cannot get one) leaves the plan (the next pass
 * sees it again). Once a tick, when copies may be ordered. */
void meta_repl_order_planned(struct meta_server *ms, uint64_t now_ms);

/* meta_locs_confirmed_fn (arg: the struct meta_server): a copy ordered to
 * node_id was confirmed by its report; its valid set is proposed. */
void meta_repl_confirmed(void *arg, const struct meta_fsm_chunk *c, const char *node_id);

/* A replication node_id reports finished (CsHeartbeat.replicated): a copy
 * this leader ordered to it is confirmed (its valid set grows, as with a
 * registration), or, when it failed, ordered again from another source. */
void meta_repl_replicated(struct meta_server *ms, const char *node_id,
			  const Godfs__CsReplicated *r);

/* The census of the last complete scan pass (zeros before the first one
 * ends); valid until the next tick. */
const struct meta_repl_census *meta_repl_census(const struct meta_repl *r);
/* Under-goal chunks counted by the last complete scan pass. */
uint64_t meta_repl_under_goal(const struct meta_repl *r);
/* Fills the re-replication fields of an AdminStatusResp (repl_*,
 * under_goal_why, repl); the strings and r->repl stay valid until the next
 * call or tick. */
void meta_repl_status(struct meta_server *ms, Godfs__AdminStatusResp *r);

#endif
