#!/bin/bash
# moosefs-up.sh - bring up a loopback-only MooseFS test cluster for fsbench.sh
#
#   1 master  (127.0.0.1: P metalogger, P+1 chunkservers, P+2 clients, with
#     P = GODFS_BENCH_MFS_PORT, default 9419: MooseFS's own ports)
#   3 chunkservers (127.0.0.1: P+3, P+103, P+203), each with its own data dir
#     and its own "hdd" directory under $GODFS_BENCH_DIR/mfs/csN/
#   1 mfsmount at $GODFS_BENCH_DIR/mnt/mfs (default mount options), with
#   g3 : goal 3, trashtime 0      g1 : goal 1, trashtime 0
#   (bench/lib.sh has the directories and ports)
#
# No systemd: daemons are started by hand in foreground mode (-f) in the
# background, and their PIDs are written to $GODFS_BENCH_DIR/mfs/pids/*.pid so
# that moosefs-down.sh can stop them by PID.
#
# Usage: moosefs-up.sh [--fresh]
#   --fresh  wipe metadata and chunk data first (brand-new, empty file system)
#
# Needs: apt-get install moosefs-master moosefs-chunkserver moosefs-client moosefs-cli
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

BASE=$MFS_BASE
ETC=$BASE/etc
PIDS=$BASE/pids
LOGS=$BASE/logs
MNT=$MFS_MNT
CS_PORTS=($((MFS_PORT + 3)) $((MFS_PORT + 103)) $((MFS_PORT + 203)))

log() { echo "[moosefs-up $(date +%T)] $*" >&2; }

for b in mfsmaster mfschunkserver mfsmount mfssetgoal mfssettrashtime; do
    command -v "$b" >/dev/null || { echo "missing $b (install moosefs-* packages)" >&2; exit 1; }
done

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "${1:-}" = "--fresh" ]; then
    for f in "$PIDS"/*.pid; do
        if alive "$f"; then echo "cluster still running ($f); run moosefs-down.sh first" >&2; exit 1; fi
    done
    log "wiping $BASE/master and $BASE/cs*"
    rm -rf "$BASE"/master "$BASE"/cs1 "$BASE"/cs2 "$BASE"/cs3
fi

mkdir -p "$ETC" "$PIDS" "$LOGS" "$BASE/master" "$MNT"

# ---------------------------------------------------------------- configs
# Only paths, listen addresses and ports differ from the packaged defaults.
cat > "$ETC/mfsmaster.cfg" <<EOF
WORKING_USER = mfs
WORKING_GROUP = mfs
SYSLOG_IDENT = mfsbench-master
DATA_PATH = $BASE/master
EXPORTS_FILENAME = $ETC/mfsexports.cfg
TOPOLOGY_FILENAME = $ETC/mfstopology.cfg
MATOML_LISTEN_HOST = 127.0.0.1
MATOML_LISTEN_PORT = $MFS_PORT
MATOCS_LISTEN_HOST = 127.0.0.1
MATOCS_LISTEN_PORT = $((MFS_PORT + 1))
MATOCL_LISTEN_HOST = 127.0.0.1
MATOCL_LISTEN_PORT = $((MFS_PORT + 2))
# loopback work-around (see bench/README.md): the master refuses chunkservers whose
# address is in 127/8, so 127.0.0.1 is remapped to 0.0.0.0, which Linux
# connects to over lo as 127.0.0.1.
REMAP_BITS = 32
REMAP_SOURCE_IP_CLASS = 127.0.0.1
REMAP_DESTINATION_IP_CLASS = 0.0.0.0
EOF

cat > "$ETC/mfsexports.cfg" <<EOF
127.0.0.1	/	rw,alldirs,admin,maproot=0:0
127.0.0.1	.	rw
EOF

cat > "$ETC/mfstopology.cfg" <<EOF
# empty: single host, no topology
EOF

# empty client config so that a stray /etc/mfs/mfsmount.cfg is not picked up
cat > "$ETC/mfsmount.cfg" <<EOF
# empty on purpose: mfsmount runs with its built-in defaults
EOF

for i in 1 2 3; do
    port=${CS_PORTS[$((i-1))]}
    mkdir -p "$BASE/cs$i/data" "$BASE/cs$i/hdd"
    cat > "$ETC/mfschunkserver-cs$i.cfg" <<EOF
WORKING_USER = mfs
WORKING_GROUP = mfs
SYSLOG_IDENT = mfsbench-cs$i
DATA_PATH = $BASE/cs$i/data
HDD_CONF_FILENAME = $ETC/mfshdd-cs$i.cfg
BIND_HOST = 127.0.0.1
# 0.0.0.0, not 127.0.0.1: the chunkserver refuses a master address in 127/8;
# with BIND_HOST = 127.0.0.1 Linux sends a connect to 0.0.0.0 to 127.0.0.1.
MASTER_HOST = 0.0.0.0
MASTER_PORT = $((MFS_PORT + 1))
CSSERV_LISTEN_HOST = 127.0.0.1
CSSERV_LISTEN_PORT = $port
EOF
    echo "$BASE/cs$i/hdd" > "$ETC/mfshdd-cs$i.cfg"
done

# ---------------------------------------------------------------- metadata
if [ ! -e "$BASE/master/metadata.mfs" ] && [ ! -e "$BASE/master/metadata.mfs.back" ]; then
    log "initialising empty metadata"
    cp /var/lib/mfs/metadata.mfs.empty "$BASE/master/metadata.mfs"
fi
chown -R mfs:mfs "$BASE/master" "$BASE"/cs1 "$BASE"/cs2 "$BASE"/cs3

avail_gib=$(df -BG --output=avail "$BASE" | tail -1 | tr -dc 0-9)
log "free space on $BASE: ${avail_gib} GiB (shared by all 3 chunkservers; default HDD_LEAVE_SPACE_DEFAULT 256MiB)"

# ---------------------------------------------------------------- start
start_daemon() {    # name, command...
    local name=$1; shift
    if alive "$PIDS/$name.pid"; then log "$name already running (pid $(cat "$PIDS/$name.pid"))"; return; fi
    setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
    echo $! > "$PIDS/$name.pid"
    log "started $name pid $!"
}

start_daemon master mfsmaster -f -a -c "$ETC/mfsmaster.cfg" start
for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$((MFS_PORT + 2))) 2>/dev/null && break
    sleep 0.2
done
for i in 1 2 3; do
    start_daemon "cs$i" mfschunkserver -f -c "$ETC/mfschunkserver-cs$i.cfg" start
done

# wait for the 3 chunkservers to be registered with the master
for _ in $(seq 1 100); do
    n=$(mfscli -H 127.0.0.1 -P $((MFS_PORT + 2)) -SCS 2>/dev/null | grep -c '^chunk servers:' || true)
    [ "$n" -ge 3 ] && break
    sleep 0.2
done
log "chunkservers registered: $n"
[ "$n" -ge 3 ] || { echo "only $n chunkservers registered, see $LOGS" >&2; exit 1; }

# ---------------------------------------------------------------- mount
if findmnt -n "$MNT" >/dev/null; then
    log "$MNT already mounted"
else
    # default options; mfsmount adds '-o allow_other,fsname=MFS' itself
    start_daemon mfsmount mfsmount -f -c "$ETC/mfsmount.cfg" -H 127.0.0.1 -P $((MFS_PORT + 2)) "$MNT"
    for _ in $(seq 1 100); do
        findmnt -n -o FSTYPE -M "$MNT" | grep -q "^fuse" && break
        sleep 0.1
    done
    findmnt -n -o FSTYPE -M "$MNT" | grep -q "^fuse" || { echo "mount failed, see $LOGS/mfsmount.log" >&2; exit 1; }
fi

mkdir -p "$MNT/g3" "$MNT/g1"
mfssetgoal -r 3 "$MNT/g3" >/dev/null
mfssetgoal -r 1 "$MNT/g1" >/dev/null
# deleted files would otherwise sit in the trash for 24 h and keep their chunks
mfssettrashtime -r 0 "$MNT/g3" "$MNT/g1" >/dev/null
log "goals: $(mfsgetgoal "$MNT/g3" | tr -s '\t ' ' ') / $(mfsgetgoal "$MNT/g1" | tr -s '\t ' ' ')"
log "up: $(findmnt -no SOURCE,FSTYPE,OPTIONS "$MNT")"
