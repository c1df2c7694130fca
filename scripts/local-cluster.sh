#!/bin/bash
# A local godfs cluster on this host: 1 godfs-meta, 3 godfs-chunkd and a FUSE
# mount, each daemon with its own data directory under one state directory.
#
#   ./scripts/local-cluster.sh up       start what is not running, mount /mnt/godfs
#   ./scripts/local-cluster.sh down     unmount (lazily if busy), SIGTERM, SIGKILL after 15 s
#   ./scripts/local-cluster.sh status   what runs, with PIDs
#   ./scripts/local-cluster.sh purge    down, then delete the state directory (all data)
#
# Environment: GODFS_LOCAL_STATE (default /var/lib/godfs-local),
# GODFS_LOCAL_MNT (default /mnt/godfs), GODFS_LOCAL_BIN (directory holding the
# programs; default: the installed ones, else build/release of this checkout).
# Ports: meta 127.0.0.1:9090 (Raft 9091), chunkds 127.0.0.1:8000, 8001, 8002.
set -euo pipefail

STATE=${GODFS_LOCAL_STATE:-/var/lib/godfs-local}
MNT=${GODFS_LOCAL_MNT:-/mnt/godfs}
LOG=$STATE/log
RUN=$STATE/run
META_ADDR=127.0.0.1:9090
RAFT_ADDR=127.0.0.1:9091
CHUNKD_PORTS=(8000 8001 8002)
top=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "local-cluster: $*" >&2; exit 1; }
say() { echo "local-cluster: $*"; }

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

# Whether the PID in run/NAME.pid is alive and still runs PROGRAM.
alive() {
	local name=$1 prog=$2 pid
	pid=$(cat "$RUN/$name.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$prog" || return 1
}

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

wait_port() {
	local addr=$1 name=$2 prog=$3 i
	for ((i = 0; i < 100; i++)); do
		port_open "$addr" && return 0
		alive "$name" "$prog" || die "$name exited: see $LOG/$name.log"
		sleep 0.1
	done
	die "$name does not listen on $addr after 10 s: see $LOG/$name.log"
}

# A mount point whose FUSE daemon is gone answers ENOTCONN: unmount it.
clean_stale_mount() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		return 0
	fi
	if grep -qs " $MNT fuse" /proc/self/mounts; then
		say "cleaning a stale mount on $MNT"
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
}

mounted() { grep -qs " $MNT fuse.godfs " /proc/self/mounts && stat -t "$MNT" >/dev/null 2>&1; }

start() {
	local name=$1; shift
	setsid "$@" </dev/null >>"$LOG/$name.log" 2>&1 &
	echo $! >"$RUN/$name.pid"
}

all_up() {
	alive meta godfs-meta || return 1
	local i
	for i in 1 2 3; do alive "chunkd$i" godfs-chunkd || return 1; done
	alive mount mount.godfs && mounted
}

cmd_status() {
	local name prog
	for name in meta chunkd1 chunkd2 chunkd3 mount; do
		case $name in meta) prog=godfs-meta ;; mount) prog=mount.godfs ;; *) prog=godfs-chunkd ;; esac
		if alive "$name" "$prog"; then
			printf '  %-8s running, pid %s, log %s\n' "$name" "$(cat "$RUN/$name.pid")" "$LOG/$name.log"
		else
			printf '  %-8s not running\n' "$name"
		fi
	done
	if mounted; then echo "  $MNT is mounted"; else echo "  $MNT is not mounted"; fi
}

summary() {
	cat <<TXT
local-cluster: godfs is up
  godfs-meta    $META_ADDR (Raft $RAFT_ADDR)  data $STATE/meta
  godfs-chunkd  127.0.0.1:${CHUNKD_PORTS[0]}  data $STATE/chunkd1
  godfs-chunkd  127.0.0.1:${CHUNKD_PORTS[1]}  data $STATE/chunkd2
  godfs-chunkd  127.0.0.1:${CHUNKD_PORTS[2]}  data $STATE/chunkd3
  mount.godfs   $META_ADDR -> $MNT (replication goal 3)
  logs          $LOG/   PIDs $RUN/
$(cmd_status)
Try:  echo hello > $MNT/hello && cat $MNT/hello;  godfs-admin status;  godfs-admin nodes
Stop: ./scripts/local-cluster.sh down      (data stays in $STATE; 'purge' deletes it)
TXT
}

cmd_up() {
	[ "$(id -u)" -eq 0 ] || die "run as root (FUSE mount, $STATE)"
	if all_up; then
		say "already running; nothing started"
		summary
		return 0
	fi
	local meta chunkd mountp admin i
	meta=$(find_prog godfs-meta meta)
	chunkd=$(find_prog godfs-chunkd chunkd)
	mountp=$(find_prog mount.godfs fs)
	admin=$(find_prog godfs-admin utils 2>/dev/null) || admin=
	mkdir -p "$STATE/meta" "$STATE/chunkd1" "$STATE/chunkd2" "$STATE/chunkd3" "$LOG" "$RUN" "$MNT"
	clean_stale_mount

	if alive meta godfs-meta; then
		say "godfs-meta already running (pid $(cat "$RUN/meta.pid"))"
	else
		port_open "$META_ADDR" && die "$META_ADDR is taken by a process this script did not start"
		start meta "$meta" --data-dir "$STATE/meta" --listen "$META_ADDR" \
			--raft-listen "$RAFT_ADDR" --node-id 1 --default-goal 3
		wait_port "$META_ADDR" meta godfs-meta
	fi
	for i in 1 2 3; do
		local addr=127.0.0.1:${CHUNKD_PORTS[$((i - 1))]}
		if alive "chunkd$i" godfs-chunkd; then
			say "chunkd$i already running (pid $(cat "$RUN/chunkd$i.pid"))"
			continue
		fi
		port_open "$addr" && die "$addr is taken by a process this script did not start"
		start "chunkd$i" "$chunkd" --data-dir "$STATE/chunkd$i" --listen "$addr" \
			--meta "$META_ADDR"
		wait_port "$addr" "chunkd$i" godfs-chunkd
	done
	# Goal 3 needs all three chunk servers registered before the first write.
	if [ -n "$admin" ]; then
		for ((i = 0; i < 100; i++)); do
			[ "$("$admin" --meta "$META_ADDR" nodes 2>/dev/null | grep -c ' alive')" -ge 3 ] && break
			sleep 0.1
		done
		[ "$i" -lt 100 ] || say "warning: the meta does not list 3 live chunk servers after 10 s"
	fi
	if alive mount mount.godfs && mounted; then
		say "$MNT already mounted (pid $(cat "$RUN/mount.pid"))"
	else
		if alive mount mount.godfs; then
			kill "$(cat "$RUN/mount.pid")" 2>/dev/null || true
			sleep 0.5
		fi
		clean_stale_mount
		mountpoint -q "$MNT" && die "$MNT is already a mount point of something else"
		start mount "$mountp" "$META_ADDR" "$MNT" -f
		for ((i = 0; i < 150; i++)); do
			mounted && break
			alive mount mount.godfs || die "mount.godfs exited: see $LOG/mount.log"
			sleep 0.1
		done
		mounted || die "$MNT not mounted after 15 s: see $LOG/mount.log"
	fi
	summary
}

# Sends SIGTERM to the PID of NAME, SIGKILL after 15 s.
stop_one() {
	local name=$1 prog=$2 pid i
	alive "$name" "$prog" || { rm -f "$RUN/$name.pid"; return 0; }
	pid=$(cat "$RUN/$name.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$RUN/$name.pid"
	say "stopped $name (pid $pid)"
}

cmd_down() {
	if grep -qs " $MNT fuse" /proc/self/mounts; then
		if umount "$MNT" 2>/dev/null; then
			say "unmounted $MNT"
		else
			umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
			say "$MNT was busy: unmounted lazily"
		fi
	fi
	stop_one mount mount.godfs
	local i
	for i in 1 2 3; do stop_one "chunkd$i" godfs-chunkd; done
	stop_one meta godfs-meta
	say "down (data kept in $STATE)"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
purge) cmd_down; rm -rf "$STATE"; say "removed $STATE" ;;
*) echo "usage: $0 up|down|status|purge" >&2; exit 2 ;;
esac
