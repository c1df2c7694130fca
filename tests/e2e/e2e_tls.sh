#!/bin/bash
# TLS on every connection (docs/security.md, "TLS"): a cluster whose meta,
# chunkds, mount and godfs-admin run with --tls (GODFS_TLS=1) serves data
# that checks out (godfs_fsx, and a 64 MiB copy read back cold), every
# connection to a chunkd is TLS (its log says so for each peer), a program
# without --tls follows a daemon that asks for TLS, and a program with --tls
# refuses a daemon that does not offer it (the handshake's MAC covers the
# offer, so a man in the middle cannot strip it).
E2E_TIMEOUT=240
META_ARGS=(--chunk-size 1048576)
. "$(dirname "$0")/lib.sh"
FSX=$GODFS_BUILDDIR/tests/tools/godfs_fsx
[ -x "$FSX" ] || e2e_fail "$FSX is not built (make check builds it)"

export GODFS_TLS=1
e2e_start_meta
e2e_start_chunkd 1 --log-level debug
e2e_start_chunkd 2
e2e_start_chunkd 3
e2e_wait_nodes 3
e2e_mount "$MNT"

# ---- data through TLS
head -c $((64 << 20)) /dev/urandom >"$E2E_TMP/big"
cp "$E2E_TMP/big" "$MNT/big" || e2e_fail "write 64 MiB through TLS"
e2e_remount
e2e_drop_caches
cmp "$E2E_TMP/big" "$MNT/big" || e2e_fail "64 MiB read back through TLS differ"
M2=$E2E_TMP/m2
e2e_mount "$M2"
"$FSX" -n 800 -s 12 -S $((3 << 20)) "$MNT/fsx" "$M2/fsx" >"$E2E_TMP/log/fsx.log" 2>&1 ||
	e2e_fail "godfs_fsx through TLS: $(tail -5 "$E2E_TMP/log/fsx.log")"
e2e_log "64 MiB copy and 800 godfs_fsx operations check out through TLS"

# ---- every connection to chunkd 1 was TLS: the mount, the meta's peers, admin
n_tls=$(grep -c "authenticated as [a-z]*, TLS" "$E2E_TMP/log/chunkd1.log" || true)
n_plain=$(grep "authenticated as" "$E2E_TMP/log/chunkd1.log" | grep -vc ", TLS" || true)
((n_tls >= 1)) || e2e_fail "chunkd1 logged no TLS connection"
((n_plain == 0)) || e2e_fail "chunkd1 let in $n_plain connections without TLS"
e2e_log "chunkd1: $n_tls connections, all TLS"

# ---- a program without --tls follows the daemon's request
env -u GODFS_TLS "$GODFS_ADMIN" --meta "$META_ADDR" status >/dev/null 2>"$E2E_TMP/admin.err" ||
	e2e_fail "godfs-admin without --tls against a --tls meta: $(cat "$E2E_TMP/admin.err")"

# ---- a program with --tls refuses a daemon without TLS
read -r P1 P2 <<<"$(e2e_free_ports 2)"
mkdir -p "$E2E_TMP/plainmeta"
env -u GODFS_TLS "$GODFS_META" --data-dir "$E2E_TMP/plainmeta" --listen "127.0.0.1:$P1" \
	--raft-listen "127.0.0.1:$P2" --node-id 1 --chunk-size 1048576 </dev/null >>"$E2E_TMP/log/plainmeta.log" 2>&1 &
PLAIN_PID=$!
E2E_PIDS[$PLAIN_PID]=plainmeta
e2e_wait_port "$P1" plainmeta "$PLAIN_PID"
rc=0
timeout 20 "$GODFS_ADMIN" --meta "127.0.0.1:$P1" --tls status >/dev/null 2>"$E2E_TMP/admin.err" || rc=$?
[ "$rc" != 0 ] || e2e_fail "godfs-admin --tls talked to a meta without TLS"
grep -q "does not use TLS" "$E2E_TMP/admin.err" "$E2E_TMP"/log/*.log ||
	e2e_fail "the refusal of a daemon without TLS is not explained: $(cat "$E2E_TMP/admin.err")"
env -u GODFS_TLS "$GODFS_ADMIN" --meta "127.0.0.1:$P1" status >/dev/null 2>"$E2E_TMP/admin.err" ||
	e2e_fail "godfs-admin without --tls against a plain meta: $(cat "$E2E_TMP/admin.err")"
e2e_log "--tls refuses a daemon without TLS; without --tls a plain daemon is fine"
