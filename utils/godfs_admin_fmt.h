/* The printing helpers every godfs-admin command shares, defined in
 * godfs_admin.c. Single-threaded, like the whole tool. */
#ifndef GODFS_ADMIN_FMT_H
#define GODFS_ADMIN_FMT_H

#include <stddef.h>
#include <stdint.h>

/* A byte count for humans (1023 B, 1.5 KiB, 80.0 GiB) written into buf. */
const char *admin_bytes(uint64_t n, char *buf, size_t len);
/* Prints s as a JSON string (quotes included), escaping what JSON requires. */
void admin_json_str(const char *s);

#endif
