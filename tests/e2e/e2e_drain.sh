#!/bin/bash
# Decommissioning (godfs-admin nodes drain): 4 chunkds, goal 2, 1 MiB chunks.
# A writer keeps creating files while chunkd1 drains; a poller asks the meta
# every 0.2 s how many chunks are under goal (it must never be more than 0),
# and `godfs-admin nodes --json` until chunkd1 is drained (no chunk record
# names it, its disk holds no copy). Then: no chunk file left on chunkd1, no
# new one went there, every file reads back, undrain works, and the drain
# survives a restart of the meta (an FSM record).
E2E_TIMEOUT=400
. "$(dirname "$0")/lib.sh"

META_ARGS=(--chunk-size 1048576 --default-goal 2 --lease-ms 2000 --grace-ms 1000)
e2e_cluster_up 4
admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@"; }
node_of() {     # the node id of chunkd I, by its address
	admin nodes --json | tr '{' '\n' | grep "\"127.0.0.1:${CHUNKD_PORT[$1]}\"" |
		sed 's/.*"node_id":"\([^"]*\)".*/\1/'
}
N1=$(node_of 1)
[ -n "$N1" ] || e2e_fail "no node id for chunkd1: $(admin nodes --json)"

# data that exists before the drain
mkdir -p "$MNT/d" "$E2E_TMP/src"
for i in $(seq 1 20); do
	head -c $((3 * 1024 * 1024 + i * 1000)) /dev/urandom >"$E2E_TMP/src/a$i"
	cp "$E2E_TMP/src/a$i" "$MNT/d/a$i" || e2e_fail "cp a$i"
done
sync
e2e_wait_goal "$(date +%s%N)" 90 "before the drain"
before=$(e2e_chunk_ids 1 | wc -l)
((before > 5)) || e2e_fail "chunkd1 holds only $before chunks before the drain"
e2e_log "chunkd1 ($N1) holds $before chunks; draining it during a write workload"

# the workload: more files while the drain runs
(
	for i in $(seq 1 30); do
		head -c $((2 * 1024 * 1024 + i)) /dev/urandom >"$E2E_TMP/src/b$i"
		cp "$E2E_TMP/src/b$i" "$MNT/d/b$i" || exit 1
		sleep 0.3
	done
) &
writer=$!

admin nodes drain "$N1" >/dev/null || e2e_fail "nodes drain $N1"
admin nodes drain no-such-node 2>/dev/null && e2e_fail "drain of an unknown node succeeded"
t0=$(date +%s%N)
max_under=0 polls=0 drained=0
while :; do
	u=$(e2e_under_goal)
	[ -n "$u" ] && ((u > max_under)) && max_under=$u
	polls=$((polls + 1))
	if admin nodes --json | tr '{' '\n' | grep "\"node_id\":\"$N1\"" | grep -q '"drained":true'; then
		kill -0 "$writer" 2>/dev/null || { drained=1; break; }
	fi
	(( ($(date +%s%N) - t0) / 1000000000 < 240 )) || break
	sleep 0.2
done
t1=$(date +%s%N)
wait "$writer" || e2e_fail "the writer failed during the drain"
admin nodes
((drained)) || e2e_fail "chunkd1 not drained after 240 s"
((max_under == 0)) || e2e_fail "$max_under chunks were under goal during the drain ($polls polls)"
left=$(e2e_chunk_ids 1 | wc -l)
((left == 0)) || e2e_fail "chunkd1 still holds $left chunk files once drained"
e2e_log "drained $before chunks in $(((t1 - t0) / 1000000)) ms, under goal never above 0 ($polls polls)"
echo "DRAIN chunks=$before ms=$(((t1 - t0) / 1000000))" >>"$E2E_TMP/log/figures"

e2e_remount
e2e_drop_caches
for f in "$E2E_TMP"/src/*; do
	cmp "$f" "$MNT/d/$(basename "$f")" || e2e_fail "$(basename "$f") differs after the drain"
done

# still draining after the meta restarts (the FSM has it); new files avoid it
e2e_stop "$META_PID"
e2e_start_meta
e2e_wait_nodes 3
admin nodes --json | tr '{' '\n' | grep "\"node_id\":\"$N1\"" | grep -q '"draining":true' ||
	e2e_fail "the drain did not survive a restart of the meta: $(admin nodes --json)"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/src/c1"
cp "$E2E_TMP/src/c1" "$MNT/d/c1" || e2e_fail "a write after the restart failed"
sync
[ "$(e2e_chunk_ids 1 | wc -l)" = 0 ] || e2e_fail "a new chunk went to the draining chunkd1"
admin nodes undrain "$N1" >/dev/null || e2e_fail "nodes undrain"
for ((i = 0; i < 20; i++)); do     # the leader's next tick reads the FSM's flag
	admin nodes --json | tr '{' '\n' | grep "\"node_id\":\"$N1\"" |
		grep -q '"draining":false' && break
	sleep 0.1
done
((i < 20)) || e2e_fail "still draining after undrain"
e2e_log "drain survived a meta restart; undrain ended it"
