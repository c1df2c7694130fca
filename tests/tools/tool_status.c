/* Status names for the test tools (see tool_status.h). */
#include "tool_status.h"

#include "gd_status.h"

const char *tool_status_name(int status)
{
	if (status == 0)
		return "0";
	switch (status) {
	/* the name after its "GD_" */
#define TOOL_STATUS_NAME(name, num, err, msg) case name: return #name + 3;
	GD_STATUS_TABLE(TOOL_STATUS_NAME)
#undef TOOL_STATUS_NAME
	default:
		return gd_strerror(status);
	}
}
