#!/bin/bash
# workloads.sh DIR LABEL [OUTFILE]: the three real workloads of issue 10 on
# the file system of DIR, timed one after the other in DIR/workloads.$$
# (removed afterwards). Appends to OUTFILE (default stdout), as fsbench.sh:
#     LABEL<TAB>metric<TAB>seconds<TAB>s
#   wl_cp_include      cp -a of /usr/include (BENCH_CP_SRC), 130 MiB, ~9000 files;
#                      the source is read once before, so it comes from memory
#   wl_sqlite          workload_sqlite.py: 400 small synchronous transactions
#                      (BENCH_SQLITE_TXNS) in the default rollback-journal mode
#   wl_build           tar xzf + ./configure + make -j$(nproc) + make check of
#                      bench/workload-project (14 modules, 15 tests), its
#                      parts as wl_build_configure, wl_build_make, wl_build_check
# The project's tarball is made once (untimed) on the local disk, under
# $GODFS_BENCH_DIR/workload (bench/lib.sh). Each step runs under timeout 900;
# a failed step is logged and gives no figure, and the exit status is then 1.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
[ $# -ge 2 ] || { echo "usage: $0 DIR LABEL [OUTFILE]" >&2; exit 2; }
DIR=$1
LABEL=$2
OUT=${3:-/dev/stdout}
CP_SRC=${BENCH_CP_SRC:-/usr/include}
TXNS=${BENCH_SQLITE_TXNS:-400}
TMO=900
PREP=$BENCH_DIR/workload

log() { echo "[workloads $LABEL $(date +%T)] $*" >&2; }
emit() { printf '%s\t%s\t%s\t%s\n' "$LABEL" "$1" "$2" "$3" >>"$OUT"; log "$1 = $2 $3"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

for b in python3 autoreconf make cc tar; do
	command -v "$b" >/dev/null || { echo "workloads: missing $b" >&2; exit 2; }
done
if ! [ -d "$DIR" ] || ! [ -w "$DIR" ]; then
	echo "workloads: $DIR is not a writable directory" >&2; exit 2
fi

# The project's release tarball (autoreconf, configure, make dist) on the
# local disk, remade when a file of bench/workload-project is newer.
prepare() {
	local tgz=$PREP/wl-1.0.tar.gz src=$HERE/workload-project
	if [ -f "$tgz" ] && [ -z "$(find "$src" -newer "$tgz" -print -quit)" ]; then
		return 0
	fi
	log "making $tgz"
	rm -rf "$PREP/src" && mkdir -p "$PREP" && cp -a "$src" "$PREP/src" &&
		(cd "$PREP/src" && autoreconf -fi && ./configure -q && make -s dist) >&2 &&
		mv "$PREP/src/wl-1.0.tar.gz" "$tgz" && rm -rf "$PREP/src"
}
prepare || { echo "workloads: cannot make the project's tarball" >&2; exit 2; }

W=$DIR/workloads.$$
# shellcheck disable=SC2317 # run by the trap
cleanup() { rm -rf "$W"; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
mkdir "$W" || exit 1
rc=0

# ---- cp -a /usr/include -----------------------------------------------------
tar cf - "$CP_SRC" 2>/dev/null | cat >/dev/null # the source in memory, as in the issue's runs
t=$(now)
if timeout -k 10 "$TMO" cp -a "$CP_SRC" "$W/include"; then
	emit wl_cp_include "$(since "$t")" s
else
	log "ERROR: cp -a $CP_SRC failed"; rc=1
fi
rm -rf "$W/include"

# ---- SQLite -------------------------------------------------------------------
t=$(now)
if timeout -k 10 "$TMO" python3 "$HERE/workload_sqlite.py" "$W/wl.db" "$TXNS"; then
	emit wl_sqlite "$(since "$t")" s
else
	log "ERROR: workload_sqlite.py failed"; rc=1
fi
rm -f "$W/wl.db" "$W/wl.db-journal"

# ---- configure && make && make check ------------------------------------------
step() { # metric command...: one timed step of the build, in $W/wl-1.0
	local m=$1 t0
	shift
	t0=$(now)
	if (cd "$W/wl-1.0" && timeout -k 10 "$TMO" "$@") >>"$W/build.log" 2>&1; then
		emit "$m" "$(since "$t0")" s
		return 0
	fi
	log "ERROR: $m failed: $(tail -5 "$W/build.log" | tr '\n' ' ')"
	return 1
}
t=$(now)
if tar xzf "$PREP/wl-1.0.tar.gz" -C "$W" &&
	step wl_build_configure ./configure -q &&
	step wl_build_make make -j"$(nproc)" &&
	step wl_build_check make check; then
	emit wl_build "$(since "$t")" s
else
	rc=1
fi
exit "$rc"
