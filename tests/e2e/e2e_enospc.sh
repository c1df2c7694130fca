#!/bin/bash
# A full data directory: the three chunkds keep their data on small tmpfs
# mounts. A writer that goes on past the space gets "No space left on device";
# the part of the file that exists reads back exactly as written (no torn or
# zero-filled block), files written before are intact, every daemon still
# runs, and once the big file is removed, space comes back for new writes.
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

TMPFS_MB=${E2E_ENOSPC_TMPFS_MB:-48}
[ "$(id -u)" = 0 ] || e2e_fail "this test mounts tmpfs: run it as root"
for i in 1 2 3; do
	CHUNKD_DIR[$i]=$E2E_TMP/small$i
	mkdir -p "${CHUNKD_DIR[$i]}"
	mount -t tmpfs -o "size=${TMPFS_MB}m" godfs-e2e-enospc "${CHUNKD_DIR[$i]}" || e2e_fail "mount tmpfs"
	E2E_MOUNTS+=("${CHUNKD_DIR[$i]}")
done
CHUNKD_ARGS=(${E2E_ENOSPC_CHUNKD_ARGS:-})
e2e_cluster_up

head -c $((4 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/small"
cp "$E2E_TMP/small" "$MNT/small" || e2e_fail "the first small file does not fit"
head -c $((TMPFS_MB * 2 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/big"

rc=0
dd if="$E2E_TMP/big" of="$MNT/big" bs=1M conv=fsync 2>"$E2E_TMP/dd.err" || rc=$?
[ "$rc" != 0 ] || e2e_fail "writing $((TMPFS_MB * 2)) MiB onto ${TMPFS_MB} MiB data dirs succeeded"
grep -q "No space left on device" "$E2E_TMP/dd.err" ||
	e2e_fail "dd failed without ENOSPC: $(cat "$E2E_TMP/dd.err")"
e2e_log "dd: $(grep -m1 'No space' "$E2E_TMP/dd.err")"
for pid in "$META_PID" "${CHUNKD_PID[1]}" "${CHUNKD_PID[2]}" "${CHUNKD_PID[3]}" "$MOUNT_PID"; do
	e2e_alive "$pid" || e2e_fail "${E2E_PIDS[$pid]} died on ENOSPC"
done

e2e_remount
e2e_drop_caches
cmp "$E2E_TMP/small" "$MNT/small" || e2e_fail "the file written before ENOSPC is damaged"
size=$(stat -c %s "$MNT/big")
e2e_log "the big file kept $size bytes"
cmp -n "$size" "$E2E_TMP/big" "$MNT/big" || e2e_fail "the big file's $size bytes are not what was written (torn block)"

rm "$MNT/big" || e2e_fail "rm of the big file"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/again"
ok=0
for ((t = 0; t < 30; t++)); do
	if cp "$E2E_TMP/again" "$MNT/again" 2>/dev/null && cmp -s "$E2E_TMP/again" "$MNT/again"; then
		ok=1
		break
	fi
	sleep 1
done
[ "$ok" = 1 ] || e2e_fail "no space came back within 30 s after removing the big file"
e2e_log "space came back after ${t} s"
