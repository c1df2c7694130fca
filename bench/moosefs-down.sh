#!/bin/bash
# moosefs-down.sh - stop the cluster started by moosefs-up.sh, by recorded PID.
# Data (metadata + chunks under $GODFS_BENCH_DIR/mfs) is kept; `moosefs-up.sh --fresh`
# wipes it. Never uses pkill/killall.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

BASE=$MFS_BASE
PIDS=$BASE/pids
MNT=$MFS_MNT

log() { echo "[moosefs-down $(date +%T)] $*" >&2; }

if findmnt -n "$MNT" >/dev/null; then
    fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" || umount -l "$MNT"
    log "unmounted $MNT"
fi
stop_pid mfsmount 10
for i in 3 2 1; do stop_pid "cs$i" 30; done
stop_pid master 60      # master writes metadata.mfs on TERM
