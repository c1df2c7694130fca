/* What keeps strangers and slow clients from holding the gateway before they
 * have proved anything (docs/gateway.md "Limits"):
 *
 *   - a deadline for the request line and headers (--header-timeout, default
 *     10 s): counted from the connection's accept, and on a kept-alive
 *     connection from the end of its last request, to the moment MHD hands
 *     over the whole header. MHD's own --conn-timeout is an idle timeout that
 *     any byte resets, so a client sending one header byte every few seconds
 *     would hold a connection (and, one thread per connection, a thread)
 *     for hours; past the deadline the guard shuts the socket down, and the
 *     connection's thread sees it closed;
 *   - a budget of failed authentications per client address (IPv6: per /64):
 *     GW_GUARD_FAIL_BURST at once, GW_GUARD_FAIL_RPS per second. A request
 *     from an address whose budget is spent is answered 429 before its
 *     credential is looked at, so a flood of made-up key ids neither asks
 *     the meta nor fills gw_auth's cache. Good credentials spend nothing.
 *
 * Thread-safe: one mutex guards the connection list; the watchdog thread
 * shuts a socket down under it, and MHD reports a connection closed (which
 * takes it off the list) before it closes the socket, so the guard never
 * touches a descriptor that was closed and reused. */
#ifndef GW_GUARD_H
#define GW_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GW_GUARD_FAIL_RPS 5.0
#define GW_GUARD_FAIL_BURST 30.0

struct gw_guard;
struct gw_guard_conn;

/* header_timeout_s 0 = no deadline. Starts the watchdog thread. 0,
 * GD_ENOMEM or GD_EIO (no thread). */
int gw_guard_new(unsigned header_timeout_s, struct gw_guard **out);
/* Stops the watchdog; every connection must have been closed (after
 * MHD_stop_daemon). */
void gw_guard_free(struct gw_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION: a connection opened (fd, its socket) or
 * closed. *ctx is MHD's socket context: the guard's record lives there. */
void gw_guard_conn_started(struct gw_guard *g, int fd, void **ctx);
void gw_guard_conn_closed(struct gw_guard *g, void **ctx);
/* The connection's request headers are all in (its deadline stops), or its
 * request is over (the next request's deadline starts). c may be NULL. */
void gw_guard_headers_done(struct gw_guard *g, struct gw_guard_conn *c);
void gw_guard_request_done(struct gw_guard *g, struct gw_guard_conn *c);
/* Connections cut by the deadline so far (tests, the log). */
uint64_t gw_guard_cut_count(struct gw_guard *g);

/* Whether the client address ip (text) may still fail an authentication at
 * now_ns: false with *retry_after_s when its budget is spent. */
bool gw_guard_auth_allowed(struct gw_guard *g, const char *ip, uint64_t now_ns,
			   unsigned *retry_after_s);
/* Spends one failure of ip's budget. */
void gw_guard_auth_failed(struct gw_guard *g, const char *ip, uint64_t now_ns);

#endif
