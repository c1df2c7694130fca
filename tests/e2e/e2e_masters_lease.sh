#!/bin/bash
# Linearizable reads across a partition (docs/meta.md "Linearizable reads"):
# three voters on three hosts (tests/e2e/netns.sh) and an admin host. The
# leader's host is cut off from everyone; a client on that host (it reaches
# the old leader over its loopback, nothing else) keeps asking it, one read
# after the other, from before the cut on.
#   - Before the cut, that client reads the root directory's goal (3) from the
#     leader: reads work there.
#   - After the cut, the majority elects a new leader and changes the goal to
#     1. No read of the minority client that started after that change was
#     acknowledged may answer goal 3 (a stale read); no read that started
#     more than the lease (750 ms, + 250 ms of slack) after the cut may be
#     answered at all, even while the old leader still believes it leads
#     (libraft deposes it 1 to 2 s after the cut: the log says when, and the
#     test says how many reads the lease refused before that). The old leader
#     acknowledges no write, and steps down.
#   - Healed, the old leader follows; every voter answers goal 1.
E2E_TIMEOUT=180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

for n in 1 2 3; do netns_host "m$n" $((1 + n)); done
netns_host adm 20
declare -A MPID=()
addr() { echo "${NETNS_IP[m$1]}:9090"; }
PEERS="1@${NETNS_IP[m1]}:9091@$(addr 1),2@${NETNS_IP[m2]}:9091@$(addr 2),3@${NETNS_IP[m3]}:9091@$(addr 3)"
ALL="$(addr 1),$(addr 2),$(addr 3)"

for n in 1 2 3; do
	mkdir -p "$E2E_TMP/m$n"
	( netns_exec "m$n" "$GODFS_META" --data-dir "$E2E_TMP/m$n" --listen "$(addr "$n")" \
		--raft-listen "${NETNS_IP[m$n]}:9091" --node-id "$n" --peers "$PEERS" \
		--log-level debug ) </dev/null >>"$E2E_TMP/log/m$n.log" 2>&1 &
	MPID[$n]=$!
	E2E_PIDS[${MPID[$n]}]=m$n
done
for n in 1 2 3; do netns_wait_port "m$n" "${NETNS_IP[m$n]}" 9090 "m$n" "${MPID[$n]}"; done

# admin HOST METAS ARGS...: godfs-admin on HOST.
admin() {
	local h=$1 metas=$2
	shift 2
	netns_run "$h" "$GODFS_ADMIN" --meta "$metas" "$@"
}

# The leader's voter number (15 s), as the majority side sees it.
leader() {
	local t id
	for ((t = 0; t < 75; t++)); do
		id=$(admin adm "$1" --timeout 3 masters list --json 2>/dev/null |
			sed -n 's/.*"leader_id":\([0-9]*\).*/\1/p')
		if [ -n "$id" ] && [ "$id" != 0 ] && [ "$id" != "${2:-}" ]; then
			echo "$id"
			return 0
		fi
		sleep 0.2
	done
	return 1
}

L=$(leader "$ALL") || e2e_fail "no leader after 15 s"
e2e_log "leader: voter $L"
# The lease is held once heartbeats flow.
for ((t = 0; t < 50; t++)); do
	admin adm "$ALL" masters list --json | grep -q '"lease":true' && break
	sleep 0.1
done
admin adm "$ALL" masters list --json | grep -q '"lease":true' ||
	e2e_fail "the leader does not hold its read lease: $(admin adm "$ALL" masters list)"

# A read on the leader's host, from the leader, works before the cut.
out=$(admin "m$L" "$(addr "$L")" --timeout 5 goal /) || e2e_fail "read on m$L before the cut: $out"
[ "$out" = "/: goal 3" ] || e2e_fail "read on m$L before the cut: $out"

# The minority client: reads in a loop, one line per read:
# START_NS END_NS EXIT OUTPUT.
READS=$E2E_TMP/reads
reader() {
	local s e rc out
	while [ ! -e "$E2E_TMP/stop" ]; do
		s=$(date +%s%N)
		rc=0
		out=$(admin "m$L" "$(addr "$L")" --timeout 1 goal / 2>&1) || rc=$?
		e=$(date +%s%N)
		echo "$s $e $rc ${out//$'\n'/ }" >>"$READS"
	done
}
reader &
RPID=$!
E2E_PIDS[$RPID]=reader
sleep 1

# The cut.
netns_partition "m$L"
cut=$(date +%s%N)
e2e_log "voter $L cut off"
MAJ=
for n in 1 2 3; do [ "$n" = "$L" ] || MAJ+="${MAJ:+,}$(addr "$n")"; done
NEW=$(leader "$MAJ" "$L") || e2e_fail "the majority elected no leader in 15 s"
out=$(admin adm "$MAJ" --timeout 10 goal / 1) || e2e_fail "write on the majority: $out"
changed=$(date +%s%N)
e2e_log "voter $NEW leads the majority; goal set to 1 $(((changed - cut) / 1000000)) ms after the cut"

# The minority reads: none stale, none answered past the lease.
sleep 1.5
touch "$E2E_TMP/stop"
wait "$RPID" 2>/dev/null || true
unset "E2E_PIDS[$RPID]"
down_line=$(grep -m1 "no longer the leader" "$E2E_TMP/log/m$L.log" || true)
[ -n "$down_line" ] || e2e_fail "voter $L did not step down"
down=$(date -d "${down_line%% *}" +%s%N)
answered=0 refused_leading=0 late_max=0
while read -r s e rc out; do
	if [ "$rc" = 0 ]; then
		if [ "$s" -gt "$changed" ] && [ "$out" = "/: goal 3" ]; then
			e2e_fail "STALE READ: started $(((s - changed) / 1000000)) ms after the majority set goal 1, answered '$out'"
		fi
		if [ "$s" -gt "$cut" ]; then
			answered=$((answered + 1))
			[ $(((s - cut) / 1000000)) -gt "$late_max" ] && late_max=$(((s - cut) / 1000000))
		fi
		[ "$s" -le $((cut + 1000000000)) ] ||
			e2e_fail "a read started $(((s - cut) / 1000000)) ms after the cut was answered ('$out'): past the lease"
	elif [ "$s" -gt $((cut + 1000000000)) ] && [ "$s" -lt "$down" ]; then
		refused_leading=$((refused_leading + 1))
	fi
done <"$READS"
e2e_log "minority reads: $(wc -l <"$READS") in all; after the cut $answered answered (the last started $late_max ms after it), $refused_leading refused while voter $L still led (it stepped down $(((down - cut) / 1000000)) ms after the cut)"

# The minority after that: no read answer (above all not goal 3), no write acknowledged.
rc=0
out=$(admin "m$L" "$(addr "$L")" --timeout 4 goal / 2>&1) || rc=$?
asked=$(date +%s%N)
case "$out" in *"goal 3"*) e2e_fail "STALE READ: the cut-off leader answered '$out' after the majority set goal 1" ;; esac
[ "$rc" != 0 ] || e2e_fail "the cut-off leader answered a read: $out"
e2e_log "minority read refused ($(((asked - changed) / 1000000)) ms): $out"
rc=0
out=$(admin "m$L" "$(addr "$L")" --timeout 4 goal / 2 2>&1) || rc=$?
[ "$rc" != 0 ] || e2e_fail "the cut-off leader acknowledged a write: $out"
e2e_log "minority write refused: $out"

# Healed: everyone agrees.
netns_heal "m$L"
sleep 3
out=$(admin adm "$ALL" --timeout 10 goal /) || e2e_fail "read after the heal: $out"
[ "$out" = "/: goal 1" ] || e2e_fail "after the heal: $out"
out=$(admin "m$L" "$(addr "$L")" --timeout 10 goal /) || e2e_fail "read via voter $L after the heal: $out"
[ "$out" = "/: goal 1" ] || e2e_fail "via voter $L after the heal: $out"
e2e_log "healed: voter $L follows, goal 1 everywhere"
