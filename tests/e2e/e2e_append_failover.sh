#!/bin/bash
# A chain member dies just before a write to a chunk that already has data
# (an append after the file was closed): the new lease moved the version,
# the first write at it fails, the chain changes again, and the members left
# are two versions behind. Each holder of the chunk in turn (so the head of
# the chain too) is killed with kill -9 right before an append: the append
# succeeds, the file reads back with every byte (the copies two versions
# behind were deleted as stale before: the whole file was lost), and the
# goal is restored once the chunkd is back.
E2E_TIMEOUT=300
META_ARGS=(--lease-ms 3000 --node-dead-ms 3000)
. "$(dirname "$0")/lib.sh"

e2e_cluster_up 4

head -c $((3 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/want"
cp "$E2E_TMP/want" "$MNT/f" || e2e_fail "cp"
holders=()
for i in 1 2 3 4; do
	if [ -n "$(e2e_chunk_ids "$i")" ]; then holders+=("$i"); fi
done
[ "${#holders[@]}" = 3 ] || e2e_fail "${#holders[@]} copies of the chunk, not 3"
for victim in "${holders[@]}"; do
	sleep 4   # the last lease ended: the append takes a new one (a new version)
	e2e_stop "${CHUNKD_PID[$victim]}" KILL
	head -c $((512 * 1024)) /dev/urandom >"$E2E_TMP/more"
	cat "$E2E_TMP/more" >>"$MNT/f" || e2e_fail "the append failed with chunkd$victim dead"
	cat "$E2E_TMP/more" >>"$E2E_TMP/want"
	e2e_remount
	e2e_drop_caches
	cmp "$E2E_TMP/want" "$MNT/f" || e2e_fail "the file differs after an append with chunkd$victim dead"
	e2e_log "append with chunkd$victim (a holder) killed: the file reads back"
	e2e_start_chunkd "$victim"
	e2e_wait_goal "$(date +%s%N)" 90 "chunkd$victim back"
	e2e_log "goal restored with chunkd$victim back"
done
cmp "$E2E_TMP/want" "$MNT/f" || e2e_fail "the file differs at the end"
