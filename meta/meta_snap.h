/* Snapshot serialisation of the meta FSM's state (struct meta_ns_state).
 *
 * Format (little endian), version 7:
 *   header  "GDFSSNAP", u32 format version, u32 reserved (0), u64 body length
 *   body    counters, inodes in inode-number order (attributes, symlink
 *           target, xattrs, chunk table, directory entries in cookie order),
 *           sessions in id order, chunkd nodes in id order, then (version 2)
 *           the recorded answers of sessions (exactly-once) in session id
 *           order: u64 count, per session u64 id, u64 floor, u32 n, per
 *           answer u64 seq, u32 method, u32 status, blob response; then
 *           (version 3) the truncate counts: u64 count, per inode truncated
 *           at least once, in inode order, u64 ino, u64 trunc_seq,
 *           u64 trunc_size; then (version 4) the client tokens: u64 next token
 *           id, u64 count, per token in id order u64 id, u64 subtree,
 *           u64 expires, u64 created, u32 flags, u8 revoked, blob name
 *           (version 6: then u32 uid, u32 gid, the identity of an API key); then
 *           (version 5) the draining chunkds: u64 count, per node in id
 *           order blob node id; then (version 7) the cluster-wide file locks
 *           as one blob in meta_locks_encode's form (meta_locks.h).
 *           Version 4 also keeps the way up (parent) of non-directories in
 *           the inode record (0 before: rebuilt from the entries on load)
 *   trailer u64 FNV-1a 64 of header + body
 * Versions 1 (no recorded answers: sessions start empty), 2 (no truncate
 * counts: all 0), 3 (no tokens), 4 (no draining chunkds), 5 (tokens
 * without uid/gid, no API keys) and 6 (no locks) still load. A
 * snapshot is always written in the newest
 * version, which an older meta cannot load: upgrade every voter together.
 * The same state always gives the same bytes, so snapshot(restore(s)) == s.
 * Restore checks every length against the bytes left before allocating, and
 * the structure (links, counts, parents, types) before accepting the state. */
#ifndef META_SNAP_H
#define META_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "meta_ns.h"

/* Serialises s into *buf (allocated with raft_malloc: the caller, usually
 * libraft, owns it) of *len bytes. 0 or GD_ENOMEM. */
int meta_snap_write(const struct meta_ns_state *s, void **buf, size_t *len);

/* Builds *out from a snapshot. 0, or GD_EPROTO for a truncated, corrupt or
 * inconsistent buffer, or GD_ENOMEM; on error *out holds nothing to release.
 * Does not take ownership of buf. */
int meta_snap_read(struct meta_ns_state *out, const void *buf, size_t len);

/* The trailer checksum of a buffer (exported for tests that forge snapshots). */
uint64_t meta_snap_checksum(const void *buf, size_t len);

#endif
