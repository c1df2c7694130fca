/* The pure choices behind where chunk copies go: which nodes get a new
 * chain or a new copy (spread over racks and zones), which copy of a chunk
 * above its goal is dropped, and whether a chunk at its goal should move a
 * copy (off a draining node, off a rack it shares, off a disk far fuller
 * than the others). No state, no clock, no allocation: the leader's scan
 * and the registry (meta_repl.c through meta_balance.c, meta_registry.c)
 * call these with what they know, and the unit tests call them with
 * made-up nodes.
 *
 * Spread: a copy on a new zone is worth more than one on a new rack (a zone
 * is the wider failure domain), a new rack more than nothing; an unlabelled
 * node shares no domain with anyone. When no candidate adds a new domain,
 * the choice falls back to the next candidate in preference order and says
 * so (*spread false), for the caller to log. */
#ifndef META_PLACE_H
#define META_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gd_label.h"

/* A node as the choices see it (borrowed pointers, owned by the caller). */
struct meta_place_node {
	const char *id;
	const struct gd_label *label;
	uint64_t total_bytes;
	uint64_t free_bytes;
	bool draining;
};

/* Used fraction of a node's space in percent (0 when its size is unknown). */
double meta_place_used_pct(const struct meta_place_node *n);

/* Picks up to want of cands[0..n_cands) (in the caller's preference order,
 * e.g. most free space first) into picked[] (indices; room for want), each
 * time the first candidate that adds the most spread to have[0..n_have)
 * (copies that exist) and the earlier picks. *spread: false when a pick had
 * to share a rack or zone although it was wanted distinct. Returns how many. */
size_t meta_place_pick(const struct meta_place_node *const *have, size_t n_have,
		       const struct meta_place_node *const *cands, size_t n_cands,
		       size_t want, size_t *picked, bool *spread);

/* Whether the copies[0..n) share a rack or zone; *what (may be NULL) gets
 * "rack=VALUE" or "zone=VALUE" of the first shared domain (static storage of
 * the copies' labels: valid while they are). */
bool meta_place_shared(const struct meta_place_node *const *copies, size_t n,
		       const char **what, const char **value);

/* The copy to drop when copies[0..n) (n >= 2) are more than the goal: a
 * draining node first, then the fullest among those that share a rack or
 * zone with another copy, then the fullest. Returns its index. */
size_t meta_place_victim(const struct meta_place_node *const *copies, size_t n);

/* Disk balance: *mean_pct of the used fractions of nodes[0..n) (alive and
 * not draining, known size); true when one of them is more than
 * threshold_pct points away from it (then copies move from nodes above the
 * mean to nodes below it). threshold_pct 0 or n < 2: false. */
bool meta_place_unbalanced(const struct meta_place_node *const *nodes, size_t n,
			   unsigned threshold_pct, double *mean_pct);

enum meta_move_why {
	META_MOVE_NONE = 0,
	META_MOVE_DRAIN,        /* a copy is on a draining node */
	META_MOVE_LABEL,        /* copies share a rack or zone, a free one exists */
	META_MOVE_BALANCE,      /* a copy is on a disk fuller than the mean */
};

struct meta_move {
	enum meta_move_why why;
	size_t from;            /* index in copies */
	size_t to;              /* index in cands; SIZE_MAX: a drain without a target */
	bool spread;            /* the target keeps the spread (else a logged fallback) */
};

/* What the balance decision knows of the cluster. */
struct meta_place_balance {
	bool unbalanced;        /* meta_place_unbalanced said so */
	double mean_pct;
	bool labels;            /* moves that improve the spread are allowed */
	bool disks;             /* moves for disk balance are allowed */
};

/* Whether a chunk at (or above) its goal, with live copies[0..n), should
 * move one copy to one of cands[0..n_cands) (alive, not draining, without
 * a copy; preference order): in the order drain, label, balance. A move
 * never makes the spread of the copies that stay plus the target worse than
 * that of the copies now, except a drain that cannot do better (spread
 * false). Returns the reason (META_MOVE_NONE: nothing to do) and fills *out. */
enum meta_move_why meta_place_move(const struct meta_place_node *const *copies, size_t n,
				   const struct meta_place_node *const *cands, size_t n_cands,
				   const struct meta_place_balance *b, struct meta_move *out);

const char *meta_place_move_name(enum meta_move_why why);

#endif
