#!/bin/bash
# A file spanning several chunks (meta --chunk-size 1 MiB, a test-only size):
# written, overwritten across a chunk boundary, appended to, and read back
# with cmp; every chunk has a copy on each of the 3 chunkds. Holes read as zeros.
E2E_TIMEOUT=300
META_ARGS=(--chunk-size 1048576)
. "$(dirname "$0")/lib.sh"

MiB=1048576
e2e_cluster_up

head -c $((5 * MiB + MiB / 2)) /dev/urandom >"$E2E_TMP/f"
cp "$E2E_TMP/f" "$MNT/f" || e2e_fail "cp failed"
cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "5.5 MiB file differs (warm)"

for i in 1 2 3; do
	n=$(e2e_chunk_ids "$i" | wc -l)
	[ "$n" -eq 6 ] || e2e_fail "chunkd$i holds $n chunks for a 5.5 MiB file with 1 MiB chunks, expected 6"
done
[ "$(e2e_chunk_ids 1)" = "$(e2e_chunk_ids 2)" ] && [ "$(e2e_chunk_ids 1)" = "$(e2e_chunk_ids 3)" ] ||
	e2e_fail "the chunkds do not hold the same chunks"
e2e_log "6 chunks, on all 3 chunkds"

# Overwrite 8 KiB across the boundary of chunks 0 and 1, in both copies.
head -c 8192 /dev/urandom >"$E2E_TMP/patch"
for t in "$E2E_TMP/f" "$MNT/f"; do
	dd if="$E2E_TMP/patch" of="$t" bs=4096 seek=255 conv=notrunc status=none ||
		e2e_fail "overwrite of $t failed"
done
# Append 100000 bytes.
head -c 100000 /dev/urandom >"$E2E_TMP/tail"
cat "$E2E_TMP/tail" >>"$E2E_TMP/f"
cat "$E2E_TMP/tail" >>"$MNT/f" || e2e_fail "append failed"
# A file with a hole: one byte at 3 MiB + 5.
printf x | dd of="$E2E_TMP/sparse" bs=1 seek=$((3 * MiB + 5)) status=none
printf x | dd of="$MNT/sparse" bs=1 seek=$((3 * MiB + 5)) status=none || e2e_fail "sparse write failed"
# A file of exactly two chunks.
head -c $((2 * MiB)) /dev/urandom >"$E2E_TMP/two"
cp "$E2E_TMP/two" "$MNT/two" || e2e_fail "cp two failed"

e2e_remount
e2e_drop_caches
cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "the overwritten and appended file differs (cold)"
[ "$(stat -c %s "$MNT/f")" = "$(stat -c %s "$E2E_TMP/f")" ] || e2e_fail "wrong size after append"
cmp "$E2E_TMP/sparse" "$MNT/sparse" || e2e_fail "the sparse file differs"
cmp "$E2E_TMP/two" "$MNT/two" || e2e_fail "the two-chunk file differs"
n=$(e2e_chunk_ids 1 | wc -l)
e2e_log "chunkd1 now holds $n chunks"
[ "$n" -ge 9 ] || e2e_fail "only $n chunks on chunkd1 after writing 5.6 + 2 MiB and a sparse byte in 1 MiB chunks"
