#!/bin/bash
# gluster-down.sh - stop the GlusterFS setup started by gluster-up.sh, by recorded PID.
# Unmounts $GODFS_BENCH_DIR/mnt/gv3 and gv1, then stops the FUSE clients, the self-heal
# daemon, the bricks and glusterd by the PIDs in $GODFS_BENCH_DIR/gluster/pids
# (SIGTERM, SIGKILL only after a timeout), and removes the unix sockets that
# glusterd gave them (recorded by gluster-up.sh). Volumes stay defined and
# "Started" in glusterd's state, and brick data is kept: a plain
# gluster-up.sh brings them back, `gluster-up.sh --fresh` wipes them.
# Never uses pkill/killall.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

BASE=$GL_BASE
PIDS=$BASE/pids

log() { echo "[gluster-down $(date +%T)] $*" >&2; }

# stop_gl NAME SECONDS: stop_pid (lib.sh), then the unix socket glusterd
# gave that process (recorded by gluster-up.sh).
stop_gl() {
    stop_pid "$1" "$2"
    if [ -f "$PIDS/$1.sock" ]; then
        s=$(cat "$PIDS/$1.sock")
        case $s in */gluster/*.socket) [ -S "$s" ] && rm -f "$s" ;; esac
        rm -f "$PIDS/$1.sock"
    fi
}

for v in gv3 gv1; do
    if findmnt -n "$GL_MNT/$v" >/dev/null; then
        umount "$GL_MNT/$v" || umount -l "$GL_MNT/$v"
        log "unmounted $GL_MNT/$v"
    fi
    stop_gl "mnt-$v" 10      # the client normally exits by itself on unmount
done
# self-heal daemon and bricks in parallel (each takes about 2 s to exit)
for f in "$PIDS"/glustershd.pid "$PIDS"/gv3-*.pid "$PIDS"/gv1-*.pid; do
    [ -e "$f" ] || continue
    b=${f##*/}; stop_gl "${b%.pid}" 30 &
done
wait
stop_gl glusterd 30
