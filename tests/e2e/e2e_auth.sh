#!/bin/bash
# The cluster key (docs/security.md, "Cluster key"): a cluster whose daemons
# hold a key lets in a mount with that key (from GODFS_KEY_FILE, and from -o
# key_file= alone), a mount with a wrong key exits 1 and says why; godfs-admin with a wrong key, with a missing key file or
# with a key file others may read fails with a clear message and exit status
# 1, and the meta logs the refusal; a chunkd with a wrong key is refused by
# the meta (both log it); a connection that never finishes the handshake is
# cut at --auth-timeout-ms and logged; a flood of bad handshakes is logged as
# a count, not line by line; a daemon with no key and no --insecure does not
# start (exit 1, the reason on stderr); a daemon with --insecure (and the
# key) warns loudly and lets in a client with no key and one with the key;
# a keyless godfs-admin cannot make a token there (exit 1: no key to derive
# its secret from).
E2E_TIMEOUT=240
META_ARGS=(--auth-timeout-ms 1000)
CHUNKD_ARGS=(--auth-timeout-ms 1000)
. "$(dirname "$0")/lib.sh"

META_LOG=$E2E_TMP/log/meta.log
ETC_KEY=/etc/godfs/cluster.key
e2e_cluster_up

# ---- a mount with the right key works
echo hello >"$MNT/hello" || e2e_fail "write through the keyed mount"
[ "$(cat "$MNT/hello")" = hello ] || e2e_fail "read through the keyed mount"
M2=$E2E_TMP/m2
unset GODFS_KEY_FILE
e2e_mount "$M2" "" "key_file=$E2E_KEY"
export GODFS_KEY_FILE=$E2E_KEY
[ "$(cat "$M2/hello")" = hello ] || e2e_fail "the mount with -o key_file= does not see the file"
e2e_umount "$M2"
e2e_log "mounts with the key (GODFS_KEY_FILE, -o key_file=) work"

# ---- a mount with a wrong key stops at once and says why
"$GODFS_ADMIN" key generate "$E2E_TMP/wrong.key" >/dev/null || e2e_fail "key generate"
mkdir -p "$E2E_TMP/m3"
rc=0
env -u GODFS_KEY_FILE timeout 20 "$GODFS_MOUNT" "$META_ADDR" "$E2E_TMP/m3" -f -o "key_file=$E2E_TMP/wrong.key" \
	</dev/null >"$E2E_TMP/log/mount-wrong.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || e2e_fail "mount.godfs with a wrong key: exit $rc, not 1"
grep -q "meta $META_ADDR refused our credential .*wrong cluster key" "$E2E_TMP/log/mount-wrong.log" ||
	e2e_fail "mount.godfs with a wrong key does not say why: $(cat "$E2E_TMP/log/mount-wrong.log")"
e2e_is_mounted "$E2E_TMP/m3" && e2e_fail "mounted with a wrong key"
e2e_log "a mount with a wrong key exits 1 and says why"

# ---- godfs-admin: the right key, a wrong key, no key, a readable key
# admin_expect RC PATTERN WHAT ARGS...: godfs-admin ARGS must exit RC within
# 10 s and print PATTERN (grep -E) on stderr.
admin_expect() {
	local want=$1 pat=$2 what=$3 rc=0 t0
	shift 3
	t0=$(date +%s)
	timeout 20 "$GODFS_ADMIN" --meta "$META_ADDR" "$@" >"$E2E_TMP/admin.out" 2>"$E2E_TMP/admin.err" || rc=$?
	[ "$rc" = "$want" ] || e2e_fail "godfs-admin $what: exit $rc, not $want: $(cat "$E2E_TMP/admin.err")"
	(($(date +%s) - t0 <= 10)) || e2e_fail "godfs-admin $what took $(($(date +%s) - t0)) s"
	[ -z "$pat" ] || grep -qE "$pat" "$E2E_TMP/admin.err" ||
		e2e_fail "godfs-admin $what: no /$pat/ in: $(cat "$E2E_TMP/admin.err")"
}
admin_expect 0 "" "with the key" status
[ "$(stat -c %a "$E2E_TMP/wrong.key")" = 600 ] || e2e_fail "key generate: mode $(stat -c %a "$E2E_TMP/wrong.key")"
rc=0; "$GODFS_ADMIN" key generate "$E2E_TMP/wrong.key" 2>"$E2E_TMP/gen.err" || rc=$?
[ "$rc" = 1 ] && grep -q "exists" "$E2E_TMP/gen.err" || e2e_fail "key generate over an existing file: exit $rc"
lines=$(wc -l <"$META_LOG")
admin_expect 1 "refused our credential .*wrong cluster key" "with a wrong key" --key-file "$E2E_TMP/wrong.key" status
sleep 0.3
tail -n +"$((lines + 1))" "$META_LOG" | grep -q "connection refused: unknown key id" ||
	e2e_fail "the meta did not log the wrong key: $(tail -n 5 "$META_LOG")"
admin_expect 1 "no cluster key" "with a missing key file" --key-file "$E2E_TMP/missing.key" status
cp "$E2E_KEY" "$E2E_TMP/open.key"
chmod 644 "$E2E_TMP/open.key"
admin_expect 1 "chmod 600" "with a key file others may read" --key-file "$E2E_TMP/open.key" status
if [ ! -e "$ETC_KEY" ]; then
	# No key at all (nothing at the default path either): refused by the meta.
	lines=$(wc -l <"$META_LOG")
	unset GODFS_KEY_FILE
	admin_expect 1 "refused our credential .*missing cluster key" "with no key" --insecure status
	export GODFS_KEY_FILE=$E2E_KEY
	sleep 0.3
	tail -n +"$((lines + 1))" "$META_LOG" | grep -q "connection refused: no credential" ||
		e2e_fail "the meta did not log the keyless client: $(tail -n 5 "$META_LOG")"
else
	e2e_log "$ETC_KEY exists on this host: the keyless godfs-admin check is skipped"
fi
e2e_log "godfs-admin: the key works; a wrong, missing or readable key fails with exit 1 and a reason"

# ---- a chunkd with a wrong key is refused by the meta; both say so
e2e_more_chunkds 4
lines=$(wc -l <"$META_LOG")
e2e_start_chunkd 4 --key-file "$E2E_TMP/wrong.key"
for ((i = 0; i < 50; i++)); do
	grep -q "refused our credential" "$E2E_TMP/log/chunkd4.log" && break
	sleep 0.1
done
grep -q "meta 127.0.0.1:$META_PORT refused our credential .*wrong cluster key" "$E2E_TMP/log/chunkd4.log" ||
	e2e_fail "chunkd4 does not say the meta refused it: $(tail -n 5 "$E2E_TMP/log/chunkd4.log")"
tail -n +"$((lines + 1))" "$META_LOG" | grep -q "connection refused: unknown key id" ||
	e2e_fail "the meta did not log chunkd4's wrong key"
[ "$(e2e_alive_nodes)" = 3 ] || e2e_fail "the meta lists $(e2e_alive_nodes) live chunkds, not 3"
e2e_stop "${CHUNKD_PID[4]}"
e2e_log "a chunkd with a wrong key is refused (both logs say so)"

# ---- a connection that never finishes the handshake is cut and logged
lines=$(wc -l <"$E2E_TMP/log/chunkd1.log")
exec 5<>"/dev/tcp/127.0.0.1/${CHUNKD_PORT[1]}"
rc=0; timeout 5 cat <&5 >/dev/null 2>&1 || rc=$?
exec 5>&- 5<&-
[ "$rc" != 124 ] || e2e_fail "chunkd1 kept a silent connection open for 5 s"
tail -n +"$((lines + 1))" "$E2E_TMP/log/chunkd1.log" | grep -q "connection refused: timed out before the handshake ended" ||
	e2e_fail "chunkd1 did not log the silent connection: $(tail -n 3 "$E2E_TMP/log/chunkd1.log")"
e2e_log "a silent connection is cut at the handshake deadline"

# ---- a flood of bad handshakes: a few lines, then a count
lines=$(wc -l <"$META_LOG")
for ((i = 0; i < 40; i++)); do
	{ exec 6<>"/dev/tcp/127.0.0.1/$META_PORT" && head -c 112 /dev/zero >&6 && cat <&6 >/dev/null; } 2>/dev/null || true
	exec 6>&- 6<&- 2>/dev/null || true
done
sleep 1.1
admin_expect 1 "refused our credential" "with a wrong key" --key-file "$E2E_TMP/wrong.key" status
sleep 0.3
refused=$(tail -n +"$((lines + 1))" "$META_LOG" | grep -c "connection refused: " || true)
counted=$(tail -n +"$((lines + 1))" "$META_LOG" | grep -c "more connections refused in the last" || true)
((refused <= 12)) || e2e_fail "41 bad handshakes made $refused refusal lines (not rate-limited)"
((counted >= 1)) || e2e_fail "no count of the refusals not logged: $(tail -n 5 "$META_LOG")"
e2e_log "41 refusals in about 1 s: $refused lines and $counted count line(s)"

# ---- a daemon with no key and no --insecure does not start
read -r P1 P2 <<<"$(e2e_free_ports 2)"
META2=("$GODFS_META" --data-dir "$E2E_TMP/meta2" --listen "127.0.0.1:$P1"
	--raft-listen "127.0.0.1:$P2" --node-id 1)
no_key_refused() {
	local name=$1 rc=0
	shift
	env -u GODFS_KEY_FILE timeout 20 "$@" </dev/null >"$E2E_TMP/$name.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || e2e_fail "$name without a key: exit $rc, not 1: $(cat "$E2E_TMP/$name.out")"
	grep -q "no cluster key (.*): create one with .godfs-admin key generate" "$E2E_TMP/$name.out" ||
		e2e_fail "$name without a key does not say why: $(cat "$E2E_TMP/$name.out")"
}
if [ ! -e "$ETC_KEY" ]; then
	no_key_refused meta-nokey "${META2[@]}"
	no_key_refused chunkd-nokey "$GODFS_CHUNKD" --data-dir "$E2E_TMP/cs-nokey" \
		--listen "127.0.0.1:$P1" --meta "$META_ADDR"
fi
no_key_refused meta-missingkey "${META2[@]}" --key-file "$E2E_TMP/missing.key"
e2e_port_open "$P1" && e2e_fail "a daemon without a key listens on $P1"
e2e_log "daemons without a key (and without --insecure) refuse to start"

# ---- a daemon with --insecure warns and lets in a client with no key
# (it holds the key too, as during a migration to keys: keyed clients get in
# as well; a keyed client never talks to a daemon that cannot prove the key)
mkdir -p "$E2E_TMP/meta2"
"${META2[@]}" --insecure </dev/null >>"$E2E_TMP/log/meta2.log" 2>&1 &
pid=$!
E2E_PIDS[$pid]=meta2
e2e_wait_port "$P1" meta2 "$pid"
grep -q "INSECURE: --insecure is set" "$E2E_TMP/log/meta2.log" ||
	e2e_fail "the insecure meta does not warn: $(head -n 5 "$E2E_TMP/log/meta2.log")"
if [ ! -e "$ETC_KEY" ]; then
	rc=0
	env -u GODFS_KEY_FILE "$GODFS_ADMIN" --meta "127.0.0.1:$P1" --insecure status >/dev/null 2>"$E2E_TMP/ins.err" || rc=$?
	[ "$rc" = 0 ] || e2e_fail "a keyless godfs-admin --insecure against the insecure meta: exit $rc: $(cat "$E2E_TMP/ins.err")"
	# a token's secret derives from the key in godfs-admin: none, no token
	rc=0
	env -u GODFS_KEY_FILE "$GODFS_ADMIN" --meta "127.0.0.1:$P1" --insecure token create \
		--subtree / -o "$E2E_TMP/ins.token" >/dev/null 2>"$E2E_TMP/ins.err" || rc=$?
	[ "$rc" = 1 ] && grep -q "token create needs the cluster key" "$E2E_TMP/ins.err" &&
		[ ! -e "$E2E_TMP/ins.token" ] ||
		e2e_fail "a keyless token create against the insecure meta: exit $rc: $(cat "$E2E_TMP/ins.err")"
	rc=0
	env -u GODFS_KEY_FILE "$GODFS_ADMIN" --meta "127.0.0.1:$P1" status >/dev/null 2>"$E2E_TMP/ins.err" || rc=$?
	[ "$rc" = 1 ] && grep -q "no cluster key" "$E2E_TMP/ins.err" ||
		e2e_fail "a keyless godfs-admin without --insecure: exit $rc: $(cat "$E2E_TMP/ins.err")"
fi
"$GODFS_ADMIN" --meta "127.0.0.1:$P1" status >/dev/null || e2e_fail "a keyed godfs-admin against the insecure meta"
e2e_stop "$pid"
e2e_log "an --insecure meta warns and lets in a client without a key"

# ---- the keyed cluster still works
[ "$(cat "$MNT/hello")" = hello ] || e2e_fail "the first mount lost its file"
[ "$(e2e_alive_nodes)" = 3 ] || e2e_fail "the meta lists $(e2e_alive_nodes) live chunkds, not 3"
