#!/bin/bash
# A restart of the whole cluster keeps the data: once after a clean stop
# (umount, SIGTERM to every daemon), once after kill -9 of every process,
# mount.godfs included (the stale mount is cleaned up with umount -l).
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
head -c $((10 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/f"
cp "$E2E_TMP/f" "$MNT/f" || e2e_fail "cp"
mkdir -p "$MNT/d/e"
echo hello >"$MNT/d/e/h"
ln -s ../f "$MNT/d/s"
chmod 600 "$MNT/d/e/h"
setfattr -n user.k -v v "$MNT/d/e/h"

check() {
	cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "$1: the 10 MiB file differs"
	[ "$(cat "$MNT/d/e/h")" = hello ] || e2e_fail "$1: d/e/h"
	[ "$(readlink "$MNT/d/s")" = ../f ] || e2e_fail "$1: symlink"
	[ "$(stat -c %a "$MNT/d/e/h")" = 600 ] || e2e_fail "$1: mode"
	[ "$(getfattr --only-values -n user.k "$MNT/d/e/h")" = v ] || e2e_fail "$1: xattr"
}
check "before"

restart() {
	e2e_start_meta
	local i
	for i in 1 2 3; do e2e_start_chunkd "$i"; done
	e2e_wait_nodes 3
	e2e_mount "$MNT"
	e2e_drop_caches
}

e2e_umount
for pid in "${CHUNKD_PID[1]}" "${CHUNKD_PID[2]}" "${CHUNKD_PID[3]}" "$META_PID"; do e2e_stop "$pid" TERM; done
e2e_log "clean stop done"
restart
check "after a clean restart"
echo second >"$MNT/second"

for pid in "$MOUNT_PID" "${CHUNKD_PID[1]}" "${CHUNKD_PID[2]}" "${CHUNKD_PID[3]}" "$META_PID"; do e2e_stop "$pid" KILL; done
MOUNT_PID=
umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
e2e_is_mounted "$MNT" && e2e_fail "the stale mount is still there"
e2e_log "everything killed with kill -9"
restart
check "after kill -9 of everything"
[ "$(cat "$MNT/second")" = second ] || e2e_fail "the file written after the first restart is gone"
