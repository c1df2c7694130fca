#!/bin/bash
# bench/run.sh: the benchmark of godfs beside its peers, in one command.
#
#   ./bench/run.sh [--rounds N] [--out FILE] [--targets "T ..."] [--workloads]
#                  [--scale X] [--no-docs]
#
# Starts a fresh godfs cluster of its own (own directory and ports, see
# bench/lib.sh; never the local cluster of this host), runs the harness
# (fsbench.sh: fio and mdtest_lite) on goal 3 and goal 1, on the local disk,
# and on MooseFS goal 3 when mfsmaster is installed and GlusterFS replica 3
# when glusterd is, in N interleaved rounds (default 2), each cluster run on
# a freshly made cluster. The raw figures go to FILE (default
# bench/results/YYYY-MM-DD-HHMM.tsv, smoke-YYYY-MM-DD-HHMM.tsv with --scale;
# the harness log beside it as FILE.log),
# and the table of medians (table.sh) into docs/benchmarks.md between the
# markers "bench/run.sh: begin" and "end", unless --no-docs.
#
#   --targets    the systems, from run-all.sh's list (default: local godfs-g3
#                godfs-g1, plus mfs-g3 and gluster-r3 when installed)
#   --workloads  also the real workloads (workloads.sh: cp -a /usr/include,
#                SQLite, configure/make/check of a C project) on local and
#                godfs-g3, before the harness of each round
#   --scale X    FSBENCH_SCALE: shrink sizes and durations (a smoke run; the
#                table then says so and its figures compare with nothing)
#
# The programs: GODFS_BENCH_BIN (a build tree, or a directory holding
# godfs-meta, godfs-chunkd, mount.godfs, godfs-admin, godfs-gateway); by default this
# checkout's release build, made (not installed) by ./scripts/build.sh
# --no-install first. Needs root (FUSE mounts, drop_caches), fio and jq.
# Takes about 2 minutes per system and round at full size (2 rounds of 4
# systems: about 20 minutes; --workloads adds about 1.5 minutes per round).
# Run it on a quiet machine.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

usage() { sed -n '4,5p' "$0" | sed 's/^# *//' >&2; exit 2; }
ROUNDS=2 OUT="" TARGETS="" WORKLOADS=0 SCALE=1 DOCS=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) [ $# -ge 2 ] || usage; ROUNDS=$2; shift 2 ;;
	--out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
	--targets) [ $# -ge 2 ] || usage; TARGETS=$2; shift 2 ;;
	--workloads) WORKLOADS=1; shift ;;
	--scale) [ $# -ge 2 ] || usage; SCALE=$2; shift 2 ;;
	--no-docs) DOCS=0; shift ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds wants a positive number" >&2; exit 2; }
[[ $SCALE =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "run.sh: --scale wants a number" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (FUSE mounts, drop_caches)" >&2; exit 2; }
for b in fio jq python3; do
	command -v "$b" >/dev/null || { echo "run.sh: missing $b (apt-get install fio jq python3)" >&2; exit 2; }
done
if [ -z "$TARGETS" ]; then
	TARGETS="local godfs-g3 godfs-g1"
	command -v mfsmaster >/dev/null && TARGETS+=" mfs-g3"
	command -v glusterd >/dev/null && TARGETS+=" gluster-r3"
fi
STAMP=$(date -u +%Y-%m-%d-%H%M)
if [ -z "$OUT" ]; then
	OUT=$BENCH_TOP/bench/results/$STAMP.tsv
	[ "$SCALE" = 1 ] || OUT=$BENCH_TOP/bench/results/smoke-$STAMP.tsv
fi
mkdir -p "$(dirname "$OUT")" "$BENCH_DIR"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
[ -e "$OUT" ] && { echo "run.sh: $OUT exists; name another with --out" >&2; exit 2; }

if [ -z "${GODFS_BENCH_BIN:-}" ]; then
	echo "run.sh: building the release build of this checkout (build/release, not installed)" >&2
	"$BENCH_TOP/scripts/build.sh" --no-install >&2 || exit 1
fi
bench_link_bin || exit 2
BIN_SRC=$(readlink -f "$BENCH_DIR/bin/godfs-meta")

# Whatever happens, the clusters this run started are stopped at the end.
stop_all() {
	"$HERE/godfs-down.sh" >>"$OUT.log" 2>&1
	bench_any_alive "$MFS_BASE/pids" && "$HERE/moosefs-down.sh" >>"$OUT.log" 2>&1
	bench_any_alive "$GL_BASE/pids" && "$HERE/gluster-down.sh" >>"$OUT.log" 2>&1
	return 0
}
trap stop_all EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +'%Y-%m-%d %H:%M')
echo "run.sh: $ROUNDS round(s) of: $TARGETS; workloads $([ "$WORKLOADS" = 1 ] && echo yes || echo no); scale $SCALE" >&2
echo "run.sh: programs $BIN_SRC; state $BENCH_DIR; figures $OUT (log $OUT.log); load $LOAD0" >&2
awk -v l="${LOAD0%% *}" 'BEGIN { exit !(l > 1) }' &&
	echo "run.sh: WARNING: load average $LOAD0: the figures will show it (run on a quiet machine)" >&2

# shellcheck disable=SC2086 # TARGETS is a list
RUNALL_WORKLOADS=$WORKLOADS FSBENCH_SCALE=$SCALE "$HERE/run-all.sh" "$OUT" "$ROUNDS" "$TARGETS"
rc=$?
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
stop_all

TABLE=$("$HERE/table.sh" "$OUT") || exit 1
echo "$TABLE"
[ "$DOCS" = 1 ] || exit "$rc"

# The section of docs/benchmarks.md between the markers, with what was run.
DOC=$BENCH_TOP/docs/benchmarks.md
rel() { case $1 in "$BENCH_TOP"/*) echo "${1#"$BENCH_TOP"/}" ;; *) echo "$1" ;; esac; }
commit=$(git -C "$BENCH_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$BENCH_TOP" diff --quiet HEAD 2>/dev/null || commit+=" plus uncommitted changes"
mfsver=$(dpkg-query -W -f '${Version}' moosefs-master 2>/dev/null || true)
glver=$(dpkg-query -W -f '${Version}' glusterfs-server 2>/dev/null || true)
SECTION=$(mktemp)
{
	echo "<!-- bench/run.sh: begin (written by bench/run.sh; edit outside the markers) -->"
	if [ "$SCALE" != 1 ]; then
		echo "**Smoke run (\`--scale $SCALE\`): sizes and durations shrunk, figures comparable with nothing.**"
		echo
	fi
	echo "\`bench/run.sh --rounds $ROUNDS$([ "$WORKLOADS" = 1 ] && echo " --workloads")$([ "$SCALE" != 1 ] && echo " --scale $SCALE")\`, $START UTC,"
	echo "godfs $commit (programs: \`$(rel "$BIN_SRC" | sed 's|/meta/godfs-meta$||; s|/godfs-meta$||')\`),"
	echo "$(nproc) CPUs, kernel $(uname -r), fio $(fio --version | sed 's/^fio-//')$([ -n "$mfsver" ] && echo ", MooseFS $mfsver")$([ -n "$glver" ] && echo ", GlusterFS $glver");"
	echo "load average $LOAD0 at the start, $LOAD1 at the end. Raw figures: \`$(rel "$OUT")\`."
	[ "$rc" = 0 ] || echo "Some runs failed (exit status $rc; see the log): their figures are missing."
	echo
	echo "$TABLE"
	echo "<!-- bench/run.sh: end -->"
} >"$SECTION"
if grep -q '^<!-- bench/run.sh: begin' "$DOC" && grep -q '^<!-- bench/run.sh: end -->' "$DOC"; then
	awk -v f="$SECTION" '
		/^<!-- bench\/run.sh: begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
		/^<!-- bench\/run.sh: end -->/ { skip = 0; next }
		!skip' "$DOC" >"$DOC.new" && mv "$DOC.new" "$DOC"
	echo "run.sh: table written to $(rel "$DOC")" >&2
else
	echo "run.sh: no bench/run.sh markers in $(rel "$DOC"): table not written there" >&2
fi
rm -f "$SECTION"
exit "$rc"
