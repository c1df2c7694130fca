/* The read gate of a ready leader (see meta_read_gate.h). */
#include "meta_read_gate.h"

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_methods.h"
#include "gd_status.h"
#include "meta_raft.h"
#include "meta_h.h"
#include "meta_loop.h"
#include "meta_server.h"

/* Reads waiting, oldest first. */
struct read_list {
	struct meta_event *head;
	struct meta_event *tail;
};

/* One barrier in flight and the reads it answers. */
struct gate_barrier {
	struct meta_server *ms;
	struct read_list reads;
};

struct meta_read_gate {
	struct read_list waiting;         /* loop: reads for the next barrier */
	struct gate_barrier *inflight;    /* loop: NULL when none */
	struct meta_read_gate_stats stats;/* loop */
	bool lease_logged;                /* loop: "lease lost" said once per loss */
};

int meta_read_gate_new(struct meta_read_gate **out)
{
	*out = gd_calloc(1, sizeof(**out));
	return *out != NULL ? 0 : GD_ENOMEM;
}

void meta_read_gate_free(struct meta_read_gate *g)
{
	/* Every read was answered by lost_leader and the last barrier's
	 * callback before the loop ended. */
	gd_free(g);
}

static void list_push(struct read_list *l, struct meta_event *ev)
{
	ev->next = NULL;
	if (l->tail != NULL)
		l->tail->next = ev;
	else
		l->head = ev;
	l->tail = ev;
}

static struct meta_event *list_take(struct read_list *l)
{
	struct meta_event *ev = l->head;

	l->head = NULL;
	l->tail = NULL;
	return ev;
}

/* Dispatches (ok) or refuses (status) every read of a detached list. */
static void finish_all(struct meta_server *ms, struct meta_event *ev, int status)
{
	struct meta_read_gate *g = ms->gate;

	while (ev != NULL) {
		struct meta_event *next = ev->next;
		struct gd_request *req = ev->req;

		gd_free(ev);
		if (status == 0 && ms->ready && !ms->stopping) {
			g->stats.by_barrier++;
			meta_loop_pass_read(ms, req);
		} else {
			g->stats.refused++;
			meta_h_reply_status(ms, req,
					    ms->stopping ? meta_h_stop_status(ms)
					    : status != 0 ? status : GD_ENOTLEADER);
		}
		ev = next;
	}
}

static void barrier_done(void *arg, int status, void *result)
{
	struct gate_barrier *b = arg;
	struct meta_server *ms = b->ms;
	struct meta_read_gate *g = ms->gate;

	(void)result;
	if (g->inflight == b)
		g->inflight = NULL;
	if (status != 0 && status != GD_ESHUTDOWN)
		status = GD_ENOTLEADER;   /* the client finds the new leader */
	finish_all(ms, list_take(&b->reads), status);
	gd_free(b);
	/* Reads that came meanwhile: the next barrier, from the loop (not
	 * from inside this raft callback: libraft 0.15 crashes on a
	 * raft_barrier made there). */
	if (g->waiting.head != NULL)
		uv_async_send(&ms->wake);
}

void meta_read_gate_kick(struct meta_server *ms)
{
	struct meta_read_gate *g = ms->gate;
	struct gate_barrier *b;
	int rc;

	if (g == NULL || g->inflight != NULL || g->waiting.head == NULL)
		return;
	/* The lease may be back (heartbeats answered meanwhile). */
	if (ms->ready && !ms->stopping && meta_raft_read_lease(ms->raft, NULL)) {
		struct meta_event *ev = list_take(&g->waiting);

		while (ev != NULL) {
			struct meta_event *next = ev->next;
			struct gd_request *req = ev->req;

			gd_free(ev);
			g->stats.by_lease++;
			meta_loop_pass_read(ms, req);
			ev = next;
		}
		return;
	}
	if (!ms->ready || ms->stopping) {
		finish_all(ms, list_take(&g->waiting),
			   ms->stopping ? meta_h_stop_status(ms) : GD_ENOTLEADER);
		return;
	}
	b = gd_calloc(1, sizeof(*b));
	if (b == NULL) {
		finish_all(ms, list_take(&g->waiting), GD_ENOMEM);
		return;
	}
	b->ms = ms;
	b->reads = g->waiting;
	g->waiting.head = NULL;
	g->waiting.tail = NULL;
	rc = meta_raft_barrier(ms->raft, barrier_done, b);
	if (rc != 0) {
		finish_all(ms, list_take(&b->reads), rc);
		gd_free(b);
		return;
	}
	g->inflight = b;
	g->stats.barriers++;
}

bool meta_read_gate_admit(struct meta_server *ms, struct gd_request *req)
{
	struct meta_read_gate *g = ms->gate;
	struct meta_event *ev;

	if (req->method != NULL && (req->method->flags & GD_METHOD_MUTATES))
		return true;
	if (g->waiting.head == NULL && meta_raft_read_lease(ms->raft, NULL)) {
		if (g->lease_logged)
			gd_debug("read lease held again: reads are answered at once");
		g->lease_logged = false;
		g->stats.by_lease++;
		return true;
	}
	if (!g->lease_logged) {
		gd_debug("no read lease (term %llu): reads wait for a Raft barrier",
			(unsigned long long)meta_raft_term(ms->raft));
		g->lease_logged = true;
	}
	ev = gd_calloc(1, sizeof(*ev));
	if (ev == NULL) {
		meta_h_reply_status(ms, req, GD_ENOMEM);
		return false;
	}
	ev->req = req;
	ev->arrived_ms = meta_h_now_ms();
	list_push(&g->waiting, ev);
	/* The barrier starts from the loop's wake-up (meta_read_gate_kick):
	 * this may run inside a raft callback (the leader's first barrier
	 * dispatches the requests it held). */
	uv_async_send(&ms->wake);
	return false;
}

void meta_read_gate_lost_leader(struct meta_server *ms)
{
	if (ms->gate != NULL)
		finish_all(ms, list_take(&ms->gate->waiting),
			   ms->stopping ? meta_h_stop_status(ms) : GD_ENOTLEADER);
}

bool meta_read_gate_pending(const struct meta_server *ms)
{
	return ms->gate != NULL && ms->gate->inflight != NULL;
}

void meta_read_gate_stats(const struct meta_server *ms, struct meta_read_gate_stats *out)
{
	*out = ms->gate->stats;
}
