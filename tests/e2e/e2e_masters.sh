#!/bin/bash
# The meta voters operated by hand (godfs-admin masters, docs/meta.md
# "Voters"), while a mount writes all along (a file a step, written and
# fsynced, recorded once acknowledged):
#   1. three voters bootstrapped with --peers; `masters list` human and --json
#      (parsed): three voters, one leader;
#   2. voters 4 and 5 (started empty with --join) added: they catch up and
#      vote (list shows five voters, each with the leader's last entry);
#   3. voter 5 removed; a voter replaced (a follower removed, node 6 with an
#      empty data directory added in its place);
#   4. leadership transferred to a named voter; then that leader killed -9:
#      another voter takes over;
#   5. the mount never saw an error, and every acknowledged file is there
#      with its content (on the same mount and after a remount).
E2E_TIMEOUT=240
. "$(dirname "$0")/lib.sh"

read -r -a P <<<"$(e2e_free_ports 12)"
declare -A VC=() VR=() VPID=()
for n in 1 2 3 4 5 6; do
	VC[$n]=${P[$(((n - 1) * 2))]}
	VR[$n]=${P[$(((n - 1) * 2 + 1))]}
done
PEERS="1@127.0.0.1:${VR[1]}@127.0.0.1:${VC[1]},2@127.0.0.1:${VR[2]}@127.0.0.1:${VC[2]},3@127.0.0.1:${VR[3]}@127.0.0.1:${VC[3]}"
ALL="127.0.0.1:${VC[1]},127.0.0.1:${VC[2]},127.0.0.1:${VC[3]}"

# start_voter N [--peers ...|--join]
start_voter() {
	local n=$1; shift
	mkdir -p "$E2E_TMP/voter$n"
	"$GODFS_META" --data-dir "$E2E_TMP/voter$n" --listen "127.0.0.1:${VC[$n]}" \
		--raft-listen "127.0.0.1:${VR[$n]}" --node-id "$n" --log-level info "$@" \
		</dev/null >>"$E2E_TMP/log/voter$n.log" 2>&1 &
	VPID[$n]=$!
	E2E_PIDS[${VPID[$n]}]=voter$n
	e2e_wait_port "${VC[$n]}" "voter$n" "${VPID[$n]}"
}

# The admin tool on every address the test knows of (the learnt ones too).
ADMIN_METAS=$ALL
admin() { "$GODFS_ADMIN" --meta "$ADMIN_METAS" --timeout 30 "$@"; }

# masters list --json, parsed: prints "LEADER_ID VOTERS" (voter ids, sorted,
# comma-separated) and writes the JSON to $E2E_TMP/masters.json.
list_json() {
	admin masters list --json >"$E2E_TMP/masters.json" || return 1
	python3 - "$E2E_TMP/masters.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ms = d["masters"]
leaders = [m["id"] for m in ms if m["leader"]]
assert len(leaders) == 1, ms
assert leaders[0] == d["leader_id"], d
for m in ms:
    assert m["raft_address"].startswith("127.0.0.1:") and m["client_address"].startswith("127.0.0.1:"), m
    assert "match_index" in m, m          # answered by the leader
print(leaders[0], ",".join(str(m["id"]) for m in sorted(ms, key=lambda m: m["id"]) if m["role"] == "voter"))
PY
}

# wait_voters IDS: waits (30 s) until the configuration's voters are IDS
# ("1,2,3") and each has the leader's last entry; sets LEAD.
wait_voters() {
	local want=$1 t out
	for ((t = 0; t < 150; t++)); do
		if out=$(list_json 2>/dev/null) && [ "${out#* }" = "$want" ]; then
			LEAD=${out%% *}
			# every voter within a few entries of the commit (they caught up)
			if python3 - "$E2E_TMP/masters.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
top = max(m["match_index"] for m in d["masters"])
sys.exit(0 if all(top - m["match_index"] <= 20 for m in d["masters"]) else 1)
PY
			then
				return 0
			fi
		fi
		sleep 0.2
	done
	admin masters list || true
	e2e_fail "the voters are not $want (caught up) after 30 s (last: ${out:-none})"
}

for n in 1 2 3; do start_voter "$n" --peers "$PEERS"; done
META_ADDR=$ALL
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT"
W=$MNT/w
mkdir "$W"

# The writer: file i gets "file i" plus 64 KiB, written and fsynced; i goes
# to ACKED only after that succeeded. The first error ends it (FAILED).
ACKED=$E2E_TMP/acked
FAILED=$E2E_TMP/failed
: >"$ACKED"
writer() {
	local i=0 err
	while [ ! -e "$E2E_TMP/stop" ]; do
		i=$((i + 1))
		if ! err=$( { printf 'file %d\n' "$i"; head -c 65536 /dev/zero; } |
			dd of="$W/f$i" bs=1M conv=fsync status=none 2>&1); then
			echo "file $i: $err" >"$FAILED"
			exit 1
		fi
		echo "$i" >>"$ACKED"
	done
}
writer &
WPID=$!
E2E_PIDS[$WPID]=writer
acked() { wc -l <"$ACKED"; }
# Fails when the writer failed; waits (30 s) until it acknowledged more files.
progress() {
	local n t
	n=$(acked)
	for ((t = 0; t < 300; t++)); do
		[ -e "$FAILED" ] && e2e_fail "the mount saw an error: $(cat "$FAILED")"
		[ "$(acked)" -gt "$((n + 2))" ] && return 0
		sleep 0.1
	done
	e2e_fail "the writer made no progress in 30 s (at $(acked) files)"
}
progress

# 1. The list, for humans and for scripts.
wait_voters 1,2,3
admin masters list >"$E2E_TMP/list.txt" || e2e_fail "masters list failed"
grep -q "read lease" "$E2E_TMP/list.txt" || e2e_fail "masters list: $(cat "$E2E_TMP/list.txt")"
[ "$(grep -c ' voter ' "$E2E_TMP/list.txt")" = 3 ] || e2e_fail "masters list: $(cat "$E2E_TMP/list.txt")"
grep -Eq "^$LEAD +127\.0\.0\.1:${VR[$LEAD]} +127\.0\.0\.1:${VC[$LEAD]} +voter +yes" "$E2E_TMP/list.txt" ||
	e2e_fail "masters list does not show voter $LEAD as leader: $(cat "$E2E_TMP/list.txt")"
e2e_log "three voters, leader $LEAD"
# bad arguments are usage errors, refused changes cluster errors
rc=0; admin masters add 0 127.0.0.1:1 127.0.0.1:2 2>/dev/null || rc=$?
[ "$rc" = 2 ] || e2e_fail "masters add 0 ... exited $rc, not 2"
rc=0; admin masters remove 42 2>"$E2E_TMP/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no node has that id" "$E2E_TMP/err" ||
	e2e_fail "masters remove 42: exit $rc: $(cat "$E2E_TMP/err")"
rc=0; admin masters remove "$LEAD" 2>"$E2E_TMP/err" || rc=$?
[ "$rc" = 1 ] && grep -q "transfer the leadership first" "$E2E_TMP/err" ||
	e2e_fail "masters remove of the leader: exit $rc: $(cat "$E2E_TMP/err")"

# 2. Two more voters, started empty.
for n in 4 5; do
	start_voter "$n" --join
	admin masters add "$n" "127.0.0.1:${VR[$n]}" "127.0.0.1:${VC[$n]}" >/dev/null ||
		e2e_fail "masters add $n failed"
	progress
done
wait_voters 1,2,3,4,5
e2e_log "voters 4 and 5 added and caught up (leader $LEAD)"
# adding it again changes nothing
admin masters add 4 "127.0.0.1:${VR[4]}" "127.0.0.1:${VC[4]}" >/dev/null ||
	e2e_fail "masters add of a voter that is one already failed"
grep -q "learnt voter 127.0.0.1:${VC[4]}" "$E2E_TMP"/log/mount*.log ||
	e2e_log "(the mount has not reconnected since voter 4 was added: nothing learnt yet)"

# 3. Remove voter 5 (the leader too is fine for a non-leader check below).
victim=5
[ "$LEAD" = 5 ] && { admin masters transfer 1 >/dev/null || e2e_fail "transfer away from 5"; wait_voters 1,2,3,4,5; }
admin masters remove 5 >/dev/null || e2e_fail "masters remove 5 failed"
wait_voters 1,2,3,4
e2e_stop "${VPID[5]}"
progress
# Replace a follower among 1..3 by node 6 with an empty data directory.
for victim in 1 2 3; do [ "$victim" != "$LEAD" ] && break; done
admin masters remove "$victim" >/dev/null || e2e_fail "masters remove $victim failed"
e2e_stop "${VPID[$victim]}"
rm -rf "$E2E_TMP/voter$victim"
start_voter 6 --join
admin masters add 6 "127.0.0.1:${VR[6]}" "127.0.0.1:${VC[6]}" >/dev/null || e2e_fail "masters add 6 failed"
want=$(printf '%s\n' 1 2 3 4 6 | grep -vx "$victim" | paste -sd,)
wait_voters "$want"
progress
e2e_log "voter 5 removed, voter $victim replaced by 6: voters $want, leader $LEAD"
ADMIN_METAS="$ALL,127.0.0.1:${VC[4]},127.0.0.1:${VC[6]}"

# 4. Transfer to a named voter, then kill it.
for target in 6 4 1 2 3; do
	[ "$target" != "$LEAD" ] && [ "$target" != "$victim" ] && break
done
admin masters transfer "$target" >/dev/null || e2e_fail "masters transfer $target failed"
wait_voters "$want"
[ "$LEAD" = "$target" ] || e2e_fail "leader is $LEAD after a transfer to $target"
progress
e2e_log "leadership transferred to $target; killing it"
kill -9 "${VPID[$target]}"
wait "${VPID[$target]}" 2>/dev/null || true
unset "E2E_PIDS[${VPID[$target]}]"
t0=$(date +%s%N)
for ((t = 0; t < 150; t++)); do
	if out=$(list_json 2>/dev/null) && [ "${out%% *}" != "$target" ]; then
		break
	fi
	sleep 0.1
done
new=${out%% *}
[ -n "$new" ] && [ "$new" != "$target" ] || e2e_fail "no new leader 15 s after the kill"
e2e_log "voter $new leads $((($(date +%s%N) - t0) / 1000000)) ms after the kill"
progress
progress

# 5. Everything acknowledged is there.
touch "$E2E_TMP/stop"
wait "$WPID" || true
unset "E2E_PIDS[$WPID]"
[ -e "$FAILED" ] && e2e_fail "the mount saw an error: $(cat "$FAILED")"
last=$(acked)
check_files() {
	local i bad=0
	while read -r i; do
		if [ "$(head -n 1 "$W/f$i" 2>&1)" != "file $i" ] ||
		   [ "$(stat -c %s "$W/f$i")" != $((65536 + ${#i} + 6)) ]; then
			echo "f$i: $(head -c 40 "$W/f$i" 2>&1 | head -n 1), $(stat -c %s "$W/f$i" 2>&1)"
			bad=$((bad + 1))
		fi
	done <"$ACKED"
	[ "$bad" = 0 ] || e2e_fail "$bad of $last acknowledged files differ ($1)"
}
check_files "same mount"
e2e_remount
check_files "after a remount"
e2e_log "all $last acknowledged files are there with their content"
