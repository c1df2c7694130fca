#!/bin/bash
# Client tokens (docs/security.md, "Client tokens"): a read-write and a
# read-only token for /proj, each mounted with -o token_file=: inside works,
# outside is invisible, the read-only mount's writes fail with EROFS; token
# list shows both; requests forged by hand with a token's credential for an
# inode outside (GETATTR, OPEN, READDIR, CHUNK_LOCATE, MKDIR) are refused
# with EACCES and a log line, a read-only token gets no write lease; a
# revoke makes the live mount fail within seconds and refuses a new mount;
# an expired token is refused. The read-write token is made through a relay
# that records the bytes: its secret is not in them (godfs-admin derives it
# from the cluster key; the meta never sends it), yet the file mounts.
E2E_TIMEOUT=240
. "$(dirname "$0")/lib.sh"

PROBE=$GODFS_BUILDDIR/tests/tools/godfs_token_probe
[ -x "$GODFS_ADMIN" ] || e2e_fail "$GODFS_ADMIN is not built"
[ -x "$PROBE" ] || e2e_fail "$PROBE is not built"
admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@"; }
probe() { "$PROBE" "$META_ADDR" "$@" 2>>"$E2E_TMP/log/probe.log" || true; }
e2e_cluster_up

mkdir -p "$MNT/proj/sub" "$MNT/other"
echo inside >"$MNT/proj/sub/f"
echo secret >"$MNT/other/s"
proj_ino=$(stat -c %i "$MNT/proj")
in_ino=$(stat -c %i "$MNT/proj/sub/f")
out_ino=$(stat -c %i "$MNT/other/s")

e2e_log "create a read-write token through a recording relay, and a read-only one"
read -r RELAY_PORT <<<"$(e2e_free_ports 1)"
DUMP=$E2E_TMP/admin.dump
python3 "$(dirname "$0")/relay.py" "$DUMP" "$RELAY_PORT:$META_PORT" </dev/null \
	>>"$E2E_TMP/log/relay.log" 2>&1 &
RELAY_PID=$!
E2E_PIDS[$RELAY_PID]=relay
e2e_wait_port "$RELAY_PORT" relay "$RELAY_PID"
rw_id=$("$GODFS_ADMIN" --meta "127.0.0.1:$RELAY_PORT" token create --subtree /proj \
	--name "read-write" -o "$E2E_TMP/rw.token") || e2e_fail "token create: $rw_id"
e2e_stop "$RELAY_PID"
# the file's last field is the secret (hex); the name shows that the relay
# saw the TOKEN_CREATE exchange, so the check can fail
python3 - "$E2E_TMP/rw.token" "$DUMP" <<'EOF' || e2e_fail "the token's secret crossed the wire (above)"
import sys
secret = bytes.fromhex(open(sys.argv[1]).read().split()[-1])
dump = open(sys.argv[2], "rb").read()
assert len(secret) == 32, "no 32-byte secret in the token file"
assert b"read-write" in dump, "the relay did not see the TOKEN_CREATE exchange"
assert secret not in dump, "the secret is in the bytes godfs-admin and the meta exchanged"
EOF
ro_id=$(admin token create --subtree /proj --read-only --expires 30d -o "$E2E_TMP/ro.token") ||
	e2e_fail "token create --read-only: $ro_id"
[ "$(stat -c %a "$E2E_TMP/rw.token")" = 600 ] || e2e_fail "the token file is not mode 0600"
rc=0; admin token create --subtree /proj/sub/f -o "$E2E_TMP/x.token" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || e2e_fail "a token for a file: exit $rc, not 1"
rc=0; admin token create --subtree /proj --expires yesterday >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || e2e_fail "a bad --expires: exit $rc, not 2"

out=$(admin token list) || e2e_fail "token list: $out"
grep -qE "^$rw_id +$proj_ino +read-write +never .* valid +read-write$" <<<"$out" ||
	e2e_fail "token list does not show the read-write token: $out"
grep -qE "^$ro_id +$proj_ino +read-only .* valid" <<<"$out" ||
	e2e_fail "token list does not show the read-only token: $out"
out=$(admin token list --json) || e2e_fail "token list --json"
grep -q "\"id\": $ro_id, \"subtree\": $proj_ino, \"read_only\": true" <<<"$out" ||
	e2e_fail "token list --json: $out"

MRW=$E2E_TMP/mrw
MRO=$E2E_TMP/mro
e2e_mount "$MRW" "" "token_file=$E2E_TMP/rw.token"
e2e_mount "$MRO" "" "token_file=$E2E_TMP/ro.token"

e2e_log "inside works, outside is invisible"
[ "$(cat "$MRW/sub/f")" = inside ] || e2e_fail "the read-write mount cannot read sub/f"
[ "$(ls "$MRW")" = sub ] || e2e_fail "the mount's root is not /proj: $(ls "$MRW")"
[ "$(stat -c %i "$MRW")" = 1 ] || e2e_fail "the mount's root is not inode 1"
echo new >"$MRW/new" || e2e_fail "write through the read-write mount"
[ "$(cat "$MNT/proj/new")" = new ] || e2e_fail "the write did not reach /proj"
mkdir "$MRW/d" && mv "$MRW/new" "$MRW/d/moved" && rm "$MRW/d/moved" && rmdir "$MRW/d" ||
	e2e_fail "mkdir/mv/rm/rmdir through the read-write mount"
for p in other ../other sub/../../other; do
	[ ! -e "$MRW/$p/s" ] || [ "$(cat "$MRW/$p/s" 2>/dev/null)" != secret ] ||
		e2e_fail "$MRW/$p/s reaches outside the subtree"
done
[ "$(cat "$MRO/sub/f")" = inside ] || e2e_fail "the read-only mount cannot read sub/f"

e2e_log "the read-only mount: every write fails with EROFS"
ro_fail() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		e2e_fail "read-only mount: $what succeeded"
	fi
	grep -qi 'read-only file system' <<<"$out" || e2e_fail "read-only mount: $what: $out"
}
ro_fail "create" sh -c "echo x >'$MRO/x'"
ro_fail "append" sh -c "echo x >>'$MRO/sub/f'"
ro_fail "mkdir" mkdir "$MRO/d"
ro_fail "rm" rm -f "$MRO/sub/f"
ro_fail "mv" mv "$MRO/sub/f" "$MRO/g"
ro_fail "chmod" chmod 600 "$MRO/sub/f"
ro_fail "truncate" truncate -s 0 "$MRO/sub/f"
[ "$(cat "$MNT/proj/sub/f")" = inside ] || e2e_fail "the read-only mount changed sub/f"

e2e_log "requests forged by hand with the token's credential"
for m in getattr open readdir locate mkdir; do
	st=$(probe "$E2E_TMP/rw.token" "$m" "$out_ino")
	[ "$m" != readdir ] && [ "$m" != mkdir ] || st=$(probe "$E2E_TMP/rw.token" "$m" 1)
	[ "$st" = EACCES ] || e2e_fail "a forged $m outside the subtree answered $st"
done
st=$(probe "$E2E_TMP/rw.token" getattr "$in_ino")
[ "$st" = 0 ] || e2e_fail "a forged getattr inside answered $st"
st=$(probe "$E2E_TMP/ro.token" locate "$in_ino")
[ "$st" = 0 ] || e2e_fail "a read-only token cannot locate inside: $st"
st=$(probe "$E2E_TMP/ro.token" lease "$in_ino")
[ "$st" = EROFS ] || e2e_fail "a read-only token got a write lease: $st"
st=$(probe "$E2E_TMP/ro.token" open-write "$in_ino")
[ "$st" = EROFS ] || e2e_fail "a read-only token opened for writing: $st"
grep -q "token $rw_id (subtree $proj_ino): [A-Z_]* refused: inode outside the token's subtree (inode $out_ino)" \
	"$E2E_TMP/log/meta.log" || e2e_fail "no log line for the forged requests"
[ "$(ls "$MNT")" = "$(printf 'other\nproj')" ] || e2e_fail "the root changed: $(ls "$MNT")"

e2e_log "revoke the read-write token: the live mount fails, a new one is refused"
out=$(admin token revoke "$rw_id") || e2e_fail "token revoke: $out"
ok=0
for ((i = 0; i < 50; i++)); do
	if ! cat "$MRW/sub/f" >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.1
done
[ "$ok" = 1 ] || e2e_fail "the revoked token's mount still reads after 5 s"
st=$(probe "$E2E_TMP/rw.token" getattr "$in_ino")
[ "$st" != 0 ] || e2e_fail "a forged request with the revoked token answered 0"
mkdir -p "$E2E_TMP/again"
rc=0; timeout 30 "$GODFS_MOUNT" "$META_ADDR" "$E2E_TMP/again" -f -o "token_file=$E2E_TMP/rw.token" \
	</dev/null >>"$E2E_TMP/log/again.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && ! e2e_is_mounted "$E2E_TMP/again" || e2e_fail "a mount with the revoked token was not refused"
grep -qE "^$rw_id .* revoked" <<<"$(admin token list)" || e2e_fail "token list does not show the revoke"
[ "$(cat "$MRO/sub/f")" = inside ] || e2e_fail "the read-only token stopped working too"

e2e_log "an expired token is refused"
exp_id=$(admin token create --subtree /proj --expires 3s -o "$E2E_TMP/exp.token") ||
	e2e_fail "token create --expires 3s"
st=$(probe "$E2E_TMP/exp.token" getattr "$proj_ino")
[ "$st" = 0 ] || e2e_fail "a fresh token with an expiry answered $st"
sleep 4
st=$(probe "$E2E_TMP/exp.token" getattr "$proj_ino")
[ "$st" != 0 ] || e2e_fail "token $exp_id still works after its expiry"
grep -qE "^$exp_id .* expired" <<<"$(admin token list)" || e2e_fail "token list does not show the expiry"

e2e_umount "$MRO"
umount "$MRW" 2>/dev/null || fusermount3 -u "$MRW" 2>/dev/null || true
e2e_log "PASS"
