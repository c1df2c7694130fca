#!/bin/bash
# No new copy while a writer may still write at the chunk's version: a
# writer keeps a file open (its write lease stays cached) and overwrites the
# chunk block by block for ~15 s; meanwhile a chain member dies (the chunk is
# under goal) and the meta is killed and restarted (the new leader does not
# know the lease, and its grace period, 1 s here, is shorter than a lease).
# A copy made then would miss the later writes at the same version and join
# the valid set. Afterwards the goal is restored, and every copy of the
# chunk holds exactly the last bytes written (not only the copy a read
# happens to pick).
E2E_TIMEOUT=300
META_ARGS=(--chunk-size 8M --grace-ms 1000 --lease-ms 20000 --node-dead-ms 3000)
. "$(dirname "$0")/lib.sh"

BLOCK=$((256 * 1024))
SIZE=$((8 * 1024 * 1024))
e2e_cluster_up 4

head -c "$SIZE" /dev/urandom >"$E2E_TMP/a"
head -c "$SIZE" /dev/urandom >"$E2E_TMP/b"
cp "$E2E_TMP/a" "$MNT/f" || e2e_fail "cp"
exec 3<>"$MNT/f"      # the file stays open: the mount keeps its write lease

# Overwrite block k of f with block k of b.
put() {
	dd if="$E2E_TMP/b" of=/dev/fd/3 bs="$BLOCK" skip="$1" seek="$1" count=1 \
		conv=notrunc status=none || e2e_fail "writing block $1 failed"
}
n=$((SIZE / BLOCK))
put 0
# A chain member of the chunk dies: the next write drops it (2 of 3 copies).
victim=
for i in 1 2 3 4; do
	[ -n "$(e2e_chunk_ids "$i")" ] && { victim=$i; break; }
done
[ -n "$victim" ] || e2e_fail "no chunkd holds the chunk"
e2e_stop "${CHUNKD_PID[$victim]}" KILL
e2e_log "chunkd$victim (a chain member) killed"
put 1
# The meta restarts while the writer goes on at the same version.
e2e_stop "$META_PID" KILL
e2e_start_meta
e2e_log "meta killed and restarted"
for ((k = 2; k < n; k++)); do
	put "$k"
	sleep 0.5
done
exec 3>&-
e2e_log "all $n blocks overwritten"
cmp "$E2E_TMP/b" "$MNT/f" || e2e_fail "the file does not read back as written"

e2e_start_chunkd "$victim"
e2e_wait_goal "$(date +%s%N)" 90 "after the write"
e2e_log "goal restored $E2E_GOAL_MS ms after the write"

# Every copy of the chunk, byte for byte.
id=$(for i in 1 2 3 4; do e2e_chunk_ids "$i"; done | sort -u | tail -n 1)
copies=0
for i in 1 2 3 4; do
	f=$(e2e_chunk_file "$i" "$id")
	[ -n "$f" ] || continue
	copies=$((copies + 1))
	tail -c +$((E2E_CHUNK_DATA_OFF + 1)) "$f" | head -c "$SIZE" | cmp - "$E2E_TMP/b" ||
		e2e_fail "the copy of chunk $id on chunkd$i ($(basename "$f")) misses writes"
done
[ "$copies" -ge 3 ] || e2e_fail "chunk $id has $copies copies, not 3"
e2e_log "$copies copies of chunk $id hold exactly the last writes"
