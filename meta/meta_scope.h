/* What a client token may reach: every request of a connection that proved a
 * token (gd_auth.h GD_AUTH_TOKEN) is checked here before anything else, by the
 * inode numbers it names, whatever the client sent (a request forged by hand
 * is checked like any other).
 *
 * "Inside the subtree" is decided by walking up from the inode through
 * meta_ns_inode.parent (directories: the directory holding them; other
 * inodes: a directory holding one of their links, or 0 = unknown) until the
 * subtree's root (inside) or the file system's root, an unknown parent or
 * META_SCOPE_DEPTH_MAX steps (outside). Unknown is refused, never guessed:
 * a file whose recorded link went away while others remain cannot be reached
 * through a token until it is linked again (docs/security.md).
 *
 * Pure: reads the state, no I/O, no clock. Not thread-safe: the meta's loop
 * owns the state. */
#ifndef META_SCOPE_H
#define META_SCOPE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta_ns.h"

#define META_SCOPE_DEPTH_MAX 4096     /* directories walked up at most */

/* Whether inode ino is the directory root or below it: 0 inside, GD_EACCES
 * outside (or not provably inside), GD_ENOENT when no such inode exists (a
 * number from the future must not pass now and name an outside inode once
 * the request is applied). root META_NS_ROOT_INO contains everything. */
int meta_scope_inside(const struct meta_ns_state *st, uint64_t root, uint64_t ino);

/* Checks one request (method of wire.proto, req its unpacked message) of a
 * token scoped to root: every inode it names must be inside; a LOOKUP of
 * ".." from root is outside; with read_only every mutating method is
 * refused, and an OPEN for writing or with O_TRUNC. Methods a client token
 * has no business with (chunkd, admin, token methods) are refused.
 * 0, GD_EACCES (outside; *why names the inode), GD_EROFS, GD_EPERM (method),
 * GD_ENOENT, GD_EINVAL (a message without the inode field). *why is set on
 * refusal to a static string. */
int meta_scope_check(const struct meta_ns_state *st, uint64_t root, bool read_only,
		     uint16_t method, const ProtobufCMessage *req, const char **why,
		     uint64_t *bad_ino);

/* The opens a reconnecting client may re-claim (HELLO's open_inodes): copies
 * into out (room for n) those of in[0..n) that exist and are inside root,
 * in order, and returns how many. Missing ones (a file purged meanwhile, a
 * number not yet allocated) and, for a token (root its subtree), outside
 * ones are dropped: an open pins an inode's chunks. A connection without a
 * token passes META_NS_ROOT_INO (only missing ones are dropped). */
size_t meta_scope_reclaimable(const struct meta_ns_state *st, uint64_t root,
			      const uint64_t *in, size_t n, uint64_t *out);

#endif
