/* gd_server limits as daemon options (see gd_server_opts.h). */
#include "gd_server_opts.h"
#include "gd_log.h"
#include "gd_status.h"

#include <inttypes.h>
#include <limits.h>

/* Longest timeout accepted: a day. */
#define TIMEOUT_MAX_MS 86400000L

static int get_int(const struct gd_config *cfg, const char *name, long def, long min, long max,
		   int *out)
{
	long v;

	if (gd_config_get_int(cfg, name, NULL, def, min, max, &v) < 0)
		return GD_EINVAL;
	*out = (int)v;
	return 0;
}

static int get_bytes(const struct gd_config *cfg, const char *name, uint64_t def, uint64_t min,
		     uint64_t *out)
{
	if (gd_config_get_u64(cfg, name, NULL, def, out) < 0)
		return GD_EINVAL;
	if (*out < min) {
		gd_error("--%s %" PRIu64 " is below %" PRIu64, name, *out, min);
		return GD_EINVAL;
	}
	return 0;
}

int gd_server_opts_read(const struct gd_config *cfg, struct gd_server_limits *l)
{
	/* A bound below one largest frame would stop a reader for good. */
	const uint64_t frame_max = GD_FRAME_HDR_LEN + GD_FRAME_MAX_PB + GD_FRAME_MAX_DATA;

	if (get_int(cfg, "send-timeout-ms", GD_SERVER_DEFAULT_SEND_TIMEOUT_MS, 100,
		    TIMEOUT_MAX_MS, &l->send_timeout_ms) < 0 ||
	    get_int(cfg, "idle-timeout-ms", GD_SERVER_DEFAULT_IDLE_TIMEOUT_MS, 100,
		    TIMEOUT_MAX_MS, &l->idle_timeout_ms) < 0 ||
	    get_int(cfg, "frame-timeout-ms", GD_SERVER_DEFAULT_FRAME_TIMEOUT_MS, 100,
		    TIMEOUT_MAX_MS, &l->frame_timeout_ms) < 0 ||
	    get_int(cfg, "max-conns", GD_SERVER_DEFAULT_MAX_CONNS, 1, 1000000, &l->max_conns) < 0 ||
	    get_int(cfg, "max-conns-per-addr", GD_SERVER_DEFAULT_MAX_CONNS_PER_ADDR, 1, 1000000,
		    &l->max_conns_per_addr) < 0 ||
	    get_int(cfg, "max-conn-requests", GD_SERVER_DEFAULT_MAX_CONN_REQUESTS, 1, 1000000,
		    &l->max_conn_requests) < 0 ||
	    get_int(cfg, "max-requests", GD_SERVER_DEFAULT_MAX_REQUESTS, 1, 100000000,
		    &l->max_requests) < 0 ||
	    get_bytes(cfg, "max-request-bytes", GD_SERVER_DEFAULT_MAX_REQUEST_BYTES, frame_max,
		      &l->max_request_bytes) < 0 ||
	    get_bytes(cfg, "max-conn-output", GD_SERVER_DEFAULT_MAX_CONN_OUTPUT, 2 * frame_max,
		      &l->max_conn_output) < 0 ||
	    get_bytes(cfg, "max-total-output", GD_SERVER_DEFAULT_MAX_TOTAL_OUTPUT, 2 * frame_max,
		      &l->max_total_output) < 0)
		return GD_EINVAL;
	return 0;
}
