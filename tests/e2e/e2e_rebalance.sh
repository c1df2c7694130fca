#!/bin/bash
# Disk balance: 3 chunkds on 400 MiB tmpfs mounts hold 2 x 200 MiB of copies
# (goal 2, 1 MiB chunks: about half full); an empty 4th joins. The leader
# moves copies to it (copy first, then drop from the fuller node) at
# --rebalance-rate moves a second until no disk is more than
# --rebalance-threshold (10) points from the mean. Measured: the rate of
# bytes arriving on the new node. No chunk goes under goal meanwhile, and
# every file reads back.
E2E_TIMEOUT=400
. "$(dirname "$0")/lib.sh"

TMPFS_MB=400
RATE=${E2E_REBALANCE_RATE:-4}
[ "$(id -u)" = 0 ] || e2e_fail "this test mounts tmpfs: run it as root"
e2e_more_chunkds 4
for i in 1 2 3 4; do
	CHUNKD_DIR[$i]=$E2E_TMP/disk$i
	mkdir -p "${CHUNKD_DIR[$i]}"
	mount -t tmpfs -o "size=${TMPFS_MB}m" godfs-e2e-rebalance "${CHUNKD_DIR[$i]}" ||
		e2e_fail "mount tmpfs"
	E2E_MOUNTS+=("${CHUNKD_DIR[$i]}")
done
META_ARGS=(--chunk-size 1048576 --default-goal 2 --lease-ms 2000 --grace-ms 1000
	--rebalance-rate "$RATE" --rebalance-threshold 10)
e2e_start_meta
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT"
used_pct() { df --output=pcent "${CHUNKD_DIR[$1]}" | tail -n 1 | tr -dc 0-9; }
used_mb() { df -m --output=used "${CHUNKD_DIR[$1]}" | tail -n 1 | tr -dc 0-9; }

mkdir -p "$E2E_TMP/src" "$MNT/d"
for i in $(seq 1 25); do
	head -c $((8 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/src/f$i"
	cp "$E2E_TMP/src/f$i" "$MNT/d/f$i" || e2e_fail "cp f$i"
done
sync
e2e_wait_goal "$(date +%s%N)" 90 "after the writes"
e2e_log "before: used $(used_pct 1)% $(used_pct 2)% $(used_pct 3)%; an empty chunkd4 joins"

base=$(used_mb 4)
e2e_start_chunkd 4
t0=$(date +%s%N)
max_under=0
for ((i = 0; i < 1500; i++)); do
	u=$(e2e_under_goal)
	[ -n "$u" ] && ((u > max_under)) && max_under=$u
	p=(0 "$(used_pct 1)" "$(used_pct 2)" "$(used_pct 3)" "$(used_pct 4)")
	mean=$(((p[1] + p[2] + p[3] + p[4]) / 4))
	# balanced: every disk within 10 points of the mean (1 point of slack
	# for df's rounding)
	ok=1
	for j in 1 2 3 4; do
		d=$((p[j] - mean))
		((d > 11 || d < -11)) && ok=0
	done
	((ok)) && break
	sleep 0.2
done
t1=$(date +%s%N)
((ok)) || e2e_fail "not balanced after 300 s: used ${p[*]:1}%"
moved=$(($(used_mb 4) - base))
ms=$(((t1 - t0) / 1000000))
((moved > 20)) || e2e_fail "only $moved MiB moved to chunkd4"
((max_under == 0)) || e2e_fail "$max_under chunks under goal while rebalancing"
e2e_log "balanced in $ms ms: $moved MiB to chunkd4 ($((moved * 1000 / (ms ? ms : 1))) MiB/s at $RATE moves/s of 1 MiB chunks); used ${p[*]:1}%"
e2e_remount
e2e_drop_caches
for f in "$E2E_TMP"/src/*; do
	cmp "$f" "$MNT/d/$(basename "$f")" || e2e_fail "$(basename "$f") differs"
done
