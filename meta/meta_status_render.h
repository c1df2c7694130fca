/* The meta's status page for operators (/status, HTML; /status.json) drawn
 * from a snapshot of the cluster as one meta node sees it. The snapshot is
 * plain data: meta_status.c fills it on the loop thread, and the renderers
 * here read nothing else, so they run on the HTTP listener's threads
 * without touching the loop's state (and unit tests feed them by hand).
 *
 * Every string of a snapshot (node ids, addresses, labels) came from the
 * network or the configuration: the HTML renderer escapes each one, the
 * JSON renderer quotes each one. */
#ifndef META_STATUS_RENDER_H
#define META_STATUS_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_STATUS_MEMBERS_MAX 16   /* the Raft configuration holds 16 voters at most */
#define META_STATUS_ADDR_MAX 256     /* bytes of an address, NUL included */
#define META_STATUS_COPIES_MAX 8     /* chunks under goal by live copies: 0..7 (7 = 7 or more) */
#define META_STATUS_BY_LIVE 5        /* every chunk by live copies: 0..4 (4 = 4 or more; META_REPL_COPIES) */
#define META_STATUS_UNKNOWN UINT64_MAX /* a figure this node does not know */

/* One Raft member. */
struct meta_status_member {
	uint64_t id;
	char raft_addr[META_STATUS_ADDR_MAX];
	char client_addr[META_STATUS_ADDR_MAX];  /* "" when the configuration has none */
	char role[16];                            /* "voter", "standby", "spare" */
	bool leader;                              /* the leader as this node knows it */
	bool self;                                /* the node that drew the page */
	/* Known only on the leader (has_heard): whether it answered within an
	 * election timeout, and how long ago it last did (self: always). */
	bool has_heard;
	bool reachable;
	uint64_t heard_ago_ms;
	uint64_t match_index;                     /* META_STATUS_UNKNOWN: not known */
};

/* One chunkd: the replicated record (every node has it) and the leader's
 * view of its heartbeats (registered false: not heard from since this node
 * leads, or this node does not lead). */
struct meta_status_node {
	char *id;                /* owned by the snapshot */
	char *address;           /* idem */
	char *label;             /* idem; "" when none */
	bool draining;
	bool registered;
	bool alive;              /* registered and heard from in time */
	uint64_t total_bytes;    /* registered only: as its last heartbeat said */
	uint64_t free_bytes;
	uint64_t chunks;         /* chunk files it reported */
	uint64_t last_seen_ago_ms;
};

struct meta_status_snap {
	uint64_t taken_unix_ms;  /* wall clock when the loop took it */
	char version[32];        /* godfs version */
	uint64_t node_id;        /* the node that drew it */
	char state[16];          /* "leader", "follower", "candidate", "unavailable" */
	bool leader;             /* this node leads and serves (barrier applied) */
	uint64_t term;
	uint64_t last_index;
	uint64_t applied_index;
	uint64_t leader_id;      /* 0: unknown */
	char leader_client_addr[META_STATUS_ADDR_MAX]; /* "" when unknown */
	struct meta_status_member members[META_STATUS_MEMBERS_MAX];
	size_t n_members;

	struct meta_status_node *nodes;  /* owned; sorted by id */
	size_t n_nodes;

	uint64_t inodes;
	uint64_t chunks;         /* chunk records */
	uint64_t sessions;       /* client sessions (leader only, else META_STATUS_UNKNOWN) */
	/* Chunk health, from the leader's last complete scan pass (census_known
	 * false: on a follower, or before the first pass). */
	bool census_known;
	uint64_t under_by_live[META_STATUS_COPIES_MAX]; /* under goal, by live copies */
	uint64_t by_live[META_STATUS_BY_LIVE];          /* every chunk, by live copies */
	uint64_t under_goal;
	uint64_t at_goal;
	uint64_t over_goal;
	uint64_t census_age_ms;  /* since that pass ended */
	/* Re-replication (leader only) */
	uint64_t copies_todo;    /* missing copies of the chunks under goal */
	uint64_t bytes_todo;
	uint64_t copies_pending; /* ordered, not confirmed yet */
	uint64_t rate_bps;       /* confirmed bytes per second, recent */
	uint64_t eta_s;          /* META_STATUS_UNKNOWN: nothing moving */
};

/* Chunks with no live copy at all (the data is unreadable until a chunkd
 * holding it comes back). */
uint64_t meta_status_missing(const struct meta_status_snap *s);
/* Frees a snapshot and what it owns (NULL: nothing). */
void meta_status_snap_free(struct meta_status_snap *s);

/* Renders the page: 0 with *body (gd_malloc'd, the caller frees it) and
 * *len, or GD_ENOMEM. refresh_s > 0 adds a <meta http-equiv=refresh>. */
int meta_status_render_html(const struct meta_status_snap *s, unsigned refresh_s,
			    char **body, size_t *len);
/* The same as one JSON object (docs/observability.md lists the fields). */
int meta_status_render_json(const struct meta_status_snap *s, char **body, size_t *len);

#endif
