/* TLS on a godfs connection (the `tls` option): after the cluster-key handshake
 * (gd_auth.h) both ends hold a session key that only they know, and use it as
 * the pre-shared key of a TLS 1.3 session with an ephemeral (EC)DH exchange
 * (GnuTLS, ECDHE-PSK). So there are no certificates to issue or renew, a man in
 * the middle who relayed the handshake cannot finish TLS (he lacks the key), and
 * traffic recorded today stays secret if the cluster key leaks later (forward
 * secrecy from the ephemeral exchange).
 *
 * One session per connection. Thread-safety follows GnuTLS: one thread may
 * receive while another sends, but never two senders or two receivers at once
 * (gd_conn and gd_server already serialise each side). */
#ifndef GD_TLS_H
#define GD_TLS_H

#include "gd_auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct gd_tls;

/* Runs the TLS handshake on connected socket fd (blocking, within timeout_ms)
 * with the session key from gd_auth. Returns 0 and *out, GD_EAUTH (the other
 * end has another key), GD_ETIMEDOUT or GD_ECONN. Does not own fd. */
int gd_tls_start(int fd, bool server, const uint8_t session_key[GD_KEY_LEN], int timeout_ms,
		 struct gd_tls **out);
/* Ends the session (no close_notify wait) and frees it; fd stays open. */
void gd_tls_free(struct gd_tls *t);

/* Reads exactly len bytes (blocking; SO_RCVTIMEO applies). Same returns as
 * gd_net_read_full: 0, GD_ECONN (with *got), GD_ETIMEDOUT. */
int gd_tls_read_full(struct gd_tls *t, void *buf, size_t len, size_t *got);
int gd_tls_readv_full(struct gd_tls *t, struct iovec *iov, int iovcnt, size_t *got);
/* Writes every iovec (blocking; iov is modified). 0, GD_ECONN, GD_ETIMEDOUT. */
int gd_tls_writev_full(struct gd_tls *t, struct iovec *iov, int iovcnt);
/* Non-blocking send of up to len bytes: bytes taken (> 0), GD_EAGAIN when the
 * socket is full (call again later with the SAME buf and len: GnuTLS keeps the
 * record it began), or GD_ECONN. */
long gd_tls_send_nb(struct gd_tls *t, const void *buf, size_t len);
/* Bytes GnuTLS has decrypted and not handed out yet: poll() on the socket does
 * not see them, so a reader must drain these before it waits. */
size_t gd_tls_pending(struct gd_tls *t);

/* One receive: bytes read (> 0), GD_EAGAIN (SO_RCVTIMEO slice ended, or the
 * deadline below passed; call again, GnuTLS keeps a half-received record),
 * GD_ECONN (end or error). */
long gd_tls_recv_some(struct gd_tls *t, void *buf, size_t len);
/* Receives stop with GD_EAGAIN once gd_net_now_ms() reaches deadline_ms
 * (0 = none), also in the middle of a record: a peer that trickles a record a
 * byte at a time cannot hold the reader past its frame and idle deadlines.
 * Receiving thread only. */
void gd_tls_set_recv_deadline(struct gd_tls *t, uint64_t deadline_ms);

/* Sends the encrypted records to out(ctx, bytes, len) instead of the socket,
 * from now on (after gd_tls_start). out must take every byte (queue what the
 * socket does not take) and return 0, or a GD_E* code that fails the send.
 * gd_server uses it so that encryption never waits for the socket: the
 * ciphertext joins its non-blocking output queue. */
typedef int (*gd_tls_out_fn)(void *ctx, const void *buf, size_t len);
void gd_tls_set_output(struct gd_tls *t, gd_tls_out_fn out, void *ctx);
/* Encrypts all of iov into records handed to the output function set above.
 * Returns 0 or the output function's error (the stream is then broken). */
int gd_tls_encrypt(struct gd_tls *t, const struct iovec *iov, int iovcnt);

#endif
