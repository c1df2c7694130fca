/* The RPC metrics of every daemon that serves with gd_server (godfs-meta,
 * godfs-chunkd), in the global registry (gd_metrics.h):
 *   godfs_rpc_requests_total{method}            requests answered
 *   godfs_rpc_errors_total{method,code}         answered with status < 0
 *                                               (code: "enoent", ...)
 *   godfs_rpc_request_duration_seconds{method}  from the request read whole
 *                                               to its answer sent or queued
 *   godfs_rpc_received_bytes_total              request frames, headers included
 *   godfs_rpc_sent_bytes_total                  response frames, headers included
 * gd_server calls these; method labels are gd_methods.h names ("LOOKUP").
 * Thread-safe, lock-free once a method's series exist. */
#ifndef GD_SERVER_METRICS_H
#define GD_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A monotonic clock in ns (the start of a request). */
uint64_t gd_server_metrics_now_ns(void);
/* A request frame of bytes (header, protobuf and data) was read whole. */
void gd_server_metrics_received(size_t bytes);
/* A response to method was sent or queued: its packed protobuf part pb
 * (pb_len bytes; its status field tells an error), frame_bytes in all, for a
 * request read whole at start_ns. */
void gd_server_metrics_replied(uint32_t method, const uint8_t *pb, size_t pb_len,
			       size_t frame_bytes, uint64_t start_ns);
/* The status field of a packed response of method (field 1, or 2 for
 * M_PING); 0 when it has none. */
int gd_server_metrics_status(uint32_t method, const uint8_t *pb, size_t pb_len);
/* "enoent" for GD_ENOENT; "unknown" for a number not in gd_status.h. */
const char *gd_status_code_name(int status);

#endif
