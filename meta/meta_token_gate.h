/* The token table as the handshake sees it: gd_server checks a connecting
 * client's token on its reader thread, while the table lives in the FSM that
 * only the meta's loop may read. The loop copies the table here whenever it
 * may have changed (after every apply, cheap when nothing did: a generation
 * number), and the handshake reads the copy under a mutex.
 *
 * The copy can lag the FSM by the time between an apply and the sync call that
 * follows it on the loop; every request of a token connection is checked again
 * against the FSM itself on the loop (meta_h_token.c), so a revoked token
 * stops working at once either way.
 *
 * Thread-safe: one process-wide copy behind one mutex. */
#ifndef META_TOKEN_GATE_H
#define META_TOKEN_GATE_H

#include <stddef.h>

#include "gd_auth.h"
#include "meta_fsm.h"

/* Loop thread: copies the token table of f when it changed since the last
 * call. An allocation failure keeps the old copy (logged) and tries again
 * on the next call. */
void meta_token_gate_sync(struct meta_fsm *f);

/* gd_auth_policy.token_check: 0 when the token is in the table with the same
 * fields and not revoked (expiry is checked by gd_auth_check), else GD_EAUTH
 * with why set. ctx is unused. Any thread. */
int meta_token_gate_check(void *ctx, const struct gd_token *t, char *why, size_t whylen);

/* Frees the copy (at exit). */
void meta_token_gate_clear(void);

#endif
