#!/bin/bash
# bench/gateway.sh: the REST gateway beside the mount on one cluster
# (docs/benchmarks.md, "Gateway"). One meta, three chunkds (goal 3), one
# mount and one godfs-gateway, all from the build tree B (a release build),
# data in D (on disk, not tmpfs). For a SIZE file (default 2G):
#   mount sequential write  dd bs=4M conv=fsync            vs  PUT with curl -T
#   mount cold read         drop caches, dd bs=4M          vs  GET with curl to /dev/null
#   gateway RSS             sampled every 0.5 s while CLIENTS (64) curl GETs of the
#                           file run for SECONDS (20) at once
# Prints one TSV line per figure on stdout (MiB/s, or KiB of RSS), the rest on stderr.
#
#   B=build/release-gw D=/var/tmp/godfs-gwbench bench/gateway.sh [SIZE]
#
# Needs root (FUSE, drop_caches), curl, and free ports 27190-27195. Stops what it
# started on exit.
set -euo pipefail
SIZE=${1:-2G}
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/build/release-gw}
D=${D:-/var/tmp/godfs-gwbench}
CLIENTS=${CLIENTS:-64}
SECONDS_RSS=${SECONDS_RSS:-20}
MNT=$D/mnt
META=127.0.0.1:27190
GW=http://127.0.0.1:27195
pids=()
log() { echo "[gateway.sh $(date +%T)] $*" >&2; }
cleanup() {
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
rm -rf "$D"
mkdir -p "$D/meta" "$D/c1" "$D/c2" "$D/c3" "$MNT"
"$B/utils/godfs-admin" key generate "$D/cluster.key" >/dev/null
export GODFS_KEY_FILE=$D/cluster.key
"$B/meta/godfs-meta" --data-dir "$D/meta" --listen $META --raft-listen 127.0.0.1:27191 \
	--node-id 1 --default-goal 3 --log-level warn 2>>"$D/meta.log" & pids+=($!)
sleep 1
for i in 1 2 3; do
	"$B/chunkd/godfs-chunkd" --data-dir "$D/c$i" --listen 127.0.0.1:2719$((i + 1)) \
		--meta $META --log-level warn 2>>"$D/chunkd$i.log" & pids+=($!)
done
sleep 2
"$B/fs/mount.godfs" $META "$MNT" -f 2>>"$D/mount.log" & pids+=($!)
"$B/gateway/godfs-gateway" --meta $META --listen 127.0.0.1:27195 --log-level warn \
	2>>"$D/gateway.log" & pids+=($!)
gwpid=$!
for ((i = 0; i < 100; i++)); do
	mountpoint -q "$MNT" && curl -sf "$GW/v1/ready" >/dev/null && break
	sleep 0.2
done
mountpoint -q "$MNT" || { log "the mount is not up"; exit 1; }
"$B/utils/godfs-admin" --meta $META apikey create --subtree / --name bench -o "$D/api.key" >/dev/null
AUTH="Authorization: Bearer $(cat "$D/api.key")"

bytes=$(numfmt --from=iec "$SIZE")
src=/dev/shm/godfs-gwbench.src
log "source: $SIZE of random bytes in $src"
head -c "$bytes" /dev/urandom >"$src"
trap 'rm -f "$src"; cleanup' EXIT
mibs() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / 1048576 / t }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
load() { cut -d' ' -f1 /proc/loadavg; }

log "mount: sequential write (dd bs=4M conv=fsync), load $(load)"
t0=$(now); dd if="$src" of="$MNT/w" bs=4M conv=fsync status=none; t1=$(now)
w_mount=$(mibs "$(elapsed "$t0" "$t1")")
log "gateway: PUT (curl -T), load $(load)"
t0=$(now)
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" -T "$src" "$GW/v1/fs/content?path=/p")
t1=$(now)
[ "$code" = 201 ] || { log "PUT: HTTP $code"; exit 1; }
w_gw=$(mibs "$(elapsed "$t0" "$t1")")
cmp -s "$src" "$MNT/p" || { log "PUT: the bytes differ"; exit 1; }

drop
log "mount: cold sequential read (dd bs=4M), load $(load)"
t0=$(now); dd if="$MNT/w" of=/dev/null bs=4M status=none; t1=$(now)
r_mount=$(mibs "$(elapsed "$t0" "$t1")")
drop
log "gateway: cold GET (curl -o /dev/null), load $(load)"
t0=$(now)
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "$AUTH" "$GW/v1/fs/content?path=/p")
t1=$(now)
[ "$code" = 200 ] || { log "GET: HTTP $code"; exit 1; }
r_gw=$(mibs "$(elapsed "$t0" "$t1")")

log "gateway RSS while $CLIENTS clients GET at once for $SECONDS_RSS s"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$gwpid/status"; }
rss0=$(rss)
cpids=()
for ((i = 0; i < CLIENTS; i++)); do
	curl -s -o /dev/null --max-time "$SECONDS_RSS" -H "$AUTH" "$GW/v1/fs/content?path=/p" &
	cpids+=($!)
done
samples=()
end=$(($(date +%s) + SECONDS_RSS))
while [ "$(date +%s)" -lt "$end" ]; do samples+=("$(rss)"); sleep 0.5; done
for p in "${cpids[@]}"; do wait "$p" 2>/dev/null || true; done
rss_max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
half=$(( ${#samples[@]} / 2 ))
rss_mid=${samples[$half]}
rss_last=${samples[-1]}

printf 'figure\tvalue\tunit\n'
printf 'mount_seq_write\t%s\tMiB/s\n' "$w_mount"
printf 'gateway_put\t%s\tMiB/s\n' "$w_gw"
printf 'mount_cold_read\t%s\tMiB/s\n' "$r_mount"
printf 'gateway_get\t%s\tMiB/s\n' "$r_gw"
printf 'gateway_rss_idle\t%s\tKiB\n' "$rss0"
printf 'gateway_rss_%dclients_mid\t%s\tKiB\n' "$CLIENTS" "$rss_mid"
printf 'gateway_rss_%dclients_last\t%s\tKiB\n' "$CLIENTS" "$rss_last"
printf 'gateway_rss_%dclients_max\t%s\tKiB\n' "$CLIENTS" "$rss_max"
printf 'put_vs_write\t%s\t%%\n' "$(awk -v a="$w_gw" -v b="$w_mount" 'BEGIN { printf "%.0f", 100 * a / b }')"
printf 'get_vs_read\t%s\t%%\n' "$(awk -v a="$r_gw" -v b="$r_mount" 'BEGIN { printf "%.0f", 100 * a / b }')"
