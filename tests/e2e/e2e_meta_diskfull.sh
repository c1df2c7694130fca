#!/bin/bash
# A metadata voter's disk full. Three voters on hosts of their own
# (tests/e2e/voters.sh); voter 3's data dir is a small tmpfs (TMPFS_SIZE);
# voters run with small Raft segments and a small snapshot threshold so that
# the log needs new files all the time. A workload (meta_workload.py) runs
# on a mount given all three voters and must see no error throughout.
#
# 1. Voter 3 is a follower and its tmpfs is filled: the cluster goes on
#    serving on the two others; voter 3 says clearly in its log that its
#    disk is full (and stops: a voter that cannot write its log fail-stops).
# 2. Voter 3 is made leader (make_leader: a leadership transfer) and its tmpfs is
#    filled: it must stop leading (meta_raft.c fail-stops at the first
#    failed write: it exits with an error), another voter leads within 10 s
#    of the first write error and the workload goes on without an error.
#    Started again with its disk still full, voter 3 refuses to start,
#    saying why (or, when the filler has not yet taken the space the dead
#    voter freed, stops at its first failed write, saying why).
# 3. The space is freed and voter 3 restarts: it catches up, serves as the
#    leader (a transfer again), and a fresh mount's tree holds
#    exactly what was acknowledged.
#
# Raft segments of 64 KiB (the smallest --raft-segment-size) so that the
# leader needs a new segment within seconds of its disk filling.
E2E_TIMEOUT=${DISKFULL_TIMEOUT:-240}
VOTER_ARGS=(--snapshot-threshold 256 --snapshot-trailing 64 --raft-segment-size 64K)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/voters.sh"

TMPFS_SIZE=8m
SERVE_MAX_S=20

FULL=$E2E_TMP/voter3-tmpfs
mkdir -p "$FULL"
mount -t tmpfs -o size=$TMPFS_SIZE tmpfs "$FULL" || e2e_skip "cannot mount a tmpfs here"
E2E_MOUNTS+=("$FULL")
VDIR[3]=$FULL/data

voters_hosts 1
voters_up
MA=$E2E_TMP/mnt-c1
mount_on c1 "$MA"
workload_start "$MA" w1
wait_acked 50 30 "before the disk fills"

# fill: fills voter 3's tmpfs, and keeps it full (libraft frees space as it
# compacts its log: a filler in the background takes it) until unfill.
FILLER=
fill() {
	dd if=/dev/zero of="$FULL/fill.0" bs=16k status=none 2>/dev/null || true
	[ "$(df --output=avail -B1 "$FULL" | tail -n 1)" -lt 16384 ] || e2e_fail "the tmpfs is not full"
	( i=0; while :; do i=$((i + 1)); dd if=/dev/zero of="$FULL/fill.$i" bs=4k status=none 2>/dev/null; sleep 0.05; done ) &
	FILLER=$!
	E2E_PIDS[$FILLER]=filler
}
unfill() {
	kill "$FILLER" 2>/dev/null || true
	wait "$FILLER" 2>/dev/null || true
	unset "E2E_PIDS[$FILLER]"
	rm -f "$FULL"/fill.*
}

# served_after T_NS WHAT: an operation that began after T_NS is acknowledged
# within SERVE_MAX_S.
served_after() {
	local t=$1 what=$2 ms=
	for ((k = 0; k < SERVE_MAX_S * 10; k++)); do
		workload_ok
		ms=$(python3 "$WORKLOAD" first-ack "$t" $(ack_logs))
		[ -n "$ms" ] && break
		sleep 0.1
	done
	[ -n "$ms" ] || e2e_fail "$what: nothing acknowledged in $SERVE_MAX_S s"
	e2e_log "$what: an operation acknowledged $ms ms later"
}

# ---- 1. a follower's disk full ----
wait_leader
if [ "$LEAD" = 3 ]; then
	kill_voter 3
	wait_leader 30
	start_voter 3
fi
e2e_log "leader voter $LEAD; filling voter 3's $TMPFS_SIZE tmpfs"
fill
t_full=$(date +%s%N)
served_after "$t_full" "follower voter 3's disk full"
# The log needs a new segment (or a snapshot file) soon: voter 3 must say so.
for ((k = 0; k < 600; k++)); do
	grep -qiE 'no space|ENOSPC|not enough space' "$E2E_TMP/log/voter3.log" && break
	workload_ok
	sleep 0.1
done
grep -iE 'no space|ENOSPC|not enough space' "$E2E_TMP/log/voter3.log" | head -n 3 | sed 's/^/    voter3: /' || true
grep -qiE 'no space|ENOSPC|not enough space' "$E2E_TMP/log/voter3.log" ||
	e2e_fail "voter 3 does not say that its disk is full ($(acked_count) operations acknowledged)"
n=$(acked_count)
wait_acked "$((n + 300))" 60 "with voter 3's disk full"

# ---- 2. the leader's disk full ----
unfill
kill_voter 3
start_voter 3
make_leader 3
n=$(acked_count)
wait_acked "$((n + 50))" 30 "voter 3 leading"
e2e_log "voter 3 leads; filling its tmpfs"
errs=$(grep -ciE 'no space|ENOSPC|not enough space' "$E2E_TMP/log/voter3.log" || true)
fill
# Its open segment was preallocated: it fails once it needs the next one.
for ((k = 0; k < 600; k++)); do
	[ "$(grep -ciE 'no space|ENOSPC|not enough space' "$E2E_TMP/log/voter3.log" || true)" -gt "$errs" ] && break
	workload_ok
	sleep 0.1
done
[ "$k" -lt 600 ] || e2e_fail "leader voter 3 logs no full disk in 60 s"
t_full=$(date +%s%N)
e2e_log "leader voter 3 cannot write its log any more"
served_after "$t_full" "leader voter 3's disk full"
for ((k = 0; k < 100; k++)); do
	wait_leader 30
	[ "$LEAD" != 3 ] && break
	workload_ok
	sleep 0.1
done
[ "$LEAD" != 3 ] || e2e_fail "voter 3 still leads 10 s after its disk filled"
e2e_log "voter $LEAD leads now; voter 3 is $(e2e_alive "${VPID[3]}" && echo alive || echo dead)"
grep -q 'fail-stop' "$E2E_TMP/log/voter3.log" && e2e_log "voter 3: $(grep -o 'raft: .* failed on this leader ([^)]*)' "$E2E_TMP/log/voter3.log" | tail -n 1)"
# Its disk still full, voter 3 must refuse to start (it would fail its first
# segment, and could be elected).
kill_voter 3
( netns_exec m3 "$GODFS_META" --data-dir "${VDIR[3]}" --listen "${VADDR[3]}" \
	--raft-listen "${NETNS_IP[m3]}:9091" --node-id 3 --peers "$PEERS" --log-level info \
	"${VOTER_ARGS[@]}" ) </dev/null >"$E2E_TMP/log/voter3-full.log" 2>&1 &
p=$!
E2E_PIDS[$p]=voter3-full
for ((k = 0; k < 200; k++)); do
	e2e_alive "$p" || break
	sleep 0.1
done
e2e_alive "$p" && e2e_fail "voter 3 still runs 20 s after a start with its disk full"
rc=0
wait "$p" || rc=$?
unset "E2E_PIDS[$p]"
[ "$rc" -ne 0 ] || e2e_fail "voter 3 started with its disk full exited 0"
# Refused at the start, or (the filler may not have taken what the dead
# voter freed yet) stopped at its first failed write.
grep -qE 'free space first|not enough space.*fail-stop' "$E2E_TMP/log/voter3-full.log" ||
	e2e_fail "voter 3 started with its disk full does not say why: $(tail -n 3 "$E2E_TMP/log/voter3-full.log")"
e2e_log "voter 3 with its disk full: exit $rc, $(grep -oE 'raft: .*(free space first|fail-stop\))' "$E2E_TMP/log/voter3-full.log" | head -n 1)"
n=$(acked_count)
wait_acked "$((n + 200))" 60 "after the leader's disk filled"

# ---- 3. space freed: voter 3 back in step ----
unfill
kill_voter 3
start_voter 3
n=$(acked_count)
wait_acked "$((n + 200))" 60 "voter 3 restarted"
workload_stop
make_leader 3
MB=$E2E_TMP/mnt-fresh
mount_on c1 "$MB"
check_tree "$MB" "voter 3 leading after its disk was freed, fresh mount"
check_tree "$MA" "mount c1"
