/* Socket helpers shared by gd_conn, gd_server and the daemons: connect with a
 * deadline, listen, whole reads and writes that survive EINTR and short
 * transfers. (Which message each method carries: gd_methods.h.)
 *
 * All functions return 0 or a negative GD_E* code, never -1 with errno. */
#ifndef GD_NET_H
#define GD_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Longest "ip:port" / "[ipv6]:port" string gd_net_peer_name() produces. */
#define GD_NET_ADDR_MAX 64
/* Socket buffer size asked for on every godfs connection (the kernel may cap it). */
#define GD_NET_SOCKBUF (4u << 20)

/* Resolves "host:port" and connects with a deadline (non-blocking connect +
 * poll), then puts the socket back into blocking mode with TCP_NODELAY and
 * big buffers. Returns 0 and *fd, GD_EINVAL (bad address), GD_ETIMEDOUT or
 * GD_ECONN. Name resolution itself is not bounded by the deadline. */
int gd_net_connect(const char *hostport, int timeout_ms, int *fd);

/* Binds and listens on "host:port" (port 0 picks one; host "" or "*" = any)
 * with SO_REUSEADDR. Returns 0, *fd and the bound port in *port, or GD_EINVAL /
 * GD_ECONN (the reason is logged). */
int gd_net_listen(const char *hostport, int backlog, int *fd, int *port);

/* TCP_NODELAY and GD_NET_SOCKBUF send/receive buffers; failures are ignored
 * (they only cost speed). */
void gd_net_tune(int fd);

/* SO_SNDTIMEO / SO_RCVTIMEO in milliseconds (0 = none). */
int gd_net_set_send_timeout(int fd, int timeout_ms);
int gd_net_set_recv_timeout(int fd, int timeout_ms);

/* Writes "ip:port" of the other end into buf (GD_NET_ADDR_MAX bytes), or "?". */
void gd_net_peer_name(int fd, char *buf, size_t len);

/* Reads exactly len bytes. Returns 0; GD_ECONN on an error or end of stream
 * (*got, when not NULL, says how many bytes came, so that a clean close
 * between frames (0 bytes) can be told from a torn frame); GD_ETIMEDOUT when
 * SO_RCVTIMEO expired. */
int gd_net_read_full(int fd, void *buf, size_t len, size_t *got);
/* readv until every iovec is full (iov is modified). Same returns. */
int gd_net_readv_full(int fd, struct iovec *iov, int iovcnt, size_t *got);
/* Moves iov (from index i) forward past n transferred bytes, emptying the
 * entries it passes, and returns the index of the first entry with bytes
 * left (iovcnt when none). */
int gd_net_iov_advance(struct iovec *iov, int iovcnt, int i, size_t n);
/* writev until everything is written (iov is modified). Returns 0, GD_ECONN,
 * or GD_ETIMEDOUT when SO_SNDTIMEO expired (the peer does not read). */
int gd_net_writev_full(int fd, struct iovec *iov, int iovcnt);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t gd_net_now_ms(void);

#endif
