#!/bin/bash
# The limits against hostile clients seen from a legitimate mount: with an idle
# timeout of 1.5 s on the meta and on every chunkd, the mount's idle
# connections are cut (logged) and the mount reconnects on its next call
# without an error; a goal above 16 is refused, 16 is accepted.
E2E_TIMEOUT=180
META_ARGS=(--idle-timeout-ms 1500)
CHUNKD_ARGS=(--idle-timeout-ms 1500)
. "$(dirname "$0")/lib.sh"

MiB=1048576
e2e_cluster_up

admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@" 2>&1; }

head -c $((3 * MiB)) /dev/urandom >"$E2E_TMP/f"
cp "$E2E_TMP/f" "$MNT/f" || e2e_fail "cp failed"
cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "file differs"
for round in 1 2 3; do
	sleep 3
	e2e_drop_caches
	cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "file differs after an idle cut (round $round)"
	head -c 100000 /dev/urandom >"$E2E_TMP/tail"
	cat "$E2E_TMP/tail" >>"$E2E_TMP/f"
	cat "$E2E_TMP/tail" >>"$MNT/f" || e2e_fail "append after an idle cut failed (round $round)"
	mkdir "$MNT/d$round" || e2e_fail "mkdir after an idle cut failed (round $round)"
done
cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "file differs at the end"
grep -q "idle timeout" "$E2E_TMP"/log/chunkd*.log ||
	e2e_fail "no chunkd cut an idle connection"
grep -q "idle timeout" "$E2E_TMP/log/meta.log" || e2e_fail "the meta cut no idle connection"
e2e_log "idle connections were cut; the mount reconnected each time"

out=$(admin goal /d1 17) && e2e_fail "goal 17 accepted: $out"
out=$(admin goal /d1 16) || e2e_fail "goal 16 refused: $out"
[ "$(admin goal /d1)" = "/d1: goal 16" ] || e2e_fail "goal 16 not set: $(admin goal /d1)"
e2e_log "goal above 16 refused, 16 accepted"
