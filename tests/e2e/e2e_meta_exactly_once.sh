#!/bin/bash
# Exactly-once metadata changes: a workload of O_EXCL creates, mkdir, rename,
# hard and symbolic links, unlink and rmdir through the mount, where every
# operation must succeed (an EEXIST or ENOENT on an operation the workload
# knows must succeed means a resend was applied twice), while godfs-meta dies:
#   1. at the fault point of test builds (GODFS_FAULT=after_apply:N: SIGKILL
#      right after a change was committed and applied, before its reply),
#      four times: the reply is lost for sure and the client resends;
#   2. with kill -9 at random moments, three times.
# The meta restarts each time on the same data directory (one voter: replay
# of the log). At the end the namespace is exactly what the acknowledged
# operations imply, on the same mount and after a remount.
#   3. Then the same with three voters (--peers): the leader dies at the
#      fault point or by kill -9, another voter takes over with the records
#      replicated to it, and the dead one comes back.
E2E_TIMEOUT=150
. "$(dirname "$0")/lib.sh"

FAULT_ROUNDS=4
KILL_ROUNDS=3

# Starts the meta; with an argument N, it kills itself after its Nth change.
start_meta() {
	if [ -n "${1:-}" ]; then
		GODFS_FAULT=after_apply:$1 e2e_start_meta
	else
		e2e_start_meta
	fi
}

# Waits for the meta process to be gone after a kill or the fault point.
reap_meta() {
	wait "$META_PID" 2>/dev/null || true
	unset "E2E_PIDS[$META_PID]"
}

start_meta $((5 + RANDOM % 20))
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT"
W=$MNT/w
mkdir "$W"
DONE=$E2E_TMP/done        # the last iteration done in full
FAILED=$E2E_TMP/failed    # the first operation that failed, and why
echo 0 >"$DONE"

# One iteration i: f$i created with O_EXCL (bash noclobber) and written,
# directory d$i made, f$i renamed to g$i; then by i: g$i unlinked (odd),
# hard link h$i to g$i (i % 4 == 2), symlink s$i (i % 4 == 0), d$i removed
# (i % 3 == 0). Each must succeed.
op() {
	local what=$1 err
	shift
	if ! err=$("$@" 2>&1); then
		echo "iteration $i: $what: $err" >"$FAILED"
		exit 1
	fi
}
done_n() { cat "$DONE"; }
excl_create() { (set -C; printf 'file %d\n' "$2" >"$1"); }
workload() {
	i=0
	while [ ! -e "$E2E_TMP/stop" ]; do
		i=$((i + 1))
		op "create f$i (O_EXCL)" excl_create "$W/f$i" "$i"
		op "mkdir d$i" mkdir "$W/d$i"
		op "rename f$i g$i" mv -T "$W/f$i" "$W/g$i"
		if [ $((i % 2)) = 1 ]; then
			op "unlink g$i" rm "$W/g$i"
		elif [ $((i % 4)) = 2 ]; then
			op "link g$i h$i" ln "$W/g$i" "$W/h$i"
		else
			op "symlink s$i" ln -s "g$i" "$W/s$i"
		fi
		if [ $((i % 3)) = 0 ]; then
			op "rmdir d$i" rmdir "$W/d$i"
		fi
		echo "$i" >"$DONE.new"
		mv -f "$DONE.new" "$DONE"   # atomic: a reader never sees it empty
	done
}
workload &
WPID=$!
E2E_PIDS[$WPID]=workload

# A meta that died (the fault point) is restarted at once, with a new fault
# point until FAULT_ROUNDS deaths were seen, then without.
FIRED=0
tend_meta() {
	e2e_alive "$META_PID" && return 0
	reap_meta
	FIRED=$((FIRED + 1))
	e2e_log "the meta died at the fault point ($FIRED), iteration $(done_n): restarted"
	if [ "$FIRED" -lt "$FAULT_ROUNDS" ]; then
		start_meta $((3 + RANDOM % 25))
	else
		start_meta
	fi
}

# Waits (30 s) until the workload has done more iterations than $1.
progress_after() {
	local n=$1 t
	for ((t = 0; t < 300; t++)); do
		tend_meta
		[ -e "$FAILED" ] && e2e_fail "$(cat "$FAILED")"
		[ "$(done_n)" -gt "$n" ] && return 0
		e2e_alive "$WPID" || e2e_fail "the workload stopped: $(cat "$FAILED" 2>/dev/null)"
		sleep 0.1
	done
	e2e_fail "the workload made no progress in 30 s (at iteration $(done_n))"
}

# 1. The fault point: the meta kills itself after an apply, before the reply
# (each start allows at most 27 changes: it fires within 7 iterations).
for ((t = 0; t < 600 && FIRED < FAULT_ROUNDS; t++)); do
	tend_meta
	[ -e "$FAILED" ] && e2e_fail "$(cat "$FAILED")"
	if [ "$FIRED" = 0 ] && [ "$(done_n)" -gt 40 ]; then
		e2e_log "no fault points in this build (release): kill -9 rounds only"
		break
	fi
	sleep 0.1
done
[ "$FIRED" = 0 ] || [ "$FIRED" -ge "$FAULT_ROUNDS" ] ||
	e2e_fail "only $FIRED fault-point deaths in 60 s"
progress_after "$(done_n)"
fault_kills=$(grep -c 'fault point: SIGKILL now' "$E2E_TMP/log/meta.log" || true)

# 2. kill -9 at random moments.
for ((r = 1; r <= KILL_ROUNDS; r++)); do
	n=$(done_n)
	progress_after "$n"
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 "$META_PID"
	reap_meta
	e2e_log "kill round $r: kill -9 of the meta at iteration $(done_n)"
	start_meta
	progress_after "$(done_n)"
done

touch "$E2E_TMP/stop"
wait "$WPID" || true
unset "E2E_PIDS[$WPID]"
[ -e "$FAILED" ] && e2e_fail "$(cat "$FAILED")"
last=$(done_n)
e2e_log "workload stopped after $last iterations; $fault_kills fault-point kills, $KILL_ROUNDS kill -9"
[ "$last" -gt 20 ] || e2e_fail "only $last iterations"

# What the acknowledged operations imply.
expected() {
	local i
	for ((i = 1; i <= last; i++)); do
		if [ $((i % 2)) = 0 ]; then
			echo "g$i"
			if [ $((i % 4)) = 2 ]; then echo "h$i"; else echo "s$i"; fi
		fi
		[ $((i % 3)) = 0 ] || echo "d$i"
	done | sort
}
check_namespace() {
	local what=$1 i bad=0
	if ! diff <(expected) <(ls -A "$W" | sort) >"$E2E_TMP/diff"; then
		head -20 "$E2E_TMP/diff"
		e2e_fail "the namespace is not what the acknowledged operations imply ($what)"
	fi
	for ((i = 2; i <= last; i += 2)); do
		[ "$(cat "$W/g$i")" = "file $i" ] || { echo "g$i: $(cat "$W/g$i" 2>&1)"; bad=$((bad + 1)); }
		if [ $((i % 4)) = 2 ]; then
			[ "$(stat -c %h "$W/g$i")" = 2 ] || { echo "g$i: link count $(stat -c %h "$W/g$i")"; bad=$((bad + 1)); }
		else
			[ "$(readlink "$W/s$i")" = "g$i" ] || { echo "s$i: $(readlink "$W/s$i" 2>&1)"; bad=$((bad + 1)); }
		fi
	done
	[ "$bad" = 0 ] || e2e_fail "$bad files differ ($what)"
}
check_namespace "same mount"
e2e_remount
W=$MNT/w
check_namespace "after a remount"
e2e_log "one voter: the namespace holds exactly the $last acknowledged iterations"

# ---- 3. three voters: the leader dies ----
e2e_umount "$MNT"
for i in 1 2 3; do e2e_stop "${CHUNKD_PID[$i]}"; done
e2e_stop "$META_PID"
read -r VC1 VC2 VC3 VR1 VR2 VR3 <<<"$(e2e_free_ports 6)"
VCLIENT=([1]=$VC1 [2]=$VC2 [3]=$VC3)
VRAFT=([1]=$VR1 [2]=$VR2 [3]=$VR3)
PEERS="1@127.0.0.1:$VR1@127.0.0.1:$VC1,2@127.0.0.1:$VR2@127.0.0.1:$VC2,3@127.0.0.1:$VR3@127.0.0.1:$VC3"
ALL_METAS="127.0.0.1:$VC1,127.0.0.1:$VC2,127.0.0.1:$VC3"
declare -A VPID=()

# start_voter N [FAULT]: voter N of 3; with FAULT it kills itself after its
# FAULT-th change as leader.
start_voter() {
	local n=$1 fault=${2:-}
	mkdir -p "$E2E_TMP/voter$n"
	GODFS_FAULT=${fault:+after_apply:$fault} "$GODFS_META" --data-dir "$E2E_TMP/voter$n" \
		--listen "127.0.0.1:${VCLIENT[$n]}" --raft-listen "127.0.0.1:${VRAFT[$n]}" \
		--node-id "$n" --peers "$PEERS" --log-level info \
		</dev/null >>"$E2E_TMP/log/voter$n.log" 2>&1 &
	VPID[$n]=$!
	E2E_PIDS[${VPID[$n]}]=voter$n
	e2e_wait_port "${VCLIENT[$n]}" "voter$n" "${VPID[$n]}"
}
reap_voter() {
	wait "${VPID[$1]}" 2>/dev/null || true
	unset "E2E_PIDS[${VPID[$1]}]"
}
# LEAD = the voter number of the leader (10 s), from any voter that answers;
# with "tend", voters that die meanwhile are restarted (tend_voters, below).
find_leader() {
	local t n l
	LEAD=
	for ((t = 0; t < 100; t++)); do
		[ "${1:-}" = tend ] && tend_voters
		l=$("$GODFS_ADMIN" --meta "$ALL_METAS" status 2>/dev/null | awk '$1 == "leader" { print $2 }')
		for n in 1 2 3; do
			if [ "$l" = "127.0.0.1:${VCLIENT[$n]}" ] && e2e_alive "${VPID[$n]}"; then
				LEAD=$n
				return 0
			fi
		done
		sleep 0.1
	done
	e2e_fail "no leader among the voters after 10 s"
}

for n in 1 2 3; do start_voter "$n" $((5 + RANDOM % 20)); done
META_ADDR=$ALL_METAS
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT"
W=$MNT/w3
mkdir "$W"
echo 0 >"$DONE"
rm -f "$E2E_TMP/stop"
workload &
WPID=$!
E2E_PIDS[$WPID]=workload

# A voter that died (fault point or kill -9) is restarted at once, with a new
# fault point while fewer than 3 fault-point deaths were seen, so that two
# voters are up again before the next leader can die.
VDEATHS=0
tend_voters() {
	local n faults
	for n in 1 2 3; do
		e2e_alive "${VPID[$n]}" && continue
		reap_voter "$n"
		VDEATHS=$((VDEATHS + 1))
		faults=$(cat "$E2E_TMP"/log/voter*.log | grep -c 'fault point: SIGKILL now' || true)
		e2e_log "voter $n died ($faults fault-point deaths so far) at iteration $(done_n): restarted"
		if [ "$faults" -lt 3 ]; then
			start_voter "$n" $((5 + RANDOM % 20))
		else
			start_voter "$n"
		fi
	done
}
# progress_after with the voters tended.
progress_voters() {
	local n=$1 t
	for ((t = 0; t < 300; t++)); do
		tend_voters
		[ -e "$FAILED" ] && e2e_fail "$(cat "$FAILED")"
		[ "$(done_n)" -gt "$n" ] && return 0
		e2e_alive "$WPID" || e2e_fail "the workload stopped: $(cat "$FAILED" 2>/dev/null)"
		sleep 0.1
	done
	e2e_fail "the workload made no progress in 30 s with three voters (at iteration $(done_n))"
}

# Three kill -9 of the leader, between which the fault points fire too.
for ((r = 1; r <= 3; r++)); do
	progress_voters "$(( $(done_n) + 3 ))"
	find_leader tend
	kill -9 "${VPID[$LEAD]}"
	e2e_log "voters round $r: kill -9 of the leader (voter $LEAD) at iteration $(done_n)"
	progress_voters "$(done_n)"
done
progress_voters "$(( $(done_n) + 5 ))"
touch "$E2E_TMP/stop"
wait "$WPID" || true
unset "E2E_PIDS[$WPID]"
[ -e "$FAILED" ] && e2e_fail "$(cat "$FAILED")"
# No more fault points: every voter restarted plain, one at a time.
for n in 1 2 3; do
	if e2e_alive "${VPID[$n]}"; then kill -9 "${VPID[$n]}"; fi
	reap_voter "$n"
	start_voter "$n"
	find_leader
done
[ "$VDEATHS" -ge 3 ] || e2e_fail "only $VDEATHS voter deaths"
last=$(done_n)
voter_kills=$(cat "$E2E_TMP"/log/voter*.log | grep -c 'fault point: SIGKILL now' || true)
e2e_log "three voters: $last iterations, $voter_kills fault-point kills"
[ "$last" -gt 10 ] || e2e_fail "only $last iterations with three voters"
check_namespace "three voters, same mount"
e2e_remount
W=$MNT/w3
check_namespace "three voters, after a remount"
e2e_log "three voters: the namespace holds exactly the $last acknowledged iterations"
