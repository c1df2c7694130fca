/* TLS under one Raft connection (the tls option on the Raft port,
 * meta_raft_transport.h). libraft reads and writes a plain uv_stream_t, and
 * GnuTLS wants a blocking socket it can own, so the two are joined by a
 * socketpair: raft gets one end (as a uv_pipe_t on its loop), and two
 * threads pump bytes between the other end and the TLS session on the TCP
 * socket:
 *
 *   rx thread: TLS handshake, then the hello (read on the accepting side,
 *              written on the connecting side), then TCP/TLS -> socketpair
 *   tx thread: socketpair -> TLS/TCP (started once the hello went through)
 *
 * GnuTLS allows one sender and one receiver at once, which is exactly this.
 * When either thread stops (end of stream, error, meta_raft_tls_stop) it shuts
 * down both the TCP socket and its end of the socketpair, which wakes the
 * other: raft then reads the end of its stream, and when raft closes its end
 * the tx thread reads the end and stops both.
 *
 * Ownership: the object owns the TCP socket (from start, also on failure),
 * both ends of the socketpair until meta_raft_tls_take_fd hands raft's end
 * out, the TLS session and the threads. Threading: start, result, hello,
 * take_fd, ended and free are called from one thread (the loop); stop from
 * any thread; notify is called from the pump threads. */
#ifndef META_RAFT_TLS_H
#define META_RAFT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_auth.h"

#define META_RAFT_TLS_HELLO_MAX 512    /* the longest hello either side handles */

struct meta_raft_tls;

/* The accepting side learns how long the hello is from its fixed part:
 * returns 0 and *tail (the bytes that follow, < META_RAFT_TLS_HELLO_MAX -
 * hdr_len), or a GD_E* code with why set. Called on the rx thread. */
typedef int (*meta_raft_tls_hello_fn)(const uint8_t *hdr, size_t *tail, char *why, size_t whylen);

struct meta_raft_tls_cfg {
	int fd;                        /* connected TCP socket; owned from start on */
	bool server;                   /* the accepting side */
	uint8_t key[GD_KEY_LEN];       /* gd_auth_session_key of the handshake (copied) */
	unsigned timeout_ms;           /* for the TLS handshake and the hello together */
	/* connecting side: the hello to send (copied) */
	const uint8_t *hello;
	size_t hello_len;
	/* accepting side: the hello's fixed part and what it says follows */
	size_t hello_hdr_len;
	meta_raft_tls_hello_fn hello_tail;
	/* Called from the threads whenever result or ended may have changed
	 * (e.g. uv_async_send). */
	void (*notify)(void *ctx);
	void *ctx;
};

/* Starts the rx thread. Returns 0 and *out, or GD_ENOMEM / GD_EIO (fd is
 * closed then). */
int meta_raft_tls_start(const struct meta_raft_tls_cfg *cfg, struct meta_raft_tls **out);

/* The handshake's outcome: GD_EAGAIN while it runs, 0 when TLS is up and the
 * hello went through (both pumps run), or a GD_E* code with why set ("TLS
 * handshake failed: ..."). */
int meta_raft_tls_result(struct meta_raft_tls *c, char *why, size_t whylen);

/* The accepting side's hello (after result 0): the fixed part and the tail. */
const uint8_t *meta_raft_tls_hello(const struct meta_raft_tls *c, size_t *len);

/* Raft's end of the socketpair; once, after result 0. The caller owns it. */
int meta_raft_tls_take_fd(struct meta_raft_tls *c);

/* Ends the connection: both pumps (or the handshake) stop soon. Any thread,
 * any number of times. */
void meta_raft_tls_stop(struct meta_raft_tls *c);

/* Whether every thread has ended (free will not wait). */
bool meta_raft_tls_ended(struct meta_raft_tls *c);

/* Joins the threads (stop first, or wait for ended), closes what is still
 * open and frees c. */
void meta_raft_tls_free(struct meta_raft_tls *c);

#endif
