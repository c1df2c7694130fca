# tests/e2e/voters.sh: a metadata cluster of three godfs-meta voters, each on
# a host of its own (tests/e2e/netns.sh), three chunkd hosts and client
# hosts, for the failover tests (e2e_meta_failover.sh, e2e_meta_partition.sh,
# e2e_meta_allkill.sh). Sourced after lib.sh and netns.sh.
#
#   voter N      host mN at 10.77.0.(1+N): client port 9090, Raft 9091,
#                data dir $E2E_TMP/voterN (VDIR[N] to put it elsewhere)
#   chunkd I     host csI at 10.77.0.(10+I):8000, --meta all three voters
#   client C     host cC at 10.77.0.(20+C), mounts given all three voters
#
# VOTER_ARGS (array) are extra options of every voter. The workload and its
# checker are tests/e2e/meta_workload.py.

WORKLOAD=$E2E_SRCDIR/tests/e2e/meta_workload.py
command -v python3 >/dev/null || e2e_skip "no python3 for the workload"
VOTER_ARGS=("${VOTER_ARGS[@]+"${VOTER_ARGS[@]}"}")
declare -A VPID=() VDIR=() VADDR=() CSPID=()
PEERS=
ALL_METAS=

# voters_hosts NCLIENTS: the hosts (3 voters, 3 chunkds, NCLIENTS clients).
voters_hosts() {
	local n i
	for n in 1 2 3; do
		netns_host "m$n" $((1 + n))
		VADDR[$n]=${NETNS_IP[m$n]}:9090
		VDIR[$n]=${VDIR[$n]:-$E2E_TMP/voter$n}
		PEERS=$PEERS${PEERS:+,}$n@${NETNS_IP[m$n]}:9091@${VADDR[$n]}
		ALL_METAS=$ALL_METAS${ALL_METAS:+,}${VADDR[$n]}
	done
	for i in 1 2 3; do netns_host "cs$i" $((10 + i)); done
	for ((i = 1; i <= $1; i++)); do netns_host "c$i" $((20 + i)); done
}

# start_voter N [options]: voter N on its data dir (a kill -9 or a stop
# before, so the same log and snapshots are loaded again).
start_voter() {
	local n=$1; shift
	mkdir -p "${VDIR[$n]}"
	echo "=== start $(date -u +%FT%T.%3NZ)" >>"$E2E_TMP/log/voter$n.log"
	( netns_exec "m$n" "$GODFS_META" --data-dir "${VDIR[$n]}" --listen "${VADDR[$n]}" \
		--raft-listen "${NETNS_IP[m$n]}:9091" --node-id "$n" --peers "$PEERS" \
		--log-level info "${VOTER_ARGS[@]+"${VOTER_ARGS[@]}"}" "$@" ) \
		</dev/null >>"$E2E_TMP/log/voter$n.log" 2>&1 &
	VPID[$n]=$!
	E2E_PIDS[${VPID[$n]}]=voter$n
	netns_wait_port "m$n" "${NETNS_IP[m$n]}" 9090 "voter$n" "${VPID[$n]}"
}

# kill_voter N [SIGNAL]: signal (KILL by default) and reap voter N.
kill_voter() {
	local n=$1 sig=${2:-KILL}
	[ -n "${VPID[$n]:-}" ] || return 0
	if [ "$sig" = KILL ]; then
		kill -KILL "${VPID[$n]}" 2>/dev/null || true
		wait "${VPID[$n]}" 2>/dev/null || true
		unset "E2E_PIDS[${VPID[$n]}]"
	else
		e2e_stop "${VPID[$n]}" "$sig"
	fi
	VPID[$n]=
}

start_cs() {
	local i=$1
	mkdir -p "$E2E_TMP/cs$i"
	( netns_exec "cs$i" "$GODFS_CHUNKD" --data-dir "$E2E_TMP/cs$i" \
		--listen "${NETNS_IP[cs$i]}:8000" --meta "$ALL_METAS" --log-level info ) \
		</dev/null >>"$E2E_TMP/log/cs$i.log" 2>&1 &
	CSPID[$i]=$!
	E2E_PIDS[${CSPID[$i]}]=cs$i
	netns_wait_port "cs$i" "${NETNS_IP[cs$i]}" 8000 "cs$i" "${CSPID[$i]}"
}

# mount_on HOST MNT [META-ADDRESSES]: mount.godfs -f on HOST (all voters by default).
mount_on() {
	local h=$1 mnt=$2 metas=${3:-$ALL_METAS} pid i
	mkdir -p "$mnt"
	( netns_exec "$h" "$GODFS_MOUNT" "$metas" "$mnt" -f ) </dev/null >>"$E2E_TMP/log/mount-$h.log" 2>&1 &
	pid=$!
	E2E_PIDS[$pid]=mount-$h
	E2E_MOUNTS+=("$mnt")
	MOUNT_OF[$mnt]=$pid
	for ((i = 0; i < 300; i++)); do
		e2e_is_mounted "$mnt" && stat -t "$mnt" >/dev/null 2>&1 && return 0
		e2e_alive "$pid" || e2e_fail "mount.godfs on $h exited (log: $E2E_TMP/log/mount-$h.log)"
		sleep 0.1
	done
	e2e_fail "$mnt is not mounted after 30 s"
}
declare -A MOUNT_OF=()

# umount_from MNT: unmount and wait for its mount.godfs to exit.
umount_from() {
	local mnt=$1 pid=${MOUNT_OF[$1]:-} i
	umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null ||
		e2e_fail "umount $mnt failed: $(umount "$mnt" 2>&1)"
	for ((i = 0; i < 100; i++)); do
		e2e_alive "$pid" || break
		sleep 0.1
	done
	e2e_alive "$pid" && e2e_fail "mount.godfs of $mnt still runs 10 s after umount"
	wait "$pid" 2>/dev/null || true
	unset "E2E_PIDS[$pid]"
}

# admin [godfs-admin args]: godfs-admin from client host c1, all voters.
admin() { netns_run c1 "$GODFS_ADMIN" --meta "$ALL_METAS" --timeout 5 "$@"; }
e2e_status_json() { admin status --json 2>/dev/null; }
alive_nodes() { admin nodes 2>/dev/null | grep -c ' alive' || true; }

# LEAD = the voter that godfs-admin status names leader, when it runs (one try).
leader_once() {
	local l n
	LEAD=
	l=$(admin status 2>/dev/null | awk '$1 == "leader" { print $2 }') || true
	for n in 1 2 3; do
		if [ "$l" = "${VADDR[$n]}" ] && e2e_alive "${VPID[$n]:-}"; then
			LEAD=$n
			return 0
		fi
	done
	return 1
}

# wait_leader [SECONDS]: LEAD = the leader, waiting for one (default 20 s).
wait_leader() {
	local max=${1:-20} t0=$SECONDS
	while ! leader_once; do
		((SECONDS - t0 < max)) || e2e_fail "no leader among the voters after $max s"
		sleep 0.2
	done
}

# make_leader N: voter N leads. godfs-admin masters transfer N (libraft sends
# N a TimeoutNow once its log is up to date), asked again while N catches up.
# Not by killing the leader until the election picks N: with pre-vote, a
# follower that never stood keeps the election timeout it drew at its start
# (libraft 0.15 draws again only when a candidate or leader steps down), so a
# voter that drew a long one loses nearly every election.
make_leader() {
	local want=$1 k
	for ((k = 0; k < 30; k++)); do
		wait_leader 30
		[ "$LEAD" = "$want" ] && return 0
		admin masters transfer "$want" >/dev/null 2>&1 || sleep 0.5
	done
	e2e_fail "voter $want does not lead after $k leadership transfers asked"
}

# voters_up: the three voters, the chunkds, a leader, every chunkd registered.
voters_up() {
	local n k
	for n in 1 2 3; do start_voter "$n"; done
	for n in 1 2 3; do start_cs "$n"; done
	wait_leader 30
	for ((k = 0; k < 300; k++)); do
		[ "$(alive_nodes)" -ge 3 ] && break
		sleep 0.1
	done
	[ "$(alive_nodes)" -ge 3 ] || e2e_fail "the leader does not list 3 live chunkds"
}

# The log lines of voter N since its last start.
voter_log_since_start() {
	awk '/^=== start / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' \
		"$E2E_TMP/log/voter$1.log"
}

# workload_start HOST-MNT NAME: meta_workload.py in MNT/NAME (logs in $E2E_TMP).
declare -A WL_PID=()
workload_start() {
	local mnt=$1 name=$2
	python3 "$WORKLOAD" run "$mnt" "$name" "$E2E_TMP/ack-$name.log" "$E2E_TMP/stop-$name" \
		"$E2E_TMP/err-$name" >>"$E2E_TMP/log/workload-$name.log" 2>&1 &
	WL_PID[$name]=$!
	E2E_PIDS[${WL_PID[$name]}]=workload-$name
}

# workload_ok: fails the test when a workload saw an error or died.
workload_ok() {
	local name
	for name in "${!WL_PID[@]}"; do
		[ -s "$E2E_TMP/err-$name" ] && e2e_fail "workload $name: $(cat "$E2E_TMP/err-$name")"
		e2e_alive "${WL_PID[$name]}" ||
			e2e_fail "workload $name stopped: $(tail -n 5 "$E2E_TMP/log/workload-$name.log")"
	done
	return 0
}

# workload_stop: stops every workload after its current operation.
workload_stop() {
	local name
	for name in "${!WL_PID[@]}"; do touch "$E2E_TMP/stop-$name"; done
	for name in "${!WL_PID[@]}"; do
		wait "${WL_PID[$name]}" ||
			e2e_fail "workload $name: $(cat "$E2E_TMP/err-$name" 2>/dev/null || tail -n 5 "$E2E_TMP/log/workload-$name.log")"
		unset "E2E_PIDS[${WL_PID[$name]}]"
	done
	WL_PID=()
}

ack_logs() { ls "$E2E_TMP"/ack-*.log; }
acked_count() { { cat "$E2E_TMP"/ack-*.log 2>/dev/null || true; } | wc -l; }   # 0 before any

# wait_acked N SECONDS WHAT: waits until more than N operations were
# acknowledged in all; fails after SECONDS (or at a workload error).
wait_acked() {
	local n=$1 max=$2 what=$3 t0=$SECONDS
	while [ "$(acked_count)" -le "$n" ]; do
		workload_ok
		((SECONDS - t0 < max)) || e2e_fail "$what: no operation acknowledged in $max s"
		sleep 0.1
	done
}

# check_tree MNT WHAT: the tree under MNT holds what the acknowledged
# operations imply (meta_workload.py check).
check_tree() {
	local out
	out=$(python3 "$WORKLOAD" check "$1" $(ack_logs) 2>&1) || { echo "$out"; e2e_fail "$2: the tree differs"; }
	e2e_log "$2: $out"
}

# cut_off HOST HOST...: HOST stops talking with the others (nftables drop
# rules in HOST's namespace, both ways; every other host still reaches it).
cut_off() {
	local h=$1 ips="" o
	shift
	for o in "$@"; do ips=$ips${ips:+, }${NETNS_IP[$o]}; done
	netns_run "$h" nft -f - <<-EOF2 || e2e_fail "nft in $h"
	table inet gdcut {
		chain in { type filter hook input priority 0; ip saddr { $ips } drop; }
		chain out { type filter hook output priority 0; ip daddr { $ips } drop; }
	}
	EOF2
}
uncut() { netns_run "$1" nft delete table inet gdcut 2>/dev/null || true; }

# The realtime ns of a voter log line's timestamp (2026-01-02T03:04:05.678Z).
log_ns() { date -u -d "${1%Z}" +%s%N; }
