#!/bin/bash
# Failover of the metadata leader under a workload, measured.
#
# Three godfs-meta voters, each on a host of its own (tests/e2e/voters.sh),
# three chunkds, two mounts on two client hosts, each given the three voter
# addresses. On each mount a workload (tests/e2e/meta_workload.py: O_EXCL
# creates with write + fsync, renames, mkdir, appends with fsync, unlinks)
# logs every acknowledged operation; any error it sees fails the test (an
# EEXIST or ENOENT on an operation that must succeed is a resend applied
# twice, across a leader change).
#
# KILLS times (default 10; the long run does 100): at a random moment the current leader gets
# kill -9; the time from the kill to the first operation that began after it
# and was acknowledged is measured, and the time to a new leader ready
# (its "leader of term" line); the dead voter then restarts on its data dir,
# so there are always three. The distributions (median, 90th, worst) are
# printed; the test fails if the worst pause seen by the workload is over
# MAX_PAUSE_MS (5 s).
#
# At the end the tree on both mounts, and after both remount, is exactly what
# the acknowledged operations imply (names, directories, every file's bytes).
E2E_TIMEOUT=${FAILOVER_TIMEOUT:-240}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/voters.sh"

KILLS=${FAILOVER_KILLS:-10}
MAX_PAUSE_MS=${FAILOVER_MAX_PAUSE_MS:-5000}

voters_hosts 2
voters_up
MA=$E2E_TMP/mnt-c1
MB=$E2E_TMP/mnt-c2
mount_on c1 "$MA"
mount_on c2 "$MB"
e2e_log "voters $ALL_METAS (leader voter $LEAD), chunkds on cs1..cs3, mounts on c1 and c2"
workload_start "$MA" w1
workload_start "$MB" w2
wait_acked 20 30 "before the first kill"

# The realtime ns of the first "leader of term" line in any voter log after
# T_NS (empty when none).
leader_ready_after() {
	local t=$1 ts ns
	cat "$E2E_TMP"/log/voter*.log | sed -n 's/^\([0-9T:.-]*Z\) .*leader of term .*ready at index.*/\1/p' |
		sort | while read -r ts; do
			ns=$(date -u -d "${ts%Z}" +%s%N)
			if [ "$ns" -gt "$t" ]; then echo "$ns"; break; fi
		done
}

PAUSES=()
READY=()
for ((r = 1; r <= KILLS; r++)); do
	wait_leader 20
	victim=$LEAD
	n=$(acked_count)
	wait_acked "$((n + 5))" 30 "kill $r"
	sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
	t_kill=$(date +%s%N)
	kill_voter "$victim"
	pause=
	while [ -z "$pause" ]; do
		workload_ok
		pause=$(python3 "$WORKLOAD" first-ack "$t_kill" $(ack_logs))
		if [ -z "$pause" ] && (( ($(date +%s%N) - t_kill) / 1000000 > 30000 )); then
			e2e_fail "kill $r (voter $victim): no operation acknowledged 30 s after the kill"
		fi
		[ -n "$pause" ] || sleep 0.05
	done
	t_ready=$(leader_ready_after "$t_kill")
	ready=-
	[ -n "$t_ready" ] && ready=$(( (t_ready - t_kill) / 1000000 ))
	PAUSES+=("$pause")
	[ "$ready" = - ] || READY+=("$ready")
	e2e_log "kill $r: leader voter $victim killed; new leader ready after $ready ms," \
		"first operation acknowledged after $pause ms"
	start_voter "$victim"
done
workload_ok
workload_stop
e2e_log "failover over $KILLS kills, first acknowledged operation: $(python3 "$WORKLOAD" dist "${PAUSES[@]}")"
e2e_log "failover over $KILLS kills, new leader ready: $(python3 "$WORKLOAD" dist "${READY[@]}")"
worst=$(printf '%s\n' "${PAUSES[@]}" | sort -n | tail -n 1)
e2e_log "$(acked_count) operations acknowledged in all"

check_tree "$MA" "mount c1"
check_tree "$MB" "mount c2"
umount_from "$MA"
umount_from "$MB"
mount_on c2 "$MA"
mount_on c1 "$MB"
check_tree "$MA" "a fresh mount on c2"
check_tree "$MB" "a fresh mount on c1"
[ "$worst" -le "$MAX_PAUSE_MS" ] ||
	e2e_fail "the worst pause after a leader kill is $worst ms (more than $MAX_PAUSE_MS ms)"
