/* GD_E* -> HTTP (see gw_error.h). */
#include "gw_error.h"

#include "gd_status.h"

struct gw_error gw_error_from_status(int status)
{
	switch (status) {
	case GD_EPERM:
	case GD_EACCES:
	case GD_EROFS:
	case GD_ECAP:
		return (struct gw_error){ 403, GW_FORBIDDEN };
	case GD_EAUTH:
		return (struct gw_error){ 401, GW_UNAUTHORIZED };
	case GD_ENOENT:
		return (struct gw_error){ 404, GW_NOT_FOUND };
	case GD_EEXIST:
		return (struct gw_error){ 409, GW_ALREADY_EXISTS };
	case GD_ENOTEMPTY:
		return (struct gw_error){ 409, GW_NOT_EMPTY };
	case GD_EISDIR:
		return (struct gw_error){ 409, GW_IS_DIRECTORY };
	case GD_ENOTDIR:
		return (struct gw_error){ 409, GW_NOT_DIRECTORY };
	case GD_ENAMETOOLONG:
		return (struct gw_error){ 400, GW_NAME_TOO_LONG };
	case GD_EINVAL:
	case GD_EXDEV:
	case GD_ELOOP:
	case GD_E2BIG:
	case GD_ERANGE:
		return (struct gw_error){ 400, GW_BAD_REQUEST };
	case GD_EFBIG:
		return (struct gw_error){ 413, GW_PAYLOAD_TOO_LARGE };
	case GD_ENOSPC:
		return (struct gw_error){ 507, GW_NO_SPACE };
	case GD_ETIMEDOUT:
		return (struct gw_error){ 504, GW_TIMEOUT };
	case GD_EAGAIN:
	case GD_EBUSY:
	case GD_ENOTLEADER:
	case GD_ECONN:
	case GD_ESHUTDOWN:
	case GD_ENOSESSION:
	case GD_ENOSERVERS:
		/* Too few chunk servers alive for the goal: the mount can only
		 * say ENOSPC, but to an HTTP client it is a retryable outage,
		 * not a full cluster. */
		return (struct gw_error){ 503, GW_UNAVAILABLE };
	default:
		/* EIO, ECORRUPT, ESTALE, EPROTO, ENOMEM...: the cluster failed
		 * in a way the caller cannot fix by asking differently. */
		return (struct gw_error){ 500, GW_INTERNAL };
	}
}
