# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
# bench/lib.sh: where the benchmark keeps its clusters, sourced by every
# script of bench/. Nothing here starts anything.
#
# Everything of a benchmark run lives under one directory of its own
# (GODFS_BENCH_DIR, default /var/tmp/godfs-bench, on disk: never tmpfs),
# so that it never touches the local cluster of this host
# (/var/lib/godfs-local, /mnt/godfs) nor /etc/godfs:
#   godfs/            godfs state (scripts/local-cluster.sh GODFS_LOCAL_STATE)
#   mnt/godfs         its mount; mnt/godfs/g3 goal 3, mnt/godfs/g1 goal 1
#   mfs/, mnt/mfs     MooseFS (moosefs-up.sh), mnt/mfs/g3 and g1
#   gluster/, mnt/gv3, mnt/gv1   GlusterFS (gluster-up.sh)
#   local/            the local-disk baseline (the disk every daemon uses)
#   bin/              links to the godfs programs under test
#   workload/         the prepared real workloads (run.sh --workloads)
#
# Ports, all on 127.0.0.1: godfs from GODFS_BENCH_PORT (default 27090):
# meta +0 (Raft +1), chunkds +10..+12, metrics listeners +20..+50, the REST
# gateway local-cluster.sh also starts (idle here) +60; MooseFS
# from GODFS_BENCH_MFS_PORT (default 9419, its packaged ports): master +0..+2,
# chunkservers +3, +103, +203; GlusterFS's glusterd on 24007.

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${GODFS_BENCH_DIR:-/var/tmp/godfs-bench}
case "$BENCH_DIR" in
/?*/?*) ;;
*) echo "bench: GODFS_BENCH_DIR=$BENCH_DIR must be a path two levels deep" >&2; exit 2 ;;
esac

GODFS_STATE=$BENCH_DIR/godfs
GODFS_MNT=$BENCH_DIR/mnt/godfs
GODFS_PORT=${GODFS_BENCH_PORT:-27090}
GODFS_META=127.0.0.1:$GODFS_PORT
GODFS_KEY=$GODFS_STATE/cluster.key
GODFS_RUN=$GODFS_STATE/run

MFS_BASE=$BENCH_DIR/mfs
MFS_MNT=$BENCH_DIR/mnt/mfs
MFS_PORT=${GODFS_BENCH_MFS_PORT:-9419}

GL_BASE=$BENCH_DIR/gluster
GL_MNT=$BENCH_DIR/mnt

LOCAL_DIR=$BENCH_DIR/local

# The environment of scripts/local-cluster.sh for the bench's godfs cluster.
# Its key doubles as the "/etc" copy, so that /etc/godfs is never written.
bench_godfs_env() {
	export GODFS_LOCAL_STATE=$GODFS_STATE GODFS_LOCAL_MNT=$GODFS_MNT
	export GODFS_LOCAL_META_PORT=$GODFS_PORT
	export GODFS_LOCAL_CHUNKD_PORT=$((GODFS_PORT + 10))
	export GODFS_LOCAL_METRICS_PORT=$((GODFS_PORT + 20))
	export GODFS_LOCAL_GATEWAY_PORT=$((GODFS_PORT + 60))
	export GODFS_LOCAL_ETC_KEY=$GODFS_KEY
	export GODFS_LOCAL_BIN=$BENCH_DIR/bin
}

# The godfs programs under test: GODFS_BENCH_BIN names a build tree
# (meta/godfs-meta, ..., gateway/godfs-gateway, bench/mdtest_lite) or a
# directory holding the programs; the default is this checkout's release build, build/release.
# Links them into $BENCH_DIR/bin (local-cluster.sh wants one directory) and
# sets BENCH_MDTEST to the build's mdtest_lite (empty: fsbench.sh builds it).
bench_link_bin() {
	local src=${GODFS_BENCH_BIN:-$BENCH_TOP/build/release} p sub
	src=$(cd "$src" 2>/dev/null && pwd) || { echo "bench: no directory ${GODFS_BENCH_BIN:-$BENCH_TOP/build/release}" >&2; return 1; }
	mkdir -p "$BENCH_DIR/bin"
	BENCH_MDTEST=
	for p in godfs-meta:meta godfs-chunkd:chunkd mount.godfs:fs godfs-admin:utils \
		godfs-gateway:gateway mdtest_lite:bench; do
		sub=${p#*:} p=${p%%:*}
		if [ -x "$src/$sub/$p" ]; then
			ln -sfn "$src/$sub/$p" "$BENCH_DIR/bin/$p"
		elif [ -x "$src/$p" ]; then
			ln -sfn "$src/$p" "$BENCH_DIR/bin/$p"
		elif [ "$p" = mdtest_lite ]; then
			rm -f "$BENCH_DIR/bin/$p"
			continue
		else
			echo "bench: $p is neither in $src/$sub nor in $src (build it first)" >&2
			return 1
		fi
	done
	[ -e "$BENCH_DIR/bin/mdtest_lite" ] && BENCH_MDTEST=$BENCH_DIR/bin/mdtest_lite
	return 0
}

# godfs-admin of the bench cluster, with its address and key.
bench_admin() {
	"$BENCH_DIR/bin/godfs-admin" --meta "$GODFS_META" --key-file "$GODFS_KEY" "$@"
}

# Whether any PID recorded in DIR/*.pid still runs.
bench_any_alive() {
	local f
	for f in "$1"/*.pid; do
		[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
	done
	return 1
}

# stop_pid NAME SECONDS: stops the process recorded in $PIDS/NAME.pid (the
# caller sets PIDS and log()): SIGTERM, SIGKILL after SECONDS; removes the
# file. The peers' down scripts use it (never pkill/killall).
stop_pid() {
    local f=$PIDS/$1.pid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 $(( $2 * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$1 (pid $pid) did not stop in $2 s, sending KILL"
            kill -KILL "$pid"
        fi
        log "stopped $1 (pid $pid)"
    fi
    rm -f "$f"
}
