/* The one table of wire.proto's methods: for each method, the messages it
 * carries, which daemon serves it, which roles may call it, and what it does
 * (mutating, session, exactly-once, bulk data). Every daemon and every client
 * learns what a method is from here and nowhere else: gd_server decodes a
 * request with the table's descriptor and refuses a method this daemon does
 * not serve or the caller's role may not call, before any handler runs.
 *
 * Roles are those of the authenticated handshake (gd_auth.h enum gd_role);
 * who calls what today:
 *   client   mount.godfs (gd_client + gd_meta_client): namespace, data, chunk I/O
 *   gateway  the same calls as a mount, for an object gateway
 *   admin    godfs-admin: ADMIN_STATUS, TOKEN_*, MASTERS_*, and LOOKUP,
 *            GETATTR, SETATTR (goal)
 *   chunkd   chunkd -> meta: CS_REGISTER, CS_HEARTBEAT, CS_REPORT_BAD
 *   peer     chunkd -> chunkd: the write pipeline (CS_WRITE, CS_FSYNC,
 *            CS_TRUNCATE) and replication pulls (CS_READ)
 *   meta     meta -> meta (Raft, not on this port); may order chunkds
 * CS_DELETE and CS_REPLICATE are sent by nobody today (the meta orders
 * deletions and replications in heartbeat answers); only the meta and an
 * operator (admin) may ask a chunkd for them over the wire.
 *
 * The table is constant; every function is thread-safe. */
#ifndef GD_METHODS_H
#define GD_METHODS_H

#include "gd_auth.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

/* Which daemon serves a method (bits of gd_method.served_by and of
 * gd_server_config.serves). */
#define GD_SERVE_META   1u
#define GD_SERVE_CHUNKD 2u
#define GD_SERVE_ANY    (GD_SERVE_META | GD_SERVE_CHUNKD)

/* One bit per role in gd_method.roles. */
#define GD_ROLE_BIT(r) (1u << (unsigned)(r))

/* gd_method.flags */
/* Changes the file system or the cluster (namespace, data, chunk copies, the
 * chunkd registry): a read-only credential may not call it. OPEN is not
 * marked: it mutates only with O_TRUNC, which its handler checks. */
#define GD_METHOD_MUTATES  1u
/* The request's session_id field names a client session: it must be the
 * session of the connection it comes on (HELLO, which claims a session, is
 * not marked). */
#define GD_METHOD_SESSION  2u
/* Exactly-once: the request carries req_seq / req_ack (fields 100 and 101)
 * and, from a client session, its answer is recorded (meta_fsm.h). */
#define GD_METHOD_ONCE     4u
/* The request may carry bulk data after its protobuf part (CS_WRITE, and
 * PING's echo); any other request with data is refused. */
#define GD_METHOD_REQ_DATA 8u
/* The response carries bulk data (CS_READ). */
#define GD_METHOD_RESP_DATA 16u

#define GD_METHOD_ID_MAX 127    /* above every value of wire.proto's enum Method */

struct gd_method {
	uint16_t id;                                 /* wire.proto Method */
	const char *name;                            /* "LOOKUP", "CS_WRITE"... */
	const ProtobufCMessageDescriptor *req;       /* message of the request */
	const ProtobufCMessageDescriptor *resp;      /* message of the response */
	unsigned served_by;                          /* GD_SERVE_* */
	uint32_t roles;                              /* GD_ROLE_BIT(role) of the callers */
	uint32_t flags;                              /* GD_METHOD_* */
};

/* The row of method id, or NULL for a number that is not a method (M_NONE,
 * unknown). */
const struct gd_method *gd_method_get(uint32_t id);

/* Whether role may call m. */
bool gd_method_allowed(const struct gd_method *m, enum gd_role role);

/* Whether a daemon serving `serves` (GD_SERVE_*) takes a request of m that
 * carries data_len bytes of bulk data: 0; GD_ENOTSUP (not served by this
 * daemon) or GD_EPROTO (bulk data on a method that carries none), with *why
 * saying which for the log line. Who may call it: gd_method_allowed. */
int gd_method_check(const struct gd_method *m, unsigned serves, uint32_t data_len,
		    const char **why);

/* The session a GD_METHOD_SESSION request names (its session_id field; 0 when
 * not set), for any decoded request msg of m. 0 for other methods. */
uint64_t gd_method_session(const struct gd_method *m, const ProtobufCMessage *msg);

/* The req_seq and req_ack of a GD_METHOD_ONCE request (0 when not set);
 * false for other methods. */
bool gd_method_seq(const struct gd_method *m, const ProtobufCMessage *msg, uint64_t *seq,
		   uint64_t *ack);

/* The method's name, or "?" for a number that is not one (for log lines). */
const char *gd_method_name(uint32_t id);

#endif
