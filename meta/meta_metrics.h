/* The meta's Prometheus metrics and its HTTP listener (--metrics-listen;
 * docs/observability.md lists the metrics). Besides the RPC and process
 * metrics every daemon has, the meta exports:
 *   godfs_raft_* gauges (every voter), godfs_raft_commit_duration_seconds
 *     (propose -> applied, on the leader) and
 *     godfs_raft_log_write_duration_seconds (a log write, every voter);
 *   godfs_meta_* (chunk health from the re-replication scan's census, the
 *     inodes, the sessions, and every chunkd the FSM knows with its
 *     liveness, drain and space): on the ready leader only; a follower
 *     shows none of them and godfs_raft_is_leader 0.
 *
 * Threads: the loop owns the state; meta_metrics_publish (loop, each tick)
 * copies what is exported into gauges and a snapshot under a lock, which the
 * listener's thread reads at scrape time. Nothing else crosses threads.
 * The module's state is the process's (one meta server per process; the
 * metrics registry is global too). */
#ifndef META_METRICS_H
#define META_METRICS_H

#include <stdint.h>

#include "gd_http.h"

struct meta_server;

/* Registers the meta's metrics and, when listen is not NULL/"", serves them
 * on it. 0, or the error of gd_http_start (logged). */
int meta_metrics_start(struct meta_server *ms, const char *listen);
/* Loop: publishes the loop's values (cheap; at most every 500 ms really). */
void meta_metrics_publish(struct meta_server *ms, uint64_t now_ms);
/* Stops the listener (before the server is freed). */
void meta_metrics_stop(struct meta_server *ms);
/* The meta's listener (NULL when --metrics-listen is not set), for more
 * routes: the status pages add /status and /status.json to it. */
struct gd_http *meta_metrics_http(struct meta_server *ms);
/* meta_raft: a proposal of this node was applied ns after it was proposed. */
void meta_metrics_committed(uint64_t ns);
/* meta_raft: entries handed to this voter's log were written (durable) ns
 * later; on the leader a commit is this write (and, with other voters, their
 * answers) plus the apply, so the two histograms tell the disk from the rest. */
void meta_metrics_log_written(uint64_t ns);

#endif
