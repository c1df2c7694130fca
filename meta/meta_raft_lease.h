/* The leader lease: how long this leader may answer a read from its own state
 * without asking the other voters (docs/meta.md, "Linearizable reads").
 *
 * A follower of libraft 0.15 that has heard from a leader refuses to vote
 * (recv_request_vote.c: "local server has a leader -> reject") until its
 * election timer runs out, at least election_timeout ms after that message
 * reached it; only a leadership transfer (disrupt_leader) bypasses this
 * (pre-vote, which meta_raft.c turns on, does not: the same check refuses
 * pre-votes and votes alike). So
 * if a majority of the voters (this leader included) received a message of
 * this term sent at time S, no other leader can be elected before
 * S + election_timeout, and until then this node's state is the newest
 * committed state. The lease runs lease_ms (< election_timeout, a margin for
 * clock rates and timer granularity) from the send time S of the newest
 * message each voter of such a majority is proven to have received.
 *
 * Which send an AppendEntries result answers is not in the message (its
 * last_log_index is the follower's last stored entry), so sends and results
 * are counted instead: every AppendEntries or InstallSnapshot of this term to
 * a peer records its send time in a FIFO; every accepted (not rejected) result
 * of this term from that peer pops the oldest. k accepted results prove that k
 * distinct sends of this term arrived, so the newest of them left at or after
 * the k-th oldest send: the popped time never overstates. A send that failed
 * (the transport said so) is removed; a send that is not recorded (the FIFO
 * is full) would break the count, so from then on that peer gives no evidence
 * until the next term. Results that answer an older term are rejected by the
 * follower or carry another term, and are ignored.
 *
 * Pure state, no I/O, no clock of its own (times are passed in, in ms of a
 * monotonic clock): unit-tested in tests/unit/test_meta_raft_lease.c. Owned by
 * meta_raft.c, used on the meta's loop thread only. */
#ifndef META_RAFT_LEASE_H
#define META_RAFT_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_RAFT_LEASE_PEERS_MAX 16      /* voters and standbys tracked */
#define META_RAFT_LEASE_SENDS_MAX 1024    /* unanswered sends per peer */

struct meta_raft_lease_send {
	uint64_t seq;                     /* identifies the send for a failure */
	uint64_t sent_ms;
};

struct meta_raft_lease_peer {
	uint64_t id;                      /* 0 = free slot */
	struct meta_raft_lease_send sends[META_RAFT_LEASE_SENDS_MAX]; /* oldest first */
	size_t head;                      /* ring: index of the oldest */
	size_t n;
	bool overflow;                    /* a send of this term was not recorded */
	uint64_t heard_ms;                /* newest send time proven received; 0 = none */
};

struct meta_raft_lease {
	uint64_t term;                    /* the term the evidence belongs to */
	bool revoked;                     /* no lease for the rest of this term (a transfer) */
	uint64_t next_seq;
	struct meta_raft_lease_peer peers[META_RAFT_LEASE_PEERS_MAX];
};

/* Starts with no evidence (term 0). */
void meta_raft_lease_init(struct meta_raft_lease *l);

/* A new term (or this node stopped leading): drops every piece of evidence. */
void meta_raft_lease_reset(struct meta_raft_lease *l, uint64_t term);

/* Whether a vote request (pre-vote or not) that reaches this voter at now_ms
 * must be ignored: for one election timeout after the voter started, unless
 * it is a leadership transfer (disrupt_leader). A restarted voter has
 * forgotten the leader it heard from before (libraft keeps that in memory),
 * and the lease of that leader may rest on it: it acts as if it had just heard
 * from a leader. */
bool meta_raft_lease_vote_quarantined(uint64_t started_ms, uint64_t now_ms,
				      unsigned election_timeout_ms, bool disrupt_leader);

/* No lease for the rest of term (a leadership transfer lets the target be
 * elected at once, without waiting for anyone's election timer). */
void meta_raft_lease_revoke(struct meta_raft_lease *l, uint64_t term);

/* An AppendEntries or InstallSnapshot of term to peer leaves now: returns the
 * send's seq for meta_raft_lease_send_failed (0 when not recorded). A term
 * other than the lease's resets it first. */
uint64_t meta_raft_lease_sent(struct meta_raft_lease *l, uint64_t term, uint64_t peer,
			      uint64_t now_ms);

/* The send seq to peer did not leave (the transport failed it). */
void meta_raft_lease_send_failed(struct meta_raft_lease *l, uint64_t peer, uint64_t seq);

/* An AppendEntries result from peer, of result_term, rejected or not, arrived.
 * Only an accepted result of the lease's term counts. */
void meta_raft_lease_result(struct meta_raft_lease *l, uint64_t result_term, uint64_t peer,
			    bool rejected);

/* Whether a lease of lease_ms holds at now_ms in term, for the voters (self
 * among them when it votes; self counts without evidence). *until_ms (may be
 * NULL) gets when it ends (0 when it does not hold). */
bool meta_raft_lease_valid(const struct meta_raft_lease *l, uint64_t term, uint64_t self,
			   const uint64_t *voters, size_t n_voters, uint64_t now_ms,
			   uint64_t lease_ms, uint64_t *until_ms);

#endif
