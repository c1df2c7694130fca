/* The printing helpers every godfs-admin command shares, defined in
 * godfs_admin.c (byte counts for people: gd_text_bytes, gd_text.h). Single-threaded, like the whole tool. */
#ifndef GODFS_ADMIN_FMT_H
#define GODFS_ADMIN_FMT_H

/* Prints s as a JSON string (quotes included), escaping what JSON requires. */
void admin_json_str(const char *s);

#endif
