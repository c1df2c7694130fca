/* The leader's housekeeping, once a tick (100 ms) while it is a ready
 * leader: lease expiry, the decay of read counts, session expiry and orphan
 * purge (proposed to Raft, rate-limited, not in the start grace period),
 * which nodes drain (the FSM's) and how the nodes look to meta_balance.h,
 * the re-replication scan and the copies it planned (meta_repl.h); and the
 * soft state rebuilt or dropped when leadership changes.
 *
 * Loop thread only; the state is the server's (ms->sess, ms->locs, ms->repl,
 * ms->balance, ms->last_decay_ms). */
#ifndef META_HOUSEKEEPING_H
#define META_HOUSEKEEPING_H

#include <stdint.h>

#include "meta_server.h"

/* Once every 100 ms while ready. */
void meta_housekeeping_tick(struct meta_server *ms, uint64_t now_ms);

/* This node just became a ready leader: rebuild the soft state that comes
 * from the FSM (sessions known to the FSM, orphans) into ms->sess, with every
 * session's renew clock starting now; locations, the scan and the balance
 * start empty.
 * ms->reg was cleared by the caller; chunkds re-register when their
 * heartbeat is answered with reregister. */
void meta_housekeeping_became_leader(struct meta_server *ms);

/* This node stopped being leader: locations, the scan and the balance are
 * dropped (the registry and sessions by the caller, waiting requests by the
 * loop). */
void meta_housekeeping_lost_leader(struct meta_server *ms);

#endif
