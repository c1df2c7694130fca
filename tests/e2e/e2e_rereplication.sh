#!/bin/bash
# Re-replication you can watch (issue 7). Four chunkds; files of goal 2 (in
# g2/) and goal 3 (in g3/), small chunks (1 MiB).
#
# 1. kill -9 of a chunkd during a write workload (dd with fsync into g3/):
#    no write fails; `godfs-admin chunks --json` shows the chunks under goal
#    by live copies left; the meta orders every copy of a chunk with one
#    copy left before any of a chunk with two (from its log, and from the
#    samples of `chunks --json`: the one-copy count reaches 0 first); the
#    goal comes back; every file reads back with its checksum.
# 2. While that chunkd is away, files are overwritten, truncated and
#    deleted. It comes back with those stale copies: reads through a fresh
#    mount with caches dropped give the new contents, and its stale copies
#    (an older version, or a chunk freed) are deleted.
# 3. The time to restore the goal after losing a chunkd that holds
#    $BIG_MIB MiB (of goal-3 files), without and then with a rate limit
#    (--repl-rate-limit on every chunkd): with it, no chunkd copies more
#    than rate x time (+ burst and one piece), and the restore takes at
#    least bytes / (rate x chunkds copying).
# The figures go to the log (docs/operations.md quotes them).
E2E_TIMEOUT=900
META_ARGS=(--chunk-size 1M --node-dead-ms 3000 --grace-ms 1000 --lease-ms 3000)
. "$(dirname "$0")/lib.sh"

N2=${E2E_REREPL_N2:-60}          # goal-2 files (one chunk each)
N3=${E2E_REREPL_N3:-120}         # goal-3 files
BIG_MIB=${E2E_REREPL_BIG_MIB:-64}
RATE=${E2E_REREPL_RATE:-16M}
RATE_B=$((${RATE%M} * 1024 * 1024))
ADMIN=("$GODFS_ADMIN" --meta "$META_ADDR")

e2e_cluster_up 4
mkdir "$MNT/g2" "$MNT/g3" "$MNT/w" "$MNT/big"
"${ADMIN[@]}" goal /g2 2 >/dev/null || e2e_fail "goal /g2 2"
"${ADMIN[@]}" goal /g3 3 >/dev/null || e2e_fail "goal /g3 3"
"${ADMIN[@]}" goal /w 3 >/dev/null || e2e_fail "goal /w 3"
"${ADMIN[@]}" goal /big 3 >/dev/null || e2e_fail "goal /big 3"

chunks_json() { "${ADMIN[@]}" chunks --json 2>/dev/null; }
# jq-free field access: json_num FIELD < json
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
json_hist() { sed -n 's/.*"under_by_live":\[\([0-9,]*\)\].*/\1/p'; }

# Files with random sizes below one chunk, and their checksums.
: >"$E2E_TMP/sums"
mkfile() {
	local path=$1 size=$2
	head -c "$size" /dev/urandom >"$E2E_TMP/x"
	cp "$E2E_TMP/x" "$MNT/$path" || e2e_fail "writing $path"
	echo "$(sha1sum <"$E2E_TMP/x" | cut -c1-40)  $path" >>"$E2E_TMP/sums"
}
for ((i = 0; i < N2; i++)); do mkfile "g2/f$i" $((4096 + RANDOM * 16)); done
for ((i = 0; i < N3; i++)); do mkfile "g3/f$i" $((4096 + RANDOM * 16)); done
sync
e2e_log "$N2 goal-2 and $N3 goal-3 files written"
# Leases of these writes end (lease 3 s + the meta's 12 s drain): every
# chunk under goal after the kill is ready to copy at once.
sleep 16
e2e_wait_goal "$(date +%s%N)" 60 "before the kill"

# Verifies every file of the sums list through a fresh mount, caches dropped.
verify_all() {
	local what=$1 p sum got
	e2e_remount
	e2e_drop_caches
	while read -r sum p; do
		if [ "$sum" = deleted ]; then
			[ ! -e "$MNT/$p" ] || e2e_fail "$what: $p was deleted but is listed"
			continue
		fi
		got=$(sha1sum <"$MNT/$p" | cut -c1-40) || e2e_fail "$what: reading $p failed"
		[ "$got" = "$sum" ] || e2e_fail "$what: $p does not read back as written"
	done < <(awk '{ last[$2] = $1 } END { for (p in last) print last[p], p }' "$E2E_TMP/sums")
	e2e_log "$what: $(awk '{ print $2 }' "$E2E_TMP/sums" | sort -u | wc -l) files checked"
}

# The victim: the chunkd holding the most goal-2 copies (the chunks left
# with one copy).
victim=1 best=-1
for i in 1 2 3 4; do
	n=$(e2e_chunk_ids "$i" | wc -l)
	((n > best)) && { best=$n; victim=$i; }
done
e2e_chunk_files "$victim" | sed 's|.*/||' >"$E2E_TMP/victim_before"

# ---- 1. kill -9 during a write workload
: >"$E2E_TMP/wsums"
(
	k=0
	while [ ! -e "$E2E_TMP/stop" ]; do
		head -c $((65536 + RANDOM * 8)) /dev/urandom >"$E2E_TMP/wx"
		if ! dd if="$E2E_TMP/wx" of="$MNT/w/f$k" bs=64k conv=fsync status=none; then
			echo "write w/f$k failed" >"$E2E_TMP/werr"
			exit 1
		fi
		echo "$(sha1sum <"$E2E_TMP/wx" | cut -c1-40)  w/f$k" >>"$E2E_TMP/wsums"
		k=$((k + 1))
	done
) &
wpid=$!
sleep 2
kill_ns=$(date +%s%N)
e2e_stop "${CHUNKD_PID[$victim]}" KILL
e2e_log "chunkd$victim killed (kill -9) during the write workload"
kill_line=$(wc -l <"$E2E_TMP/log/meta.log")

# Samples of `chunks --json` until the goal is back.
: >"$E2E_TMP/samples"
under_seen=0 restored=
for ((s = 0; s < 1200; s++)); do
	j=$(chunks_json) || true
	echo "$(( ($(date +%s%N) - kill_ns) / 1000000 )) $j" >>"$E2E_TMP/samples"
	u=$(json_num under_goal <<<"$j")
	[ "${u:-0}" -gt 0 ] && under_seen=1
	if [ "$under_seen" = 1 ] && [ "${u:-1}" = 0 ]; then
		restored=$(( ($(date +%s%N) - kill_ns) / 1000000 ))
		break
	fi
	sleep 0.2
done
[ -n "$restored" ] || e2e_fail "the goal is not back 240 s after the kill: $(chunks_json)"
touch "$E2E_TMP/stop"
wait "$wpid" || e2e_fail "the write workload failed: $(cat "$E2E_TMP/werr" 2>/dev/null)"
cat "$E2E_TMP/wsums" >>"$E2E_TMP/sums"
e2e_log "goal restored $restored ms after the kill; $(wc -l <"$E2E_TMP/wsums") files written meanwhile, none failed"
grep -q '"under_by_live":\[0,[1-9]' "$E2E_TMP/samples" ||
	e2e_fail "chunks --json never showed a chunk with one copy left"
grep -q '"under_by_live":\[0,[0-9]*,[1-9]' "$E2E_TMP/samples" ||
	e2e_fail "chunks --json never showed a chunk with two copies left"

# Order 1: the meta's orders, in time: every "1 of N copies" before the
# first "2 of 3 copies".
tail -n +"$kill_line" "$E2E_TMP/log/meta.log" | grep -o '[0-9]* of [0-9]* copies, replicating' |
	awk '{ print $1 }' >"$E2E_TMP/order"
n1=$(grep -c '^1$' "$E2E_TMP/order" || true)
n2=$(grep -c '^2$' "$E2E_TMP/order" || true)
((n1 > 0 && n2 > 0)) || e2e_fail "expected orders for chunks with 1 and 2 copies left, got $n1 and $n2"
last1=$(grep -n '^1$' "$E2E_TMP/order" | tail -n 1 | cut -d: -f1)
first2=$(grep -n '^2$' "$E2E_TMP/order" | head -n 1 | cut -d: -f1)
((last1 < first2)) || e2e_fail "a chunk with one copy left was ordered (#$last1) after one with two (#$first2)"
e2e_log "order: $n1 copies of one-copy chunks, all before the $n2 of two-copy chunks"
# Order 2: in the samples, the one-copy count reaches 0 no later than the
# two-copy count does.
read -r max1 max2 zero1 zero2 < <(while read -r ms j; do
	echo "$ms $(json_hist <<<"$j")"
done <"$E2E_TMP/samples" | awk '{ n = split($2, h, ","); c1 = n >= 2 ? h[2] : 0; c2 = n >= 3 ? h[3] : 0
	if (c1 > m1) m1 = c1; if (c2 > m2) m2 = c2
	if (m1 > 0 && c1 == 0 && z1 == "") z1 = $1
	if (m2 > 0 && c2 == 0 && z2 == "") z2 = $1 }
	END { print m1 + 0, m2 + 0, z1 == "" ? -1 : z1, z2 == "" ? -1 : z2 }')
((max1 > 0 && max2 > 0 && zero1 >= 0 && zero2 >= 0 && zero1 <= zero2)) ||
	e2e_fail "chunks --json: one-copy chunks (at most $max1) done at $zero1 ms, two-copy (at most $max2) at $zero2 ms"
e2e_log "chunks --json: at most $max1 chunks with one copy left and $max2 with two; none with one copy left $zero1 ms after the kill, none with two $zero2 ms"

# ---- 2. while the victim is away: overwrite, truncate, delete
for ((i = 0; i < 10; i++)); do mkfile "g2/f$i" $((8192 + RANDOM)); done
for ((i = 0; i < 10; i++)); do mkfile "g3/f$i" $((8192 + RANDOM)); done
for ((i = 10; i < 20; i++)); do
	truncate -s 1000 "$MNT/g3/f$i" || e2e_fail "truncate g3/f$i"
	head -c 1000 "$E2E_TMP/x" >/dev/null
	echo "$(head -c 1000 "$MNT/g3/f$i" | sha1sum | cut -c1-40)  g3/f$i" >>"$E2E_TMP/sums"
done
for ((i = 20; i < 30; i++)); do
	rm "$MNT/g3/f$i" "$MNT/g2/f$i" || e2e_fail "rm"
	echo "deleted  g3/f$i" >>"$E2E_TMP/sums"
	echo "deleted  g2/f$i" >>"$E2E_TMP/sums"
done
sync
e2e_log "while chunkd$victim is away: 20 files overwritten, 10 truncated, 20 deleted"
e2e_wait_goal "$(date +%s%N)" 120 "after the changes"
verify_all "goal restored without chunkd$victim"

e2e_start_chunkd "$victim"
e2e_wait_nodes 4
verify_all "chunkd$victim back with stale copies"
# Its stale copies go: every old copy whose chunk is gone elsewhere, or is
# at a newer version elsewhere, is deleted from it.
stale_left() {
	local f id v other
	while read -r f; do
		id=${f%%_*} v=${f#*_} v=${v%.chk}
		[ -e "$(e2e_chunk_file "$victim" "${id}")" ] || continue
		e2e_chunk_files "$victim" | grep -q "/${id}_${v}.chk" || continue
		other=$(for i in 1 2 3 4; do [ "$i" = "$victim" ] || e2e_chunk_files "$i"; done |
			sed -n "s|.*/${id}_\([0-9a-f]*\)\.chk|\1|p" | sort | tail -n 1)
		if [ -z "$other" ] || [[ "$other" > "$v" ]]; then echo "$f"; fi
	done <"$E2E_TMP/victim_before"
}
for ((s = 0; s < 60; s++)); do
	left=$(stale_left | wc -l)
	[ "$left" = 0 ] && break
	sleep 1
done
[ "$left" = 0 ] || e2e_fail "stale copies still on chunkd$victim after 60 s: $(stale_left | head)"
e2e_wait_goal "$(date +%s%N)" 120 "after chunkd$victim came back"
verify_all "stale copies gone"
e2e_log "chunkd$victim's stale copies are gone; nothing stale was ever read"

# ---- 3. restore time after losing a chunkd holding BIG_MIB MiB
for ((i = 0; i < BIG_MIB / 32; i++)); do mkfile "big/b$i" $((32 * 1024 * 1024)); done
sync
sleep 16
e2e_wait_goal "$(date +%s%N)" 120 "after the big files"

# restore_after_kill I LABEL: kill -9 chunkd I, wait for the goal; sets
# R_MS (ms) and R_BYTES (bytes the chunkds copied, from their logs).
restore_after_kill() {
	local i=$1 label=$2 t0 u s c b fb span lines=()
	for c in 1 2 3 4; do lines[$c]=$(wc -l <"$E2E_TMP/log/chunkd$c.log"); done
	R_NODE_BYTES=() R_NODE_FIRST=() R_NODE_SPAN=()
	# what chunkd I holds: the data of its chunk files (past the header)
	R_HELD=$(e2e_chunk_files "$i" | xargs -r stat -c %s |
		awk -v off="$E2E_CHUNK_DATA_OFF" '{ s += $1 > off ? $1 - off : 0 } END { printf "%.0f\n", s }')
	t0=$(date +%s%N)
	e2e_stop "${CHUNKD_PID[$i]}" KILL
	R_MS=
	for ((s = 0; s < 2400; s++)); do
		u=$(chunks_json | json_num under_goal)
		[ "${u:-0}" -gt 0 ] && seen=1
		if [ "${seen:-0}" = 1 ] && [ "${u:-1}" = 0 ]; then
			R_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
			break
		fi
		sleep 0.1
	done
	seen=0
	[ -n "$R_MS" ] || e2e_fail "$label: the goal is not back after 240 s"
	R_BYTES=0
	for c in 1 2 3 4; do
		[ "$c" = "$i" ] && continue
		# bytes copied, bytes of the first copy, ms from the first copy's end to the last's
		read -r b fb span < <(tail -n +"${lines[$c]}" "$E2E_TMP/log/chunkd$c.log" |
			sed -n 's/^[0-9-]*T\([0-9:.]*\)Z.*replicated from .* (\([0-9]*\) bytes).*/\1 \2/p' |
			awk '{ split($1, t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
				if (NR == 1) { f = ms; fb = $2 } l = ms; s += $2 }
				END { printf "%d %d %d\n", s, fb, l - f }')
		R_NODE_BYTES[$c]=$b R_NODE_FIRST[$c]=$fb R_NODE_SPAN[$c]=$span
		R_BYTES=$((R_BYTES + b))
	done
	e2e_log "$label: chunkd$i held $((R_HELD / 1048576)) MiB in $(e2e_chunk_ids "$i" | wc -l) chunks; goal restored in $R_MS ms after the kill (detection ~3 s included), $((R_BYTES / 1048576)) MiB copied, $((R_BYTES * 1000 / (R_MS > 0 ? R_MS : 1) / 1048576)) MiB/s"
}
declare -A R_NODE_BYTES=() R_NODE_FIRST=() R_NODE_SPAN=()

a=$(( victim % 4 + 1 ))
restore_after_kill "$a" "no rate limit"
e2e_start_chunkd "$a"
e2e_wait_nodes 4
sleep 8
e2e_wait_goal "$(date +%s%N)" 120 "after chunkd$a came back"

# every chunkd with the rate limit
for c in 1 2 3 4; do
	e2e_stop "${CHUNKD_PID[$c]}" TERM
	e2e_start_chunkd "$c" --repl-rate-limit "$RATE"
done
e2e_wait_nodes 4
sleep 8
b=$(( a % 4 + 1 ))
restore_after_kill "$b" "rate limit $RATE/s per chunkd"
# No chunkd copied more than its bucket allows: after its first copy ended,
# the bytes of the others within the time to the last (copies run one after
# the other) stay under rate x time + the burst + one piece.
for c in "${!R_NODE_BYTES[@]}"; do
	after=$((R_NODE_BYTES[$c] - R_NODE_FIRST[$c]))
	allowed=$(( RATE_B * R_NODE_SPAN[$c] / 1000 + RATE_B / 10 + 65536 + 1048576 ))
	((after <= allowed)) ||
		e2e_fail "chunkd$c copied $after bytes in ${R_NODE_SPAN[$c]} ms: more than $RATE/s"
	e2e_log "chunkd$c: $((after / 1024)) KiB in ${R_NODE_SPAN[$c]} ms after its first copy ($(( after * 1000 / (R_NODE_SPAN[$c] > 0 ? R_NODE_SPAN[$c] : 1) / 1024 )) KiB/s; limit $RATE/s)"
done
copying=3    # at most: each copy has one target, and one chunkd is down
min_ms=$(( (R_BYTES - copying * (RATE_B / 10 + 65536 + 1048576)) * 1000 / (RATE_B * copying) ))
((R_MS >= min_ms)) || e2e_fail "restore in $R_MS ms, faster than the limit allows ($min_ms ms)"
e2e_log "rate limit holds: $R_MS ms >= $min_ms ms for $((R_BYTES / 1048576)) MiB at $RATE/s x $copying chunkds"
e2e_start_chunkd "$b" --repl-rate-limit "$RATE"
e2e_wait_nodes 4
verify_all "the end"
"${ADMIN[@]}" chunks
