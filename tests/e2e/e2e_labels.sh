#!/bin/bash
# Labels: 4 chunkds on 2 racks (chunkd1, 2 rack=r1; chunkd3, 4 rack=r2; no
# zones: a rack is named within its zone, so rack=r2,zone=z1 would be another
# rack than rack=r2; zones are covered by test_meta_place),
# goal 2, 1 MiB chunks. Every chunk ends with one copy on each rack and
# `godfs-admin placement` reports nothing. With rack r2 down, new chunks and
# new copies can only go to r1: placement reports them (not fixable). When
# r2 comes back, the leader moves a copy of each to r2 (at the rebalancing
# rate) and the report empties; every file reads back.
E2E_TIMEOUT=400
. "$(dirname "$0")/lib.sh"

META_ARGS=(--chunk-size 1048576 --default-goal 2 --lease-ms 2000 --grace-ms 1000
	--rebalance-rate 20)
e2e_more_chunkds 4
e2e_start_meta
e2e_start_chunkd 1 --label rack=r1
e2e_start_chunkd 2 --label r1          # the older form: the rack alone
e2e_start_chunkd 3 --label rack=r2
e2e_start_chunkd 4 --label rack=r2
e2e_wait_nodes 4
e2e_mount "$MNT"
admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@"; }

# a bad label is refused at start
"$GODFS_CHUNKD" --data-dir "$E2E_TMP/bad" --label "rack=r 1" --meta "$META_ADDR" \
	>"$E2E_TMP/log/bad.log" 2>&1 && e2e_fail "a chunkd with a bad label started"

# every chunk of a rack-spread cluster is on both racks
both_racks() {
	local id bad=0
	for id in $( (e2e_chunk_ids 1; e2e_chunk_ids 2; e2e_chunk_ids 3; e2e_chunk_ids 4) | sort -u); do
		if ! { [ -n "$(e2e_chunk_file 1 "$id")" ] || [ -n "$(e2e_chunk_file 2 "$id")" ]; } ||
		   ! { [ -n "$(e2e_chunk_file 3 "$id")" ] || [ -n "$(e2e_chunk_file 4 "$id")" ]; }; then
			bad=$((bad + 1))
		fi
	done
	echo "$bad"
}
# `chunks --placement` is the issue's spelling, `placement` the short one:
# the same answer; --placement with another command is a usage error (2)
rc=0; admin status --placement >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || e2e_fail "status --placement: exit $rc, not 2"
placement_total() { admin chunks --placement --json | sed -n 's/.*"total":\([0-9]*\).*/\1/p'; }
# waits (MAX s) until the last complete scan reports N chunks
wait_placement() {
	local want=$1 max=$2 i n
	for ((i = 0; i < max * 5; i++)); do
		n=$(placement_total)
		[ "$n" = "$want" ] && return 0
		sleep 0.2
	done
	admin placement || true
	e2e_fail "placement reports $n chunks, not $want, after $max s"
}

mkdir -p "$E2E_TMP/src" "$MNT/d"
for i in $(seq 1 12); do
	head -c $((2 * 1024 * 1024 + i)) /dev/urandom >"$E2E_TMP/src/a$i"
	cp "$E2E_TMP/src/a$i" "$MNT/d/a$i" || e2e_fail "cp a$i"
done
sync
e2e_wait_goal "$(date +%s%N)" 90 "after the first files"
wait_placement 0 10
n=$( (e2e_chunk_ids 1; e2e_chunk_ids 2; e2e_chunk_ids 3; e2e_chunk_ids 4) | sort -u | wc -l)
((n >= 24)) || e2e_fail "only $n chunks"
[ "$(both_racks)" = 0 ] || e2e_fail "$(both_racks) chunks are not on both racks"
e2e_log "$n chunks, each on both racks; placement reports none"

# rack r2 down: new copies and new chunks on r1 only
e2e_stop "${CHUNKD_PID[3]}" KILL
e2e_stop "${CHUNKD_PID[4]}" KILL
for ((i = 0; i < 150; i++)); do    # the meta sees rack r2 dead (--node-dead-ms)
	[ "$(e2e_alive_nodes)" = 2 ] && break
	sleep 0.1
done
for i in $(seq 1 3); do
	head -c $((2 * 1024 * 1024 + i)) /dev/urandom >"$E2E_TMP/src/b$i"
	cp "$E2E_TMP/src/b$i" "$MNT/d/b$i" || e2e_fail "cp b$i with rack r2 down"
done
sync
e2e_wait_goal "$(date +%s%N)" 120 "with rack r2 down"
out=$(admin placement --json)
total=$(placement_total)
((total >= 6)) || e2e_fail "placement reports $total chunks with rack r2 down: $out"
grep -q '"shared":"rack=r1"' <<<"$out" || e2e_fail "placement names no shared rack=r1: $out"
grep -q '"fixable":true' <<<"$out" && e2e_fail "a chunk is fixable with rack r2 down: $out"
admin placement >"$E2E_TMP/log/placement.txt" || e2e_fail "placement"
sed -n 1,3p "$E2E_TMP/log/placement.txt"
e2e_log "rack r2 down: placement reports $total chunks on rack r1 only"

# r2 back: the copies spread again
e2e_start_chunkd 3 --label rack=r2
e2e_start_chunkd 4 --label rack=r2
t0=$(date +%s%N)
wait_placement 0 120
t1=$(date +%s%N)
e2e_wait_goal "$(date +%s%N)" 60 "after rack r2 came back"
# the copies above goal are deleted by the chunkds a heartbeat later
for ((i = 0; i < 100; i++)); do
	[ "$(both_racks)" = 0 ] && break
	sleep 0.2
done
[ "$(both_racks)" = 0 ] || e2e_fail "$(both_racks) chunks are not on both racks after r2 came back"
e2e_log "rack r2 back: spread again in $(((t1 - t0) / 1000000)) ms"
e2e_remount
e2e_drop_caches
for f in "$E2E_TMP"/src/*; do
	cmp "$f" "$MNT/d/$(basename "$f")" || e2e_fail "$(basename "$f") differs"
done
