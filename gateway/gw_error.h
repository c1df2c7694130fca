/* The gateway's one table from a status (0 or a negative GD_E* code) to an
 * HTTP status and a stable error code (docs/gateway.md lists the codes).
 * Every handler answers a failed cluster call through it, so that the same
 * GD_E* code always gives the same HTTP answer. Constant; thread-safe. */
#ifndef GW_ERROR_H
#define GW_ERROR_H

/* The stable codes of JSON errors ({"code": ...}). */
#define GW_BAD_REQUEST "bad_request"
#define GW_INVALID_PATH "invalid_path"
#define GW_NAME_TOO_LONG "name_too_long"
#define GW_UNAUTHORIZED "unauthorized"
#define GW_FORBIDDEN "forbidden"
#define GW_NOT_FOUND "not_found"
#define GW_METHOD_NOT_ALLOWED "method_not_allowed"
#define GW_ALREADY_EXISTS "already_exists"
#define GW_NOT_EMPTY "not_empty"
#define GW_IS_DIRECTORY "is_directory"
#define GW_NOT_DIRECTORY "not_directory"
#define GW_PRECONDITION_FAILED "precondition_failed"
#define GW_RANGE_NOT_SATISFIABLE "range_not_satisfiable"
#define GW_PAYLOAD_TOO_LARGE "payload_too_large"
#define GW_RATE_LIMITED "rate_limited"
#define GW_NO_SPACE "no_space"
#define GW_QUOTA_EXCEEDED "quota_exceeded"
#define GW_UNAVAILABLE "unavailable"
#define GW_TIMEOUT "timeout"
#define GW_INTERNAL "internal"

struct gw_error {
	int http;            /* HTTP status */
	const char *code;    /* one of the codes above */
};

/* The HTTP status and code of a negative GD_E* status (a status >= 0, or an
 * unknown code, gives 500 internal). */
struct gw_error gw_error_from_status(int status);

#endif
