#!/bin/bash
# A chunkd that is down when the mount reads: a goal-3 file still reads back
# identical. After kill -9 of chunkd1 the file is read cold; after kill -9 of
# chunkd2 as well only chunkd3 holds a live copy, so whichever copy the client
# tries first, it must go on to the next one. The chunkds come back on their
# data dirs and the file still reads, and new files can be written.
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
head -c $((8 * 1024 * 1024 + 4321)) /dev/urandom >"$E2E_TMP/f"
cp "$E2E_TMP/f" "$MNT/f" || e2e_fail "cp"
sync "$MNT/f"

for down in 1 2; do
	e2e_stop "${CHUNKD_PID[$down]}" KILL
	e2e_log "chunkd$down killed (kill -9)"
	e2e_remount
	e2e_drop_caches
	t0=$(date +%s%N)
	cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "the file does not read back with chunkd(s) 1..$down down"
	t1=$(date +%s%N)
	e2e_log "read back identical with chunkd 1..$down down in $(( (t1 - t0) / 1000000 )) ms"
done
e2e_alive "$META_PID" || e2e_fail "the meta died"

for i in 1 2; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_remount
e2e_drop_caches
cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "the file does not read back after the chunkds came back"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/g"
cp "$E2E_TMP/g" "$MNT/g" || e2e_fail "a write after the chunkds came back failed"
e2e_remount
cmp "$E2E_TMP/g" "$MNT/g" || e2e_fail "the file written after the chunkds came back differs"
