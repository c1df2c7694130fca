#!/bin/bash
# Self-healing across a real network (issue 7): a chunkd that is not killed
# but cut off, and comes back after a long partition. Hosts
# (tests/e2e/netns.sh): a meta, four chunkds on two racks (cs1, cs2
# rack=r1; cs3, cs4 rack=r2), a writer client c1 and a reader client c2
# (a fresh mount for every check, caches dropped). 1 MiB chunks; files of
# goal 2 (g2/) and goal 3 (g3/, and the writer's w1/); --node-dead-ms 3000.
# A writer on c1 creates files with fsync from start to end (w1/, then w2/
# during the drain) and keeps their checksums; no write may fail.
#
# 1. cs1 is partitioned (nftables, both ways; the process runs on) during
#    the writes: the meta declares it dead after --node-dead-ms (polled
#    through `godfs-admin nodes --json`), orders every copy of a chunk
#    with one copy left before any of a chunk with two (its log) and the
#    one-copy count of `chunks --json` reaches 0 first; the goal comes back
#    and `chunks --placement --json` reports no chunk that could be spread
#    better, and only chunks of goal 3 with copies on both racks (three
#    copies on two racks share one: listed by design, never fixable); cs2 is
#    still up in r1, so every goal-2 chunk has a copy on each rack.
# 2. While cs1 is cut off, files are overwritten, truncated and deleted.
#    The partition heals: cs1 comes back with its stale copies, on the
#    connection it had or a new one. Everything reads back with its checksum
#    from a fresh mount on c2, caches dropped, from the moment the meta
#    lists cs1 alive (no stale copy is served); the stale copies leave cs1's
#    disk once the goal is met.
# 3. cs4 (rack r2) drains while the writer goes on; during the drain cs2
#    (rack r1, a different chunkd) is partitioned for 8 s, then healed. The
#    check, precisely: (a) no `chunks --json` sample before the cut shows a
#    chunk under goal; (b) no sample ever shows a chunk with 0 live copies;
#    (c) every chunk the meta logs under goal from the drain's start on
#    ("N of G copies": ordered or not) lost only one copy (N >= G - 1) and
#    could have lost it to the partition: cs2 held it when cut (its disk),
#    or it is at least as new as the newest chunk on any disk at the cut;
#    (d) once the goal is back after the heal, no sample shows a chunk under
#    goal until the drain ends. The drain must end (cs4 drained, its disk
#    empty; a move whose order was lost with cs2 is given up after 30 s and
#    ordered again), every file reads back from a fresh mount, placement as
#    in 1.
E2E_TIMEOUT=${E2E_HEAL_TIMEOUT:-420}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

DEAD_MS=3000
N2=${E2E_HEAL_N2:-30}          # goal-2 files of one chunk each
N3=${E2E_HEAL_N3:-30}          # goal-3 files
PART3_HOLD=8                   # s that cs2 stays cut off during the drain

netns_host meta 2
for i in 1 2 3 4; do netns_host "cs$i" $((10 + i)); done
netns_host c1 21
netns_host c2 22
M=${NETNS_IP[meta]}:9090
declare -A CS_PID=() RACK=([1]=r1 [2]=r1 [3]=r2 [4]=r2)
for i in 1 2 3 4; do CHUNKD_DIR[$i]=$E2E_TMP/cs$i; done   # e2e_chunk_* of lib.sh

mkdir -p "$E2E_TMP/meta"
( netns_exec meta "$GODFS_META" --data-dir "$E2E_TMP/meta" --listen "$M" \
	--raft-listen "${NETNS_IP[meta]}:9091" --node-id 1 --log-level info \
	--chunk-size 1M --default-goal 2 --node-dead-ms "$DEAD_MS" --lease-ms 2000 \
	--grace-ms 1000 ) </dev/null >>"$E2E_TMP/log/meta.log" 2>&1 &
META_PID=$!
E2E_PIDS[$META_PID]=meta
netns_wait_port meta "${NETNS_IP[meta]}" 9090 meta "$META_PID"

for i in 1 2 3 4; do
	mkdir -p "${CHUNKD_DIR[$i]}"
	( netns_exec "cs$i" "$GODFS_CHUNKD" --data-dir "${CHUNKD_DIR[$i]}" \
		--listen "${NETNS_IP[cs$i]}:8000" --meta "$M" --label "rack=${RACK[$i]}" \
		--log-level info ) </dev/null >>"$E2E_TMP/log/cs$i.log" 2>&1 &
	CS_PID[$i]=$!
	E2E_PIDS[${CS_PID[$i]}]=cs$i
	netns_wait_port "cs$i" "${NETNS_IP[cs$i]}" 8000 "cs$i" "${CS_PID[$i]}"
done

admin() { netns_run c1 "$GODFS_ADMIN" --meta "$M" --timeout 5 "$@"; }
chunks_json() { admin chunks --json 2>/dev/null; }
nodes_json() { admin nodes --json 2>/dev/null; }
# jq-free field access
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
json_hist() { sed -n 's/.*"under_by_live":\[\([0-9,]*\)\].*/\1/p'; }
placement_total() { admin chunks --placement --json 2>/dev/null | json_num total; }
# node_json I: chunkd I's object of `nodes --json`
node_json() { nodes_json | tr '{' '\n' | grep "\"${NETNS_IP[cs$1]}:8000\"" || true; }
node_alive() { node_json "$1" | grep -q '"alive":true'; }

for ((k = 0; k < 200; k++)); do
	[ "$(nodes_json | grep -o '"alive":true' | wc -l)" = 4 ] && break
	sleep 0.1
done
((k < 200)) || e2e_fail "the meta does not list 4 live chunkds: $(nodes_json)"
declare -A NODE_ID=()
for i in 1 2 3 4; do
	NODE_ID[$i]=$(node_json "$i" | sed 's/.*"node_id":"\([^"]*\)".*/\1/')
	[ -n "${NODE_ID[$i]}" ] || e2e_fail "no node id for cs$i: $(nodes_json)"
done

# mount_on HOST MNT: a mount.godfs in HOST's network; sets MOUNT_ON_PID.
mount_on() {
	local h=$1 mnt=$2 i
	mkdir -p "$mnt"
	( netns_exec "$h" "$GODFS_MOUNT" "$M" "$mnt" -f ) </dev/null >>"$E2E_TMP/log/mount-$h.log" 2>&1 &
	MOUNT_ON_PID=$!
	E2E_PIDS[$MOUNT_ON_PID]=mount-$h
	E2E_MOUNTS+=("$mnt")
	for ((i = 0; i < 200; i++)); do
		e2e_is_mounted "$mnt" && stat -t "$mnt" >/dev/null 2>&1 && return 0
		e2e_alive "$MOUNT_ON_PID" || e2e_fail "mount.godfs on $h exited (log: $E2E_TMP/log/mount-$h.log)"
		sleep 0.1
	done
	e2e_fail "$mnt is not mounted after 20 s"
}

# umount_on MNT PID: unmounts and waits (10 s) for that mount.godfs to exit.
umount_on() {
	local mnt=$1 pid=$2 i
	umount "$mnt" || e2e_fail "umount $mnt"
	for ((i = 0; i < 100; i++)); do
		e2e_alive "$pid" || break
		sleep 0.1
	done
	e2e_alive "$pid" && e2e_fail "mount.godfs (pid $pid) still runs 10 s after umount"
	wait "$pid" 2>/dev/null || true
	unset "E2E_PIDS[$pid]"
}

MA=$E2E_TMP/mnt-c1
mount_on c1 "$MA"
e2e_log "hosts: meta $M, cs1..cs4 ${NETNS_IP[cs1]}..${NETNS_IP[cs4]} (racks ${RACK[1]} ${RACK[2]} ${RACK[3]} ${RACK[4]}), writer c1, reader c2; nft: $NETNS_HAVE_NFT"
mkdir "$MA/g2" "$MA/g3" "$MA/w1" "$MA/w2"
admin goal /g2 2 >/dev/null || e2e_fail "goal /g2 2"
admin goal /g3 3 >/dev/null || e2e_fail "goal /g3 3"
admin goal /w1 3 >/dev/null || e2e_fail "goal /w1 3"
admin goal /w2 2 >/dev/null || e2e_fail "goal /w2 2"

# ---------------------------------------------------------------- data

# $E2E_TMP/sums: "SHA1  PATH" of the files written here, the last line of a
# path wins ("deleted  PATH": gone). $E2E_TMP/wsums: the writer's, one line
# per file once its fsync and close succeeded.
: >"$E2E_TMP/sums"
: >"$E2E_TMP/wsums"
mkfile() {
	local path=$1 size=$2
	head -c "$size" /dev/urandom >"$E2E_TMP/x"
	cp "$E2E_TMP/x" "$MA/$path" || e2e_fail "writing $path"
	echo "$(sha1sum <"$E2E_TMP/x" | cut -c1-40)  $path" >>"$E2E_TMP/sums"
}
for ((i = 0; i < N2; i++)); do mkfile "g2/f$i" $((4096 + RANDOM * 8)); done
for ((i = 0; i < N3; i++)); do mkfile "g3/f$i" $((4096 + RANDOM * 8)); done
e2e_log "$N2 goal-2 and $N3 goal-3 files written"

# The writer: one file after the other into the directory named in
# $E2E_TMP/wdir, dd with fsync; its worst write time goes to wslow.
echo w1 >"$E2E_TMP/wdir"
echo 0 >"$E2E_TMP/wslow"
(
	k=0 worst=0
	while [ ! -e "$E2E_TMP/wstop" ]; do
		d=$(cat "$E2E_TMP/wdir")
		head -c $((16384 + RANDOM * 4)) /dev/urandom >"$E2E_TMP/wx"
		t0=$(date +%s%N)
		if ! dd if="$E2E_TMP/wx" of="$MA/$d/f$k" bs=64k conv=fsync status=none 2>"$E2E_TMP/wdd.err"; then
			echo "write $d/f$k failed: $(cat "$E2E_TMP/wdd.err")" >"$E2E_TMP/werr"
			exit 1
		fi
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		((ms > worst)) && { worst=$ms; echo "$worst $d/f$k" >"$E2E_TMP/wslow"; }
		echo "$(sha1sum <"$E2E_TMP/wx" | cut -c1-40)  $d/f$k" >>"$E2E_TMP/wsums"
		k=$((k + 1))
		sleep 0.2
	done
) &
WPID=$!
writer_ok() {
	[ ! -e "$E2E_TMP/werr" ] || e2e_fail "the writer failed: $(cat "$E2E_TMP/werr")"
	e2e_alive "$WPID" || { wait "$WPID" || true; e2e_fail "the writer stopped: $(cat "$E2E_TMP/werr" 2>/dev/null)"; }
}

# verify_all WHAT: every file of sums and of the writer's finished ones,
# through a fresh mount on c2 with caches dropped (nothing from a cache).
VN=0
# With MNT PID after WHAT: on that mount of c2, made beforehand, never read.
verify_all() {
	local what=$1 mnt=${2:-} pid=${3:-} n=0 sum p got
	if [ -z "$mnt" ]; then
		VN=$((VN + 1))
		mnt=$E2E_TMP/mnt-c2-$VN
		mount_on c2 "$mnt"
		pid=$MOUNT_ON_PID
	fi
	e2e_drop_caches
	while read -r sum p; do
		n=$((n + 1))
		if [ "$sum" = deleted ]; then
			[ ! -e "$mnt/$p" ] || e2e_fail "$what: $p was deleted but is listed"
			continue
		fi
		got=$(sha1sum <"$mnt/$p" | cut -c1-40) || e2e_fail "$what: reading $p failed"
		[ "$got" = "$sum" ] || e2e_fail "$what: $p does not read back as written"
	done < <(cat "$E2E_TMP/sums" "$E2E_TMP/wsums" |
		awk '{ last[$2] = $1 } END { for (p in last) print last[p], p }')
	umount_on "$mnt" "$pid"
	e2e_log "$what: $n files checked on a fresh mount of c2"
}

# wait_goal MAX WHAT: until `chunks --json` says 0 under goal (after 2.5 s:
# a scan pass that began after the last change).
wait_goal() {
	local max=$1 what=$2 t0 u
	t0=$(date +%s)
	sleep 2.5
	while u=$(chunks_json | json_num under_goal); [ "${u:-x}" != 0 ]; do
		(($(date +%s) - t0 < max)) || e2e_fail "$what: ${u:-?} chunks under goal after $max s: $(chunks_json)"
		sleep 0.5
	done
}

# What `chunks --placement --json` reports that it should not, from the
# leader's last complete scan: a chunk that could be spread better (fixable),
# a chunk of goal 2 (two racks are up: its copies can always be on both), or
# one of goal 3 whose copies are not on both racks. A goal-3 chunk on both
# racks is listed by design (three copies on two racks share one), never
# fixable.
placement_bad() {
	local j c
	j=$(admin chunks --placement --json 2>/dev/null) || { echo "no answer"; return 0; }
	grep -q '"complete":true' <<<"$j" || { echo "no complete scan yet"; return 0; }
	[ "$(json_num total <<<"$j")" = "$(grep -o '"chunk_id"' <<<"$j" | wc -l)" ] ||
		{ echo "more chunks than listed: $(json_num total <<<"$j")"; return 0; }
	sed 's/{"chunk_id"/\n&/g' <<<"$j" | tail -n +2 | while read -r c; do
		case $c in *'"fixable":true'* | *'"goal":1,'* | *'"goal":2,'*) echo "$c"; continue ;; esac
		case $c in *'"label":"rack=r1"'*'"label":"rack=r2"'* | \
			   *'"label":"rack=r2"'*'"label":"rack=r1"'*) ;; *) echo "$c" ;; esac
	done
}

# wait_placement MAX WHAT: until placement_bad has nothing to say.
wait_placement() {
	local max=$1 what=$2 i bad
	for ((i = 0; i < max * 4; i++)); do
		bad=$(placement_bad)
		[ -z "$bad" ] && return 0
		sleep 0.25
	done
	e2e_fail "$what: placement after $max s: $(head -c 600 <<<"$bad")"
}

# The newest chunk id (decimal) on any disk, 0 without any.
newest_chunk() {
	local id
	id=$(for i in 1 2 3 4; do e2e_chunk_ids "$i"; done | sort | tail -n 1)
	echo $((16#${id:-0}))
}

# Leases of the files above end (lease 2 s + the meta's 12 s drain), so
# every chunk under goal after the cut is ready to copy at once (the writer
# runs meanwhile).
sleep 14
wait_goal 60 "before the partition"
writer_ok
e2e_log "writer: $(wc -l <"$E2E_TMP/wsums") files so far"

# ---------------------------------------------------------------- 1. cut off
e2e_chunk_files 1 | sed 's|.*/||' >"$E2E_TMP/cs1_before"
meta_line=$(wc -l <"$E2E_TMP/log/meta.log")
netns_partition cs1
cut_ns=$(date +%s%N)
e2e_log "cs1 cut off (partition, the process runs on) during the writes; it holds $(wc -l <"$E2E_TMP/cs1_before") chunk files"

: >"$E2E_TMP/samples"
under_seen=0 restored= dead_ms=
for ((s = 0; s < 600; s++)); do
	now=$(( ($(date +%s%N) - cut_ns) / 1000000 ))
	if [ -z "$dead_ms" ] && ! node_alive 1; then
		dead_ms=$now
		e2e_log "the meta declares cs1 dead $dead_ms ms after the cut"
	fi
	j=$(chunks_json) || true
	echo "$now $j" >>"$E2E_TMP/samples"
	u=$(json_num under_goal <<<"$j")
	[ "${u:-0}" -gt 0 ] && under_seen=1
	if [ -n "$dead_ms" ] && [ "$under_seen" = 1 ] && [ "${u:-1}" = 0 ]; then
		restored=$now
		break
	fi
	writer_ok
	sleep 0.2
done
[ -n "$dead_ms" ] || e2e_fail "cs1 is not declared dead $((s / 5)) s after the cut: $(node_json 1)"
((dead_ms >= DEAD_MS - 1500 && dead_ms <= DEAD_MS + 5000)) ||
	e2e_fail "cs1 declared dead $dead_ms ms after the cut, --node-dead-ms is $DEAD_MS"
[ -n "$restored" ] || e2e_fail "the goal is not back 120 s after the cut: $(chunks_json)"
writer_ok
e2e_log "goal restored $restored ms after the cut; the writer goes on"
grep -q '"under_by_live":\[0,[1-9]' "$E2E_TMP/samples" ||
	e2e_fail "chunks --json never showed a chunk with one copy left"
grep -q '"under_by_live":\[0,[0-9]*,[1-9]' "$E2E_TMP/samples" ||
	e2e_fail "chunks --json never showed a chunk with two copies left"

# Fewest copies first, from the meta's orders: every "1 of N" before the
# first "2 of 3".
tail -n +"$meta_line" "$E2E_TMP/log/meta.log" | grep -o '[0-9]* of [0-9]* copies, replicating' |
	awk '{ print $1 }' >"$E2E_TMP/order"
n1=$(grep -c '^1$' "$E2E_TMP/order" || true)
n2=$(grep -c '^2$' "$E2E_TMP/order" || true)
((n1 > 0 && n2 > 0)) || e2e_fail "expected orders for chunks with 1 and 2 copies left, got $n1 and $n2"
last1=$(grep -n '^1$' "$E2E_TMP/order" | tail -n 1 | cut -d: -f1)
first2=$(grep -n '^2$' "$E2E_TMP/order" | head -n 1 | cut -d: -f1)
((last1 < first2)) || e2e_fail "a chunk with one copy left was ordered (#$last1) after one with two (#$first2)"
# ... and from the samples: the one-copy count reaches 0 no later than the
# two-copy count.
read -r max1 max2 zero1 zero2 < <(while read -r ms j; do
	echo "$ms $(json_hist <<<"$j")"
done <"$E2E_TMP/samples" | awk '{ n = split($2, h, ","); c1 = n >= 2 ? h[2] : 0; c2 = n >= 3 ? h[3] : 0
	if (c1 > m1) m1 = c1; if (c2 > m2) m2 = c2
	if (m1 > 0 && c1 == 0 && z1 == "") z1 = $1
	if (m2 > 0 && c2 == 0 && z2 == "") z2 = $1 }
	END { print m1 + 0, m2 + 0, z1 == "" ? -1 : z1, z2 == "" ? -1 : z2 }')
((max1 > 0 && max2 > 0 && zero1 >= 0 && zero2 >= 0 && zero1 <= zero2)) ||
	e2e_fail "chunks --json: one-copy chunks (at most $max1) done at $zero1 ms, two-copy (at most $max2) at $zero2 ms"
e2e_log "order: $n1 orders for one-copy chunks before the $n2 for two-copy ones; at most $max1 chunks" \
	"with one copy left (none $zero1 ms after the cut) and $max2 with two (none at $zero2 ms)"
wait_placement 30 "cs1 cut off (rack r1 has cs2)"
e2e_log "every chunk has copies on both racks again ($(placement_total) goal-3 chunks listed as sharing one, none fixable)"

# ---------------------------------------------------------------- 2. stale copies
for ((i = 0; i < 8; i++)); do mkfile "g2/f$i" $((8192 + RANDOM)); done
for ((i = 0; i < 8; i++)); do mkfile "g3/f$i" $((8192 + RANDOM)); done
for ((i = 8; i < 16; i++)); do
	truncate -s 1000 "$MA/g3/f$i" || e2e_fail "truncate g3/f$i"
	echo "$(head -c 1000 "$MA/g3/f$i" | sha1sum | cut -c1-40)  g3/f$i" >>"$E2E_TMP/sums"
done
for ((i = 16; i < 24; i++)); do
	rm "$MA/g3/f$i" "$MA/g2/f$i" || e2e_fail "rm f$i"
	echo "deleted  g3/f$i" >>"$E2E_TMP/sums"
	echo "deleted  g2/f$i" >>"$E2E_TMP/sums"
done
e2e_log "while cs1 is cut off: 16 files overwritten, 8 truncated, 16 deleted"
wait_goal 90 "after the changes"
node_alive 1 && e2e_fail "cs1 is listed alive while cut off: $(node_json 1)"

# The copies cs1 had at the cut that are stale now: their chunk is gone, or
# is at a newer version on the other chunkds.
stale_left() {
	local f id v other
	while read -r f; do
		id=${f%%_*} v=${f#*_} v=${v%.chk}
		e2e_chunk_files 1 | grep -q "/${id}_${v}.chk" || continue
		other=$(for i in 2 3 4; do e2e_chunk_files "$i"; done |
			sed -n "s|.*/${id}_\([0-9a-f]*\)\.chk|\1|p" | sort | tail -n 1)
		if [ -z "$other" ] || [[ "$other" > "$v" ]]; then echo "$f"; fi
	done <"$E2E_TMP/cs1_before"
}
stale=$(stale_left | wc -l)
((stale > 0)) || e2e_fail "cs1 holds no stale copy: the test proves nothing"
# The reader's mount is made now, so that the reads start as soon as cs1
# is back, while its stale copies are still on its disk.
mount_on c2 "$E2E_TMP/mnt-c2-heal"
heal_mnt_pid=$MOUNT_ON_PID
netns_heal cs1
heal_ns=$(date +%s%N)
for ((k = 0; k < 150; k++)); do
	node_alive 1 && break
	sleep 0.1
done
node_alive 1 || e2e_fail "cs1 is not alive 15 s after the heal: $(node_json 1)"
back_ms=$(( ($(date +%s%N) - heal_ns) / 1000000 ))
at_read=$(stale_left | wc -l)
verify_all "cs1 back ($back_ms ms after the heal) with $at_read of its $stale stale copies on its disk" \
	"$E2E_TMP/mnt-c2-heal" "$heal_mnt_pid"
for ((k = 0; k < 300; k++)); do
	left=$(stale_left | wc -l)
	[ "$left" = 0 ] && break
	sleep 0.2
done
[ "$left" = 0 ] || e2e_fail "stale copies still on cs1 60 s after the heal: $(stale_left | head -n 5)"
e2e_log "cs1's $stale stale copies deleted within $(( ($(date +%s%N) - heal_ns) / 1000000 )) ms of the heal;" \
	"cut off for $(( (heal_ns - cut_ns) / 1000000000 )) s; $(grep -c 'registered: ' "$E2E_TMP/log/meta.log") registrations in the meta's log"
wait_goal 60 "after cs1 came back"
verify_all "stale copies gone"
writer_ok

# ---------------------------------------------------------------- 3. drain + partition
# From here the writer writes goal-2 files (w2/).
echo w2 >"$E2E_TMP/wdir"
d_held=$(e2e_chunk_ids 4 | wc -l)
((d_held > 5)) || e2e_fail "cs4 holds only $d_held chunks before the drain"
: >"$E2E_TMP/dsamples"
meta_line=$(wc -l <"$E2E_TMP/log/meta.log")
admin nodes drain "${NODE_ID[4]}" >/dev/null || e2e_fail "nodes drain cs4"
drain_ns=$(date +%s%N)
e2e_log "cs4 (${NODE_ID[4]}, rack r2) drains, holding $d_held chunks"
cut2_ns= heal2_ns= drained_ms=
for ((s = 0; s < 900; s++)); do
	now=$(date +%s%N)
	ms=$(( (now - drain_ns) / 1000000 ))
	if [ -z "$cut2_ns" ] && ((ms >= 2000)); then
		e2e_chunk_ids 2 | while read -r id; do echo $((16#$id)); done >"$E2E_TMP/cs2_at_cut"
		newest_at_cut=$(newest_chunk)
		netns_partition cs2
		cut2_ns=$(date +%s%N)
		echo "$ms cut" >>"$E2E_TMP/dsamples"
		e2e_log "cs2 (rack r1) cut off $ms ms into the drain; it holds $(wc -l <"$E2E_TMP/cs2_at_cut") chunks"
	fi
	if [ -n "$cut2_ns" ] && [ -z "$heal2_ns" ] && (( (now - cut2_ns) / 1000000000 >= PART3_HOLD )); then
		node_alive 2 && e2e_fail "cs2 is listed alive $PART3_HOLD s after its cut"
		netns_heal cs2
		heal2_ns=$(date +%s%N)
		echo "$ms heal" >>"$E2E_TMP/dsamples"
		e2e_log "cs2 healed $ms ms into the drain"
	fi
	j=$(chunks_json) || true
	echo "$ms $(json_num under_goal <<<"$j") $(json_hist <<<"$j")" >>"$E2E_TMP/dsamples"
	if [ -n "$heal2_ns" ] && node_json 4 | grep -q '"drained":true'; then
		drained_ms=$ms
		break
	fi
	writer_ok
	sleep 0.2
done
[ -n "$drained_ms" ] || e2e_fail "cs4 not drained $((s / 5)) s after the drain began: $(node_json 4)"
left=$(e2e_chunk_ids 4 | wc -l)
((left == 0)) || e2e_fail "cs4 still holds $left chunk files once drained"
e2e_log "cs4 drained in $drained_ms ms ($d_held chunks; cs2 cut off for $PART3_HOLD s of it)"

# (a), (b), (d) from the samples: "ms under_goal h0,h1,..." and the markers.
awk '
	$2 == "cut" { cut = 1; next }
	$2 == "heal" { heal = 1; next }
	NF < 3 { next }
	{ n = split($3, h, ",") }
	!cut && $2 > 0 { printf "(a) %d ms: %d chunks under goal before the cut\n", $1, $2; bad = 1 }
	n >= 1 && h[1] > 0 { printf "(b) %d ms: %d chunks with no live copy\n", $1, h[1]; bad = 1 }
	heal && $2 == 0 { back = 1 }
	back && $2 > 0 { printf "(d) %d ms: %d chunks under goal after the goal was back\n", $1, $2; bad = 1 }
	END { exit bad }' "$E2E_TMP/dsamples" >"$E2E_TMP/dbad" ||
	e2e_fail "the drain went below goal: $(head -n 5 "$E2E_TMP/dbad")"
max_under=$(awk 'NF >= 3 && $2 > m { m = $2 } END { print m + 0 }' "$E2E_TMP/dsamples")
# (c) from the meta's log.
tail -n +"$meta_line" "$E2E_TMP/log/meta.log" |
	sed -n 's/.*chunk \([0-9]*\) v[0-9]*: \([0-9]*\) of \([0-9]*\) copies.*/\1 \2 \3/p' >"$E2E_TMP/dunder"
while read -r id n g; do
	((n + 1 >= g)) || e2e_fail "(c) chunk $id had $n of $g copies during the drain: more than the partition took"
	((id >= newest_at_cut)) || grep -qx "$id" "$E2E_TMP/cs2_at_cut" ||
		e2e_fail "(c) chunk $id ($n of $g copies) was under goal during the drain, and cs2 never held it"
done <"$E2E_TMP/dunder"
e2e_log "drain with cs2 cut off: at most $max_under chunks under goal, $(wc -l <"$E2E_TMP/dunder")" \
	"under-goal lines in the meta's log, each a chunk cs2 held (or newer) with one copy lost"

wait_goal 60 "after the drain"
wait_placement 30 "after the drain"
touch "$E2E_TMP/wstop"
wait "$WPID" || e2e_fail "the writer failed: $(cat "$E2E_TMP/werr" 2>/dev/null)"
read -r wslow wslow_f <"$E2E_TMP/wslow"
e2e_log "writer: $(wc -l <"$E2E_TMP/wsums") files with fsync, none failed; the slowest took $wslow ms ($wslow_f);" \
	"$(grep -c 'failed before any write was acknowledged' "$E2E_TMP/log/meta.log" || true) chains" \
	"rebuilt after a member failed at their first write (docs/durability.md)"
verify_all "the end"
e2e_alive "$META_PID" || e2e_fail "the meta died"
for i in 1 2 3 4; do e2e_alive "${CS_PID[$i]}" || e2e_fail "cs$i died"; done
