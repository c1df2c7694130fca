#!/bin/bash
# All three metadata voters killed at once (kill -9, one signal each in one
# command) in the middle of a workload on two mounts (tests/e2e/voters.sh,
# meta_workload.py), ROUNDS times; each time they stay down DOWN_S seconds
# and restart on their data dirs. The workloads must not see any error (their
# calls wait for the cluster: a client retries for 30 s), they must go on
# once a leader is back (within BACK_MAX_MS of the restart), and at the end
# the tree on both mounts and on fresh mounts is exactly what the
# acknowledged operations imply: everything acknowledged before the kill
# was on a majority's disk.
E2E_TIMEOUT=${ALLKILL_TIMEOUT:-180}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/voters.sh"

ROUNDS=3
DOWN_S=2
BACK_MAX_MS=15000

voters_hosts 2
voters_up
MA=$E2E_TMP/mnt-c1
MB=$E2E_TMP/mnt-c2
mount_on c1 "$MA"
mount_on c2 "$MB"
workload_start "$MA" w1
workload_start "$MB" w2

for ((r = 1; r <= ROUNDS; r++)); do
	n=$(acked_count)
	wait_acked "$((n + 100))" 30 "round $r, before the kill"
	sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
	kill -KILL "${VPID[1]}" "${VPID[2]}" "${VPID[3]}"
	t_kill=$(date +%s%N)
	for v in 1 2 3; do kill_voter "$v"; done
	before=$(acked_count)
	e2e_log "round $r: all voters killed after $before acknowledged operations"
	sleep "$DOWN_S"
	workload_ok
	t_start=$(date +%s%N)
	for v in 1 2 3; do start_voter "$v"; done
	back=
	while [ -z "$back" ]; do
		workload_ok
		back=$(python3 "$WORKLOAD" first-ack "$t_start" $(ack_logs))
		if [ -z "$back" ] && (( ($(date +%s%N) - t_start) / 1000000 > 30000 )); then
			e2e_fail "round $r: no operation acknowledged 30 s after the restart"
		fi
		[ -n "$back" ] || sleep 0.1
	done
	during=$(awk -v k="$t_kill" -v s="$t_start" '$1 > k && $2 < s' $(ack_logs))
	[ -z "$during" ] || e2e_fail "round $r: acknowledged while every voter was dead: $during"
	e2e_log "round $r: voters restarted; first operation acknowledged $back ms after the restart"
	((back <= BACK_MAX_MS)) || e2e_fail "round $r: the mounts waited $back ms (> $BACK_MAX_MS)"
done
n=$(acked_count)
wait_acked "$((n + 100))" 30 "after the last round"
workload_stop
e2e_log "$(acked_count) operations acknowledged in all"
check_tree "$MA" "mount c1"
check_tree "$MB" "mount c2"
umount_from "$MA"
umount_from "$MB"
# Once more from the disks alone: every voter restarted, fresh mounts.
for v in 1 2 3; do kill_voter "$v" TERM; done
for v in 1 2 3; do start_voter "$v"; done
wait_leader 30
mount_on c2 "$MA"
mount_on c1 "$MB"
check_tree "$MA" "voters restarted, a fresh mount on c2"
check_tree "$MB" "voters restarted, a fresh mount on c1"
