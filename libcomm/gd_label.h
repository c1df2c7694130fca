/* Where a chunkd stands: its location labels, given as `--label
 * rack=r1,zone=z1` (chunkd), carried in CsRegister.label (wire.proto) and
 * kept by the meta, whose placement spreads the copies of a chunk over
 * distinct racks (and zones). A bare value (`--label r1`, the older form)
 * is the rack. Both keys are optional; each appears at most once.
 *
 * Pure functions on caller-owned memory; thread-safe. */
#ifndef GD_LABEL_H
#define GD_LABEL_H

#include <stdbool.h>

#define GD_LABEL_MAX 255        /* bytes of the whole label string */
#define GD_LABEL_VALUE_MAX 63   /* bytes of one value */
#define GD_LABEL_PAIRS_MAX 2    /* rack and zone */

struct gd_label {
	char rack[GD_LABEL_VALUE_MAX + 1];  /* "" when not given */
	char zone[GD_LABEL_VALUE_MAX + 1];  /* "" when not given */
};

/* Parses s ("" or NULL: no labels) into *out. Values are 1 to
 * GD_LABEL_VALUE_MAX bytes of [A-Za-z0-9._-]. Returns 0, or GD_EINVAL
 * (unknown key, a key twice, an empty or bad value, too long) with *out
 * empty. */
int gd_label_parse(const char *s, struct gd_label *out);

/* Whether a and b share a rack (the same rack value within the same zone)
 * or a zone (the same zone value); an unlabelled node shares nothing. */
bool gd_label_same_rack(const struct gd_label *a, const struct gd_label *b);
bool gd_label_same_zone(const struct gd_label *a, const struct gd_label *b);

#endif
