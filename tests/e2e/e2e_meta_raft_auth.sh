#!/bin/bash
# The Raft port is closed to strangers (docs/security.md, "The Raft port"):
#   1. Three voters, the third started with a DIFFERENT cluster key: voters 1
#      and 2 elect a leader and serve; each side logs the other's refused
#      handshakes; voter 3 never learns of a leader.
#   2. Strangers on the leader's Raft port: libraft's own TCP handshake (with
#      an address length of 2^40), garbage, and a connection that sends
#      nothing are each cut with a log line naming the peer and the reason
#      (the silent one at the 5 s deadline), and the cluster keeps serving.
#   3. Voter 3 restarted with the right key joins: once the leader is killed,
#      voters 2 and 3 (a majority only together) elect a new leader, which
#      holds every directory made before.
E2E_TIMEOUT=120
. "$(dirname "$0")/lib.sh"

read -r VC1 VC2 VC3 VR1 VR2 VR3 <<<"$(e2e_free_ports 6)"
VCLIENT=([1]=$VC1 [2]=$VC2 [3]=$VC3)
VRAFT=([1]=$VR1 [2]=$VR2 [3]=$VR3)
PEERS="1@127.0.0.1:$VR1@127.0.0.1:$VC1,2@127.0.0.1:$VR2@127.0.0.1:$VC2,3@127.0.0.1:$VR3@127.0.0.1:$VC3"
declare -A VPID=()
"$GODFS_ADMIN" key generate "$E2E_TMP/other.key" >/dev/null || e2e_fail "cannot create a second key"

# start_voter N [options]: voter N of 3 (the test's key unless --key-file).
start_voter() {
	local n=$1
	shift
	mkdir -p "$E2E_TMP/voter$n"
	"$GODFS_META" --data-dir "$E2E_TMP/voter$n" \
		--listen "127.0.0.1:${VCLIENT[$n]}" --raft-listen "127.0.0.1:${VRAFT[$n]}" \
		--node-id "$n" --peers "$PEERS" --log-level info "$@" \
		</dev/null >>"$E2E_TMP/log/voter$n.log" 2>&1 &
	VPID[$n]=$!
	E2E_PIDS[${VPID[$n]}]=voter$n
	e2e_wait_port "${VCLIENT[$n]}" "voter$n" "${VPID[$n]}"
}

# LEAD = the voter number of the leader (20 s), asked of the voters in $1.
find_leader() {
	local addrs=$1 t n l
	LEAD=
	for ((t = 0; t < 200; t++)); do
		l=$("$GODFS_ADMIN" --meta "$addrs" --timeout 2 status 2>/dev/null |
			awk '$1 == "leader" { print $2 }') || true
		for n in 1 2 3; do
			if [ "$l" = "127.0.0.1:${VCLIENT[$n]}" ] && e2e_alive "${VPID[$n]}"; then
				LEAD=$n
				return 0
			fi
		done
		sleep 0.1
	done
	e2e_fail "no leader among $addrs after 20 s"
}

# wait_log FILE PATTERN WHAT: waits (15 s) until FILE has a line matching PATTERN.
wait_log() {
	local t
	for ((t = 0; t < 150; t++)); do
		grep -qE "$2" "$1" && return 0
		sleep 0.1
	done
	e2e_fail "$3: no line matching '$2' in $(basename "$1") after 15 s"
}

# ---- 1. a voter with another key cannot join ----
start_voter 1
start_voter 2
start_voter 3 --key-file "$E2E_TMP/other.key"
find_leader "127.0.0.1:$VC1,127.0.0.1:$VC2"
[ "$LEAD" != 3 ] || e2e_fail "voter 3 (another key) leads"
e2e_log "voters 1 and 2 elected voter $LEAD; voter 3 has another key"
META_ADDR="127.0.0.1:$VC1,127.0.0.1:$VC2,127.0.0.1:$VC3"
e2e_mount "$MNT"
for d in a b c; do mkdir "$MNT/$d" || e2e_fail "mkdir $d with two good voters"; done
for n in 1 2; do
	wait_log "$E2E_TMP/log/voter$n.log" "raft port: refused 127\.0\.0\.1:[0-9]+: unknown key id" \
		"voter $n refuses voter 3"
done
wait_log "$E2E_TMP/log/voter3.log" "raft port: refused 127\.0\.0\.1:[0-9]+: unknown key id" \
	"voter 3 refuses voters 1 and 2"
wait_log "$E2E_TMP/log/voter3.log" "raft port: connection to node [12] at .*refused our handshake" \
	"voter 3 is refused"
grep -q "leader of term" "$E2E_TMP/log/voter3.log" && e2e_fail "voter 3 (another key) became leader"
"$GODFS_ADMIN" --meta "127.0.0.1:$VC3" --timeout 2 status >/dev/null 2>&1 &&
	e2e_fail "voter 3 (another key) knows a leader"
e2e_log "the voters refuse each other's handshakes; voter 3 stays out"

# ---- 2. strangers on the leader's Raft port ----
LOG=$E2E_TMP/log/voter$LEAD.log
RP=${VRAFT[$LEAD]}
# libraft 0.15's TCP handshake: protocol 1, id 7, an address of 2^40 bytes
(exec 3<>"/dev/tcp/127.0.0.1/$RP" &&
	printf '\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\7\0\0\1\0\0\0\0\0%0100d' 0 >&3 && sleep 0.5) 2>/dev/null
wait_log "$LOG" "raft port: refused 127\.0\.0\.1:[0-9]+: not a godfs handshake" "a raw libraft handshake"
# garbage
(exec 3<>"/dev/tcp/127.0.0.1/$RP" && head -c 4096 /dev/urandom >&3 && sleep 0.5) 2>/dev/null
# a silent peer: cut at the deadline while the cluster goes on
t0=$(date +%s%N)
(exec 3<>"/dev/tcp/127.0.0.1/$RP" && sleep 8) 2>/dev/null &
SILENT=$!
E2E_PIDS[$SILENT]=silent
mkdir "$MNT/d" || e2e_fail "mkdir while strangers are on the Raft port"
wait_log "$LOG" "raft port: cut 127\.0\.0\.1:[0-9]+: no complete handshake within 5000 ms" "a silent peer"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms >= 4500)) || e2e_fail "the silent peer was cut after $ms ms, before the 5 s deadline"
kill "$SILENT" 2>/dev/null
wait "$SILENT" 2>/dev/null || true
unset "E2E_PIDS[$SILENT]"
n=$(grep -c "raft port: refused 127\.0\.0\.1:[0-9]*: not a godfs handshake" "$LOG" || true)
((n >= 2)) || e2e_fail "$n log lines for the 2 strangers that sent garbage"
mkdir "$MNT/e" || e2e_fail "mkdir after the strangers"
e2e_log "strangers cut in $ms ms or less with a log line each; the cluster serves"

# ---- 3. with the right key, voter 3 joins ----
e2e_stop "${VPID[3]}"
start_voter 3
# voter 3 must hold the log before the leader dies: it answers a status
# (it knows the leader) and a barrier-free read through it lists e.
for ((t = 0; t < 150; t++)); do
	"$GODFS_ADMIN" --meta "127.0.0.1:$VC3" --timeout 2 status >/dev/null 2>&1 && break
	sleep 0.1
done
"$GODFS_ADMIN" --meta "127.0.0.1:$VC3" --timeout 2 status >/dev/null 2>&1 ||
	e2e_fail "voter 3 with the right key does not know the leader after 15 s"
old=$LEAD
kill -9 "${VPID[$old]}"
wait "${VPID[$old]}" 2>/dev/null || true
unset "E2E_PIDS[${VPID[$old]}]"
e2e_log "killed the leader (voter $old)"
others=
for n in 1 2 3; do [ "$n" = "$old" ] || others="$others${others:+,}127.0.0.1:${VCLIENT[$n]}"; done
find_leader "$others"
[ "$LEAD" != "$old" ] || e2e_fail "the dead voter leads"
for d in a b c d e; do [ -d "$MNT/$d" ] || e2e_fail "$d is missing after the failover"; done
mkdir "$MNT/f" || e2e_fail "mkdir with voter 3 in the majority"
e2e_log "voter $LEAD leads with voter 3 (right key) in the majority; a..e replicated, f made"
e2e_umount "$MNT"
