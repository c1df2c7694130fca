/* A voter's address in the Raft configuration: "RAFTHOST:PORT@CLIENTHOST:PORT".
 *
 * The Raft configuration is the one list of voters that every voter holds,
 * durably (libraft writes it in the log and in snapshots) and changed only
 * through Raft (raft_add, raft_remove). The client address of a voter (where
 * mounts, chunkds and godfs-admin reach it) rides in the same string after an
 * '@', so that a voter added on a live cluster is known cluster-wide with its
 * client address in the same committed entry, with no second record to keep
 * in step (docs/meta.md, "Voters and their addresses"). The Raft port
 * (meta_raft_transport.c) listens on and connects to the part before the '@'.
 * An address without '@' (a cluster bootstrapped before this, or --peers
 * without a client address) has no client address.
 *
 * Pure functions, no state, thread-safe. */
#ifndef META_RAFT_ADDR_H
#define META_RAFT_ADDR_H

#include <stddef.h>

/* Longest configuration address (the Raft hello carries at most 255 bytes). */
#define META_RAFT_CONF_ADDR_MAX 255

/* Splits conf into its Raft part and its client part (client gets "" when
 * there is none). Returns 0, or GD_EINVAL when conf is empty, too long, has
 * more than one '@' or an empty part, or a part does not fit its buffer. */
int meta_raft_addr_split(const char *conf, char *raft, size_t raft_cap, char *client,
			 size_t client_cap);

/* Joins raft and client (may be NULL or "") into out. Returns 0, or
 * GD_EINVAL when a part is empty or holds '@' or ',', or the result is
 * longer than META_RAFT_CONF_ADDR_MAX or out_cap - 1. */
int meta_raft_addr_join(const char *raft, const char *client, char *out, size_t out_cap);

#endif
