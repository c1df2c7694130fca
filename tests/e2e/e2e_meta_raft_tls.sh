#!/bin/bash
# TLS on the Raft port (docs/security.md, "The Raft port"). Every voter's Raft
# port sits behind a relay that copies the bytes both ways into a dump, so
# that the test sees what an eavesdropper on the wire would see.
#   1. Without --tls: three voters elect and replicate; a directory with a
#      distinctive 40-byte name made through the mount shows up in plaintext
#      in the dump (so the check below can fail).
#   2. With --tls (GODFS_TLS=1 for every program): three voters, three
#      chunkds and a mount; files written, the distinctive name made; it is
#      nowhere in the dump, though the dump holds the replicated traffic.
#   3. The leader is killed: the two others elect a new one, every file reads
#      back, more are written.
#   4. The dead voter comes back without --tls: it and the others refuse each
#      other, both ways, with a log line each; back with --tls it catches up.
E2E_TIMEOUT=240
. "$(dirname "$0")/lib.sh"

NAME=raftwire-canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
((${#NAME} == 40)) || e2e_fail "the name has ${#NAME} bytes, not 40"

RELAY=$(dirname "$0")/relay.py

declare -A VPID=() VCLIENT=() VRAFT=()
# cluster TAG: ports, the relay (its dump is $E2E_TMP/TAG.dump) and PEERS for
# three voters whose configured Raft addresses are the relay's ports.
cluster() {
	local tag=$1 ports n relay=()
	read -r -a ports <<<"$(e2e_free_ports 9)"
	PEERS=
	for n in 1 2 3; do
		VCLIENT[$n]=${ports[$((n - 1))]}
		VRAFT[$n]=${ports[$((n + 2))]}
		relay+=("${ports[$((n + 5))]}:${VRAFT[$n]}")
		PEERS="$PEERS${PEERS:+,}$n@127.0.0.1:${ports[$((n + 5))]}@127.0.0.1:${VCLIENT[$n]}"
	done
	DUMP=$E2E_TMP/$tag.dump
	: >"$DUMP"
	python3 "$RELAY" "$DUMP" "${relay[@]}" </dev/null >>"$E2E_TMP/log/relay-$tag.log" 2>&1 &
	RELAY_PID=$!
	E2E_PIDS[$RELAY_PID]=relay-$tag
	for n in 1 2 3; do e2e_wait_port "${ports[$((n + 5))]}" "relay-$tag" "$RELAY_PID"; done
	META_ADDR="127.0.0.1:${VCLIENT[1]},127.0.0.1:${VCLIENT[2]},127.0.0.1:${VCLIENT[3]}"
	TAG=$tag
}

# start_voter N [options]: voter N of the current cluster; it listens behind
# the relay (--raft-listen) and its peers reach it through the relay.
start_voter() {
	local n=$1
	shift
	mkdir -p "$E2E_TMP/$TAG-voter$n"
	"$GODFS_META" --data-dir "$E2E_TMP/$TAG-voter$n" \
		--listen "127.0.0.1:${VCLIENT[$n]}" --raft-listen "127.0.0.1:${VRAFT[$n]}" \
		--node-id "$n" --peers "$PEERS" --log-level info "$@" \
		</dev/null >>"$E2E_TMP/log/$TAG-voter$n.log" 2>&1 &
	VPID[$n]=$!
	E2E_PIDS[${VPID[$n]}]=$TAG-voter$n
	e2e_wait_port "${VCLIENT[$n]}" "$TAG-voter$n" "${VPID[$n]}"
}

# LEAD = the voter number of the leader (20 s), asked of the voters in $1.
find_leader() {
	local addrs=$1 t n l
	LEAD=
	for ((t = 0; t < 200; t++)); do
		l=$("$GODFS_ADMIN" --meta "$addrs" --timeout 2 status 2>/dev/null |
			awk '$1 == "leader" { print $2 }') || true
		for n in 1 2 3; do
			if [ "$l" = "127.0.0.1:${VCLIENT[$n]}" ] && e2e_alive "${VPID[$n]}"; then
				LEAD=$n
				return 0
			fi
		done
		sleep 0.1
	done
	e2e_fail "no leader among $addrs after 20 s"
}

# wait_log FILE PATTERN WHAT: waits (15 s) until FILE has a line matching PATTERN.
wait_log() {
	local t
	for ((t = 0; t < 150; t++)); do
		grep -qE "$2" "$1" && return 0
		sleep 0.1
	done
	e2e_fail "$3: no line matching '$2' in $(basename "$1") after 15 s"
}

# in_dump: whether the name is in the dump, in plaintext.
in_dump() { grep -qaF "$NAME" "$DUMP"; }

# wait_in_dump: the name shows up in the dump within 5 s (the leader sends
# the entry to its followers through the relays).
wait_in_dump() {
	local t
	for ((t = 0; t < 50; t++)); do
		[ "$(stat -c %s "$DUMP")" -gt 0 ] && in_dump && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. without --tls, the name crosses the wire in plaintext ----
cluster plain
for n in 1 2 3; do start_voter "$n"; done
find_leader "$META_ADDR"
e2e_mount "$E2E_TMP/mnt-plain"
mkdir "$E2E_TMP/mnt-plain/$NAME" || e2e_fail "mkdir through the plain cluster"
wait_in_dump || e2e_fail "without --tls, the name is not in the Raft dump ($(stat -c %s "$DUMP") bytes): the check cannot tell"
e2e_log "without --tls, $NAME crosses the Raft port in plaintext ($(stat -c %s "$DUMP") bytes)"
e2e_umount "$E2E_TMP/mnt-plain"
for n in 1 2 3; do e2e_stop "${VPID[$n]}"; done

# ---- 2. with --tls, it does not ----
export GODFS_TLS=1
cluster tls
for n in 1 2 3; do start_voter "$n"; done
for n in 1 2 3; do
	grep -q "raft port: listening on .*, TLS)" "$E2E_TMP/log/tls-voter$n.log" ||
		e2e_fail "voter $n does not say that its Raft port runs TLS"
done
find_leader "$META_ADDR"
e2e_log "three voters with --tls elected voter $LEAD"
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT"
mkdir "$MNT/$NAME" || e2e_fail "mkdir $NAME through the TLS cluster"
for i in $(seq 1 20); do
	printf 'file %d of the TLS cluster\n' "$i" >"$MNT/$NAME/f$i" || e2e_fail "write f$i"
done
head -c $((3 << 20)) /dev/urandom >"$E2E_TMP/big"
cp "$E2E_TMP/big" "$MNT/big" || e2e_fail "write 3 MiB"
sleep 2   # heartbeats and the followers' replies go through the relays too
size=$(stat -c %s "$DUMP")
((size > 20000)) || e2e_fail "only $size bytes of Raft traffic went through the relays"
in_dump && e2e_fail "with --tls, $NAME is in plaintext in the Raft dump"
grep -qaF "GDR1" "$DUMP" && e2e_fail "with --tls, a Raft hello is in plaintext in the dump"
e2e_log "with --tls, $size bytes of Raft traffic and neither the name nor a hello in plaintext"

# ---- 3. the leader dies ----
old=$LEAD
kill -9 "${VPID[$old]}"
wait "${VPID[$old]}" 2>/dev/null || true
unset "E2E_PIDS[${VPID[$old]}]"
e2e_log "killed the leader (voter $old)"
others=
for n in 1 2 3; do [ "$n" = "$old" ] || others="$others${others:+,}127.0.0.1:${VCLIENT[$n]}"; done
find_leader "$others"
[ "$LEAD" != "$old" ] || e2e_fail "the dead voter leads"
e2e_remount
for i in $(seq 1 20); do
	[ "$(cat "$MNT/$NAME/f$i")" = "file $i of the TLS cluster" ] || e2e_fail "f$i after the failover"
done
cmp "$E2E_TMP/big" "$MNT/big" || e2e_fail "the 3 MiB file after the failover"
mkdir "$MNT/after" && echo after >"$MNT/after/f" || e2e_fail "writes after the failover"
in_dump && e2e_fail "with --tls, $NAME is in plaintext in the Raft dump after the failover"
e2e_log "voter $LEAD leads; every file reads back; writes go on"

# ---- 4. a voter without --tls stays out; with it, it catches up ----
GODFS_TLS=0 start_voter "$old"
# each of the four ways a connection between them goes, refused with a line
wait_log "$E2E_TMP/log/tls-voter$LEAD.log" \
	"raft port: connection to node $old at .*: it does not use TLS, and this node runs with --tls" \
	"the leader (--tls) connecting to the plain voter"
wait_log "$E2E_TMP/log/tls-voter$old.log" \
	"raft port: refused 127\.0\.0\.1:[0-9]+: closed after 0 of 14 bytes" \
	"the plain voter accepting the leader"
wait_log "$E2E_TMP/log/tls-voter$old.log" \
	"raft port: connection to node [0-9] at .*: it runs with --tls, and this node does not" \
	"the plain voter (a candidate) connecting to the others"
wait_log "$E2E_TMP/log/tls-voter$LEAD.log" \
	"raft port: refused 127\.0\.0\.1:[0-9]+: TLS handshake failed" \
	"the leader (--tls) accepting the plain voter"
e2e_stop "${VPID[$old]}"
start_voter "$old"
for ((t = 0; t < 150; t++)); do
	"$GODFS_ADMIN" --meta "127.0.0.1:${VCLIENT[$old]}" --timeout 2 status >/dev/null 2>&1 && break
	sleep 0.1
done
"$GODFS_ADMIN" --meta "127.0.0.1:${VCLIENT[$old]}" --timeout 2 status >/dev/null 2>&1 ||
	e2e_fail "voter $old back with --tls does not know the leader after 15 s"
e2e_log "voter $old without --tls was refused both ways; with --tls it is back"
e2e_umount "$MNT"
