/* The token table as the handshake sees it (see meta_token_gate.h). */
#include "meta_token_gate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gd_alloc.h"
#include "gd_log.h"
#include "gd_status.h"
#include "meta_ns.h"
#include "meta_token.h"

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static struct meta_ns_state gate;   /* gate_mu: only n_tokens/tokens are used */
static uint64_t gate_gen;           /* loop only: the FSM generation copied */
static bool gate_synced;            /* loop only */

void meta_token_gate_sync(struct meta_fsm *f)
{
	const struct meta_ns_state *st;
	struct meta_ns_token *copy = NULL, *old;
	size_t i, n;

	if (gate_synced && meta_fsm_tokens_gen(f) == gate_gen)
		return;
	st = meta_fsm_state(f);
	n = st->n_tokens;
	if (n) {
		copy = gd_calloc(n, sizeof(*copy));
		if (!copy) {
			gd_error("token table: no memory to copy %zu tokens for the handshake", n);
			return;
		}
	}
	for (i = 0; i < n; i++) {
		copy[i] = st->tokens[i];
		copy[i].name = NULL;    /* the handshake needs no names */
	}
	pthread_mutex_lock(&gate_mu);
	old = gate.tokens;
	gate.tokens = copy;
	gate.n_tokens = n;
	pthread_mutex_unlock(&gate_mu);
	gd_free(old);
	gate_gen = meta_fsm_tokens_gen(f);
	gate_synced = true;
}

int meta_token_gate_check(void *ctx, const struct gd_token *t, char *why, size_t whylen)
{
	const char *reason = NULL;
	int rc;

	(void)ctx;
	pthread_mutex_lock(&gate_mu);
	rc = meta_token_valid(&gate, t->id, t->subtree, t->expires, t->flags,
			      (int64_t)time(NULL), &reason);
	pthread_mutex_unlock(&gate_mu);
	if (rc && why && whylen)
		snprintf(why, whylen, "token %llu: %s", (unsigned long long)t->id, reason);
	return rc;
}

void meta_token_gate_clear(void)
{
	pthread_mutex_lock(&gate_mu);
	gd_free(gate.tokens);
	gate.tokens = NULL;
	gate.n_tokens = 0;
	pthread_mutex_unlock(&gate_mu);
	gate_synced = false;
}
