/* The leader lease's bookkeeping (see meta_raft_lease.h). */
#include "meta_raft_lease.h"

#include <string.h>

void meta_raft_lease_init(struct meta_raft_lease *l)
{
	memset(l, 0, sizeof(*l));
	l->next_seq = 1;
}

void meta_raft_lease_reset(struct meta_raft_lease *l, uint64_t term)
{
	uint64_t seq = l->next_seq;

	for (size_t i = 0; i < META_RAFT_LEASE_PEERS_MAX; i++) {
		struct meta_raft_lease_peer *p = &l->peers[i];

		p->id = 0;
		p->head = 0;
		p->n = 0;
		p->overflow = false;
		p->heard_ms = 0;
	}
	l->term = term;
	l->revoked = false;
	l->next_seq = seq;
}

void meta_raft_lease_revoke(struct meta_raft_lease *l, uint64_t term)
{
	if (l->term != term)
		meta_raft_lease_reset(l, term);
	l->revoked = true;
}

static struct meta_raft_lease_peer *peer_find(struct meta_raft_lease *l, uint64_t id)
{
	for (size_t i = 0; i < META_RAFT_LEASE_PEERS_MAX; i++) {
		if (l->peers[i].id == id)
			return &l->peers[i];
	}
	return NULL;
}

static struct meta_raft_lease_peer *peer_get(struct meta_raft_lease *l, uint64_t id)
{
	struct meta_raft_lease_peer *p = peer_find(l, id);

	if (p == NULL && id != 0) {
		p = peer_find(l, 0);
		if (p != NULL) {
			p->id = id;
			p->head = 0;
			p->n = 0;
			p->overflow = false;
			p->heard_ms = 0;
		}
	}
	return p;
}

uint64_t meta_raft_lease_sent(struct meta_raft_lease *l, uint64_t term, uint64_t peer,
			      uint64_t now_ms)
{
	struct meta_raft_lease_peer *p;
	struct meta_raft_lease_send *s;

	if (term != l->term)
		meta_raft_lease_reset(l, term);
	p = peer_get(l, peer);
	if (p == NULL)
		return 0;      /* more peers than slots: this one gives no evidence */
	if (p->overflow || p->n == META_RAFT_LEASE_SENDS_MAX) {
		p->overflow = true;
		return 0;
	}
	s = &p->sends[(p->head + p->n) % META_RAFT_LEASE_SENDS_MAX];
	s->seq = l->next_seq++;
	s->sent_ms = now_ms;
	p->n++;
	return s->seq;
}

void meta_raft_lease_send_failed(struct meta_raft_lease *l, uint64_t peer, uint64_t seq)
{
	struct meta_raft_lease_peer *p = peer_find(l, peer);
	size_t i;

	if (p == NULL || seq == 0 || peer == 0)
		return;
	for (i = 0; i < p->n; i++) {
		if (p->sends[(p->head + i) % META_RAFT_LEASE_SENDS_MAX].seq == seq)
			break;
	}
	if (i == p->n)
		return;        /* already counted against a result: that only understated */
	for (; i + 1 < p->n; i++)
		p->sends[(p->head + i) % META_RAFT_LEASE_SENDS_MAX] =
			p->sends[(p->head + i + 1) % META_RAFT_LEASE_SENDS_MAX];
	p->n--;
}

void meta_raft_lease_result(struct meta_raft_lease *l, uint64_t result_term, uint64_t peer,
			    bool rejected)
{
	struct meta_raft_lease_peer *p;
	uint64_t t;

	if (rejected || result_term != l->term || peer == 0)
		return;
	p = peer_find(l, peer);
	if (p == NULL || p->n == 0)
		return;
	t = p->sends[p->head].sent_ms;
	p->head = (p->head + 1) % META_RAFT_LEASE_SENDS_MAX;
	p->n--;
	if (t > p->heard_ms)
		p->heard_ms = t;
}

bool meta_raft_lease_valid(const struct meta_raft_lease *l, uint64_t term, uint64_t self,
			   const uint64_t *voters, size_t n_voters, uint64_t now_ms,
			   uint64_t lease_ms, uint64_t *until_ms)
{
	uint64_t heard[META_RAFT_LEASE_PEERS_MAX];
	size_t n_heard = 0, need, i, j;
	bool self_votes = false;

	if (until_ms != NULL)
		*until_ms = 0;
	if (n_voters == 0 || (l->term == term && l->revoked))
		return false;
	for (i = 0; i < n_voters; i++) {
		const struct meta_raft_lease_peer *p;

		if (voters[i] == self) {
			self_votes = true;
			continue;
		}
		p = NULL;
		for (j = 0; j < META_RAFT_LEASE_PEERS_MAX; j++) {
			if (l->peers[j].id == voters[i])
				p = &l->peers[j];
		}
		if (p != NULL && p->heard_ms != 0 && n_heard < META_RAFT_LEASE_PEERS_MAX)
			heard[n_heard++] = p->heard_ms;
	}
	if (!self_votes)
		return false;  /* a leader outside the configuration it leads */
	/* A majority is n_voters / 2 + 1 voters; self is one of them. */
	need = n_voters / 2;
	/* the evidence must be of this term; a single voter needs none (it sends
	 * nothing, so its lease state never even sees the term) */
	if (need > 0 && l->term != term)
		return false;
	if (need > n_heard)
		return false;
	if (need > 0) {
		/* the need-th newest evidence bounds the majority's lease */
		for (i = 0; i < need; i++) {
			size_t best = i;
			for (j = i + 1; j < n_heard; j++) {
				if (heard[j] > heard[best])
					best = j;
			}
			uint64_t tmp = heard[i];
			heard[i] = heard[best];
			heard[best] = tmp;
		}
		if (heard[need - 1] + lease_ms <= now_ms)
			return false;
		if (until_ms != NULL)
			*until_ms = heard[need - 1] + lease_ms;
	} else if (until_ms != NULL) {
		*until_ms = UINT64_MAX;   /* a single voter: nobody else can be elected */
	}
	return true;
}

bool meta_raft_lease_vote_quarantined(uint64_t started_ms, uint64_t now_ms,
				      unsigned election_timeout_ms, bool disrupt_leader)
{
	if (disrupt_leader)
		return false;
	return now_ms < started_ms || now_ms - started_ms < election_timeout_ms;
}
