# tests/e2e/lib.sh: the shell library of the end-to-end tests, sourced by each
# tests/e2e/e2e_*.sh after it sets E2E_TIMEOUT (seconds, default 300) and,
# when it needs them, META_ARGS / CHUNKD_ARGS (extra daemon options).
#
# It starts the real programs of the build tree on 127.0.0.1 with free random
# ports and data directories in a temporary directory, mounts the file system
# with a real FUSE mount, and cleans up whatever happens: an EXIT trap
# unmounts every mount the test made and kills every process it started, and
# the whole test runs under timeout(1), which signals the test's process group
# (the test, its tools and the daemons) when the time is up. A daemon report
# from AddressSanitizer, LeakSanitizer or UBSan in any log fails the test.
#
# Every test cluster has its own cluster key (docs/security.md), created in
# the temporary directory ($E2E_KEY) and exported as GODFS_KEY_FILE, so that
# every daemon, mount and godfs-admin the test starts, directly or in a
# network namespace, proves itself with it (a test that wants a program
# without it runs it under `env -u GODFS_KEY_FILE`).
#
# Exit codes (automake): 0 pass, 1 fail, 77 skip (only when /dev/fuse is
# missing). E2E_KEEP=1 keeps the temporary directory (logs, data) afterwards.

set -euo pipefail

E2E_NAME=$(basename "$0" .sh)
: "${E2E_TIMEOUT:=300}"
if [ -z "${E2E_UNDER_TIMEOUT:-}" ]; then
	export E2E_UNDER_TIMEOUT=1
	exec timeout -k 20 "$E2E_TIMEOUT" bash "$0" "$@"
fi

# Where the programs are: make check exports GODFS_BUILDDIR; by hand, the
# sanitizer build, else the release build of this checkout.
E2E_SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${GODFS_BUILDDIR:-}" ]; then
	if [ -x "$E2E_SRCDIR/build/sanitizers/meta/godfs-meta" ]; then
		GODFS_BUILDDIR=$E2E_SRCDIR/build/sanitizers
	else
		GODFS_BUILDDIR=$E2E_SRCDIR/build/release
	fi
fi
GODFS_META=$GODFS_BUILDDIR/meta/godfs-meta
GODFS_CHUNKD=$GODFS_BUILDDIR/chunkd/godfs-chunkd
GODFS_MOUNT=$GODFS_BUILDDIR/fs/mount.godfs
GODFS_ADMIN=$GODFS_BUILDDIR/utils/godfs-admin
GODFS_GATEWAY=$GODFS_BUILDDIR/gateway/godfs-gateway

# Chunk file layout of new copies (chunkd/chunkd_store.h, format 3): 4 KiB
# header, 128 KiB checksum table (one entry per 4 KiB block), then the data.
E2E_CHUNK_DATA_OFF=135168

export TZ=UTC LC_ALL=C
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:log_exitcode=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Daemons read /etc/godfs/*.conf and GODFS_* variables: keep the tests from
# picking up a local configuration.
for v in $(env | sed -n 's/^\(GODFS_[A-Z_]*\)=.*/\1/p'); do
	[ "$v" = GODFS_BUILDDIR ] || unset "$v"
done

e2e_log() { printf '[%s %s] %s\n' "$(date +%T.%3N)" "$E2E_NAME" "$*"; }
e2e_fail() {
	printf '[%s %s] FAIL: %s\n' "$(date +%T.%3N)" "$E2E_NAME" "$*"
	exit 1
}
e2e_skip() {
	printf '[%s %s] SKIP: %s\n' "$(date +%T.%3N)" "$E2E_NAME" "$*"
	exit 77
}

[ -c /dev/fuse ] || e2e_skip "/dev/fuse is missing: no FUSE in this environment"
for p in "$GODFS_META" "$GODFS_CHUNKD" "$GODFS_MOUNT" "$GODFS_ADMIN"; do
	[ -x "$p" ] || e2e_fail "$p is not built"
done

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/godfs-e2e.$E2E_NAME.XXXXXX")
mkdir -p "$E2E_TMP/log"
E2E_KEY=$E2E_TMP/cluster.key
"$GODFS_ADMIN" key generate "$E2E_KEY" >/dev/null || e2e_fail "cannot create the cluster key $E2E_KEY"
export GODFS_KEY_FILE=$E2E_KEY
declare -A E2E_PIDS=()      # pid -> name, every daemon this test started
E2E_MOUNTS=()               # every mount point this test mounted (FUSE or tmpfs)
E2E_ON_EXIT=()              # extra cleanup commands, run first
E2E_AFTER_EXIT=()           # extra cleanup commands, run once every process is gone

# ---------------------------------------------------------------- ports

# Prints N distinct TCP ports that no socket on this host uses, below the
# kernel's ephemeral range (ip_local_port_range): a test that kills a daemon
# and starts it again needs its port back, and while it is down any outgoing
# connection (a mount reconnecting, another test) may take a free ephemeral
# port, that one included (e2e_read_eio once failed so: "Address already in
# use" on a chunkd's restart).
e2e_free_ports() {
	local n=$1 used p out=() lo=32768 span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	span=$((lo - 10000))
	[ "$span" -ge 4096 ] || span=0       # an odd range: the old choice below
	used=" $(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk 'NR > 1 { split($2, a, ":"); print a[2] }' |
		while read -r h; do [ -n "$h" ] && echo $((16#$h)); done | tr '\n' ' ') "
	while [ "${#out[@]}" -lt "$n" ]; do
		if [ "$span" -gt 0 ]; then
			p=$((10000 + (RANDOM * 32768 + RANDOM) % span))
		else
			p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		fi
		case "$used" in *" $p "*) continue ;; esac
		used="$used$p "
		out+=("$p")
	done
	echo "${out[@]}"
}

read -r META_PORT RAFT_PORT CP1 CP2 CP3 <<<"$(e2e_free_ports 5)"
CHUNKD_PORT=([1]=$CP1 [2]=$CP2 [3]=$CP3)
META_ADDR=127.0.0.1:$META_PORT
META_ARGS=("${META_ARGS[@]+"${META_ARGS[@]}"}")
CHUNKD_ARGS=("${CHUNKD_ARGS[@]+"${CHUNKD_ARGS[@]}"}")
declare -A CHUNKD_DIR=([1]=$E2E_TMP/chunkd1 [2]=$E2E_TMP/chunkd2 [3]=$E2E_TMP/chunkd3)
declare -A CHUNKD_PID=()
META_PID=
MOUNT_PID=
MNT=$E2E_TMP/mnt

# Whether PID runs (a child killed but not yet waited for is a zombie: not running).
e2e_alive() {
	local s
	[ -n "${1:-}" ] || return 1
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

e2e_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits (10 s) until PORT accepts connections; fails when PID exits first.
e2e_wait_port() {
	local port=$1 name=$2 pid=$3 i
	for ((i = 0; i < 200; i++)); do
		e2e_port_open "$port" && return 0
		e2e_alive "$pid" || e2e_fail "$name exited before listening on $port (log: $E2E_TMP/log/$name.log)"
		sleep 0.05
	done
	e2e_fail "$name does not listen on port $port after 10 s"
}

# ---------------------------------------------------------------- daemons

e2e_start_meta() {
	mkdir -p "$E2E_TMP/meta"
	"$GODFS_META" --data-dir "$E2E_TMP/meta" --listen "$META_ADDR" \
		--raft-listen "127.0.0.1:$RAFT_PORT" --node-id 1 --log-level info \
		"${META_ARGS[@]+"${META_ARGS[@]}"}" "$@" </dev/null >>"$E2E_TMP/log/meta.log" 2>&1 &
	META_PID=$!
	E2E_PIDS[$META_PID]=meta
	e2e_wait_port "$META_PORT" meta "$META_PID"
}

# e2e_start_chunkd I [extra options]: chunkd I of 1..3 on CHUNKD_PORT[I].
e2e_start_chunkd() {
	local i=$1; shift
	mkdir -p "${CHUNKD_DIR[$i]}"
	"$GODFS_CHUNKD" --data-dir "${CHUNKD_DIR[$i]}" --listen "127.0.0.1:${CHUNKD_PORT[$i]}" \
		--meta "$META_ADDR" --log-level info \
		"${CHUNKD_ARGS[@]+"${CHUNKD_ARGS[@]}"}" "$@" </dev/null >>"$E2E_TMP/log/chunkd$i.log" 2>&1 &
	CHUNKD_PID[$i]=$!
	E2E_PIDS[${CHUNKD_PID[$i]}]=chunkd$i
	e2e_wait_port "${CHUNKD_PORT[$i]}" "chunkd$i" "${CHUNKD_PID[$i]}"
}

# e2e_more_chunkds N: ports and data dirs for chunkds 4..N (start them with
# e2e_start_chunkd I).
e2e_more_chunkds() {
	local n=$1 i ports
	read -r -a ports <<<"$(e2e_free_ports $((n - 3)))"
	for ((i = 4; i <= n; i++)); do
		CHUNKD_PORT[$i]=${ports[$((i - 4))]}
		CHUNKD_DIR[$i]=$E2E_TMP/chunkd$i
	done
}

# How many chunk servers the meta lists as alive (godfs-admin nodes).
e2e_alive_nodes() {
	"$GODFS_ADMIN" --meta "$META_ADDR" nodes 2>/dev/null | grep -c ' alive' || true
}

# Waits (20 s) until the meta lists N live chunk servers.
e2e_wait_nodes() {
	local n=$1 i
	for ((i = 0; i < 200; i++)); do
		[ "$(e2e_alive_nodes)" -ge "$n" ] && return 0
		sleep 0.1
	done
	"$GODFS_ADMIN" --meta "$META_ADDR" nodes || true
	e2e_fail "the meta does not list $n live chunk servers after 20 s"
}

e2e_is_mounted() { grep -qs " $1 fuse" /proc/self/mounts; }

# e2e_mount [MOUNTPOINT [SPEC-SUFFIX [OPTIONS]]]: mount.godfs -f in the
# background, waits (20 s) until the kernel shows the mount.
e2e_mount() {
	local mnt=${1:-$MNT} suffix=${2:-} opts=${3:-} i
	local name
	name=mount$(( ${#E2E_MOUNTS[@]} ))
	mkdir -p "$mnt"
	"$GODFS_MOUNT" "$META_ADDR$suffix" "$mnt" -f ${opts:+-o "$opts"} \
		</dev/null >>"$E2E_TMP/log/$name.log" 2>&1 &
	local pid=$!
	E2E_PIDS[$pid]=$name
	E2E_MOUNTS+=("$mnt")
	[ "$mnt" = "$MNT" ] && MOUNT_PID=$pid
	for ((i = 0; i < 200; i++)); do
		if e2e_is_mounted "$mnt" && stat -t "$mnt" >/dev/null 2>&1; then
			return 0
		fi
		e2e_alive "$pid" || e2e_fail "mount.godfs exited before mounting $mnt (log: $E2E_TMP/log/$name.log)"
		sleep 0.1
	done
	e2e_fail "$mnt is not mounted after 20 s"
}

# Unmounts and waits (10 s) for the mount.godfs process to exit.
e2e_umount() {
	local mnt=${1:-$MNT} pid i
	umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null ||
		e2e_fail "umount $mnt failed: $(umount "$mnt" 2>&1)"
	if [ "$mnt" = "$MNT" ] && [ -n "$MOUNT_PID" ]; then
		pid=$MOUNT_PID
		for ((i = 0; i < 100; i++)); do
			e2e_alive "$pid" || break
			sleep 0.1
		done
		e2e_alive "$pid" && e2e_fail "mount.godfs (pid $pid) still runs 10 s after umount"
		wait "$pid" 2>/dev/null || true
		unset "E2E_PIDS[$pid]"
		MOUNT_PID=
	fi
}

# Unmount and mount again: nothing of the file comes from the kernel's caches.
e2e_remount() {
	e2e_umount "$MNT"
	e2e_mount "$MNT"
}

# e2e_start_gateway [extra options]: a godfs-gateway on a free port, its
# access log in $E2E_TMP/log/gateway-access.log; sets GW_PORT, GW_URL
# (http://127.0.0.1:PORT) and GW_PID. A test that wants several calls it
# again (each call's values replace the previous ones).
e2e_start_gateway() {
	read -r GW_PORT <<<"$(e2e_free_ports 1)"
	GW_URL=http://127.0.0.1:$GW_PORT
	"$GODFS_GATEWAY" --meta "$META_ADDR" --listen "127.0.0.1:$GW_PORT" --log-level info \
		--access-log "$E2E_TMP/log/gateway-access.log" "$@" </dev/null \
		>>"$E2E_TMP/log/gateway.log" 2>&1 &
	GW_PID=$!
	E2E_PIDS[$GW_PID]=gateway
	e2e_wait_port "$GW_PORT" gateway "$GW_PID"
}

# e2e_cluster_up [N]: the whole cluster: 1 meta, N chunkds (3 by default),
# and the mount at $MNT.
e2e_cluster_up() {
	local n=${1:-3} i
	((n <= 3)) || e2e_more_chunkds "$n"
	e2e_start_meta
	for ((i = 1; i <= n; i++)); do e2e_start_chunkd "$i"; done
	e2e_wait_nodes "$n"
	e2e_mount "$MNT"
}

# `godfs-admin status --json` of the cluster (a test whose meta runs
# elsewhere, in a network namespace, defines its own).
e2e_status_json() { "$GODFS_ADMIN" --meta "$META_ADDR" status --json 2>/dev/null; }

# Chunks under goal, as godfs-admin status says.
e2e_under_goal() { e2e_status_json | sed -n 's/.*"under_goal":\([0-9]*\).*/\1/p'; }

# e2e_wait_goal SINCE MAX WHAT: waits until no chunk is under goal; fails
# with WHAT (and the status) once MAX seconds passed since SINCE (date
# +%s%N). Waits 2.5 s first, so that a scan pass of the meta that began
# after the write is seen. Sets E2E_GOAL_MS: ms from SINCE to the end.
e2e_wait_goal() {
	local since=$1 max=$2 what=$3 n now
	sleep 2.5
	while n=$(e2e_under_goal); [ "$n" != 0 ]; do
		now=$(date +%s%N)
		if (((now - since) / 1000000000 >= max)); then
			e2e_status_json || true
			e2e_fail "$what: ${n:-?} chunks under goal $max s after the write"
		fi
		sleep 0.5
	done
	now=$(date +%s%N)
	E2E_GOAL_MS=$(((now - since) / 1000000))
}

# e2e_stop PID [SIGNAL]: signal (TERM by default) and wait (15 s) for the exit.
e2e_stop() {
	local pid=$1 sig=${2:-TERM} i
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		e2e_alive "$pid" || break
		sleep 0.1
	done
	if e2e_alive "$pid"; then
		e2e_log "${E2E_PIDS[$pid]:-pid $pid} ignored SIG$sig for 15 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
		[ "$sig" = KILL ] || e2e_fail "${E2E_PIDS[$pid]:-pid $pid} did not stop on SIG$sig"
	fi
	wait "$pid" 2>/dev/null || true
	unset "E2E_PIDS[$pid]"
}


# ---------------------------------------------------------------- chunk files

# The chunk files (not the quarantined ones) in chunkd I's data dir.
e2e_chunk_files() {
	find "${CHUNKD_DIR[$1]}" -path '*/lost+found' -prune -o -type f -name '*.chk' -print | sort
}

# The chunk ids (16 hex) stored by chunkd I, one a line.
e2e_chunk_ids() {
	e2e_chunk_files "$1" | sed 's|.*/||; s|_.*||' | sort -u
}

# The chunk file of chunk ID on chunkd I (empty when it has none).
e2e_chunk_file() {
	e2e_chunk_files "$1" | grep "/$2_" | head -n 1 || true
}

# Flips COUNT bytes (xor 0xff) at OFFSET of the data area of FILE, in place.
e2e_flip_bytes() {
	local file=$1 off=$2 count=${3:-16} pos
	pos=$((E2E_CHUNK_DATA_OFF + off))
	dd if="$file" bs=1 skip="$pos" count="$count" status=none |
		od -An -v -tx1 | tr -s ' \n' '\n\n' | sed '/^$/d' |
		while read -r b; do printf "\\x$(printf %02x $((0x$b ^ 0xff)))"; done >"$E2E_TMP/flip.bin"
	dd if="$E2E_TMP/flip.bin" of="$file" bs=1 seek="$pos" conv=notrunc status=none
	sync "$file"
}

# Drops clean pages so that reads go to the daemons and the disk.
e2e_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# ---------------------------------------------------------------- cleanup

# Prints the daemon logs that hold a sanitizer report.
e2e_sanitizer_reports() {
	grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$E2E_TMP"/log/*.log 2>/dev/null || true
}

e2e_cleanup() {
	local rc=$? c pid mnt i bad
	trap - EXIT
	set +e
	cd /
	for c in "${E2E_ON_EXIT[@]+"${E2E_ON_EXIT[@]}"}"; do eval "$c"; done
	# FUSE mounts first, then the processes, then what they kept busy (tmpfs).
	for ((i = ${#E2E_MOUNTS[@]} - 1; i >= 0; i--)); do
		mnt=${E2E_MOUNTS[$i]}
		if grep -qs " $mnt fuse" /proc/self/mounts; then
			umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null ||
				fusermount3 -uz "$mnt" 2>/dev/null
		fi
	done
	for pid in "${!E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for ((i = 0; i < 100; i++)); do
		local left=0
		for pid in "${!E2E_PIDS[@]}"; do e2e_alive "$pid" && left=1; done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for pid in "${!E2E_PIDS[@]}"; do
		if e2e_alive "$pid"; then
			echo "cleanup: ${E2E_PIDS[$pid]} (pid $pid) ignored SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	wait 2>/dev/null
	for ((i = ${#E2E_MOUNTS[@]} - 1; i >= 0; i--)); do
		mnt=${E2E_MOUNTS[$i]}
		if grep -qs " $mnt " /proc/self/mounts; then
			umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
		fi
	done
	for c in "${E2E_AFTER_EXIT[@]+"${E2E_AFTER_EXIT[@]}"}"; do eval "$c"; done
	bad=$(e2e_sanitizer_reports)
	if [ -n "$bad" ]; then
		echo "FAIL: sanitizer reports in: $bad"
		for c in $bad; do grep -B2 -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$c" | head -n 60; done
		[ "$rc" = 0 ] && rc=1
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for c in "$E2E_TMP"/log/*.log; do
			[ -f "$c" ] || continue
			echo "----- $(basename "$c") (last 30 lines)"
			tail -n 30 "$c"
		done
	fi
	if [ "${E2E_KEEP:-0}" = 1 ]; then
		echo "kept $E2E_TMP"
	else
		# Never follow into a mount that could not be removed.
		if grep -qs " $E2E_TMP/" /proc/self/mounts; then
			echo "cleanup: a mount under $E2E_TMP is still there; not removing it"
		else
			rm -rf "$E2E_TMP"
		fi
	fi
	if [ "$rc" = 0 ]; then e2e_log "PASS"; fi
	exit "$rc"
}
trap e2e_cleanup EXIT
trap 'e2e_log "interrupted (timeout after ${E2E_TIMEOUT}s?)"; exit 124' TERM INT

e2e_log "tmp $E2E_TMP, meta $META_ADDR (raft $RAFT_PORT), chunkds ${CHUNKD_PORT[*]}, build $GODFS_BUILDDIR"
