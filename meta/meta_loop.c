/* The request queues of godfs-meta's loop (see meta_loop.h): inbound from
 * the reader threads, the run queue the loop drains into the dispatcher, the
 * held queue (no leader yet) and the parked queue (waiting for chunkds, for
 * a removal, for another lease on the same chunk). */
#include "meta_loop.h"

#include <stdlib.h>
#include <string.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "gd_trace.h"
#include "meta_balance.h"
#include "meta_dispatch.h"
#include "meta_h.h"
#include "meta_repl.h"

/* A request waits this long for a leader (or for this leader to be ready):
 * about one election (libraft's 1 s timeout, randomised up to 2 s). No
 * longer: a deposed leader cut off from the majority knows no leader and
 * would hold its clients here while the majority already serves them
 * elsewhere (e2e_meta_partition.sh: 5 s made them wait 5 to 6.5 s). */
#define HOLD_TIMEOUT_MS 2000u
/* A request parked for chunkds longer than this, once the node window is
 * over (meta_h_in_node_window), gets GD_ENOSERVERS. */
#define PARK_TIMEOUT_MS 10000u

static void queue_push(struct meta_queue *q, struct meta_event *ev)
{
	ev->next = NULL;
	if (q->tail)
		q->tail->next = ev;
	else
		q->head = ev;
	q->tail = ev;
}

/* Detaches the whole queue and returns its first event. */
static struct meta_event *queue_take(struct meta_queue *q)
{
	struct meta_event *ev = q->head;

	q->head = NULL;
	q->tail = NULL;
	return ev;
}

/* Appends a detached list to q. */
static void queue_append(struct meta_queue *q, struct meta_event *ev)
{
	while (ev != NULL) {
		struct meta_event *next = ev->next;

		queue_push(q, ev);
		ev = next;
	}
}

/* Lets the loop run the run queue soon (the next turn of uv_run); in unit
 * tests there is no loop, and the test calls meta_loop_run. */
static void kick(struct meta_server *ms)
{
	if (ms->wake_ready && !ms->running)
		uv_async_send(&ms->wake);
}

static struct meta_event *event_new(struct gd_request *req, uint64_t arrived_ms)
{
	struct meta_event *ev = gd_calloc(1, sizeof(*ev));

	if (ev) {
		ev->req = req;
		ev->arrived_ms = arrived_ms;
	}
	return ev;
}

/* Answers every request of a detached list with status and frees the events. */
static void answer_all(struct meta_server *ms, struct meta_event *ev, int status)
{
	while (ev != NULL) {
		struct meta_event *next = ev->next;

		meta_h_reply_status(ms, ev->req, status);
		gd_free(ev);
		ev = next;
	}
}

int meta_loop_init(struct meta_server *ms)
{
	int rc;

	pthread_mutex_init(&ms->qlock, NULL);
	meta_ns_map_init(&ms->removing);
	rc = meta_registry_new(ms->opt.node_dead_ms, &ms->reg);
	if (rc == 0)
		rc = meta_sessions_new(&ms->sess);
	if (rc == 0)
		rc = meta_locs_new(&ms->locs);
	if (rc == 0)
		rc = meta_repl_new(&ms->repl);
	if (rc == 0)
		rc = meta_balance_new(&ms->balance);
	return rc;
}

void meta_loop_release(struct meta_server *ms)
{
	struct meta_busy_chunk *b;

	answer_all(ms, queue_take(&ms->run), meta_h_stop_status(ms));
	answer_all(ms, queue_take(&ms->held), meta_h_stop_status(ms));
	answer_all(ms, queue_take(&ms->parked), meta_h_stop_status(ms));
	while ((b = ms->busy) != NULL) {
		ms->busy = b->next;
		gd_free(b);
	}
	meta_ns_map_release(&ms->removing);
	if (ms->balance != NULL)
		meta_balance_free(ms->balance);
	if (ms->repl != NULL)
		meta_repl_free(ms->repl);
	if (ms->locs != NULL)
		meta_locs_free(ms->locs);
	if (ms->sess != NULL)
		meta_sessions_free(ms->sess);
	if (ms->reg != NULL)
		meta_registry_free(ms->reg);
	ms->balance = NULL;
	ms->repl = NULL;
	ms->locs = NULL;
	ms->sess = NULL;
	ms->reg = NULL;
	pthread_mutex_destroy(&ms->qlock);
}

/* ---- inbound (reader threads) --------------------------------------------------------- */

/* A status-only answer sent off the loop, where nothing of ms may be read
 * but the replier (set before the server started). */
static void refuse_off_loop(struct meta_server *ms, struct gd_request *req, int status)
{
	(void)ms;
	(void)gd_reply_status(req, status);
	gd_request_free(req);
}

void meta_loop_on_request(void *ctx, struct gd_request *req)
{
	struct meta_server *ms = ctx;
	struct meta_event *ev;

	if (req->conn_ctx == NULL) {
		struct meta_conn *mc = gd_calloc(1, sizeof(*mc));

		if (mc == NULL) {
			refuse_off_loop(ms, req, GD_ENOMEM);
			return;
		}
		mc->role = -1;
		gd_sconn_set_ctx(req->conn, mc);
		req->conn_ctx = mc;
	}
	ev = event_new(req, meta_h_now_ms());
	if (ev == NULL) {
		refuse_off_loop(ms, req, GD_ENOMEM);
		return;
	}
	pthread_mutex_lock(&ms->qlock);
	if (ms->q_closed) {
		pthread_mutex_unlock(&ms->qlock);
		gd_free(ev);
		refuse_off_loop(ms, req, meta_h_stop_status(ms));
		return;
	}
	queue_push(&ms->q, ev);
	/* Under the lock: the loop closes the handle only after q_closed. */
	uv_async_send(&ms->wake);
	pthread_mutex_unlock(&ms->qlock);
}

void meta_loop_on_conn_closed(void *ctx, void *conn_ctx)
{
	(void)ctx;
	gd_free(conn_ctx);
}

void meta_loop_take_inbound(struct meta_server *ms)
{
	struct meta_event *ev;

	pthread_mutex_lock(&ms->qlock);
	ev = queue_take(&ms->q);
	pthread_mutex_unlock(&ms->qlock);
	queue_append(&ms->run, ev);
}

/* ---- the run queue ----------------------------------------------------------------------- */

void meta_loop_run(struct meta_server *ms)
{
	struct meta_event *ev;

	if (ms->running)
		return;
	ms->running = true;
	while ((ev = ms->run.head) != NULL) {
		struct gd_request *req = ev->req;

		ms->run.head = ev->next;
		if (ms->run.head == NULL)
			ms->run.tail = NULL;
		ms->cur_arrived_ms = ev->arrived_ms;
		ms->cur_nodes_since_ms = ev->nodes_since_ms;
		ms->cur_read_passed = ev->read_passed;
		gd_free(ev);
		/* Every turn of a request through the gates (first, after a
		 * hold, a park or the read gate) logs under its id. */
		gd_trace_set(req->trace);
		meta_dispatch(ms, req);
		gd_trace_set(NULL);
		ms->cur_arrived_ms = 0;
		ms->cur_nodes_since_ms = 0;
		ms->cur_read_passed = false;
	}
	ms->running = false;
}

void meta_loop_pass_read(struct meta_server *ms, struct gd_request *req)
{
	struct meta_event *ev = event_new(req, meta_h_now_ms());

	if (ev == NULL) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	ev->read_passed = true;
	queue_push(&ms->run, ev);
	kick(ms);
}

/* ---- held: no leader yet ---------------------------------------------------------------- */

void meta_loop_hold(struct meta_server *ms, struct gd_request *req)
{
	struct meta_event *ev = event_new(req, ms->cur_arrived_ms ? ms->cur_arrived_ms :
					  meta_h_now_ms());

	if (ev == NULL) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	queue_push(&ms->held, ev);
}

void meta_loop_release_held(struct meta_server *ms)
{
	if (ms->held.head == NULL)
		return;
	queue_append(&ms->run, queue_take(&ms->held));
	kick(ms);
}

bool meta_loop_may_hold(struct meta_server *ms)
{
	if (ms->proposer.other_leader && ms->proposer.other_leader(ms->proposer.ctx))
		ms->deposed = false;    /* it knows a leader again */
	return !ms->deposed;
}

void meta_loop_check_held(struct meta_server *ms, uint64_t now_ms)
{
	struct meta_event *ev;
	bool redirect;

	if (ms->held.head == NULL)
		return;
	if (ms->ready) {
		meta_loop_release_held(ms);
		return;
	}
	redirect = (ms->proposer.other_leader && ms->proposer.other_leader(ms->proposer.ctx)) ||
		   !meta_loop_may_hold(ms);
	ev = queue_take(&ms->held);
	while (ev != NULL) {
		struct meta_event *next = ev->next;

		if (redirect || now_ms - ev->arrived_ms >= HOLD_TIMEOUT_MS) {
			meta_h_reply_status(ms, ev->req, GD_ENOTLEADER);
			gd_free(ev);
		} else {
			queue_push(&ms->held, ev);
		}
		ev = next;
	}
}

/* ---- parked: waiting for something ------------------------------------------------------- */

void meta_loop_park(struct meta_server *ms, struct gd_request *req, enum meta_wait why,
		    uint64_t k1, uint64_t k2)
{
	uint64_t now = meta_h_now_ms();
	struct meta_event *ev;

	if (ms->stopping || !ms->ready) {
		meta_h_reply_status(ms, req, ms->stopping ? meta_h_stop_status(ms) : GD_ENOTLEADER);
		return;
	}
	ev = event_new(req, ms->cur_arrived_ms ? ms->cur_arrived_ms : now);
	if (ev == NULL) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return;
	}
	ev->wait = why;
	ev->k1 = k1;
	ev->k2 = k2;
	ev->nodes_since_ms = ms->cur_nodes_since_ms;
	if (why == META_WAIT_NODES && ev->nodes_since_ms == 0)
		ev->nodes_since_ms = now;
	queue_push(&ms->parked, ev);
}

void meta_loop_wake(struct meta_server *ms, enum meta_wait why, uint64_t k1, uint64_t k2)
{
	struct meta_event *ev = queue_take(&ms->parked);
	uint64_t now = meta_h_now_ms();
	bool woke = false;

	if (why == META_WAIT_NODES)
		ms->last_park_ms = now;
	while (ev != NULL) {
		struct meta_event *next = ev->next;

		if (ev->wait != why ||
		    (why != META_WAIT_NODES && (ev->k1 != k1 || ev->k2 != k2))) {
			queue_push(&ms->parked, ev);
		} else if (why == META_WAIT_NODES &&
			   now - ev->nodes_since_ms >= PARK_TIMEOUT_MS &&
			   !meta_h_in_node_window(ms)) {
			meta_h_reply_status(ms, ev->req, GD_ENOSERVERS);
			gd_free(ev);
		} else {
			ev->wait = META_WAIT_NONE;
			queue_push(&ms->run, ev);
			woke = true;
		}
		ev = next;
	}
	if (woke)
		kick(ms);
}

void meta_loop_lost_leader(struct meta_server *ms)
{
	struct meta_event *ev = queue_take(&ms->parked);

	while (ev != NULL) {
		struct meta_event *next = ev->next;

		meta_h_reply_status(ms, ev->req, ev->wait == META_WAIT_NODES && ms->stopping ?
				    meta_h_stop_status(ms) : GD_ENOTLEADER);
		gd_free(ev);
		ev = next;
	}
	while (ms->busy != NULL) {
		struct meta_busy_chunk *b = ms->busy;

		ms->busy = b->next;
		gd_free(b);
	}
	meta_ns_map_release(&ms->removing);
	meta_ns_map_init(&ms->removing);
}

void meta_loop_close(struct meta_server *ms)
{
	struct meta_event *ev;

	pthread_mutex_lock(&ms->qlock);
	ms->q_closed = true;
	ev = queue_take(&ms->q);
	pthread_mutex_unlock(&ms->qlock);
	answer_all(ms, ev, meta_h_stop_status(ms));
	answer_all(ms, queue_take(&ms->run), meta_h_stop_status(ms));
	answer_all(ms, queue_take(&ms->held), meta_h_stop_status(ms));
}
