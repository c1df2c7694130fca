/* Linearizable reads (docs/meta.md, "Linearizable reads"): the gate every
 * request passes on a ready leader before its handler.
 *
 * A request that changes nothing (no GD_METHOD_MUTATES in the method table)
 * is answered from this node's state. That is only right while no other
 * leader can have been elected: a leader cut off from the majority keeps
 * believing it leads until libraft's check (one election timeout without a
 * majority) deposes it. So a read goes through at once while the leader
 * holds its lease (meta_raft_read_lease); otherwise it waits for a Raft
 * barrier started after it arrived: once that barrier commits, a majority
 * acknowledged this leader after the read came in, and the read is answered
 * (dispatched to its handler). Reads that arrive while a barrier is in
 * flight wait for the next one, so one barrier serves a whole batch. When
 * the barrier fails (leadership lost) they get GD_ENOTLEADER, with the new
 * leader's address when known, and the client goes there.
 *
 * Mutating requests pass: they are proposed to Raft and answered from the
 * apply, which is linearizable by itself.
 *
 * Loop thread only; the state hangs off the server (ms->gate). */
#ifndef META_READ_GATE_H
#define META_READ_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "gd_server.h"

struct meta_server;
struct meta_read_gate;

/* Counters for the log and godfs-admin masters list. */
struct meta_read_gate_stats {
	uint64_t by_lease;      /* reads let through under the lease */
	uint64_t by_barrier;    /* reads answered after a barrier */
	uint64_t refused;       /* reads answered GD_ENOTLEADER (or shutdown) by the gate */
	uint64_t barriers;      /* barriers started */
};

int meta_read_gate_new(struct meta_read_gate **out);
void meta_read_gate_free(struct meta_read_gate *g);

/* true: dispatch req now. false: the gate kept it (it is dispatched or
 * answered later). Only on a ready leader. */
bool meta_read_gate_admit(struct meta_server *ms, struct gd_request *req);

/* Starts the barrier the waiting reads need (or lets them through when the
 * lease is back). Called from the loop's wake-up and tick, never from inside
 * a raft callback: libraft 0.15 crashes on a raft_barrier made from one. */
void meta_read_gate_kick(struct meta_server *ms);

/* This node stopped leading (or is stopping): the reads waiting for the next
 * barrier get GD_ENOTLEADER (when stopping, meta_h_stop_status: GD_ESHUTDOWN,
 * or GD_ENOTLEADER after a fail-stop, so the client asks another voter).
 * Those of the barrier in flight are answered by its callback, which libraft
 * calls when it steps down or closes. */
void meta_read_gate_lost_leader(struct meta_server *ms);

/* Whether a barrier of the gate is in flight (raft must not be closed under it). */
bool meta_read_gate_pending(const struct meta_server *ms);

void meta_read_gate_stats(const struct meta_server *ms, struct meta_read_gate_stats *out);

#endif
