/* The name a test tool prints for a status, so that an e2e script can match
 * it: "0" for success, the GD_E* name without "GD_" ("EACCES", "ECAP") for a
 * code of gd_status.h, gd_strerror's message for any other number. Shared by
 * the programs in tests/tools (godfs_token_probe, godfs_apikey_probe,
 * godfs_wire). */
#ifndef TOOL_STATUS_H
#define TOOL_STATUS_H

const char *tool_status_name(int status);

#endif
