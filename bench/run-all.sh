#!/bin/bash
# run-all.sh - interleaved rounds of fsbench.sh over several file systems.
# bench/run.sh is the one command that calls it (and writes the table);
# call this one directly to measure a subset by hand.
#
# Usage: run-all.sh OUTFILE [ROUNDS] [TARGETS]
#   TARGETS: space-separated subset of
#     "local godfs-g3 godfs-g1 mfs-g3 mfs-g1 gluster-r3 gluster-r1 tmpfs"
#   (default: "local godfs-g3 godfs-g1"; moosefs-g3 / moosefs-g1 are
#   accepted as aliases of mfs-g3 / mfs-g1)
# Labels are LABEL/runN, with LABEL = local-ext4, godfs-g3, godfs-g1,
# moosefs-g3, moosefs-g1, gluster-r3, gluster-r1, tmpfs. Progress and fio
# details go to OUTFILE.log.
#
# Rounds are interleaved (local, g3, g1, ..., local, g3, ...) so that slow
# drift of the machine shows up as spread rather than as a difference between
# file systems. Every cluster run starts on a freshly made, idle cluster
# (down, then up --fresh): MooseFS reclaims deleted data lazily (the client
# keeps up to 5000 recently used inodes "acquired", the master frees
# SUSTAINED files bucket by bucket, chunks are deleted by the >= 300 s chunk
# loop), so back-to-back runs on one cluster would pile up tens of GiB and
# run with background deletions; godfs and GlusterFS get the same treatment.
# Before every run the clusters not under test are stopped, so that no idle
# daemon runs beside the system measured (RUNALL_QUIESCE=0 skips this). The
# cluster of the last run is left running (run.sh stops it).
#
# Environment: FSBENCH_SCALE (see fsbench.sh), GODFS_BENCH_* (bench/lib.sh),
# RUNALL_WORKLOADS=1: before fsbench.sh, run workloads.sh on local and
# godfs-g3 (the real workloads of docs/benchmarks.md).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
OUT=${1:?usage: run-all.sh OUTFILE [ROUNDS] [TARGETS]}
ROUNDS=${2:-1}
TARGETS=${3:-"local godfs-g3 godfs-g1"}
QUIESCE=${RUNALL_QUIESCE:-1}
WORKLOADS=${RUNALL_WORKLOADS:-0}
LOG=$OUT.log
P=$MFS_BASE/pids
GP=$GL_BASE/pids
GDP=$GODFS_STATE/run

for t in $TARGETS; do
	case $t in
	local | mfs-g3 | mfs-g1 | moosefs-g3 | moosefs-g1 | tmpfs | gluster-r3 | gluster-r1 | godfs-g3 | godfs-g1) ;;
	*) echo "run-all: unknown target $t" >&2; exit 2 ;;
	esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run-all: ROUNDS must be a positive number" >&2; exit 2; }
case "$TARGETS" in *godfs-*) bench_link_bin || exit 2 ;; esac
export FSBENCH_MDTEST=${BENCH_MDTEST:-}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
pidof_run() { cat "$1/$2.pid" 2>/dev/null || echo 0; }

# fresh NAME: the cluster NAME (godfs, moosefs, gluster) stopped and made new.
fresh() {
	local t0
	t0=$(date +%s.%N)
	"$HERE/$1-down.sh" >>"$LOG" 2>&1
	"$HERE/$1-up.sh" --fresh >>"$LOG" 2>&1 || { echo "run-all: $1-up failed (see $LOG)" >&2; return 1; }
	echo "[run-all $(date +%T)] fresh $1 cluster, down+up took $(elapsed "$t0") s" >>"$LOG"
	sleep 2 # let the servers finish their start-up scans and first reports
}

# The daemons fsbench.sh watches (per-phase CPU, RSS and peak RSS at the end);
# the client is named "client" on every system, for the table's peak RSS row.
godfs_watch() {
	echo "client=$(pidof_run "$GDP" mount) meta=$(pidof_run "$GDP" meta) c1=$(pidof_run "$GDP" chunkd1) c2=$(pidof_run "$GDP" chunkd2) c3=$(pidof_run "$GDP" chunkd3)"
}
mfs_watch() {
	echo "client=$(pidof_run "$P" mfsmount) master=$(pidof_run "$P" master) cs1=$(pidof_run "$P" cs1) cs2=$(pidof_run "$P" cs2) cs3=$(pidof_run "$P" cs3)"
}
gl_watch() { # r3 | r1
	case $1 in
	r3) echo "client=$(pidof_run "$GP" mnt-gv3) brick1=$(pidof_run "$GP" gv3-b1) brick2=$(pidof_run "$GP" gv3-b2) brick3=$(pidof_run "$GP" gv3-b3) glustershd=$(pidof_run "$GP" glustershd) glusterd=$(pidof_run "$GP" glusterd)" ;;
	r1) echo "client=$(pidof_run "$GP" mnt-gv1) brick1=$(pidof_run "$GP" gv1-s1) glusterd=$(pidof_run "$GP" glusterd)" ;;
	esac
}

quiesce() { # target: stop the clusters that are not under test
	[ "$QUIESCE" = 1 ] || return 0
	local t0 what=
	t0=$(date +%s.%N)
	case $1 in gluster-*) ;; *) if bench_any_alive "$GP"; then "$HERE/gluster-down.sh" >>"$LOG" 2>&1; what+=" GlusterFS"; fi ;; esac
	case $1 in mfs-* | moosefs-*) ;; *) if bench_any_alive "$P"; then "$HERE/moosefs-down.sh" >>"$LOG" 2>&1; what+=" MooseFS"; fi ;; esac
	case $1 in godfs-*) ;; *) if bench_any_alive "$GDP"; then "$HERE/godfs-down.sh" >>"$LOG" 2>&1; what+=" godfs"; fi ;; esac
	[ -n "$what" ] && echo "[run-all $(date +%T)] before $1: stopped$what in $(elapsed "$t0") s" >>"$LOG"
	return 0
}

# bench TARGET LABEL DIR WATCH: the workloads, then one fsbench.sh run on
# the same cluster, whose peak RSS of the client (VmHWM, read at its end)
# then covers both.
bench() {
	local rc=0
	if [ "$WORKLOADS" = 1 ]; then
		case $1 in local | godfs-g3) "$HERE/workloads.sh" "$3" "$2" "$OUT" 2>>"$LOG" || rc=$? ;; esac
	fi
	FSBENCH_WATCH=$4 "$HERE/fsbench.sh" "$3" "$2" "$OUT" 2>>"$LOG" || rc=$?
	return "$rc"
}

fails=0
for r in $(seq 1 "$ROUNDS"); do
	for t in $TARGETS; do
		quiesce "$t"
		echo "[run-all $(date +%T)] start $t run$r; $(uptime | sed 's/.*load/load/')" >>"$LOG"
		rc=0
		case $t in
		local)
			mkdir -p "$LOCAL_DIR"
			bench local "local-ext4/run$r" "$LOCAL_DIR" "" || rc=$? ;;
		godfs-g3 | godfs-g1)
			if fresh godfs; then
				bench "$t" "$t/run$r" "$GODFS_MNT/${t#godfs-}" "$(godfs_watch)" || rc=$?
			else rc=1; fi ;;
		mfs-g3 | moosefs-g3 | mfs-g1 | moosefs-g1)
			if fresh moosefs; then
				bench "$t" "moosefs-${t##*-}/run$r" "$MFS_MNT/${t##*-}" "$(mfs_watch)" || rc=$?
			else rc=1; fi ;;
		gluster-r3 | gluster-r1)
			if fresh gluster; then
				bench "$t" "$t/run$r" "$GL_MNT/gv${t#gluster-r}" "$(gl_watch "${t#gluster-}")" || rc=$?
			else rc=1; fi ;;
		tmpfs)
			mkdir -p /dev/shm/fsbench-tmpfs
			bench tmpfs "tmpfs/run$r" /dev/shm/fsbench-tmpfs "" || rc=$? ;;
		esac
		echo "[run-all $(date +%T)] done $t run$r rc=$rc" | tee -a "$LOG" >&2
		[ "$rc" = 0 ] || fails=$((fails + 1))
	done
done
[ "$fails" = 0 ] || echo "run-all: $fails run(s) failed (see $LOG)" >&2
[ "$fails" = 0 ]
