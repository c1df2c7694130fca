#!/bin/bash
# kill -9 of godfs-meta in the middle of a workload (files written and closed,
# directories made, renames), a restart on the same data directory, and every
# change that was acknowledged before, during or after the crash is there.
# The mount survives the restart: the client reconnects and the workload goes
# on through the same mount.
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
mkdir "$MNT/w"
ACK=$E2E_TMP/acked
: >"$ACK"

# One line per acknowledged change: "f N" file N with content "file N"
# (written by cat, which reports a failed close), "d N" directory, "r N"
# file N renamed to g N.
workload() {
	local i=0
	while [ ! -e "$E2E_TMP/stop" ]; do
		i=$((i + 1))
		if printf 'file %d\n' "$i" | cat >"$MNT/w/f$i" 2>/dev/null; then
			echo "f $i" >>"$ACK"
		fi
		if [ $((i % 5)) = 0 ] && mkdir "$MNT/w/d$i" 2>/dev/null; then
			echo "d $i" >>"$ACK"
		fi
		if [ $((i % 7)) = 0 ] && grep -qx "f $i" "$ACK" && mv "$MNT/w/f$i" "$MNT/w/g$i" 2>/dev/null; then
			echo "r $i" >>"$ACK"
		fi
	done
}
workload &
WPID=$!
E2E_PIDS[$WPID]=workload

sleep 3
n1=$(wc -l <"$ACK")
[ "$n1" -gt 10 ] || e2e_fail "the workload acknowledged only $n1 changes in 3 s"
kill -9 "$META_PID"
wait "$META_PID" 2>/dev/null || true
unset "E2E_PIDS[$META_PID]"
n2=$(wc -l <"$ACK")
e2e_log "killed godfs-meta (kill -9) after $n2 acknowledged changes"
sleep 1
e2e_start_meta
e2e_log "godfs-meta restarted"
# The workload must go on through the same mount once the client reconnects.
for ((t = 0; t < 300; t++)); do
	[ "$(wc -l <"$ACK")" -gt $((n2 + 20)) ] && break
	sleep 0.1
done
n3=$(wc -l <"$ACK")
[ "$n3" -gt $((n2 + 20)) ] || e2e_fail "the workload did not resume through the mount after the restart ($n2 -> $n3 changes in 30 s)"
touch "$E2E_TMP/stop"
wait "$WPID"
unset "E2E_PIDS[$WPID]"
e2e_log "workload stopped: $(wc -l <"$ACK") acknowledged changes"

check_all() {
	local what=$1 kind n missing=0
	while read -r kind n; do
		case $kind in
		f)
			if grep -qx "r $n" "$ACK"; then continue; fi
			[ "$(cat "$MNT/w/f$n" 2>&1)" = "file $n" ] || { echo "missing or wrong: f$n"; missing=$((missing + 1)); } ;;
		d) [ -d "$MNT/w/d$n" ] || { echo "missing: d$n"; missing=$((missing + 1)); } ;;
		r)
			[ "$(cat "$MNT/w/g$n" 2>&1)" = "file $n" ] && [ ! -e "$MNT/w/f$n" ] ||
				{ echo "rename not there: f$n -> g$n"; missing=$((missing + 1)); } ;;
		esac
	done <"$ACK"
	[ "$missing" = 0 ] || e2e_fail "$missing acknowledged changes lost ($what)"
}
check_all "same mount"
e2e_remount
check_all "after a remount"

# And once more after a second crash with no workload running.
kill -9 "$META_PID"
wait "$META_PID" 2>/dev/null || true
unset "E2E_PIDS[$META_PID]"
e2e_start_meta
e2e_remount
check_all "after a second kill -9"
e2e_log "all $(wc -l <"$ACK") acknowledged changes are there"
