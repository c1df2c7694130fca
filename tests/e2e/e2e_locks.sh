#!/bin/bash
# Cluster-wide locks (docs/locks.md) with two mounts on two client hosts:
# three meta voters (tests/e2e/voters.sh, a short session timeout), three
# chunkds, mounts A (host c1) and B (host c2).
#
#   flock(1)      exclusive excludes, shared shares, -n fails fast, a
#                 blocking waiter on B gets the lock when A's holder ends
#                 (the grant is a push: its latency is printed and bounded)
#   fcntl         Python lockf/fcntl with ranges: disjoint ranges both lock,
#                 overlapping ones conflict, F_GETLK on B shows A's lock
#                 (pid 0: a process of another host); a blocking wait
#                 interrupted by a signal gets EINTR and is cancelled at the
#                 meta (the lock does not go to it later)
#   OFD           two OFD locks of one process conflict, its POSIX locks
#                 on two descriptors do not, an OFD lock on A excludes B
#   EDEADLK       a cycle of two processes on two mounts: one gets EDEADLK,
#                 the other its lock
#   SQLite        rollback journal from both mounts at once, WAL from two
#                 processes on one mount: integrity_check ok, rows exact
#   kill -9       of mount A holding a lock: B gets it once A's session
#                 expires
#   leader change with a lock held (B's) and A's blocking waiter queued:
#                 after the new leader is ready A still cannot take it, and
#                 its waiter (sent again by A's mount) is granted when B
#                 lets go
E2E_TIMEOUT=${LOCKS_TIMEOUT:-180}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/voters.sh"

TOOL=$E2E_SRCDIR/tests/e2e/locks_tool.py
SESSION_MS=3000
VOTER_ARGS=(--session-timeout-ms "$SESSION_MS")

voters_hosts 2
voters_up
A=$E2E_TMP/mnt-c1
B=$E2E_TMP/mnt-c2
mount_on c1 "$A"
mount_on c2 "$B"
e2e_log "voters $ALL_METAS (leader voter $LEAD), mounts $A (c1) and $B (c2)"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_file PATH [SECONDS]
wait_file() {
	local i max=$((${2:-20} * 20))
	for ((i = 0; i < max; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	e2e_fail "$1 did not appear in ${2:-20} s"
}
# hold MNT-FILE KIND TYPE START LEN NAME: a holder in the background, ready
# when it holds; it lets go when $E2E_TMP/go-NAME exists.
hold() {
	python3 "$TOOL" hold "$2" "$3" "$4" "$5" "$1" "$E2E_TMP/ready-$6" "$E2E_TMP/go-$6" \
		>>"$E2E_TMP/log/hold-$6.log" 2>&1 &
	HOLD_PID[$6]=$!
	E2E_PIDS[${HOLD_PID[$6]}]=hold-$6
	wait_file "$E2E_TMP/ready-$6"
}
release() {
	touch "$E2E_TMP/go-$1"
	wait "${HOLD_PID[$1]}" || e2e_fail "holder $1 failed: $(cat "$E2E_TMP/log/hold-$1.log")"
	unset "E2E_PIDS[${HOLD_PID[$1]}]"
}
declare -A HOLD_PID=()
try() { python3 "$TOOL" try "$@"; }

# ---- flock(1) across mounts
echo data >"$A/f"
flock -x "$A/f" -c "touch $E2E_TMP/fx-held; while [ ! -e $E2E_TMP/fx-go ]; do sleep 0.05; done" &
FX=$!
wait_file "$E2E_TMP/fx-held"
t0=$(now_ms)
flock -n -x "$B/f" true && e2e_fail "flock -n -x on B got a lock A holds exclusively"
flock -n -s "$B/f" true && e2e_fail "flock -n -s on B got a lock A holds exclusively"
t1=$(now_ms)
((t1 - t0 < 2000)) || e2e_fail "flock -n took $((t1 - t0)) ms to fail"
e2e_log "flock: exclusive on A excludes B (-n fails in $(((t1 - t0) / 2)) ms)"
# a blocking waiter on B, granted by a push when A lets go
flock -x "$B/f" -c "date +%s%N >$E2E_TMP/fx-got" &
FW=$!
sleep 1
[ -e "$E2E_TMP/fx-got" ] && e2e_fail "B got the lock while A holds it"
date +%s%N >"$E2E_TMP/fx-rel"
touch "$E2E_TMP/fx-go"
wait "$FX"
wait "$FW" || e2e_fail "the blocking flock on B failed"
grant_ms=$((($(cat "$E2E_TMP/fx-got") - $(cat "$E2E_TMP/fx-rel")) / 1000000))
e2e_log "flock: B's blocking waiter got the lock ${grant_ms} ms after A let go"
((grant_ms < 3000)) || e2e_fail "the grant took $grant_ms ms"
# shared shares
flock -s "$A/f" -c "touch $E2E_TMP/fs-held; while [ ! -e $E2E_TMP/fs-go ]; do sleep 0.05; done" &
FS=$!
wait_file "$E2E_TMP/fs-held"
flock -n -s "$B/f" true || e2e_fail "flock -n -s on B refused while A holds it shared"
flock -n -x "$B/f" true && e2e_fail "flock -n -x on B got a lock A holds shared"
touch "$E2E_TMP/fs-go"
wait "$FS"
flock -n -x "$B/f" true || e2e_fail "flock -n -x on B refused after A let go"
e2e_log "flock: shared shares across mounts, exclusive waits for it"

# ---- fcntl record locks with ranges
hold "$A/r" posix w 0 100 r1
[ "$(try posix w 100 100 "$B/r")" = ok ] || e2e_fail "a disjoint range on B was refused"
[ "$(try posix w 50 100 "$B/r")" = EAGAIN ] || e2e_fail "an overlapping range on B was granted"
[ "$(try posix r 99 1 "$B/r")" = EAGAIN ] || e2e_fail "a read lock on B inside A's write lock was granted"
got=$(python3 "$TOOL" getlk 0 10 "$B/r")
[ "$got" = "w 0 100 0" ] || e2e_fail "F_GETLK on B says '$got', wanted 'w 0 100 0'"
# a blocking waiter on B interrupted by a signal: cancelled at the meta (the
# lock does not go to it when A lets go: its process still has the file open)
python3 "$TOOL" interrupted "$B/r" "$E2E_TMP/ready-i" "$E2E_TMP/out-i" "$E2E_TMP/go-i" \
	>>"$E2E_TMP/log/intr.log" 2>&1 &
INTR=$!
E2E_PIDS[$INTR]=interrupted
wait_file "$E2E_TMP/ready-i"
sleep 0.5
kill -USR1 "$INTR"
wait_file "$E2E_TMP/out-i" 10
[ "$(cat "$E2E_TMP/out-i")" = EINTR ] || e2e_fail "the interrupted waiter says $(cat "$E2E_TMP/out-i")"
release r1
[ "$(try posix w 50 100 "$B/r")" = ok ] || e2e_fail "B refused after A's holder closed the file"
[ "$(python3 "$TOOL" getlk 0 10 "$B/r")" = unlocked ] || e2e_fail "F_GETLK still sees a lock"
touch "$E2E_TMP/go-i"
wait "$INTR" || e2e_fail "the interrupted waiter failed: $(cat "$E2E_TMP/log/intr.log")"
unset "E2E_PIDS[$INTR]"
e2e_log "fcntl: ranges, conflicts, F_GETLK across mounts (pid 0 for another host's holder), an interrupted wait cancelled"

# ---- OFD locks
out=$(python3 "$TOOL" ofd_same_process "$A/o")
[ "$out" = "ofd: EAGAIN
posix: ok" ] || e2e_fail "OFD locks of one process: $out"
hold "$A/o" ofd w 0 0 o1
[ "$(try ofd r 10 1 "$B/o")" = EAGAIN ] || e2e_fail "an OFD lock on B was granted over A's"
[ "$(try posix r 10 1 "$B/o")" = EAGAIN ] || e2e_fail "a POSIX lock on B was granted over A's OFD lock"
release o1
[ "$(try ofd w 0 0 "$B/o")" = ok ] || e2e_fail "B's OFD lock refused after A's file closed"
e2e_log "OFD: one owner per open file (two in one process conflict), released at the last close"

# ---- EDEADLK between two mounts
python3 "$TOOL" deadlock a "$A/d" "$E2E_TMP/da" "$E2E_TMP/db" "$E2E_TMP/dout-a" &
DA=$!
python3 "$TOOL" deadlock b "$B/d" "$E2E_TMP/db" "$E2E_TMP/da" "$E2E_TMP/dout-b" &
DB=$!
wait "$DA" "$DB" || e2e_fail "a deadlock side failed"
res="$(cat "$E2E_TMP/dout-a") $(cat "$E2E_TMP/dout-b")"
[ "$res" = "ok EDEADLK" ] || e2e_fail "deadlock: sides said '$res', wanted 'ok EDEADLK'"
e2e_log "EDEADLK: the request closing the cycle fails, the other side then gets its lock"

# ---- SQLite
N=${LOCKS_SQLITE_TX:-150}
t0=$(now_ms)
python3 "$TOOL" sqlite delete "$A/rb.db" a "$N" >>"$E2E_TMP/log/sqlite-a.log" 2>&1 &
SA=$!
python3 "$TOOL" sqlite delete "$B/rb.db" b "$N" >>"$E2E_TMP/log/sqlite-b.log" 2>&1 &
SB=$!
wait "$SA" || e2e_fail "sqlite on A: $(tail -3 "$E2E_TMP/log/sqlite-a.log")"
wait "$SB" || e2e_fail "sqlite on B: $(tail -3 "$E2E_TMP/log/sqlite-b.log")"
t1=$(now_ms)
for m in "$A" "$B"; do
	got=$(python3 "$TOOL" sqlite_check "$m/rb.db")
	[ "$got" = "ok $((2 * N))" ] || e2e_fail "rollback journal, read on $m: '$got', wanted 'ok $((2 * N))'"
done
e2e_log "SQLite rollback journal: $((2 * N)) transactions from two mounts at once in $((t1 - t0)) ms, integrity ok"
python3 "$TOOL" sqlite wal "$A/wal.db" setup 0 >>"$E2E_TMP/log/sqlite-wa.log" 2>&1 ||
	e2e_fail "sqlite WAL setup: $(tail -3 "$E2E_TMP/log/sqlite-wa.log")"
t0=$(now_ms)
python3 "$TOOL" sqlite wal "$A/wal.db" a "$N" >>"$E2E_TMP/log/sqlite-wa.log" 2>&1 &
SA=$!
python3 "$TOOL" sqlite wal "$A/wal.db" b "$N" >>"$E2E_TMP/log/sqlite-wb.log" 2>&1 &
SB=$!
wait "$SA" || e2e_fail "sqlite WAL 1: $(tail -3 "$E2E_TMP/log/sqlite-wa.log")"
wait "$SB" || e2e_fail "sqlite WAL 2: $(tail -3 "$E2E_TMP/log/sqlite-wb.log")"
t1=$(now_ms)
got=$(python3 "$TOOL" sqlite_check "$A/wal.db")
[ "$got" = "ok $((2 * N))" ] || e2e_fail "WAL on one mount: '$got', wanted 'ok $((2 * N))'"
e2e_log "SQLite WAL: $((2 * N)) transactions from two processes on one mount in $((t1 - t0)) ms, integrity ok"

# ---- a meta leader change with a lock held (B's) and a waiter queued (A's)
hold "$B/l" posix w 0 0 l1
[ "$(try posix w 0 0 "$A/l")" = EAGAIN ] || e2e_fail "A got B's lock"
python3 "$TOOL" hold posix w 0 0 "$A/l" "$E2E_TMP/ready-l2" "$E2E_TMP/go-l2" \
	>>"$E2E_TMP/log/hold-l2.log" 2>&1 &
HOLD_PID[l2]=$!
E2E_PIDS[${HOLD_PID[l2]}]=hold-l2
sleep 0.5
wait_leader 20
old=$LEAD
kill_voter "$old"
t0=$SECONDS
while :; do
	leader_once && [ "$LEAD" != "$old" ] && break
	((SECONDS - t0 < 20)) || e2e_fail "no new leader 20 s after killing voter $old"
	sleep 0.2
done
r=$(try posix w 0 0 "$A/l")
[ "$r" = EAGAIN ] || e2e_fail "after the leader change A's try says '$r': B's lock was lost"
start_voter "$old"
sleep 1
[ -e "$E2E_TMP/ready-l2" ] && e2e_fail "A's waiter got B's lock"
# the waiter was queued at the old leader; A sent it again to the new one,
# which pushes the grant when B lets go
release l1
wait_file "$E2E_TMP/ready-l2" 20
release l2
e2e_log "leader change (voter $old killed, voter $LEAD leads): B's lock held, A's waiter granted after"

# ---- kill -9 of a mount holding a lock: its session expires
hold "$A/k" flock w 0 0 k1
[ "$(try flock w 0 0 "$B/k")" = EAGAIN ] || e2e_fail "B got A's flock"
t0=$(now_ms)
kill -KILL "${MOUNT_OF[$A]}"
wait "${MOUNT_OF[$A]}" 2>/dev/null || true
unset "E2E_PIDS[${MOUNT_OF[$A]}]"
kill -KILL "${HOLD_PID[k1]}" 2>/dev/null || true
unset "E2E_PIDS[${HOLD_PID[k1]}]"
umount -l "$A" 2>/dev/null || true
python3 "$TOOL" hold flock w 0 0 "$B/k" "$E2E_TMP/ready-k2" "$E2E_TMP/go-k2" \
	>>"$E2E_TMP/log/hold-k2.log" 2>&1 &
HOLD_PID[k2]=$!
E2E_PIDS[${HOLD_PID[k2]}]=hold-k2
wait_file "$E2E_TMP/ready-k2" $((SESSION_MS / 1000 + 20))
t1=$(now_ms)
release k2
e2e_log "kill -9 of mount A: B's waiter got the flock $((t1 - t0)) ms later (session timeout $SESSION_MS ms)"
((t1 - t0 >= SESSION_MS - 500)) || e2e_fail "B got the lock before A's session could expire"

umount_from "$B"
e2e_log "PASS"
