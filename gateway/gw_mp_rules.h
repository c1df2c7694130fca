/* The pure rules of multipart uploads (docs/gateway.md "Multipart uploads"):
 * upload ids, part ETags, the manifest and part records as they are stored
 * in the staging directory, and the plan of a complete (which staged part
 * goes where in the final file, and whether the bytes can stay where they
 * are). No I/O, no clock: gw_mp_store.c does the I/O, tests/unit
 * test_gw_mp_rules.c checks these. Thread-safe (no state). */
#ifndef GW_MP_RULES_H
#define GW_MP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_MP_ID_LEN 32                 /* hex digits of an upload id (128 bits) */
#define GW_MP_MAX_PARTS 10000u          /* part numbers 1..10000, as S3 */
#define GW_MP_MAX_PART_SIZE (5ull << 30) /* bytes in one part (413 above) */
#define GW_MP_PATH_MAX 4096             /* bytes of a target path */
#define GW_MP_SHA_LEN 32
/* "sha256-" + 64 hex + two quotes + NUL */
#define GW_MP_ETAG_SIZE (2 + 7 + 2 * GW_MP_SHA_LEN + 1)
/* the part record kept in the xattr GW_MP_XATTR of each staged part-N */
#define GW_MP_XATTR "user.godfs.part"
#define GW_MP_RECORD_SIZE 128
/* the temp name of a complete in the target's directory: prefix + upload id */
#define GW_MP_TMP_PREFIX ".godfs-upload-"

/* Whether s is an upload id: exactly GW_MP_ID_LEN lower-case hex digits
 * (anything else in a URL is answered 404 without touching godfs). */
bool gw_mp_id_valid(const char *s);

/* The ETag of a part: "\"sha256-<64 hex>\"" (quotes included, as in the
 * header). out has GW_MP_ETAG_SIZE bytes. */
void gw_mp_etag_format(const uint8_t sha[GW_MP_SHA_LEN], char out[GW_MP_ETAG_SIZE]);
/* Parses an ETag a client sends back: the quotes and the "sha256-" prefix are
 * optional, hex in either case. 0, or GD_EINVAL. */
int gw_mp_etag_parse(const char *s, uint8_t sha[GW_MP_SHA_LEN]);

/* Where a staged part's bytes are: in its own file part-N, or in the upload's
 * one sparse data file at (N - 1) * part_size (zero-copy uploads). */
enum gw_mp_where { GW_MP_IN_FILE = 0, GW_MP_IN_DATA = 1 };

struct gw_mp_part {
	uint32_t number;
	uint64_t size;
	uint8_t sha[GW_MP_SHA_LEN];
	enum gw_mp_where where;
};

/* The part record: "v1 <size> <sha hex> file|data". gw_mp_record_format
 * returns its length (< GW_MP_RECORD_SIZE); parse takes exactly len bytes
 * (from the network of the meta: bounded, no NUL needed) and returns 0 or
 * GD_EINVAL. The number is not in it: it is the file's name. */
size_t gw_mp_record_format(const struct gw_mp_part *p, char out[GW_MP_RECORD_SIZE]);
int gw_mp_record_parse(const void *buf, size_t len, struct gw_mp_part *p);

/* "part-N" for 1 <= N <= GW_MP_MAX_PARTS: the number, else 0. */
uint32_t gw_mp_part_name_number(const char *name);

/* The manifest of an upload (file "manifest" in its staging directory). */
struct gw_mp_manifest {
	char id[GW_MP_ID_LEN + 1];
	uint64_t key_id;                /* the API key that started it: every step checks it */
	char path[GW_MP_PATH_MAX];      /* target, relative to the key's subtree */
	uint64_t part_size;             /* declared at init, 0 = none */
	bool zero_copy;                 /* part_size is a multiple of the chunk size */
	int64_t created;                /* unix seconds */
	int64_t expires;                /* unix seconds: the janitor removes it after */
};

/* JSON text of m (gd_malloc'd, NUL-terminated) in *out; 0 or GD_ENOMEM. */
int gw_mp_manifest_encode(const struct gw_mp_manifest *m, char **out);
/* Parses len bytes of JSON into m; 0, or GD_EINVAL for anything that is not a
 * manifest this version wrote (unknown fields are ignored). */
int gw_mp_manifest_decode(const char *buf, size_t len, struct gw_mp_manifest *m);

/* One entry of a complete request: {"part_number": N, "etag": "..."}. */
struct gw_mp_want {
	uint32_t number;
	bool has_etag;
	uint8_t sha[GW_MP_SHA_LEN];
};

/* One part of the final file, in order. */
struct gw_mp_step {
	struct gw_mp_part part;         /* as staged */
	uint64_t dst_off;               /* offset in the final file */
};

struct gw_mp_plan {
	struct gw_mp_step *steps;       /* gd_malloc'd, n of them, by part number */
	size_t n;
	uint64_t total;                 /* bytes of the final file */
	/* every part is in the data file at its place and only the last may be
	 * short: the data file, truncated to total, IS the final file */
	bool zero_copy;
};

/* Checks a complete request against the staged parts and plans the file:
 * the wanted numbers must be 1..n, each once (sorted here: a duplicate, a
 * gap, 0 or more than GW_MP_MAX_PARTS), each staged, with the ETag given
 * when one is; otherwise GD_EINVAL (a client error: 400). A total larger
 * than max_total is GD_EFBIG (413), no memory GD_ENOMEM. want is reordered.
 * why (whylen bytes) is set to a sentence for the client on error. Takes nothing; plan->steps is
 * the caller's to release with gw_mp_plan_release. */
int gw_mp_plan_complete(struct gw_mp_want *want, size_t nwant,
			const struct gw_mp_part *staged, size_t nstaged,
			const struct gw_mp_manifest *m, uint64_t max_total,
			struct gw_mp_plan *plan, char *why, size_t whylen);
void gw_mp_plan_release(struct gw_mp_plan *plan);

#endif
