#!/bin/bash
# fsbench.sh - small, bounded benchmark of a (FUSE or local) file system
# (godfs's harness, bench/README.md describes every metric).
#
# Usage: fsbench.sh MOUNTPOINT LABEL [OUTFILE]
#
# Runs everything inside MOUNTPOINT/fsbench.$$ (removed afterwards) and appends
# one line per figure to OUTFILE (default: stdout):
#     LABEL<TAB>metric<TAB>value<TAB>unit
# Progress, fio summaries and warnings go to stderr.
#
# Phases (fio 3.x, ioengine=psync, direct=0, fallocate=none, end_fsync=1 on writes):
#   seq_write_1M             1 job, 2 GiB file, bs=1M                        MiB/s
#   seq_read_1M_cold         read that file back, bs=1M, after drop_caches   MiB/s
#   seq_write_1M_4jobs       (prep) 4 jobs x 512 MiB files, bs=1M            MiB/s
#   seq_read_1M_4jobs_cold   4 jobs reading the 4 files, aggregate           MiB/s
#   randread_4k_*            1 job, 1 GiB file, cold, 20 s or one full pass   IOPS, us
#                            over the file (no block read twice), whichever first
#   randwrite_4k_*           1 job, same 1 GiB file, 20 s + final fsync      IOPS, us
#   md_*                     mdtest_lite: 10000 empty files create/stat/readdir/unlink
#   smallfile_*              mdtest_lite: 2000 x 16 KiB files write / read back
# Before every read phase: sync; echo 3 > /proc/sys/vm/drop_caches (needs root;
# reported as drop_caches_allowed 1/0).  fio's bandwidth for write jobs includes
# the end_fsync time.
#
# Optional environment:
#   FSBENCH_MDTEST=PATH   the mdtest_lite program (bench/run.sh passes the one
#       of the build tree); without it the harness compiles bench/mdtest_lite.c
#       with cc -O2 -Wall -Wextra -Werror into its temporary directory.
#   FSBENCH_WATCH="name=pid name=pid ..."  daemons to watch (e.g. the FUSE
#       process, servers): per-phase CPU% (100 = one core) during the seq read
#       / write and random phases, and VmRSS / VmHWM at the end; plus a
#       pidstat/top snapshot (stderr) during the cold sequential read.
#   FSBENCH_SCALE=0.1   shrink sizes/counts/durations (smoke test only; figures
#       are then not comparable).
#   FSBENCH_KEEP=1      do not delete the work directory.
set -uo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 MOUNTPOINT LABEL [OUTFILE]" >&2
    exit 2
fi
MNT=$1
LABEL=$2
OUT=${3:-/dev/stdout}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCALE=${FSBENCH_SCALE:-1}

for b in fio jq timeout; do
    command -v "$b" >/dev/null || { echo "fsbench: missing $b" >&2; exit 2; }
done
if ! [ -d "$MNT" ] || ! [ -w "$MNT" ]; then
    echo "fsbench: $MNT is not a writable directory" >&2; exit 2
fi

# ---- parameters (do not change between runs that are to be compared) -------
sc() { awk -v v="$1" -v s="$SCALE" 'BEGIN { x = int(v * s); if (x < 1) x = 1; print x }'; }
SEQ_MB=$(sc 2048)          # single seq file, MiB
MULTI_MB=$(sc 512)         # each of the 4 seq files, MiB
RAND_MB=$(sc 1024)         # random I/O file, MiB
RAND_S=$(sc 20)            # random I/O duration, s
MD_N=$(sc 10000)           # metadata files
SMALL_N=$(sc 2000)         # small files
SMALL_SZ=16384             # small file size, bytes
CAP_SEQ=90                 # fio runtime cap for sequential phases, s
TMO=180                    # hard timeout for one fio / mdtest_lite call, s

# ---- helpers ---------------------------------------------------------------
log() { echo "[fsbench $LABEL $(date +%T)] $*" >&2; }
emit() { printf '%s\t%s\t%s\t%s\n' "$LABEL" "$1" "$2" "$3" >> "$OUT"; log "$1 = $2 $3"; }


DROP_OK=1
drop_caches() {
    sync
    if ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
        [ "$DROP_OK" = 1 ] && log "WARNING: drop_caches not allowed - read phases are NOT cold"
        DROP_OK=0
    fi
}

# CPU accounting of watched daemons (utime+stime from /proc/PID/stat)
declare -A WPID=()
for w in ${FSBENCH_WATCH:-}; do WPID[${w%%=*}]=${w#*=}; done
TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
declare -A T0=()
cpu_begin() { T0[_wall]=$(date +%s.%N); for n in "${!WPID[@]}"; do T0[$n]=$(cpu_ticks "${WPID[$n]}"); done; }
cpu_end() {   # phase
    local wall n t1
    wall=$(awk -v a="${T0[_wall]}" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    for n in $(printf '%s\n' "${!WPID[@]}" | sort); do
        t1=$(cpu_ticks "${WPID[$n]}")
        emit "cpu_${n}_$1" "$(awk -v d=$((t1 - ${T0[$n]})) -v hz="$TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * d / hz / w }')" "%cpu"
    done
}

W=$MNT/fsbench.$$
JSONDIR=$(mktemp -d /tmp/fsbench.json.XXXXXX)   # fio JSON output, kept off the FS under test
MDTEST=${FSBENCH_MDTEST:-}
if [ -z "$MDTEST" ]; then
    MDTEST=$JSONDIR/mdtest_lite
    cc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$MDTEST" "$HERE/mdtest_lite.c" ||
        { echo "fsbench: cannot build mdtest_lite" >&2; rm -rf "$JSONDIR"; exit 2; }
fi
[ -x "$MDTEST" ] || { echo "fsbench: $MDTEST is not a program" >&2; rm -rf "$JSONDIR"; exit 2; }
SNAP_PID=
cleanup() {
    [ -n "$SNAP_PID" ] && kill "$SNAP_PID" 2>/dev/null
    if [ "${FSBENCH_KEEP:-0}" != 1 ] && [ -d "$W" ]; then
        rm -rf "$W"
    fi
    rm -rf "$JSONDIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
mkdir "$W" || exit 1

# run fio; $1 = tag, rest = fio job options
fio_run() {
    local tag=$1; shift
    local js=$JSONDIR/$tag.json t0 t1 rc
    t0=$(date +%s.%N)
    timeout -k 10 "$TMO" fio --output-format=json --output="$js" \
        --ioengine=psync --direct=0 --fallocate=none --group_reporting "$@" >&2
    rc=$?
    t1=$(date +%s.%N)
    sed -i -n '/^{/,$p' "$js" 2>/dev/null
    log "fio $tag rc=$rc wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s fio_runtime=$(jq -r '[.jobs[0].read.runtime, .jobs[0].write.runtime] | max / 1000' "$js" 2>/dev/null)s"
    if [ $rc -ne 0 ] || ! jq -e '.jobs[0]' "$js" >/dev/null 2>&1; then
        log "ERROR: fio $tag failed (rc=$rc)"
        return 1
    fi
    jq -r '.jobs[0] | "  \(.jobname): read \(.read.io_bytes/1048576|floor) MiB \(.read.bw_bytes/1048576*10|round/10) MiB/s \(.read.iops|round) IOPS; write \(.write.io_bytes/1048576|floor) MiB \(.write.bw_bytes/1048576*10|round/10) MiB/s \(.write.iops|round) IOPS; cpu usr \(.usr_cpu|round)% sys \(.sys_cpu|round)%"' "$js" >&2
    return 0
}
jget() { jq -r "$2" "$JSONDIR/$1.json"; }
mibs() { jget "$1" ".jobs[0].$2.bw_bytes / 1048576 * 10 | round / 10"; }
capped() {   # tag dir expected_MiB(total)
    local got
    got=$(jget "$1" ".jobs[0].$2.io_bytes / 1048576 | floor")
    if [ "$got" -lt "$3" ]; then
        log "WARNING: $1 moved only $got of $3 MiB (runtime cap)"
        emit "${1}_capped" 1 bool
    fi
}

START=$(date +%s)
log "mount=$MNT workdir=$W fstype=$(findmnt -no FSTYPE -T "$MNT") kernel=$(uname -r) $(fio --version)"
[ "$SCALE" != 1 ] && log "WARNING: FSBENCH_SCALE=$SCALE - figures not comparable"

# ---- 1. sequential write, 1 job, 2 GiB --------------------------------------
cpu_begin
fio_run seq_write_1M --name=seq_write_1M --filename="$W/seq.dat" --rw=write --bs=1M \
    --size="${SEQ_MB}M" --end_fsync=1 --runtime=$CAP_SEQ \
  && { emit seq_write_1M "$(mibs seq_write_1M write)" MiB/s; cpu_end seq_write; capped seq_write_1M write "$SEQ_MB"; }

# ---- 2. sequential read of that file, cold -----------------------------------
if [ -f "$W/seq.dat" ]; then
    drop_caches
    if [ ${#WPID[@]} -gt 0 ]; then
        ( sleep 1
          echo "---- top (1 s sample) during seq_read_1M_cold ($LABEL) ----"
          top -b -n 2 -d 1 -p "$(IFS=,; echo "${WPID[*]}")" | awk '/^top -/ { n++ } n == 2'
          if command -v pidstat >/dev/null; then
              echo "---- pidstat during seq_read_1M_cold ($LABEL) ----"
              pidstat -h -u -r -p "$(IFS=,; echo "${WPID[*]}")" 1 2
          fi
        ) >&2 &
        SNAP_PID=$!
    fi
    cpu_begin
    fio_run seq_read_1M_cold --name=seq_read_1M_cold --filename="$W/seq.dat" --rw=read \
        --bs=1M --runtime=$CAP_SEQ \
      && { emit seq_read_1M_cold "$(mibs seq_read_1M_cold read)" MiB/s; cpu_end seq_read; }
    [ -n "$SNAP_PID" ] && wait "$SNAP_PID" 2>/dev/null; SNAP_PID=
    rm -f "$W/seq.dat"
fi

# ---- 3. 4 jobs, 4 x 512 MiB files: write (prep, reported) then cold read -----
mkdir -p "$W/multi"
cpu_begin
# shellcheck disable=SC2016 # $jobnum is fio's, not the shell's
fio_run seq_write_1M_4jobs --name=seq_write_1M_4jobs --directory="$W/multi" \
    --filename_format='multi.$jobnum' --numjobs=4 --rw=write --bs=1M --size="${MULTI_MB}M" \
    --end_fsync=1 --runtime=$CAP_SEQ \
  && { emit seq_write_1M_4jobs "$(mibs seq_write_1M_4jobs write)" MiB/s; cpu_end seq_write_4jobs; capped seq_write_1M_4jobs write $((4 * MULTI_MB)); }
drop_caches
cpu_begin
# shellcheck disable=SC2016 # $jobnum is fio's, not the shell's
fio_run seq_read_1M_4jobs_cold --name=seq_read_1M_4jobs_cold --directory="$W/multi" \
    --filename_format='multi.$jobnum' --numjobs=4 --rw=read --bs=1M --runtime=$CAP_SEQ \
  && { emit seq_read_1M_4jobs_cold "$(mibs seq_read_1M_4jobs_cold read)" MiB/s; cpu_end seq_read_4jobs; }
rm -rf "$W/multi"

# ---- 4. random read 4k, 1 GiB file, 20 s -------------------------------------
fio_run rand_prep --name=rand_prep --filename="$W/rand.dat" --rw=write --bs=1M \
    --size="${RAND_MB}M" --end_fsync=1 --runtime=$CAP_SEQ >/dev/null
drop_caches
cpu_begin
# Not time_based: fio stops after RAND_S seconds or after one full pass over the
# file, whichever comes first. With fio's random map no block is read twice, so
# no read is served from the page cache that this phase itself filled.
if fio_run randread_4k --name=randread_4k --filename="$W/rand.dat" --rw=randread --bs=4k \
    --runtime="$RAND_S"; then
    emit randread_4k_iops "$(jget randread_4k '.jobs[0].read.iops | round')" IOPS
    emit randread_4k_lat_mean "$(jget randread_4k '.jobs[0].read.clat_ns.mean / 1000 | round')" us
    emit randread_4k_lat_p99 "$(jget randread_4k '.jobs[0].read.clat_ns.percentile."99.000000" / 1000 | round')" us
    cpu_end randread
    n=$(jget randread_4k '.jobs[0].read.total_ios')
    [ "$n" -ge $((RAND_MB * 256)) ] && log "NOTE: randread finished a full pass ($n IOs) before ${RAND_S} s"
fi

# ---- 5. random write 4k, same 1 GiB file, 20 s + final fsync ----------------
drop_caches
cpu_begin
if fio_run randwrite_4k --name=randwrite_4k --filename="$W/rand.dat" --rw=randwrite --bs=4k \
    --time_based --runtime="$RAND_S" --end_fsync=1; then
    emit randwrite_4k_iops "$(jget randwrite_4k '.jobs[0].write.iops | round')" IOPS
    emit randwrite_4k_lat_p99 "$(jget randwrite_4k '.jobs[0].write.clat_ns.percentile."99.000000" / 1000 | round')" us
    cpu_end randwrite
fi
rm -f "$W/rand.dat"

# ---- 6. metadata and small files -------------------------------------------
mdrun() {
    local tmp rc
    tmp=$(mktemp)
    timeout -k 10 "$TMO" "$MDTEST" -d "$@" > "$tmp"
    rc=$?
    while IFS=$'\t' read -r m v u; do emit "$m" "$v" "$u"; done < "$tmp"
    rm -f "$tmp"
    [ $rc -eq 0 ] || log "ERROR: mdtest_lite $1 rc=$rc"
}
mdrun md "$W/md" "$MD_N"
mdrun small "$W/small" "$SMALL_N" "$SMALL_SZ"

# ---- 7. memory of watched daemons, summary ---------------------------------
for n in $(printf '%s\n' "${!WPID[@]}" | sort); do
    p=${WPID[$n]}
    if [ -r "/proc/$p/status" ]; then
        emit "rss_${n}" "$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status")" MiB
        emit "rss_peak_${n}" "$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status")" MiB
    else
        log "WARNING: watched pid $p ($n) is gone"
    fi
done
emit drop_caches_allowed "$DROP_OK" bool
emit harness_elapsed "$(( $(date +%s) - START ))" s
