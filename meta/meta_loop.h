/* The request queues of godfs-meta's loop:
 *
 *   inbound (ms->q)  filled by gd_server's reader threads (meta_loop_on_request,
 *                    the only function here called off the loop), under qlock;
 *   run              what the loop dispatches next, in order: inbound
 *                    requests, and those that can go on after waiting;
 *   held             requests that came while no leader was ready (the
 *                    dispatcher holds them; a new leader puts them back on
 *                    the run queue, another node's leadership redirects them);
 *   parked           requests waiting for something (enum meta_wait): they go
 *                    back on the run queue when it happens (meta_loop_wake),
 *                    never dispatched from inside another handler.
 *
 * The loop knows nothing about methods: meta_loop_run hands every request of
 * the run queue to meta_dispatch. Everything here except meta_loop_on_request
 * and meta_loop_on_conn_closed runs on the loop thread; the queues are owned
 * by struct meta_server (meta_server.h). */
#ifndef META_LOOP_H
#define META_LOOP_H

#include <stdint.h>

#include "gd_server.h"
#include "meta_server.h"

/* Sets up the queues and the leader's soft state (registry, sessions,
 * locations, re-replication) of ms, whose opt and fsm are set: 0 or
 * GD_ENOMEM. meta_loop_release frees them (safe on a partly set-up ms). */
int meta_loop_init(struct meta_server *ms);
void meta_loop_release(struct meta_server *ms);

/* gd_server's handler and closed callbacks (reader threads): queue, wake. */
void meta_loop_on_request(void *ctx, struct gd_request *req);
void meta_loop_on_conn_closed(void *ctx, void *conn_ctx);

/* Moves what the reader threads queued to the run queue. */
void meta_loop_take_inbound(struct meta_server *ms);
/* Dispatches the run queue until it is empty (requests put back on it while
 * it runs included). Not re-entered: a call from inside it returns. */
void meta_loop_run(struct meta_server *ms);

/* The read gate let req through (meta_read_gate.h): back on the run queue,
 * and the dispatcher does not stop it at the gate again. */
void meta_loop_pass_read(struct meta_server *ms, struct gd_request *req);

/* The dispatcher's: keeps req until a leader is ready (HOLD_TIMEOUT_MS). */
void meta_loop_hold(struct meta_server *ms, struct gd_request *req);
/* This node became a ready leader: the held requests go on the run queue. */
void meta_loop_release_held(struct meta_server *ms);
/* Whether a request that finds no leader here should wait for one (held,
 * then redirected as soon as a leader is known) rather than get
 * GD_ENOTLEADER at once. A follower in an election learns the new leader
 * soon; a deposed leader that knows no leader (ms->deposed) is most likely
 * cut off from the majority, which already serves the clients elsewhere:
 * holding them there cost them the whole hold time (e2e_meta_partition.sh:
 * 2 s more for client c1, chunkds registering too late for the new
 * leader's node window). Clears ms->deposed once another node leads. */
bool meta_loop_may_hold(struct meta_server *ms);
/* Held requests: redirected (GD_ENOTLEADER) when another node leads or this
 * one may not hold (meta_loop_may_hold), or
 * answered so after HOLD_TIMEOUT_MS. */
void meta_loop_check_held(struct meta_server *ms, uint64_t now_ms);

/* Parks req (see meta_h_park). */
void meta_loop_park(struct meta_server *ms, struct gd_request *req, enum meta_wait why,
		    uint64_t k1, uint64_t k2);
/* Puts the requests parked for why (and k1, k2; ignored for
 * META_WAIT_NODES) back on the run queue; those parked for chunkds longer
 * than PARK_TIMEOUT_MS get GD_ENOSERVERS instead. */
void meta_loop_wake(struct meta_server *ms, enum meta_wait why, uint64_t k1, uint64_t k2);

/* This node stopped being a ready leader: every parked request is answered
 * (GD_ENOTLEADER; GD_ESHUTDOWN for those waiting for chunkds while stopping). */
void meta_loop_lost_leader(struct meta_server *ms);
/* A stop: no new requests; inbound, run, held and parked are answered
 * GD_ESHUTDOWN. */
void meta_loop_close(struct meta_server *ms);

#endif
