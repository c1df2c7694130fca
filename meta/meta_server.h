/* The godfs-meta daemon's core: one libuv loop owns the FSM, Raft and every
 * piece of soft state (chunkd registry, sessions). gd_server's reader threads
 * only queue each request (mutex + list) and wake the loop with uv_async_send;
 * the loop dispatches it to meta_rpc_client.c or meta_rpc_chunkd.c, which
 * answer read-only requests at once and propose mutating ones to Raft.
 *
 * Everything below marked "loop" is touched only by the loop thread. */
#ifndef META_SERVER_H
#define META_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gd_server.h"
#include "meta_fsm.h"
#include "meta_raft.h"
#include "meta_registry.h"
#include "meta_sessions.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

/* What the daemon was started with (read-only once meta_server_run starts). */
struct meta_options {
	const char *listen;          /* client RPC host:port */
	const char *raft_listen;     /* Raft host:port */
	const char *data_dir;
	uint64_t node_id;
	uint64_t chunk_size;         /* used when the file system is formatted; 0 = 64 MiB */
	uint32_t default_goal;       /* idem; 0 = 3 */
	struct meta_raft_peer *peers; /* --peers; NULL = a single voter */
	size_t n_peers;
	bool join;                   /* --join: a new voter, added with godfs-admin masters add */
	uint32_t session_timeout_ms; /* a session not renewed for this long expires */
	uint32_t lease_ms;           /* write lease length */
	uint32_t cap_lifetime_ms;    /* chunk capabilities of locations (gd_cap.h) */
	uint32_t node_dead_ms;       /* a chunkd silent for this long is dead */
	uint32_t rebalance_pct;      /* disk balance threshold, points from the mean (0 = off) */
	uint32_t rebalance_rate;     /* label and disk moves started per second (0 = none) */
	uint32_t grace_ms;           /* after a leader starts: no expiry, no orphan purge */
	uint32_t repl_max_per_node;  /* re-replications on their way to one chunkd; 0 = 32 */
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	struct gd_server_limits limits; /* of the client port (gd_server_opts) */
};

/* Per-connection state: created by the reader thread on the first request,
 * freed by gd_server's closed callback, which runs only once every request of
 * the connection has been freed; in between only the loop touches it. */
#define META_NODE_ID_MAX 255   /* bytes of a chunkd's node id (CS_REGISTER) */
struct meta_conn {
	int role;               /* loop: wire.proto Role after HELLO, -1 before */
	uint64_t session_id;    /* loop: the client session named in HELLO */
	/* loop: the chunkd node id CS_REGISTER accepted on this connection, ""
	 * before; heartbeats and corrupt reports must name it (a cluster key
	 * must not let one chunkd speak for another). */
	char node_id[META_NODE_ID_MAX + 1];
};

/* A request queued for the loop, or waiting there. */
struct meta_event {
	struct meta_event *next;
	struct gd_request *req;
	uint64_t arrived_ms;
};

struct meta_queue {
	struct meta_event *head;
	struct meta_event *tail;
};

struct meta_server {
	struct meta_options opt;
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	pthread_mutex_t qlock;
	struct meta_queue q;          /* qlock: requests for the loop */
	bool q_closed;                /* qlock: the loop no longer takes requests */
	struct gd_server *srv;        /* set before the first request, then read-only */
	struct gd_auth_policy auth;   /* who may connect (key, tokens); set before srv starts,
				       * then read-only (by gd_server's readers) */
	struct meta_fsm *fsm;         /* loop */
	struct meta_raft *raft;       /* loop */
	struct meta_registry *reg;    /* loop */
	struct meta_sessions *sess;   /* loop */
	bool ready;                   /* loop: leader and caught up (barrier applied) */
	bool barrier_pending;         /* loop */
	uint64_t leader_since_ms;     /* loop: when ready was set */
	struct meta_queue held;       /* loop: requests waiting for a leader */
	struct meta_queue parked;     /* loop: requests waiting for chunkds to register */
	uint64_t last_slow_tick_ms;   /* loop */
	uint64_t in_flight;           /* loop: proposals not yet answered */
	bool stopping;                /* loop */
	bool raft_closed;             /* loop */
	int exit_status;              /* loop */
	uint64_t leader_term;         /* loop: the Raft term in which ready was set */
	uint64_t cur_park_ms;         /* loop: when the request being re-dispatched was first parked */
	uint64_t last_park_ms;        /* loop: when parked requests were last re-dispatched */
	bool raft_closing;            /* loop: meta_raft_close was called */
	uint64_t stop_deadline_ms;    /* loop: close raft by then even with proposals in flight */
	struct meta_read_gate *gate;  /* loop: reads waiting for the lease or a barrier */
	char leader_addr_buf[256];    /* loop: the leader's client address, for redirects */
};

/* Runs the daemon until SIGTERM/SIGINT. Returns 0 after a clean stop, or a
 * negative GD_E* code when it could not start (logged). */
int meta_server_run(const struct meta_options *opt);

/* ---- for meta_rpc_client.c and meta_rpc_chunkd.c (loop thread only) ---- */

uint64_t meta_server_now_ms(void);
/* Whether the leader is still in its start grace period. */
bool meta_server_in_grace(struct meta_server *ms);

/* Every answer ends with one of these: they send the response (a lost
 * connection is fine) and free the request. */
void meta_server_reply(struct meta_server *ms, struct gd_request *req,
		       const ProtobufCMessage *resp);
void meta_server_reply_packed(struct meta_server *ms, struct gd_request *req,
			      const uint8_t *pb, size_t len);
/* A response of the method's own type carrying only status (and, for
 * GD_ENOTLEADER, the leader's client address when known). */
void meta_server_reply_status(struct meta_server *ms, struct gd_request *req, int status);
/* Frees a request without answering (its connection is gone). */
void meta_server_finish(struct meta_server *ms, struct gd_request *req);

/* Called once a proposal is applied (status 0: res is the FSM's answer, owned
 * by the callee until it returns) or failed (res NULL). req may be NULL
 * (internal entries); otherwise the callee must answer it. */
typedef void (*meta_applied_fn)(struct meta_server *ms, struct gd_request *req, int status,
				struct meta_fsm_result *res, void *arg);

/* Fills in the leader's time, packs e and proposes it. done is called exactly
 * once, synchronously when the proposal cannot be made. done NULL = answer
 * req with the FSM's packed response. */
void meta_server_propose(struct meta_server *ms, Godfs__MetaEntry *e, struct gd_request *req,
			 meta_applied_fn done, void *arg);

/* Parks a request that needs chunkds while they are still registering with a
 * new leader (see meta_server_in_node_window); it is dispatched again after
 * each registration and once a second. */
void meta_server_park(struct meta_server *ms, struct gd_request *req);
/* Dispatches every parked request again (call it after a chunkd registered);
 * one still waiting for chunkds parks itself again. */
void meta_server_unpark(struct meta_server *ms);
/* Whether chunkds may still be registering with this leader. */
bool meta_server_in_node_window(struct meta_server *ms);

/* A session id never handed out before. */
uint64_t meta_server_new_session_id(struct meta_server *ms);


#endif
