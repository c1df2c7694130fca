#include "gd_status.h"

#include <stddef.h>

struct gd_status_row {
	int status;
	int err;
	const char *msg;
};

static const struct gd_status_row gd_status_rows[] = {
#define GD_STATUS_ROW(name, num, err, msg) { -(num), err, msg },
	GD_STATUS_TABLE(GD_STATUS_ROW)
#undef GD_STATUS_ROW
};

#define GD_STATUS_COUNT (sizeof(gd_status_rows) / sizeof(gd_status_rows[0]))

static const struct gd_status_row *gd_status_find(int status)
{
	for (size_t i = 0; i < GD_STATUS_COUNT; i++)
		if (gd_status_rows[i].status == status)
			return &gd_status_rows[i];
	return NULL;
}

const char *gd_strerror(int status)
{
	const struct gd_status_row *row = gd_status_find(status);
	return row ? row->msg : "unknown error";
}

int gd_status_to_errno(int status)
{
	const struct gd_status_row *row = gd_status_find(status);
	return row ? row->err : EIO;
}

int gd_status_from_errno(int err)
{
	if (err < 0)
		err = -err;
	/* The first row with this errno is the plain POSIX one. */
	for (size_t i = 0; i < GD_STATUS_COUNT; i++)
		if (gd_status_rows[i].err == err)
			return gd_status_rows[i].status;
	return GD_EIO;
}

int gd_status_valid(int status)
{
	return gd_status_find(status) != NULL;
}
