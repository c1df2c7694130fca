/* Client tokens in the meta's replicated state (meta_ns.h struct
 * meta_ns_token): the apply of M_TOKEN_CREATE and M_TOKEN_REVOKE, the
 * M_TOKEN_LIST query, and the check a token connection passes on every
 * request (docs/security.md, "Client tokens").
 *
 * The token id comes from the state's counter, the creation time from the
 * entry, so every voter builds the same table. The secret is not here: the
 * leader derives it from the fields under the cluster key when it answers
 * TOKEN_CREATE (meta_h_token.c).
 *
 * Pure like meta_fsm (no I/O, no clock: `now` is passed in); not thread-safe:
 * the meta's loop owns the state. meta_token_gate.h is the thread-safe copy
 * that the handshake reads. */
#ifndef META_TOKEN_H
#define META_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "meta_fsm.h"
#include "meta_ns.h"
#include "proto/fsm.pb-c.h"
#include "proto/wire.pb-c.h"

/* TOKEN_CREATE: checks the request (subtree an existing directory, known
 * flags only, name <= 255 bytes, expiry 0 or after now_sec, uid/gid only
 * for an API key), adds the token
 * with the next id and created = now_sec, and packs a TokenResp with its
 * fields into res. 0 or GD_ENOENT, GD_ENOTDIR, GD_EINVAL, GD_ENOSPC (table
 * full), GD_ENOMEM (state unchanged). */
int meta_token_create(struct meta_ns_state *st, const Godfs__TokenCreate *r, int64_t now_sec,
		      struct meta_fsm_result *res);
/* TOKEN_REVOKE: marks the token revoked (again is fine) and packs a TokenResp
 * with its fields. 0, GD_EINVAL (no id) or GD_ENOENT. */
int meta_token_revoke(struct meta_ns_state *st, const Godfs__TokenRevoke *r,
		      struct meta_fsm_result *res);
/* TOKEN_LIST: every token in id order into a TokenListResp. 0 or GD_ENOMEM. */
int meta_token_list(const struct meta_ns_state *st, struct meta_fsm_result *res);

/* TOKEN_GET: one token's fields into a TokenResp. 0, GD_EINVAL (no id) or
 * GD_ENOENT. */
int meta_token_get(const struct meta_ns_state *st, const Godfs__TokenGet *r,
		   struct meta_fsm_result *res);

/* The uid/gid of API key id (GD_TOKEN_APIKEY): true and *uid, *gid; false
 * for an unknown id or a plain token (no identity is forced on those). */
bool meta_token_identity(const struct meta_ns_state *st, uint64_t id, uint32_t *uid,
			 uint32_t *gid);

/* Apply-time rule of an entry proposed for an API-key session (as_uid and
 * as_gid set, fsm.proto): MKNOD/MKDIR/SYMLINK get the key's uid/gid as the
 * new inode's owner, whatever req says (req is changed); a SETATTR that
 * changes owner or group to anything but the key's own is GD_EPERM unless
 * the key's uid is 0. 0 for every other entry. */
int meta_token_apply_identity(const Godfs__MetaEntry *e, uint32_t method, ProtobufCMessage *req);

/* Whether a connection that proved token t (its public fields) may still act:
 * the token is in the table with the same fields, not revoked, not expired at
 * now_sec. 0, or GD_EAUTH with *why set to a static reason. */
int meta_token_valid(const struct meta_ns_state *st, uint64_t id, uint64_t subtree,
		     uint64_t expires, uint32_t flags, int64_t now_sec, const char **why);

#endif
