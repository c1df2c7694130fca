/* The Raft port: libraft's connections between voters (struct
 * raft_uv_transport of libraft 0.15) on libuv TCP, opened only to peers that
 * pass the godfs handshake (gd_auth.h) with the cluster key. It replaces
 * libraft's stock TCP transport, which lets anyone who reaches the port talk
 * Raft and trusts the lengths of its own handshake (docs/security.md, "The
 * Raft port").
 *
 * A connection, from the side that connects (raft sends on it; the side that
 * accepts only reads):
 *
 *   acceptor -> connector  challenge (GD_AUTH_CHALLENGE_LEN)
 *   connector -> acceptor  proof     (GD_AUTH_PROOF_LEN), role GD_ROLE_META
 *   acceptor -> connector  verdict   (GD_AUTH_VERDICT_LEN)
 *   connector -> acceptor  hello: "GDR1" | raft id u64 | address length u16 |
 *                          address (1..META_RAFT_ADDR_MAX bytes, no NUL),
 *                          integers big-endian
 *   then raft's own messages, connector -> acceptor.
 *
 * Every message has a fixed size or a bounded one, and the whole exchange has
 * a deadline: a peer that sends garbage, a huge length or nothing is cut, with
 * one log line (rate-limited). Only after the hello is read is the stream
 * handed to raft (accept callback with the peer's id and address). The
 * connector hands its stream to raft once the verdict proved that the
 * acceptor holds the key too and the hello is written.
 *
 * Tokens are never accepted here (the policy's token flag is cleared); with
 * an --insecure policy a peer with no credential passes (GD_AUTH_NONE).
 *
 * TLS (the policy's tls flag, i.e. --tls): the challenge says so
 * (GD_AUTH_F_TLS), and after the verdict both ends run TLS 1.3 keyed with the
 * handshake's session key (gd_tls.h); the hello and raft's messages travel
 * inside it. Every voter must run with the same setting: a node with --tls
 * refuses a peer without TLS and a node without it refuses a peer that asks
 * for it, each with a log line. The TLS handshake and the hello count against
 * the same deadline and bounds. Raft then gets a uv_pipe_t on a socketpair
 * that two threads per connection pump to and from the TLS session
 * (meta_raft_tls.h).
 *
 * Threading: everything runs on the loop given to init, like raft itself,
 * except the TLS pumps, which report to the loop through an async handle.
 * Streams handed to raft are allocated with raft_malloc (raft frees them with
 * raft_free after uv_close). The close callback fires once every TLS thread
 * has ended. */
#ifndef META_RAFT_TRANSPORT_H
#define META_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#include "meta_raft_hello.h"

#include "gd_auth.h"

#define META_RAFT_HANDSHAKE_MS 5000    /* the whole handshake, either side */
#define META_RAFT_MAX_HANDSHAKES 64    /* incoming connections in handshake at once */
#define META_RAFT_MAX_PER_ADDRESS 8    /* of them from one IP address */

struct meta_raft_transport_opts {
	/* Who may connect: copied (tokens turned off); the keyring it points
	 * to must outlive the transport. Its tls flag puts TLS on every
	 * connection, accepted and connected. Usually gd_cred_policy(). */
	const struct gd_auth_policy *policy;
	/* What this node presents when it connects; must outlive the
	 * transport. Usually gd_cred_self(). */
	const struct gd_cred *cred;
	unsigned handshake_ms;         /* 0 = META_RAFT_HANDSHAKE_MS */
	unsigned max_handshakes;       /* 0 = META_RAFT_MAX_HANDSHAKES (outgoing ones are bounded alike) */
	unsigned max_per_address;      /* 0 = META_RAFT_MAX_PER_ADDRESS */
};

/* Counters, for tests and the log. */
struct meta_raft_transport_stats {
	uint64_t accepted;             /* streams handed to raft's accept callback */
	uint64_t connected;            /* streams handed to raft's connect callback */
	uint64_t refused;              /* incoming handshakes that failed (bad proof, garbage, closed) */
	uint64_t timed_out;            /* incoming handshakes cut at the deadline */
	uint64_t overflow;             /* incoming connections closed at once: too many in handshake
					* (in all, or from one address) */
	unsigned in_handshake;         /* incoming connections in handshake now */
};

/* Fills t (data is kept, as raft_uv_tcp_init does) with the godfs transport
 * on loop. Returns 0 or RAFT_NOMEM. Release with meta_raft_transport_release. */
int meta_raft_transport_init(struct raft_uv_transport *t, uv_loop_t *loop,
			     const struct meta_raft_transport_opts *opts);

/* Frees what init allocated: after t->close's callback has fired, or when
 * t->init was never called (raft_uv_init failed). */
void meta_raft_transport_release(struct raft_uv_transport *t);

/* The port the listener is bound to (useful with port 0), or -1 before listen. */
int meta_raft_transport_port(const struct raft_uv_transport *t);

void meta_raft_transport_stats(const struct raft_uv_transport *t,
			       struct meta_raft_transport_stats *out);

#endif
