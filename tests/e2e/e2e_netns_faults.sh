#!/bin/bash
# Faults of a chain member during writes, across hosts (tests/e2e/netns.sh):
# a meta host, five chunkd hosts, two client hosts on one bridge, goal 3.
# Each round, client c1 writes a file of random bytes with dd while one
# chunkd that holds the chunk being written gets, at a random moment,
#   kill   kill -9 (then it restarts on its data dir),
#   stop   SIGSTOP (a hung peer: no RST; SIGCONT after the write),
#   part   a network partition: nftables drops everything in and out of its
#          host (healed after the write);
# the faults take turns. Every round: dd and fsync see no error, client c2
# (another host, cold cache) reads the file back byte for byte, and
# godfs-admin status reaches 0 chunks under goal within RESTORE_MAX s.
#
#   NETNS_ROUNDS=N   rounds (default 3, one of each fault; GODFS_LONG=1: 30)
#   NETNS_SIZE_MB=N  file size (default 256; GODFS_LONG=1: 512)
# A fault lasts at least 4 s (past the meta's 3 s node-dead time). The log
# says in which rounds the writer saw the fault (it named the member).
# docs/testing.md has the figures of the long run.
LONG=${GODFS_LONG:-0}    # lib.sh clears GODFS_* variables
E2E_TIMEOUT=${NETNS_TIMEOUT:-600}
[ "$LONG" = 1 ] && E2E_TIMEOUT=${NETNS_TIMEOUT:-7200}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

if [ "$LONG" = 1 ]; then
	ROUNDS=${NETNS_ROUNDS:-30}
	SIZE_MB=${NETNS_SIZE_MB:-512}
else
	ROUNDS=${NETNS_ROUNDS:-3}
	SIZE_MB=${NETNS_SIZE_MB:-256}
fi
HOLD_MS=4000     # a fault lasts at least this long (the meta sees the node dead)
RESTORE_MAX=${NETNS_RESTORE_MAX:-90}
FAULTS=(kill stop part)

netns_host meta 2
for i in 1 2 3 4 5; do netns_host "cs$i" $((10 + i)); done
netns_host c1 21
netns_host c2 22
M=${NETNS_IP[meta]}:9090
declare -A CS_PID=()

start_meta() {
	mkdir -p "$E2E_TMP/meta"
	( netns_exec meta "$GODFS_META" --data-dir "$E2E_TMP/meta" --listen "$M" \
		--raft-listen "${NETNS_IP[meta]}:9091" --node-id 1 --log-level info \
		--lease-ms 5000 --node-dead-ms 3000 ) </dev/null >>"$E2E_TMP/log/meta.log" 2>&1 &
	META_PID=$!
	E2E_PIDS[$META_PID]=meta
	netns_wait_port meta "${NETNS_IP[meta]}" 9090 meta "$META_PID"
}

start_cs() {
	local i=$1
	mkdir -p "$E2E_TMP/cs$i"
	( netns_exec "cs$i" "$GODFS_CHUNKD" --data-dir "$E2E_TMP/cs$i" \
		--listen "${NETNS_IP[cs$i]}:8000" --meta "$M" --log-level info ) \
		</dev/null >>"$E2E_TMP/log/cs$i.log" 2>&1 &
	CS_PID[$i]=$!
	E2E_PIDS[${CS_PID[$i]}]=cs$i
	netns_wait_port "cs$i" "${NETNS_IP[cs$i]}" 8000 "cs$i" "${CS_PID[$i]}"
	# the pid that gets the signals is the daemon's
	[ "$(readlink "/proc/${CS_PID[$i]}/exe")" = "$(readlink -f "$GODFS_CHUNKD")" ] ||
		e2e_fail "pid ${CS_PID[$i]} is not cs$i's chunkd"
}

# mount_on HOST MNT
mount_on() {
	local h=$1 mnt=$2 pid i
	mkdir -p "$mnt"
	( netns_exec "$h" "$GODFS_MOUNT" "$M" "$mnt" -f ) </dev/null >>"$E2E_TMP/log/mount-$h.log" 2>&1 &
	pid=$!
	E2E_PIDS[$pid]=mount-$h
	E2E_MOUNTS+=("$mnt")
	for ((i = 0; i < 200; i++)); do
		e2e_is_mounted "$mnt" && stat -t "$mnt" >/dev/null 2>&1 && return 0
		e2e_alive "$pid" || e2e_fail "mount.godfs on $h exited (log: $E2E_TMP/log/mount-$h.log)"
		sleep 0.1
	done
	e2e_fail "$mnt is not mounted after 20 s"
}

# The meta is on another host: status from client host c2.
e2e_status_json() { netns_run c2 "$GODFS_ADMIN" --meta "$M" status --json 2>/dev/null; }
alive_nodes() { netns_run c2 "$GODFS_ADMIN" --meta "$M" nodes 2>/dev/null | grep -c ' alive' || true; }

# The newest chunk id (decimal) on chunkd I, 0 without any.
newest_on() {
	local id
	id=$(find "$E2E_TMP/cs$1" -type f -name '*.chk' 2>/dev/null | sed 's|.*/||; s|_.*||' |
		sort -u | tail -n 1)
	echo $((16#${id:-0}))
}

newest_chunk() {
	local i c n=0
	for i in 1 2 3 4 5; do
		c=$(newest_on "$i")
		[ "$c" -gt "$n" ] && n=$c
	done
	echo "$n"
}

# chain_member AFTER: a chunkd that holds the newest chunk, once there is one
# newer than AFTER (the chunk being written), at random among its holders
# (one snapshot of every data dir: the newest chunk moves on meanwhile).
chain_member() {
	local after=$1 i k n=0 best=() c=()
	for ((k = 0; k < 100; k++)); do
		n=0
		for i in 1 2 3 4 5; do
			c[$i]=$(newest_on "$i")
			[ "${c[$i]}" -gt "$n" ] && n=${c[$i]}
		done
		[ "$n" -gt "$after" ] && break
		sleep 0.05
	done
	for i in 1 2 3 4 5; do
		[ "${c[$i]}" = "$n" ] && best+=("$i")
	done
	if [ "$n" -gt "$after" ] && [ "${#best[@]}" -gt 0 ]; then
		echo "${best[$((RANDOM % ${#best[@]}))]}"
	fi
	return 0
}

start_meta
for i in 1 2 3 4 5; do start_cs "$i"; done
for ((k = 0; k < 200; k++)); do
	[ "$(alive_nodes)" -ge 5 ] && break
	sleep 0.1
done
[ "$(alive_nodes)" -ge 5 ] || e2e_fail "the meta does not list 5 live chunkds"
MA=$E2E_TMP/mnt-c1
MB=$E2E_TMP/mnt-c2
mount_on c1 "$MA"
mount_on c2 "$MB"
e2e_log "hosts: meta $M, chunkds ${NETNS_IP[cs1]}..${NETNS_IP[cs5]}:8000, clients c1 c2;" \
	"nft: $NETNS_HAVE_NFT; $ROUNDS rounds of $SIZE_MB MiB"

head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$E2E_TMP/src"
declare -A WORST=()
HITS=0
for ((r = 1; r <= ROUNDS; r++)); do
	fault=${FAULTS[$(((r - 1) % ${#FAULTS[@]}))]}
	name=f$r
	delay_ms=$((100 + RANDOM % 900))
	seen_before=$(grep -c 'failed; new chain' "$E2E_TMP/log/mount-c1.log" || true)
	before=$(newest_chunk)
	t0=$(date +%s%N)
	dd if="$E2E_TMP/src" of="$MA/$name" bs=1M conv=fsync status=none 2>"$E2E_TMP/dd.err" &
	dd_pid=$!
	sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
	victim=$(chain_member "$before")
	[ -n "$victim" ] || e2e_fail "round $r: no new chunk $delay_ms ms into the write (newest $(newest_chunk), before $before)"
	case $fault in
	kill) kill -KILL "${CS_PID[$victim]}" ;;
	stop) kill -STOP "${CS_PID[$victim]}" ;;
	part) netns_partition "cs$victim" ;;
	esac
	e2e_log "round $r: $fault of cs$victim $delay_ms ms into the write"
	tf=$(date +%s%N)
	wait "$dd_pid" || e2e_fail "round $r ($fault of cs$victim): dd failed: $(cat "$E2E_TMP/dd.err")"
	t1=$(date +%s%N)
	left=$((HOLD_MS - (t1 - tf) / 1000000))
	[ "$left" -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
	seen=$(( $(grep -c 'failed; new chain' "$E2E_TMP/log/mount-c1.log" || true) - seen_before ))
	[ "$seen" -gt 0 ] && HITS=$((HITS + 1))
	case $fault in
	kill)
		wait "${CS_PID[$victim]}" 2>/dev/null || true
		unset "E2E_PIDS[${CS_PID[$victim]}]"
		start_cs "$victim" ;;
	stop) kill -CONT "${CS_PID[$victim]}" ;;
	part) netns_heal "cs$victim" ;;
	esac
	cmp "$E2E_TMP/src" "$MB/$name" || e2e_fail "round $r ($fault of cs$victim): c2 reads another file"
	e2e_wait_goal "$t1" "$RESTORE_MAX" "round $r ($fault of cs$victim)"
	w=$(((t1 - t0) / 1000000)) g=$E2E_GOAL_MS
	e2e_log "round $r: $fault of cs$victim: written in $w ms ($seen chain changes)," \
		"read back on c2, goal restored $g ms after the write"
	[ "${WORST[$fault-w]:-0}" -lt "$w" ] && WORST[$fault-w]=$w
	[ "${WORST[$fault-g]:-0}" -lt "$g" ] && WORST[$fault-g]=$g
	rm -f "$MA/$name"
done
for f in "${FAULTS[@]}"; do
	[ -n "${WORST[$f-w]:-}" ] &&
		e2e_log "worst $f: write ${WORST[$f-w]} ms, goal restored ${WORST[$f-g]} ms after the write"
done
e2e_log "the writer saw the fault in $HITS of $ROUNDS rounds"
[ "$HITS" -gt 0 ] || e2e_fail "no fault hit a write"
e2e_alive "$META_PID" || e2e_fail "the meta died"
