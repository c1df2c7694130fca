/* Fuzz target for the meta state machine's decoders: Raft entries
 * (meta_fsm_apply), read-only requests (meta_fsm_query) and snapshots
 * (meta_fsm_restore).
 *
 * Input: records [u8 kind][u16 length, LE][length bytes]:
 *   kind 0: a MetaEntry applied to the FSM;
 *   kind 1: a query: u16 method (LE) then the packed request;
 *   kind 2: pairs of (u16 offset LE, u8 xor) applied to a copy of the current
 *           snapshot, which is re-signed (valid checksum, so that the parser and
 *           the structure checks are reached) and restored into a scratch FSM.
 * Checked: no crash, leak or undefined behaviour; apply and query answer 0 or
 * GD_EPROTO with a packed response; whatever the entries did, the state
 * snapshots, restores into a fresh FSM and snapshots again to the same bytes
 * (apply never leaves a state that restore would call corrupt); a mutated
 * snapshot is refused with GD_EPROTO or restores to a state that writes itself
 * back unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>

#include "gd_status.h"
#include "meta_fsm.h"
#include "meta_snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_meta: %s:%d: check failed: %s\n",  \
				__FILE__, __LINE__, #cond);                      \
			abort();                                                 \
		}                                                                \
	} while (0)

#define CHUNK (1u << 20)

/* Restores buf into a fresh FSM: the status, and on success the FSM. */
static int restore_fresh(const void *buf, size_t len, struct meta_fsm **out)
{
	struct meta_fsm *g;
	int rc;

	FUZZ_CHECK(meta_fsm_new(CHUNK, &g) == 0);
	rc = meta_fsm_restore(g, buf, len);
	if (rc) {
		meta_fsm_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

/* buf restores and writes itself back unchanged. */
static void check_round_trip(const uint8_t *buf, size_t len)
{
	struct meta_fsm *g;
	void *b;
	size_t bl;

	FUZZ_CHECK(restore_fresh(buf, len, &g) == 0);
	FUZZ_CHECK(meta_fsm_snapshot(g, &b, &bl) == 0);
	FUZZ_CHECK(bl == len && memcmp(b, buf, len) == 0);
	raft_free(b);
	meta_fsm_free(g);
}

static void mutate_snapshot(struct meta_fsm *f, const uint8_t *p, size_t len)
{
	struct meta_fsm *g;
	uint8_t *s;
	size_t n, i;
	uint64_t h;
	int rc;

	FUZZ_CHECK(meta_fsm_snapshot(f, (void **)&s, &n) == 0);
	FUZZ_CHECK(n >= 32);
	for (i = 0; i + 3 <= len; i += 3) {
		size_t at = (size_t)(p[i] | (p[i + 1] << 8)) % (n - 8);
		s[at] ^= p[i + 2];
	}
	h = meta_snap_checksum(s, n - 8);
	for (i = 0; i < 8; i++)
		s[n - 8 + i] = (uint8_t)(h >> (8 * i));
	rc = restore_fresh(s, n, &g);
	if (rc == 0) {
		void *b;
		size_t bl;
		FUZZ_CHECK(meta_fsm_snapshot(g, &b, &bl) == 0);
		FUZZ_CHECK(bl == n && memcmp(b, s, n) == 0);
		raft_free(b);
		meta_fsm_free(g);
	} else {
		FUZZ_CHECK(rc == GD_EPROTO);
	}
	raft_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_fsm *f;
	size_t off = 0;
	void *snap;
	size_t snap_len;

	FUZZ_CHECK(meta_fsm_new(CHUNK, &f) == 0);
	while (size - off >= 3) {
		uint8_t kind = data[off];
		size_t len = (size_t)(data[off + 1] | (data[off + 2] << 8));
		const uint8_t *p = data + off + 3;
		struct meta_fsm_result res;
		int rc;

		off += 3;
		if (len > size - off)
			len = size - off;
		off += len;
		switch (kind % 3) {
		case 0:
			rc = meta_fsm_apply(f, p, len, &res);
			FUZZ_CHECK(rc == 0 || rc == GD_EPROTO);
			FUZZ_CHECK(rc == 0 || res.status == GD_EPROTO);
			FUZZ_CHECK(res.resp != NULL);
			meta_fsm_result_release(&res);
			break;
		case 1:
			if (len < 2)
				break;
			rc = meta_fsm_query(f, (uint16_t)(p[0] | (p[1] << 8)), p + 2, len - 2, &res);
			FUZZ_CHECK(rc == 0 || rc == GD_EPROTO);
			FUZZ_CHECK(res.resp != NULL);
			meta_fsm_result_release(&res);
			break;
		default:
			mutate_snapshot(f, p, len);
			break;
		}
	}
	/* whatever was applied is a state that survives snapshot + restore */
	FUZZ_CHECK(meta_fsm_snapshot(f, &snap, &snap_len) == 0);
	check_round_trip(snap, snap_len);
	raft_free(snap);
	meta_fsm_free(f);
	return 0;
}
