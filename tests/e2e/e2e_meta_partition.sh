#!/bin/bash
# Partitions of the metadata cluster, and a follower that catches up by
# snapshot install. Three voters on hosts of their own (tests/e2e/voters.sh),
# three chunkds, client c1 (reaches everybody) and client c2, each with a
# mount given all three voters and a workload (meta_workload.py) on it.
#
# 1. The leader L is cut off from the two other voters (nftables in L's
#    namespace), and so is client c2: c2 reaches only L, c1 reaches all.
#    - L steps down ("no longer the leader") within the election timeout
#      (1 s in libraft 0.15: a leader that has not heard from a majority for
#      that long becomes a follower) + a margin: STEP_DOWN_MAX_MS;
#    - no split brain: no operation that c2 began after the cut is
#      acknowledged before the heal (it could only have been L);
#    - c1 sees a new leader serve within NEW_LEADER_MAX_MS;
#    - after the heal L is a follower of the new leader (it never reports
#      itself leader during the cut), c2's workload goes on without an error,
#      and both trees hold exactly what was acknowledged.
# 2. The voters run with a small --snapshot-threshold, so the log is
#    compacted all along. A follower F is killed, many changes are made,
#    F restarts: it must install the leader's snapshot ("snapshot restored"
#    after its start) and then, made leader (a leadership transfer), serve a
#    tree (fresh mount) that holds everything acknowledged.
E2E_TIMEOUT=${PARTITION_TIMEOUT:-240}
VOTER_ARGS=(--snapshot-threshold 256 --snapshot-trailing 64)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
[ "$NETNS_HAVE_NFT" = 1 ] || e2e_skip "no nft(8): cannot cut one host from some of the others"
. "$(dirname "$0")/voters.sh"

CUT_S=8                  # how long the partition lasts (under a client call's 30 s)
STEP_DOWN_MAX_MS=4000
NEW_LEADER_MAX_MS=4000     # measured 1.6-1.9 s (a deposed leader holds nobody)

voters_hosts 2
voters_up
MA=$E2E_TMP/mnt-c1
MB=$E2E_TMP/mnt-c2
mount_on c1 "$MA"
mount_on c2 "$MB"
workload_start "$MA" w1
workload_start "$MB" w2
wait_acked 30 30 "before the partition"

# ---- 1. the leader cut off from the majority ----
wait_leader
L=$LEAD
others=()
for n in 1 2 3; do [ "$n" = "$L" ] || others+=("m$n"); done
cut_off "m$L" "${others[@]}"
cut_off c2 "${others[@]}"
t_cut=$(date +%s%N)     # once both cuts are in place
e2e_log "cut: leader voter $L and client c2 from ${others[*]}"
sleep "$CUT_S"
w1_first=$(python3 "$WORKLOAD" first-ack "$t_cut" "$E2E_TMP/ack-w1.log")
t_heal=$(date +%s%N)
uncut "m$L"
uncut c2
e2e_log "healed after $(( (t_heal - t_cut) / 1000000 )) ms"
workload_ok

# When did L step down, and did it ever lead again during the cut?
down=$(voter_log_since_start "$L" | sed -n 's/^\([0-9T:.-]*Z\) .*no longer the leader.*/\1/p' |
	while read -r ts; do ns=$(log_ns "$ts"); [ "$ns" -gt "$t_cut" ] && { echo "$ns"; break; }; done)
[ -n "$down" ] || e2e_fail "voter $L never says it is no longer the leader after the cut"
down_ms=$(( (down - t_cut) / 1000000 ))
e2e_log "voter $L stepped down $down_ms ms after the cut"
((down_ms <= STEP_DOWN_MAX_MS)) || e2e_fail "voter $L stepped down only $down_ms ms after the cut (> $STEP_DOWN_MAX_MS)"
during=$(voter_log_since_start "$L" | sed -n 's/^\([0-9T:.-]*Z\) .*leader of term .*ready at index.*/\1/p' |
	while read -r ts; do
		ns=$(log_ns "$ts")
		if [ "$ns" -gt "$t_cut" ] && [ "$ns" -lt "$t_heal" ]; then echo "$ts"; fi
	done)
[ -z "$during" ] || e2e_fail "voter $L became leader again during the cut ($during)"
# No split brain: nothing c2 began after the cut was acknowledged before the heal.
split=$(awk -v c="$t_cut" -v h="$t_heal" '$1 > c && $2 < h' "$E2E_TMP/ack-w2.log")
[ -z "$split" ] || e2e_fail "split brain: acknowledged on c2 (reaching only voter $L) during the cut: $split"
[ -n "$w1_first" ] || e2e_fail "c1 saw no operation acknowledged during the $CUT_S s cut"
e2e_log "c1: first operation acknowledged $w1_first ms after the cut"
((w1_first <= NEW_LEADER_MAX_MS)) || e2e_fail "c1 waited $w1_first ms for a new leader (> $NEW_LEADER_MAX_MS)"
# c2 goes on once healed.
t=$(date +%s%N)
n=$(awk -v t="$t" '$2 > t' "$E2E_TMP/ack-w2.log" | wc -l)
for ((k = 0; k < 200 && n == 0; k++)); do
	workload_ok
	sleep 0.1
	n=$(awk -v t="$t" '$2 > t' "$E2E_TMP/ack-w2.log" | wc -l)
done
[ "$n" -gt 0 ] || e2e_fail "c2 acknowledged nothing in 20 s after the heal"
c2_back=$(python3 "$WORKLOAD" first-ack "$t_heal" "$E2E_TMP/ack-w2.log")
e2e_log "c2: first operation acknowledged ${c2_back:-?} ms after the heal"
wait_leader
[ "$LEAD" != "$L" ] || e2e_log "note: voter $L leads again (a later election)"
e2e_alive "${VPID[$L]}" || e2e_fail "voter $L died"
workload_stop
check_tree "$MA" "after the heal, mount c1"
check_tree "$MB" "after the heal, mount c2"

# ---- 2. a follower far behind catches up by snapshot install ----
wait_leader
for n in 1 2 3; do [ "$n" = "$LEAD" ] || F=$n; done
kill_voter "$F"
e2e_log "follower voter $F killed (leader voter $LEAD)"
workload_start "$MA" w3
workload_start "$MB" w4
n=$(acked_count)
wait_acked "$((n + 1500))" 90 "with voter $F down"
workload_stop
e2e_log "$(( $(acked_count) - n )) operations acknowledged with voter $F down"
start_voter "$F"
for ((k = 0; k < 300; k++)); do
	voter_log_since_start "$F" | sed -n '/voter(s)/,$p' | grep -q 'snapshot restored' && break
	e2e_alive "${VPID[$F]}" || e2e_fail "voter $F died after its restart"
	sleep 0.1
done
installed=$(voter_log_since_start "$F" | sed -n '/voter(s)/,$p' | grep 'snapshot restored' | tail -n 1)
[ -n "$installed" ] || e2e_fail "voter $F did not install a snapshot within 30 s of its restart"
e2e_log "voter $F: ${installed#*info }"
# Make F the leader (a leadership transfer, once F is up to date).
make_leader "$F"
e2e_log "voter $F leads"
MC=$E2E_TMP/mnt-fresh
mount_on c1 "$MC"
check_tree "$MC" "voter $F (caught up by snapshot) as leader, fresh mount"
