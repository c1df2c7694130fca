#!/bin/bash
# A local godfs cluster on this host: 1 godfs-meta (or 3 or 5 voters), 3
# godfs-chunkd, a FUSE mount and the REST gateway, each daemon with its own
# data directory under one state directory.
#
#   ./scripts/local-cluster.sh up [--voters 1|3|5]
#                                       start what is not running, mount /mnt/godfs
#   ./scripts/local-cluster.sh down     unmount (lazily if busy), SIGTERM, SIGKILL after 15 s
#   ./scripts/local-cluster.sh status   what runs, with PIDs
#   ./scripts/local-cluster.sh purge    down, then delete the state directory (all data)
#
# --voters N: N godfs-meta voters (docs/meta.md "Voters"), bootstrapped
# together with --peers, data in meta1..metaN; the chunkds and the mount are
# given every voter's address. The first 'up' of a state directory fixes N
# (in $STATE/voters); later commands use it, and another N needs a purge.
#
# Environment: GODFS_LOCAL_STATE (default /var/lib/godfs-local),
# GODFS_LOCAL_MNT (default /mnt/godfs), GODFS_LOCAL_BIN (directory holding the
# programs; default: the installed ones, else build/release of this checkout),
# GODFS_LOCAL_META_PORT (default 9090), GODFS_LOCAL_CHUNKD_PORT (default
# 8000), GODFS_LOCAL_METRICS_PORT (default 9100), GODFS_LOCAL_GATEWAY_PORT
# (default 8080), GODFS_LOCAL_ETC_KEY (default
# /etc/godfs/cluster.key), so that a second cluster can run beside the first (tests).
# Ports: meta 127.0.0.1:9090 (Raft 9091); with --voters N, voter i on
# 9090 + 2(i-1) (Raft one above: 9090/9091, 9092/9093, 9094/9095...);
# chunkds 127.0.0.1:8000, 8001, 8002. Metrics and status listeners
# (docs/observability.md; observability/prometheus.yml scrapes them): voter i
# on 127.0.0.1:9100 + (i-1) (/metrics, /status), chunkds 9110, 9111, 9112,
# the mount 9120, the gateway 9130. The gateway (docs/gateway.md) serves
# 127.0.0.1:8080 with the cluster's key; the first 'up' also creates an API key
# for the whole tree in $STATE/gateway.key (mode 0600), which the summary's
# curl line uses.
#
# The cluster key (docs/security.md): the first 'up' creates $STATE/cluster.key
# (mode 0600), and every program of the cluster is started with it. So that
# godfs-admin and `mount -t godfs` on this host work with no flag, it is also
# copied to /etc/godfs/cluster.key, the default key file, unless that file
# exists already (a real installation's key is never touched: then the
# summary says which --key-file to use); 'purge' removes that copy.
set -euo pipefail

STATE=${GODFS_LOCAL_STATE:-/var/lib/godfs-local}
MNT=${GODFS_LOCAL_MNT:-/mnt/godfs}
LOG=$STATE/log
RUN=$STATE/run
KEY=$STATE/cluster.key
ETC_KEY=${GODFS_LOCAL_ETC_KEY:-/etc/godfs/cluster.key}
META_PORT=${GODFS_LOCAL_META_PORT:-9090}
CHUNKD_PORT=${GODFS_LOCAL_CHUNKD_PORT:-8000}
CHUNKD_PORTS=("$CHUNKD_PORT" $((CHUNKD_PORT + 1)) $((CHUNKD_PORT + 2)))
METRICS_PORT=${GODFS_LOCAL_METRICS_PORT:-9100}
GATEWAY_PORT=${GODFS_LOCAL_GATEWAY_PORT:-8080}
GATEWAY_KEY=$STATE/gateway.key
top=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "local-cluster: $*" >&2; exit 1; }
say() { echo "local-cluster: $*"; }

# set_voters N: the meta layout of N voters. One voter keeps the layout of
# before (name meta, data $STATE/meta); N voters are meta1..metaN.
set_voters() {
	local i
	VOTERS=$1
	META_NAMES=() META_CLIENT=() META_RAFT=()
	for ((i = 1; i <= VOTERS; i++)); do
		META_CLIENT+=("127.0.0.1:$((META_PORT + 2 * (i - 1)))")
		META_RAFT+=("127.0.0.1:$((META_PORT + 2 * (i - 1) + 1))")
		if [ "$VOTERS" = 1 ]; then META_NAMES+=(meta); else META_NAMES+=("meta$i"); fi
	done
	META_ADDR=$(IFS=,; echo "${META_CLIENT[*]}")
	PEERS=
	for ((i = 1; i <= VOTERS; i++)); do
		PEERS+="${PEERS:+,}$i@${META_RAFT[$((i - 1))]}@${META_CLIENT[$((i - 1))]}"
	done
}

# The voter count of the state directory (1 when it was made before --voters).
stored_voters() {
	local n
	{ read -r n <"$STATE/voters"; } 2>/dev/null || n=1
	[[ $n =~ ^[135]$ ]] || die "$STATE/voters says \"$n\": not 1, 3 or 5"
	echo "$n"
}

# Finds a program: GODFS_LOCAL_BIN, then the installed one, then the build tree.
find_prog() {
	local name=$1 sub=$2 p
	if [ -n "${GODFS_LOCAL_BIN:-}" ]; then
		p=$GODFS_LOCAL_BIN/$name
	elif p=$(PATH=/sbin:/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/bin:$PATH command -v "$name"); then
		:
	else
		p=$top/build/release/$sub/$name
	fi
	[ -x "$p" ] || die "$name not found (run ./scripts/build.sh first)"
	echo "$p"
}

# Whether PID runs: a process that exited but that its parent (init) has not
# reaped yet is a zombie, not running; but a zombie main thread whose other
# threads still run (an exit in progress) still holds its files and locks.
running() {
	local st tasks
	[[ ${1:-} =~ ^[0-9]+$ ]] || return 1
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ] && return 0
	tasks=("/proc/$1/task/"*)
	[ "${#tasks[@]}" -gt 1 ]
}

# Whether the PID in run/NAME.pid is alive and still runs PROGRAM on this
# cluster's state directory or mount point (not a recycled PID, not a zombie).
alive() {
	local name=$1 prog=$2 pid cmd args
	{ read -r pid <"$RUN/$name.pid"; } 2>/dev/null || return 1
	running "$pid" || return 1
	{ mapfile -d '' args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
	cmd=" ${args[*]} "
	case "$cmd" in *"$prog"*) ;; *) return 1 ;; esac
	case "$cmd" in *" $STATE/"* | *" $MNT "*) return 0 ;; esac
	return 1
}

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# A chunkd opens every chunk file of its data directory before it listens
# (tens of seconds for many thousands of chunks on a cold cache): wait as long
# as the process lives, up to 120 s.
wait_port() {
	local addr=$1 name=$2 prog=$3 i
	for ((i = 0; i < 1200; i++)); do
		port_open "$addr" && return 0
		alive "$name" "$prog" || die "$name exited: see $LOG/$name.log"
		[ "$i" != 100 ] || echo "local-cluster: waiting for $name to listen on $addr (loading its data)"
		sleep 0.1
	done
	die "$name does not listen on $addr after 120 s: see $LOG/$name.log"
}

# Whether the kernel lists a FUSE mount on $MNT (of any client).
fuse_listed() { grep -qs " $MNT fuse" /proc/self/mounts; }

# Whether $MNT is a godfs mount that answers stat(2) (within 5 s).
mount_answers() {
	grep -qs " $MNT fuse.godfs " /proc/self/mounts &&
		timeout -k 1 5 stat -t "$MNT" >/dev/null 2>&1
}

# Whether the FUSE mount on $MNT lost its client. Such a mount answers
# ENOTCONN (ECONNABORTED for requests in flight when the client died), but
# stat(2) of the mount point itself may still be answered from the kernel's
# attribute cache for a second: look up a name nobody has, which must reach
# the client. (A live client that waits for a restarting meta answers late,
# or not within 5 s: not stale.)
stale_mount() {
	local err
	fuse_listed || return 1
	err=$(LC_ALL=C timeout -k 1 5 stat -t "$MNT/.local-cluster-probe.$$.$RANDOM" 2>&1 >/dev/null) &&
		return 1
	case "$err" in *"not connected"* | *"connection abort"*) return 0 ;; esac
	return 1
}

# Unmounts (lazily) a stale mount left on $MNT by a dead client; a mount whose
# client this script started and still runs is left alone.
clean_stale_mount() {
	local n=0
	alive mount mount.godfs && return 0
	while stale_mount; do
		[ "$n" -lt 5 ] || die "cannot unmount the stale mount on $MNT"
		say "cleaning a stale mount on $MNT (its client is gone)"
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
		n=$((n + 1))
	done
}

# Whether our client runs and the kernel lists its mount.
mounted() { alive mount mount.godfs && grep -qs " $MNT fuse.godfs " /proc/self/mounts; }

# start NAME PROGRAM ARGS...: runs PROGRAM in its own session, logging to
# log/NAME.log, its PID in run/NAME.pid. Returns once the child runs PROGRAM:
# until its exec, /proc shows this script's command line, which alive() would
# take for a dead program.
start() {
	local name=$1 pid i args
	shift
	setsid "$@" </dev/null >>"$LOG/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$RUN/$name.pid"
	for ((i = 0; i < 200; i++)); do
		running "$pid" || return 0
		{ mapfile -d '' args <"/proc/$pid/cmdline"; } 2>/dev/null || return 0
		[ "${args[0]:-}" = "$1" ] && return 0
		sleep 0.05
	done
}

all_up() {
	local i name
	for name in "${META_NAMES[@]}"; do alive "$name" godfs-meta || return 1; done
	for i in 1 2 3; do alive "chunkd$i" godfs-chunkd || return 1; done
	mounted || return 1
	alive gateway godfs-gateway
}

# Prints what runs; returns 0 when everything runs and is mounted, else 3.
cmd_status() {
	local name prog pid exe rc=0
	for name in "${META_NAMES[@]}" chunkd1 chunkd2 chunkd3 mount gateway; do
		case $name in
		meta*) prog=godfs-meta ;; mount) prog=mount.godfs ;; gateway) prog=godfs-gateway ;;
		*) prog=godfs-chunkd ;;
		esac
		if alive "$name" "$prog"; then
			pid=$(<"$RUN/$name.pid")
			printf '  %-8s running, pid %s, log %s' "$name" "$pid" "$LOG/$name.log"
			# make install replaces the files: a running program keeps the
			# old one, which differs from the new one after a change.
			exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exe=
			case "$exe" in
			*" (deleted)")
				cmp -s "/proc/$pid/exe" "${exe% (deleted)}" ||
					printf ' (an older build: down, then up, to run the new one)' ;;
			esac
			printf '\n'
		else
			printf '  %-8s not running\n' "$name"
			rc=3
		fi
	done
	if mounted; then
		echo "  $MNT is mounted"
	elif stale_mount; then
		echo "  $MNT is a stale mount (its client is gone): 'up' cleans it"
		rc=3
	elif fuse_listed; then
		echo "  $MNT is mounted by a client this script did not start"
		rc=3
	else
		echo "  $MNT is not mounted"
		rc=3
	fi
	return "$rc"
}

# Creates the cluster key once (godfs-admin key generate, or the same format
# by hand when godfs-admin is not there), keeps it 0600, and installs the copy
# in /etc/godfs when there is no key file there yet.
ensure_key() {
	local admin=$1
	if [ ! -f "$KEY" ]; then
		if [ -n "$admin" ]; then
			"$admin" key generate "$KEY" >/dev/null || die "cannot create $KEY"
		else
			(umask 077 && printf '# godfs cluster key: keep it secret (docs/security.md)\n%s\n' \
				"$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$KEY")
		fi
		say "created the cluster key $KEY"
	fi
	chmod 600 "$KEY"
	if [ ! -e "$ETC_KEY" ]; then
		mkdir -p "$(dirname "$ETC_KEY")"
		(umask 077 && cp "$KEY" "$ETC_KEY")
		say "installed it as $ETC_KEY (the default key file of godfs-admin and mount.godfs)"
	fi
}

# Whether $ETC_KEY is this cluster's key (godfs-admin needs no --key-file).
etc_key_ours() { cmp -s "$KEY" "$ETC_KEY"; }

summary() {
	local st admin_flag= i
	st=$(cmd_status) || true
	etc_key_ours || admin_flag=" --key-file $KEY"
	[ "$VOTERS" = 1 ] || admin_flag+=" --meta $META_ADDR"
	echo "local-cluster: godfs is up"
	for ((i = 0; i < VOTERS; i++)); do
		echo "  godfs-meta    ${META_CLIENT[$i]} (Raft ${META_RAFT[$i]})  data $STATE/${META_NAMES[$i]}"
	done
	cat <<TXT
  godfs-chunkd  127.0.0.1:${CHUNKD_PORTS[0]}  data $STATE/chunkd1
  godfs-chunkd  127.0.0.1:${CHUNKD_PORTS[1]}  data $STATE/chunkd2
  godfs-chunkd  127.0.0.1:${CHUNKD_PORTS[2]}  data $STATE/chunkd3
  mount.godfs   $META_ADDR -> $MNT (replication goal 3)
  godfs-gateway http://127.0.0.1:$GATEWAY_PORT/v1/  API key $GATEWAY_KEY (whole tree; access log $LOG/gateway-access.log)
  cluster key   $KEY$(etc_key_ours && echo " (copy in $ETC_KEY)")
  status page   http://127.0.0.1:$METRICS_PORT/status (metrics: /metrics on 127.0.0.1:$METRICS_PORT-$((METRICS_PORT + 30)); observability/prometheus.yml)
  logs          $LOG/   PIDs $RUN/
$st
Try:  echo hello > $MNT/hello && cat $MNT/hello;  godfs-admin$admin_flag status;  godfs-admin$admin_flag nodes$( [ "$VOTERS" = 1 ] || echo ";  godfs-admin$admin_flag masters list")
      curl -H "Authorization: Bearer \$(cat $GATEWAY_KEY)" "http://127.0.0.1:$GATEWAY_PORT/v1/fs/content?path=/hello"
Stop: $0 down      (data stays in $STATE; '$0 purge' deletes it)
TXT
}

# Waits (20 s) until the meta lists N live chunk servers: a write with goal 3
# needs all three registered.
wait_nodes() {
	local admin=$1 n=$2 i
	[ -n "$admin" ] || return 0
	for ((i = 0; i < 200; i++)); do
		[ "$("$admin" --meta "$META_ADDR" --key-file "$KEY" nodes 2>/dev/null |
			grep -c ' alive')" -ge "$n" ] && return 0
		sleep 0.1
	done
	say "warning: the meta does not list $n live chunk servers after 20 s (see $LOG/)"
}

need_root() { [ "$(id -u)" -eq 0 ] || die "run as root (FUSE mount, daemons, $STATE)"; }

cmd_up() {
	need_root
	clean_stale_mount
	if all_up; then
		say "already running; nothing started"
		summary
		return 0
	fi
	local meta chunkd mountp gateway admin i pid
	meta=$(find_prog godfs-meta meta)
	chunkd=$(find_prog godfs-chunkd chunkd)
	mountp=$(find_prog mount.godfs fs)
	gateway=$(find_prog godfs-gateway gateway)
	admin=$(find_prog godfs-admin utils 2>/dev/null) || admin=
	mkdir -p "$STATE/chunkd1" "$STATE/chunkd2" "$STATE/chunkd3" "$LOG" "$RUN"
	[ -e "$STATE/voters" ] || echo "$VOTERS" >"$STATE/voters"
	ensure_key "$admin"

	# Every voter first, then wait: a voter answers its port at once, but
	# the cluster elects a leader only once a majority runs.
	for ((i = 0; i < VOTERS; i++)); do
		local name=${META_NAMES[$i]} peers=()
		mkdir -p "$STATE/$name"
		if alive "$name" godfs-meta; then
			say "$name already running (pid $(<"$RUN/$name.pid"))"
			continue
		fi
		port_open "${META_CLIENT[$i]}" &&
			die "${META_CLIENT[$i]} is taken by a process this script did not start"
		[ "$VOTERS" = 1 ] || peers=(--peers "$PEERS")
		start "$name" "$meta" --data-dir "$STATE/$name" --listen "${META_CLIENT[$i]}" \
			--raft-listen "${META_RAFT[$i]}" --node-id $((i + 1)) --default-goal 3 \
			--key-file "$KEY" --metrics-listen "127.0.0.1:$((METRICS_PORT + i))" \
			"${peers[@]+"${peers[@]}"}"
		wait_port "${META_CLIENT[$i]}" "$name" godfs-meta
		say "started $name (pid $(<"$RUN/$name.pid"))"
	done
	for i in 1 2 3; do
		local addr=127.0.0.1:${CHUNKD_PORTS[$((i - 1))]}
		if alive "chunkd$i" godfs-chunkd; then
			say "chunkd$i already running (pid $(<"$RUN/chunkd$i.pid"))"
			continue
		fi
		port_open "$addr" && die "$addr is taken by a process this script did not start"
		start "chunkd$i" "$chunkd" --data-dir "$STATE/chunkd$i" --listen "$addr" \
			--meta "$META_ADDR" --key-file "$KEY" \
			--metrics-listen "127.0.0.1:$((METRICS_PORT + 9 + i))"
		wait_port "$addr" "chunkd$i" godfs-chunkd
		say "started chunkd$i (pid $(<"$RUN/chunkd$i.pid"))"
	done
	wait_nodes "$admin" 3
	if mounted; then
		say "$MNT already mounted (pid $(<"$RUN/mount.pid"))"
	else
		if alive mount mount.godfs; then
			# A client without its mount (unmounted by hand): stop it first.
			pid=$(<"$RUN/mount.pid")
			kill "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		clean_stale_mount
		[ -d "$MNT" ] || mkdir -p "$MNT"
		mountpoint -q "$MNT" && die "$MNT is already a mount point of something else: unmount it first"
		start mount "$mountp" "$META_ADDR" "$MNT" -f \
			-o "key_file=$KEY,metrics_listen=127.0.0.1:$((METRICS_PORT + 20))"
		for ((i = 0; i < 200; i++)); do
			mounted && mount_answers && break
			alive mount mount.godfs || die "mount.godfs exited: see $LOG/mount.log"
			sleep 0.1
		done
		if ! mounted || ! mount_answers; then
			die "$MNT not mounted after 20 s: see $LOG/mount.log"
		fi
		say "mounted $MNT (mount.godfs pid $(<"$RUN/mount.pid"))"
	fi
	start_gateway "$gateway" "$admin"
	summary
}

# The REST gateway on 127.0.0.1:$GATEWAY_PORT, and an API key for the whole
# tree in $GATEWAY_KEY (mode 0600), made once with godfs-admin apikey create.
start_gateway() {
	local gateway=$1 admin=$2
	if [ ! -s "$GATEWAY_KEY" ]; then
		[ -n "$admin" ] || die "godfs-admin is needed to create the gateway's API key"
		local out
		out=$(umask 077 && "$admin" --meta "$META_ADDR" --key-file "$KEY" apikey create \
			--subtree / --name local-gateway -o "$GATEWAY_KEY.tmp" 2>&1) ||
			die "cannot create the gateway's API key: $out"
		mv "$GATEWAY_KEY.tmp" "$GATEWAY_KEY"
		say "created the API key $GATEWAY_KEY (the whole tree; godfs-admin apikey list)"
	fi
	chmod 600 "$GATEWAY_KEY"
	if alive gateway godfs-gateway; then
		say "gateway already running (pid $(<"$RUN/gateway.pid"))"
		return 0
	fi
	port_open "127.0.0.1:$GATEWAY_PORT" &&
		die "127.0.0.1:$GATEWAY_PORT is taken by a process this script did not start"
	start gateway "$gateway" --meta "$META_ADDR" --listen "127.0.0.1:$GATEWAY_PORT" \
		--key-file "$KEY" --metrics-listen "127.0.0.1:$((METRICS_PORT + 30))" \
		--access-log "$LOG/gateway-access.log"
	wait_port "127.0.0.1:$GATEWAY_PORT" gateway godfs-gateway
	say "started gateway (pid $(<"$RUN/gateway.pid"))"
}

# Stops the programs NAME:PROGRAM... at once: SIGTERM, SIGKILL after 15 s.
stop_all() {
	local arg name prog pid i left
	local -a pids=() names=()
	for arg in "$@"; do
		name=${arg%%:*} prog=${arg#*:}
		if alive "$name" "$prog"; then
			pid=$(<"$RUN/$name.pid")
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid") names+=("$name")
		fi
		rm -f "$RUN/$name.pid"
	done
	for ((i = 0; i < 150; i++)); do
		left=0
		for pid in "${pids[@]+"${pids[@]}"}"; do running "$pid" && left=1; done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for ((i = 0; i < ${#pids[@]}; i++)); do
		if running "${pids[$i]}"; then
			say "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM for 15 s: SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null || true
		fi
		say "stopped ${names[$i]} (pid ${pids[$i]})"
	done
}

cmd_down() {
	need_root
	if fuse_listed; then
		if umount "$MNT" 2>/dev/null; then
			say "unmounted $MNT"
		else
			umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
			say "$MNT was busy: unmounted lazily"
		fi
	fi
	# The client first, then the chunk servers, the voters last (together:
	# one by one, the last ones would wait for an election to stop).
	stop_all gateway:godfs-gateway mount:mount.godfs
	stop_all chunkd1:godfs-chunkd chunkd2:godfs-chunkd chunkd3:godfs-chunkd
	local name metas=()
	for name in "${META_NAMES[@]}"; do metas+=("$name:godfs-meta"); done
	stop_all "${metas[@]}"
	say "down (data kept in $STATE)"
}

usage() { echo "usage: $0 up [--voters 1|3|5] | down | status | purge" >&2; exit 2; }

cmd=${1:-}
[ $# -gt 0 ] && shift
want=
while [ $# -gt 0 ]; do
	case "$cmd:$1" in
	up:--voters) [ $# -ge 2 ] || usage; want=$2; shift 2 ;;
	up:--voters=*) want=${1#--voters=}; shift ;;
	*) usage ;;
	esac
done
[ -z "$want" ] || [[ $want =~ ^[135]$ ]] || die "--voters must be 1, 3 or 5"
have=$(stored_voters)
if [ -n "$want" ] && [ -e "$STATE/voters" ] && [ "$want" != "$have" ]; then
	die "$STATE was made with $have voter(s): '$0 purge' first to start over with $want"
fi
set_voters "${want:-$have}"

case "$cmd" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
purge)
	case "$STATE" in /?*/?*) ;; *) die "refusing to delete GODFS_LOCAL_STATE=$STATE (not a path two levels deep)" ;; esac
	cmd_down
	if grep -qs " $STATE/" /proc/self/mounts; then
		die "something is still mounted under $STATE: not deleting it"
	fi
	if [ -f "$KEY" ] && etc_key_ours; then
		rm -f "$ETC_KEY"
		say "removed $ETC_KEY (the copy of this cluster's key)"
	fi
	rm -rf "$STATE"
	say "removed $STATE (all the data of the local cluster)"
	;;
*) usage ;;
esac
