/* One status table for every godfs program and for the wire.
 *
 * Functions return 0 for success or a negative GD_E* code. The wire carries the
 * same numbers in every response's `status`. The numbers are godfs's own (not
 * the host's errno values) so that they mean the same thing on every machine;
 * gd_status_to_errno() is the one place that maps them to errno for FUSE. */
#ifndef GD_STATUS_H
#define GD_STATUS_H

#include <errno.h>

/* X(name, number, errno, message) */
#define GD_STATUS_TABLE(X) \
	X(GD_OK,           0,  0,            "success") \
	X(GD_EPERM,        1,  EPERM,        "operation not permitted") \
	X(GD_ENOENT,       2,  ENOENT,       "no such file or directory") \
	X(GD_EIO,          3,  EIO,          "input/output error") \
	X(GD_ENOMEM,       4,  ENOMEM,       "out of memory") \
	X(GD_EACCES,       5,  EACCES,       "permission denied") \
	X(GD_EEXIST,       6,  EEXIST,       "file exists") \
	X(GD_EXDEV,        7,  EXDEV,        "cross-device link") \
	X(GD_ENOTDIR,      8,  ENOTDIR,      "not a directory") \
	X(GD_EISDIR,       9,  EISDIR,       "is a directory") \
	X(GD_EINVAL,       10, EINVAL,       "invalid argument") \
	X(GD_EFBIG,        11, EFBIG,        "file too large") \
	X(GD_ENOSPC,       12, ENOSPC,       "no space left on device") \
	X(GD_EROFS,        13, EROFS,        "read-only file system") \
	X(GD_EMLINK,       14, EMLINK,       "too many links") \
	X(GD_ENAMETOOLONG, 15, ENAMETOOLONG, "file name too long") \
	X(GD_ENOTEMPTY,    16, ENOTEMPTY,    "directory not empty") \
	X(GD_ENODATA,      17, ENODATA,      "no such attribute") \
	X(GD_ERANGE,       18, ERANGE,       "result too large") \
	X(GD_ENOTSUP,      19, EOPNOTSUPP,   "operation not supported") \
	X(GD_ETIMEDOUT,    20, ETIMEDOUT,    "timed out") \
	X(GD_EAGAIN,       21, EAGAIN,       "try again") \
	X(GD_EBADF,        22, EBADF,        "bad file descriptor") \
	X(GD_ELOOP,        23, ELOOP,        "too many levels of symbolic links") \
	X(GD_E2BIG,        24, E2BIG,        "argument list too long") \
	X(GD_EBUSY,        25, EBUSY,        "device or resource busy") \
	X(GD_EDEADLK,      26, EDEADLK,      "resource deadlock avoided") \
	X(GD_ENOLCK,       27, ENOLCK,       "no locks available") \
	X(GD_EINTR,        28, EINTR,        "interrupted") \
	X(GD_ENOTLEADER,   100, EAGAIN,      "not the meta leader") \
	X(GD_EPROTO,       101, EPROTO,      "protocol error") \
	X(GD_ECORRUPT,     102, EIO,         "checksum mismatch: corrupt block") \
	X(GD_ESTALE,       103, EIO,         "stale chunk version") \
	X(GD_ENOCHUNK,     104, EIO,         "no such chunk") \
	X(GD_ENOSERVERS,   105, ENOSPC,      "not enough chunk servers") \
	X(GD_ECONN,        106, EIO,         "connection failed") \
	X(GD_ESHUTDOWN,    107, EIO,         "shutting down") \
	X(GD_EAUTH,        108, EACCES,      "authentication failed") \
	X(GD_ENOSESSION,   109, EIO,         "unknown or expired session") \
	X(GD_EFORGOTTEN,   110, EIO,         "resent request whose answer is no longer kept") \
	X(GD_ETRUNCATED,   111, EIO,         "written data lost to a truncate") \
	X(GD_ECAP,         120, EACCES,      "missing or expired chunk capability")

enum gd_status {
#define GD_STATUS_ENUM(name, num, err, msg) name = -(num),
	GD_STATUS_TABLE(GD_STATUS_ENUM)
#undef GD_STATUS_ENUM
};

/* A human-readable message for a status (0 or a negative GD_E* code). */
const char *gd_strerror(int status);
/* The errno (positive) that a status maps to; EIO for unknown codes. */
int gd_status_to_errno(int status);
/* A status from a positive errno value (EIO where there is no exact match). */
int gd_status_from_errno(int err);
/* Whether a number received from the wire is a known status. */
int gd_status_valid(int status);

#endif
