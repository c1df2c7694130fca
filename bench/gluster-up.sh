#!/bin/bash
# gluster-up.sh - bring up a loopback-only GlusterFS 10 test setup for fsbench.sh
#
#   1 glusterd (127.0.0.1:24007), its state, run and log directories under
#     $GODFS_BENCH_DIR/gluster instead of the packaged default locations
#   gv3 : replica 3, bricks HOST:$GODFS_BENCH_DIR/gluster/b1, b2, b3  -> $GODFS_BENCH_DIR/mnt/gv3
#   gv1 : 1 brick, no replication, HOST:$GODFS_BENCH_DIR/gluster/s1    -> $GODFS_BENCH_DIR/mnt/gv1
#   (each brick is its own glusterfsd; gv3 also gets a self-heal daemon)
#   Both volumes are mounted with the FUSE client, default options:
#     mount -t glusterfs -o log-file=... 127.0.0.1:/gvN $GODFS_BENCH_DIR/mnt/gvN
#   (log-file only moves the client log next to the others)
#
# HOST is this machine's own name, which must resolve to 127.0.0.1: the gluster
# CLI refuses the literal bricks "127.0.0.1:" and "localhost:" even with
# `force` (see README). Override with GLUSTER_HOST=name.
# `force` is needed for volume create: three replica bricks on one server,
# and bricks on the root file system.
#
# No systemd: glusterd is started by hand in foreground mode (-N) in the
# background; glusterd itself starts the bricks and the self-heal daemon.
# All PIDs are recorded in $GODFS_BENCH_DIR/gluster/pids/*.pid so that
# gluster-down.sh can stop them by PID.
#
# Usage: gluster-up.sh [--fresh]
#   --fresh  wipe glusterd's state and all brick data first (new, empty volumes)
#
# Needs: apt-get install glusterfs-server glusterfs-client
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

BASE=$GL_BASE
ETC=$BASE/etc
PIDS=$BASE/pids
LOGS=$BASE/logs
RUN=$BASE/run
WORK=$BASE/glusterd
SOCK=$RUN/glusterd.socket
HOST=${GLUSTER_HOST:-$(hostname)}
R3_BRICKS=(b1 b2 b3)
R1_BRICK=s1

log() { echo "[gluster-up $(date +%T)] $*" >&2; }
die() { echo "gluster-up: $*" >&2; exit 1; }
G() { gluster --mode=script --glusterd-sock="$SOCK" --log-file="$LOGS/cli.log" "$@"; }

for b in glusterd glusterfsd glusterfs gluster mount.glusterfs; do
    command -v "$b" >/dev/null || die "missing $b (install glusterfs-server glusterfs-client)"
done
ip=$(getent ahostsv4 "$HOST" | awk 'NR == 1 { print $1 }')
[ "$ip" = 127.0.0.1 ] || die "host name '$HOST' resolves to '${ip:-nothing}', not 127.0.0.1; set GLUSTER_HOST"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "${1:-}" = "--fresh" ]; then
    for f in "$PIDS"/*.pid; do
        if alive "$f"; then die "still running ($f); run gluster-down.sh first"; fi
    done
    if findmnt -n "$GL_MNT/gv3" >/dev/null || findmnt -n "$GL_MNT/gv1" >/dev/null; then
        die "$GL_MNT/gv3 or $GL_MNT/gv1 still mounted; run gluster-down.sh first"
    fi
    log "wiping $WORK, $RUN and the bricks $BASE/{b1,b2,b3,s1}"
    rm -rf "$WORK" "$RUN" "$BASE"/b1 "$BASE"/b2 "$BASE"/b3 "${BASE:?}/${R1_BRICK:?}"
elif [ -n "${1:-}" ]; then
    die "usage: $0 [--fresh]"
fi

mkdir -p "$ETC" "$PIDS" "$LOGS" "$RUN" "$WORK" "$GL_MNT/gv3" "$GL_MNT/gv1"
for b in "${R3_BRICKS[@]}" "$R1_BRICK"; do mkdir -p "$BASE/$b"; done

# ---------------------------------------------------------------- config
# The packaged glusterd.vol, plus: state, run and log
# directories and the CLI socket moved under $BASE, and glusterd bound to
# 127.0.0.1. Bricks then also listen on 127.0.0.1 only (HOST resolves to it).
cat > "$ETC/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $WORK
    option run-directory $RUN
    option logging-directory $LOGS
    option glusterd-sockfile $SOCK
    option transport-type socket
    option transport.socket.bind-address 127.0.0.1
    option transport.socket.keepalive-time 10
    option transport.socket.keepalive-interval 2
    option transport.socket.read-fail-log off
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
    option max-port  60999
end-volume
EOF

# ---------------------------------------------------------------- glusterd
if alive "$PIDS/glusterd.pid"; then
    log "glusterd already running (pid $(cat "$PIDS/glusterd.pid"))"
else
    setsid glusterd -N -f "$ETC/glusterd.vol" -l "$LOGS/glusterd.log" </dev/null >>"$LOGS/glusterd.stdout" 2>&1 &
    echo $! > "$PIDS/glusterd.pid"
    log "started glusterd pid $!"
fi
for _ in $(seq 1 100); do G pool list >/dev/null 2>&1 && break; sleep 0.1; done
G pool list >/dev/null 2>&1 || die "glusterd does not answer, see $LOGS/glusterd.log"

# ---------------------------------------------------------------- volumes
ensure_volume() {   # name, create arguments...
    local v=$1; shift
    if ! G volume info "$v" >/dev/null 2>&1; then
        G volume create "$v" "$@" force >&2 || die "volume create $v failed"
    fi
    if ! G volume info "$v" | grep -q '^Status: Started'; then
        G volume start "$v" >&2 || die "volume start $v failed"
    fi
}
R3_SPECS=()
for b in "${R3_BRICKS[@]}"; do R3_SPECS+=("$HOST:$BASE/$b"); done
ensure_volume gv3 replica 3 "${R3_SPECS[@]}"
ensure_volume gv1 "$HOST:$BASE/$R1_BRICK"

# glusterd starts the bricks (also when it restarts with started volumes):
# wait until every brick (and gv3's self-heal daemon) is online.
wait_online() {   # volume, expected number of online processes
    local n=0
    for _ in $(seq 1 150); do
        n=$(G volume status "$1" 2>/dev/null | awk '/^(Brick|Self-heal)/ && $(NF-1) == "Y"' | wc -l)
        [ "$n" -ge "$2" ] && return 0
        sleep 0.2
    done
    die "volume $1: only $n of $2 processes online, see $LOGS/bricks/"
}
wait_online gv3 4
wait_online gv1 1

# record the PIDs glusterd wrote, under our own names
brick_pidfile() { echo "$RUN/vols/$1/$HOST$(echo "$BASE/$2" | tr / -).pid"; }
record() {   # our name, glusterd's pid file
    [ -s "$2" ] || die "no pid file $2"
    cp "$2" "$PIDS/$1.pid"
    # the unix socket that glusterd gave the process (-S; glusterd always puts
    # these in its own fixed run directory, not in run-directory)
    ps -o args= -p "$(cat "$2")" | awk '{ for (i = 1; i < NF; i++) if ($i == "-S") { print $(i + 1); exit } }' > "$PIDS/$1.sock"
}
for b in "${R3_BRICKS[@]}"; do record "gv3-$b" "$(brick_pidfile gv3 "$b")"; done
record gv1-"$R1_BRICK" "$(brick_pidfile gv1 "$R1_BRICK")"
record glustershd "$RUN/shd/gv3/gv3-shd.pid"

# ---------------------------------------------------------------- mounts
client_pid() {   # the glusterfs FUSE client serving mountpoint $2 of volume $1
    ps -eo pid=,args= | awk -v v="--volfile-id=/$1" -v m="$2" \
        '$2 ~ /\/glusterfs$/ && index($0, " " v " ") && $NF == m { print $1 }'
}
mount_volume() {   # volume
    local v=$1 mnt=$GL_MNT/$1 pid
    if findmnt -n "$mnt" >/dev/null; then
        log "$mnt already mounted"
    else
        mount -t glusterfs -o log-file="$LOGS/mnt-$v.log" "127.0.0.1:/$v" "$mnt" \
            || die "mount $mnt failed, see $LOGS/mnt-$v.log"
    fi
    findmnt -n -o FSTYPE -M "$mnt" | grep -q "^fuse" || die "$mnt is not a FUSE mount"
    stat "$mnt" >/dev/null
    pid=$(client_pid "$v" "$mnt")
    if [ -z "$pid" ] || [ "$(echo "$pid" | wc -l)" != 1 ]; then
        die "cannot find the one client process of $mnt ('$pid')"
    fi
    echo "$pid" > "$PIDS/mnt-$v.pid"
    log "up: $(findmnt -no SOURCE,FSTYPE,OPTIONS "$mnt"), client pid $pid"
}
mount_volume gv3
mount_volume gv1

# ---------------------------------------------------------------- record
{
    echo "# gluster-up.sh $(date -u +%FT%TZ), glusterfs $(glusterfs --version | awk 'NR == 1 { print $2 }')"
    G volume info
    for v in gv3 gv1; do
        echo; echo "# gluster volume get $v all | grep -E 'performance|write-behind|read-ahead|io-cache|quick-read|stat-prefetch|ensure-durability|flush-behind'"
        G volume get "$v" all | grep -E 'performance|write-behind|read-ahead|io-cache|quick-read|stat-prefetch|ensure-durability|flush-behind'
    done
} > "$BASE/volume-options.txt"
log "pids: $(cd "$PIDS" && for f in *.pid; do printf '%s=%s ' "${f%.pid}" "$(cat "$f")"; done)"
log "volume info and options in $BASE/volume-options.txt"
