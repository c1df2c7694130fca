/* The godfs-meta daemon: one libuv loop owns the FSM, Raft and every piece
 * of soft state (chunkd registry, sessions, chunk locations). The request
 * path is a stack, each layer knowing only the one below:
 *
 *   meta_server.c   the daemon: data directory, Raft, leadership, tick, stop
 *   meta_loop.c     the queues: inbound (from gd_server's reader threads),
 *                   run, held (no leader yet), parked (waiting for something)
 *   meta_dispatch.c method -> handler, behind the gates (leader, token, session)
 *   meta_h_*.c      the handlers, through the handler API of meta_h.h
 *   meta_repl.c, meta_housekeeping.c  the leader's periodic work (with
 *                   meta_repl_plan.c and meta_balance.c)
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
#include "meta_locs.h"
#include "meta_ns.h"
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
	size_t raft_segment_size;     /* bytes of a Raft log segment file; 0 = libraft's */
	struct gd_server_limits limits; /* of the client port (gd_server_opts) */
	const char *metrics_listen;  /* /metrics, /status (meta_metrics.h); NULL = none */
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

/* Why a parked request waits (meta_loop_park); it goes back on the run
 * queue when meta_loop_wake names its reason and keys. */
enum meta_wait {
	META_WAIT_NONE = 0,
	META_WAIT_NODES,        /* chunkds still registering with a new leader */
	META_WAIT_REMOVAL,      /* an OPEN of inode k1 behind its removal in flight */
	META_WAIT_CHUNK,        /* a lease of chunk (k1 = ino, k2 = index) behind another */
};

/* A request queued for the loop, or waiting there. */
struct meta_event {
	struct meta_event *next;
	struct gd_request *req;
	uint64_t arrived_ms;    /* when the loop first saw it */
	uint64_t nodes_since_ms; /* when it was first parked for chunkds (0: never) */
	enum meta_wait wait;    /* parked: why */
	bool read_passed;       /* the read gate let it through (meta_read_gate.h) */
	uint64_t k1, k2;        /* parked: what for */
};

struct meta_queue {
	struct meta_event *head;
	struct meta_event *tail;
};

/* The Raft as the request layer sees it (meta_server.c puts meta_raft behind
 * it; tests put a fake that applies to a real FSM when they say). */
struct meta_proposer {
	/* Proposes a packed MetaEntry (copied): 0 and done(arg, ...) later,
	 * exactly once, with the FSM's struct meta_fsm_result (gd_calloc'd, the
	 * callee releases it) or a failure; or an error and done not called. */
	int (*propose)(void *ctx, const void *buf, size_t len,
		       void (*done)(void *arg, int status, void *result), void *arg);
	/* The client address of the leader when another node leads and it is
	 * known, else NULL (may be NULL). */
	const char *(*leader_address)(void *ctx);
	/* Whether another node leads (may be NULL: never). */
	bool (*other_leader)(void *ctx);
	/* Called after each done (may be NULL): a stop waits for proposals. */
	void (*settled)(void *ctx);
	void *ctx;
};

/* How answers leave (NULL members: gd_reply, gd_reply_packed,
 * gd_request_free; tests capture them). */
struct meta_replier {
	int (*reply)(void *ctx, struct gd_request *req, const ProtobufCMessage *resp);
	int (*reply_packed)(void *ctx, struct gd_request *req, const uint8_t *pb, size_t len);
	void (*free)(void *ctx, struct gd_request *req);
	void *ctx;
};

struct meta_repl;
struct meta_balance;
struct meta_status;

/* A (ino, chunk index) whose lease or failure report is in flight: another
 * one on the same chunk parks behind it (META_WAIT_CHUNK). */
struct meta_busy_chunk {
	struct meta_busy_chunk *next;
	uint64_t ino;
	uint64_t index;
};

struct meta_server {
	struct meta_options opt;
	uv_loop_t loop;
	uv_async_t wake;
	bool wake_ready;              /* loop: wake is initialised (not in unit tests) */
	uv_timer_t tick;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	pthread_mutex_t qlock;
	struct meta_queue q;          /* qlock: requests from the reader threads */
	bool q_closed;                /* qlock: the loop no longer takes requests */
	struct gd_server *srv;        /* set before the first request, then read-only */
	struct gd_auth_policy auth;   /* who may connect (key, tokens); set before srv starts,
				       * then read-only (by gd_server's readers) */
	struct meta_proposer proposer; /* set before the loop runs */
	struct meta_replier io;       /* set before the loop runs */
	struct meta_fsm *fsm;         /* loop */
	struct meta_raft *raft;       /* loop (NULL in unit tests) */
	struct meta_registry *reg;    /* loop */
	struct meta_sessions *sess;   /* loop */
	struct meta_locs *locs;       /* loop: chunk locations (soft state of the leader) */
	struct meta_repl *repl;       /* loop: the re-replication scan */
	struct meta_balance *balance; /* loop: where copies should be (meta_balance.h) */
	bool ready;                   /* loop: leader and caught up (barrier applied) */
	bool barrier_pending;         /* loop */
	bool deposed;                 /* loop: lost leadership, no leader known since (no hold) */
	uint64_t leader_since_ms;     /* loop: when ready was set */
	struct meta_queue run;        /* loop: requests the loop dispatches next */
	struct meta_queue held;       /* loop: requests waiting for a leader */
	struct meta_queue parked;     /* loop: requests waiting (enum meta_wait) */
	bool running;                 /* loop: meta_loop_run is draining run */
	uint64_t cur_arrived_ms;      /* loop: of the request being dispatched */
	uint64_t cur_nodes_since_ms;  /* loop: idem, when it was first parked for chunkds */
	bool cur_read_passed;         /* loop: idem, the read gate let it through */
	struct meta_ns_map removing;  /* loop: ino -> removals with purge_now in flight */
	struct meta_busy_chunk *busy; /* loop: chunks with a lease in flight */
	uint64_t last_slow_tick_ms;   /* loop */
	uint64_t last_decay_ms;       /* loop: read counts last halved */
	uint64_t in_flight;           /* loop: proposals not yet answered */
	bool stopping;                /* loop */
	bool raft_closed;             /* loop */
	int exit_status;              /* loop */
	bool fail_stopped;            /* loop (read by readers after q_closed): meta_h_stop_status */
	uint64_t leader_term;         /* loop: the Raft term in which ready was set */
	uint64_t last_park_ms;        /* loop: when requests parked for chunkds were last woken */
	bool raft_closing;            /* loop: meta_raft_close was called */
	uint64_t stop_deadline_ms;    /* loop: close raft by then even with proposals in flight */
	struct meta_read_gate *gate;  /* loop: reads waiting for the lease or a barrier
				       * (NULL in unit tests: no gate) */
	char leader_addr_buf[256];    /* loop: the leader's client address, for redirects */
	struct meta_status *status;   /* loop: the status page's snapshots (meta_status.h);
				       * NULL without --metrics-listen */
	struct meta_ns_map lock_conns; /* loop: session -> struct gd_sconn * held for
					* LOCK_GRANTED pushes (meta_h_locks.h) */
};

/* Runs the daemon until SIGTERM/SIGINT. Returns 0 after a clean stop, or a
 * negative GD_E* code when it could not start (logged). */
int meta_server_run(const struct meta_options *opt);

/* A monotonic clock in ms. */
uint64_t meta_server_now_ms(void);

#endif
