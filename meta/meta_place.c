/* Where copies go (see meta_place.h). Chunks have at most a few copies and
 * clusters tens of nodes: every choice is a plain loop over pairs. */
#include "meta_place.h"

#include <string.h>

double meta_place_used_pct(const struct meta_place_node *n)
{
	if (n->total_bytes == 0 || n->free_bytes >= n->total_bytes)
		return 0.0;
	return 100.0 * (double)(n->total_bytes - n->free_bytes) / (double)n->total_bytes;
}

/* How much a and b share: 2 for a zone, 1 for a rack (a shared rack is in
 * a shared zone when zones are given: 3 then). */
static unsigned share(const struct meta_place_node *a, const struct meta_place_node *b)
{
	return (gd_label_same_zone(a->label, b->label) ? 2u : 0u) +
	       (gd_label_same_rack(a->label, b->label) ? 1u : 0u);
}

/* What x shares with the set, skipping index skip (SIZE_MAX: none). */
static unsigned share_with(const struct meta_place_node *x, const struct meta_place_node *const *set,
			   size_t n, size_t skip)
{
	unsigned s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (i != skip)
			s += share(x, set[i]);
	return s;
}

/* The sharing of a whole set (skipping one member): the sum over pairs. */
static unsigned sharing(const struct meta_place_node *const *set, size_t n, size_t skip)
{
	unsigned s = 0;
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (i != skip && j != skip)
				s += share(set[i], set[j]);
	return s;
}

size_t meta_place_pick(const struct meta_place_node *const *have, size_t n_have,
		       const struct meta_place_node *const *cands, size_t n_cands,
		       size_t want, size_t *picked, bool *spread)
{
	size_t n = 0, i, k;

	*spread = true;
	while (n < want) {
		size_t best = SIZE_MAX;
		unsigned best_s = 0;

		for (i = 0; i < n_cands; i++) {
			unsigned s;
			bool taken = false;
			for (k = 0; k < n && !taken; k++)
				taken = picked[k] == i;
			if (taken)
				continue;
			s = share_with(cands[i], have, n_have, SIZE_MAX);
			for (k = 0; k < n; k++)
				s += share(cands[i], cands[picked[k]]);
			if (best == SIZE_MAX || s < best_s) {
				best = i;
				best_s = s;
			}
			if (s == 0)
				break;      /* the first candidate that shares nothing */
		}
		if (best == SIZE_MAX)
			break;
		if (best_s > 0)
			*spread = false;
		picked[n++] = best;
	}
	return n;
}

bool meta_place_shared(const struct meta_place_node *const *copies, size_t n,
		       const char **what, const char **value)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			unsigned s = share(copies[i], copies[j]);
			if (s == 0)
				continue;
			if (what)
				*what = s & 1u ? "rack" : "zone";
			if (value)
				*value = s & 1u ? copies[i]->label->rack : copies[i]->label->zone;
			return true;
		}
	}
	return false;
}

size_t meta_place_victim(const struct meta_place_node *const *copies, size_t n)
{
	unsigned all = sharing(copies, n, SIZE_MAX);
	size_t best = 0, i;
	unsigned best_gain = 0;
	double best_used = -1.0;
	bool best_drain = false;

	for (i = 0; i < n; i++) {
		bool drain = copies[i]->draining;
		unsigned gain = all - sharing(copies, n, i);
		double used = meta_place_used_pct(copies[i]);

		if (i == 0 || (drain && !best_drain) ||
		    (drain == best_drain && (gain > best_gain ||
					     (gain == best_gain && used > best_used)))) {
			best = i;
			best_drain = drain;
			best_gain = gain;
			best_used = used;
		}
	}
	return best;
}

bool meta_place_unbalanced(const struct meta_place_node *const *nodes, size_t n,
			   unsigned threshold_pct, double *mean_pct)
{
	double sum = 0.0;
	size_t i, counted = 0;
	bool far = false;

	*mean_pct = 0.0;
	for (i = 0; i < n; i++) {
		if (nodes[i]->draining || nodes[i]->total_bytes == 0)
			continue;
		sum += meta_place_used_pct(nodes[i]);
		counted++;
	}
	if (counted < 2 || threshold_pct == 0)
		return false;
	*mean_pct = sum / (double)counted;
	for (i = 0; i < n && !far; i++) {
		double d;
		if (nodes[i]->draining || nodes[i]->total_bytes == 0)
			continue;
		d = meta_place_used_pct(nodes[i]) - *mean_pct;
		far = d > (double)threshold_pct || -d > (double)threshold_pct;
	}
	return far;
}

/* The candidate that, replacing copies[from], leaves the least sharing;
 * with below_mean, only candidates whose disk is below mean_pct. SIZE_MAX
 * when there is none. *after gets that sharing. */
static size_t best_target(const struct meta_place_node *const *copies, size_t n, size_t from,
			  const struct meta_place_node *const *cands, size_t n_cands,
			  bool below_mean, double mean_pct, unsigned *after)
{
	unsigned rest = sharing(copies, n, from);
	size_t best = SIZE_MAX, i;

	for (i = 0; i < n_cands; i++) {
		unsigned s;
		if (below_mean && !(meta_place_used_pct(cands[i]) < mean_pct))
			continue;
		s = rest + share_with(cands[i], copies, n, from);
		if (best == SIZE_MAX || s < *after) {
			best = i;
			*after = s;
		}
	}
	return best;
}

enum meta_move_why meta_place_move(const struct meta_place_node *const *copies, size_t n,
				   const struct meta_place_node *const *cands, size_t n_cands,
				   const struct meta_place_balance *b, struct meta_move *out)
{
	unsigned now = sharing(copies, n, SIZE_MAX), after = 0;
	size_t i, to;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n_cands == 0)
		return META_MOVE_NONE;
	/* drain: every copy on a draining node goes, the best target it has */
	for (i = 0; i < n; i++) {
		if (!copies[i]->draining)
			continue;
		to = best_target(copies, n, i, cands, n_cands, false, 0.0, &after);
		out->why = META_MOVE_DRAIN;
		out->from = i;
		out->to = to;
		out->spread = after <= sharing(copies, n, i) || after <= now;
		return META_MOVE_DRAIN;
	}
	/* label: a copy that shares leaves for a target that shares less */
	if (b->labels && now > 0) {
		size_t best_from = SIZE_MAX, best_to = SIZE_MAX;
		unsigned best_after = now;
		for (i = 0; i < n; i++) {
			if (share_with(copies[i], copies, n, i) == 0)
				continue;
			to = best_target(copies, n, i, cands, n_cands, false, 0.0, &after);
			if (to != SIZE_MAX && after < best_after) {
				best_from = i;
				best_to = to;
				best_after = after;
			}
		}
		if (best_from != SIZE_MAX) {
			out->why = META_MOVE_LABEL;
			out->from = best_from;
			out->to = best_to;
			out->spread = true;
			return META_MOVE_LABEL;
		}
	}
	/* disk balance: a copy above the mean (the fullest that can) to a disk
	 * below it, never at the cost of spread */
	if (b->disks && b->unbalanced) {
		uint64_t tried = 0;     /* copies are at most 64 (META_NS_NODES_MAX) */
		for (;;) {
			size_t from = SIZE_MAX;
			double used = b->mean_pct;
			for (i = 0; i < n && i < 64; i++) {
				double u = meta_place_used_pct(copies[i]);
				if (u > used && !(tried >> i & 1u)) {
					used = u;
					from = i;
				}
			}
			if (from == SIZE_MAX)
				return META_MOVE_NONE;
			tried |= (uint64_t)1 << from;   /* next round: the next fullest */
			to = best_target(copies, n, from, cands, n_cands, true, b->mean_pct, &after);
			if (to == SIZE_MAX || after > now)
				continue;
			out->why = META_MOVE_BALANCE;
			out->from = from;
			out->to = to;
			out->spread = true;
			return META_MOVE_BALANCE;
		}
	}
	return META_MOVE_NONE;
}

const char *meta_place_move_name(enum meta_move_why why)
{
	switch (why) {
	case META_MOVE_DRAIN:
		return "drain";
	case META_MOVE_LABEL:
		return "labels";
	case META_MOVE_BALANCE:
		return "disk balance";
	case META_MOVE_NONE:
	default:
		return "none";
	}
}
