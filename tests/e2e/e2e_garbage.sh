#!/bin/bash
# Garbage on every daemon port (meta RPC, meta Raft, the three chunkds): 4 KiB
# of random bytes, a valid-looking header with huge lengths, lengths just over
# the bounds, an unknown method, a header cut short, a bad protobuf body. Each
# daemon drops the bad connection, logs why, keeps running, and
# the file system still works afterwards (a goal-3 file written through all
# three chunkds and read back cold). On the RPC ports the garbage meets the
# handshake that starts every connection (docs/security.md): the daemons run
# with --auth-timeout-ms 1000 so that a short input, which never makes a
# whole proof, is cut within the 5 s this test waits.
E2E_TIMEOUT=300
META_ARGS=(--auth-timeout-ms 1000)
CHUNKD_ARGS=(--auth-timeout-ms 1000)
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
echo before >"$MNT/before"

# le32 N / le16 N / le64 N: little-endian bytes as printf escapes.
le() {
	local n=$1 bytes=$2 out= i
	for ((i = 0; i < bytes; i++)); do
		out+=$(printf '\\x%02x' $(( (n >> (8 * i)) & 0xff )))
		done
	printf '%s' "$out"
}
MAGIC=$(( (0x474446 << 8) | 1 ))
# hdr KIND METHOD PB_LEN DATA_LEN
hdr() { printf "$(le "$MAGIC" 4)$(le "$1" 2)$(le "$2" 2)$(le 7 8)$(le "$3" 4)$(le "$4" 4)"; }

# send PORT NAME EXPECT_CLOSE: writes stdin to a new connection; with
# EXPECT_CLOSE=1 the daemon must close it within 5 s.
send() {
	local port=$1 what=$2 expect_close=$3 rc=0
	exec 5<>"/dev/tcp/127.0.0.1/$port" || e2e_fail "cannot connect to port $port"
	cat >&5 2>/dev/null || true
	if [ "$expect_close" = 1 ]; then
		timeout 5 cat <&5 >/dev/null 2>&1 || rc=$?
		[ "$rc" != 124 ] || e2e_fail "port $port kept the connection open after: $what"
	fi
	exec 5>&- 5<&- || true
}

# attack NAME PORT LOG: every kind of bad input to one port.
attack() {
	local name=$1 port=$2 log=$3 pid=$4 lines
	lines=$(wc -l <"$log" 2>/dev/null || echo 0)
	head -c 4096 /dev/urandom | send "$port" "4 KiB of random bytes" 1
	hdr 1 2 $((0xfffffff0)) $((0xffffffff)) | send "$port" "huge pb_len and data_len" 1
	hdr 1 2 $((1024 * 1024 + 1)) 0 | send "$port" "pb_len one over 1 MiB" 1
	hdr 1 100 0 $((8 * 1024 * 1024 + 1)) | send "$port" "data_len one over 8 MiB" 1
	hdr 1 9999 0 0 | send "$port" "unknown method" 1
	hdr 9 2 0 0 | send "$port" "unknown kind" 1
	{ hdr 1 2 100 0; printf 'short'; } | send "$port" "a frame cut short" 0
	{ hdr 1 1 64 0; head -c 64 /dev/urandom; } | send "$port" "a bad protobuf body" 0
	printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' | send "$port" "an HTTP request" 1
	sleep 0.5
	e2e_alive "$pid" || e2e_fail "$name died after garbage on port $port"
	if [ -n "$log" ]; then
		[ "$(wc -l <"$log")" -gt "$lines" ] || e2e_fail "$name logged nothing about the garbage on port $port"
		e2e_log "$name (port $port) survived and logged: $(tail -n +"$((lines + 1))" "$log" | head -n 3 | tr '\n' '|')"
	else
		e2e_log "$name (port $port) survived"
	fi
}

attack godfs-meta "$META_PORT" "$E2E_TMP/log/meta.log" "$META_PID"
attack "godfs-meta raft" "$RAFT_PORT" "$E2E_TMP/log/meta.log" "$META_PID"
for i in 1 2 3; do
	attack "chunkd$i" "${CHUNKD_PORT[$i]}" "$E2E_TMP/log/chunkd$i.log" "${CHUNKD_PID[$i]}"
done

# Everything still works: the meta, and a goal-3 write through all chunkds.
head -c $((3 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/after"
cp "$E2E_TMP/after" "$MNT/after" || e2e_fail "write after the garbage failed"
e2e_remount
e2e_drop_caches
cmp "$E2E_TMP/after" "$MNT/after" || e2e_fail "the file written after the garbage differs"
[ "$(cat "$MNT/before")" = before ] || e2e_fail "the file written before the garbage is gone"
[ "$(e2e_alive_nodes)" = 3 ] || e2e_fail "the meta lists $(e2e_alive_nodes) live chunkds, not 3"
