#!/bin/bash
# API keys of the REST gateway (docs/security.md, "API keys"), through the
# code the gateway runs (gw_auth + gw_sessions, in tests/tools/
# godfs_apikey_probe) against real daemons, without HTTP:
# - godfs-admin apikey create (Bearer printed, or written mode 0600),
#   list (uid/gid; `token list` does not show keys), revoke;
# - a key's session stays in its subtree (a raw inode outside: EACCES);
# - what it creates belongs to the key's uid/gid although the request asked
#   for root, and it cannot chown to another uid (EPERM);
# - a read-only key: refused by gw_auth on PUT, and by the meta (EROFS) when
#   the gateway gets the method wrong;
# - the meta checks mode bits and ACLs as the key's uid/gid (meta_perm.h):
#   uid 1000 cannot read a root 0600 file, create in a root 0755 directory,
#   or unlink another's file in a sticky directory, and can in the directory
#   it owns or one whose ACL names it; a uid-0 key can do all of it;
# - presigned URLs made by godfs-admin and signed offline with Python from
#   the Bearer string (the docs' recipe) work; expired, or a GET URL used for
#   PUT, are refused;
# - a revoke stops a live session within 2 s;
# - the Bearer string is no token: a token file made of it (with the public
#   key id and fields) is refused at the handshake;
# - no device node for any key, no set-user-id bit from a non-root key, and
#   a set-gid executable created in another group's set-gid directory loses
#   the bit (mode_strip_sgid).
E2E_TIMEOUT=180
. "$(dirname "$0")/lib.sh"

PROBE=$GODFS_BUILDDIR/tests/tools/godfs_apikey_probe
[ -x "$GODFS_ADMIN" ] || e2e_fail "$GODFS_ADMIN is not built"
[ -x "$PROBE" ] || e2e_fail "$PROBE is not built"
admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@"; }
probe() { "$PROBE" "$META_ADDR" "$GODFS_KEY_FILE" "$@" 2>>"$E2E_TMP/log/probe.log"; }
e2e_cluster_up

mkdir -p "$MNT/proj/sub" "$MNT/other" "$MNT/proj/shared" "$MNT/proj/tmp"
echo inside >"$MNT/proj/sub/f"
# the key (uid 1000) owns its subtree's root, as a deployment would set it up
chown 1000:100 "$MNT/proj"
echo private >"$MNT/proj/sub/secret"
chmod 0600 "$MNT/proj/sub/secret"
setfacl -m u:1000:rwx "$MNT/proj/shared" || e2e_fail "setfacl on the mount"
chmod 1777 "$MNT/proj/tmp"
echo theirs >"$MNT/proj/tmp/theirs"
chown 2000:2000 "$MNT/proj/tmp/theirs"
echo secret >"$MNT/other/s"
proj_ino=$(stat -c %i "$MNT/proj")
out_ino=$(stat -c %i "$MNT/other/s")

e2e_log "create, list"
RW=$(admin apikey create --subtree /proj --uid 1000 --gid 100 --name web) ||
	e2e_fail "apikey create: $RW"
[[ $RW =~ ^gdk_([0-9]+)_[0-9a-f]{64}$ ]] || e2e_fail "not a Bearer string: $RW"
rw_id=${BASH_REMATCH[1]}
ro_id=$(admin apikey create --subtree /proj --read-only --expires 30d -o "$E2E_TMP/ro.key") ||
	e2e_fail "apikey create -o: $ro_id"
[ "$(stat -c %a "$E2E_TMP/ro.key")" = 600 ] || e2e_fail "the key file is not mode 0600"
RO=$(cat "$E2E_TMP/ro.key")
tok_id=$(admin token create --subtree /proj -o "$E2E_TMP/plain.token") || e2e_fail "token create"
out=$(admin apikey list) || e2e_fail "apikey list: $out"
grep -qE "^$rw_id +$proj_ino +read-write +1000 +100 +never .* valid +web$" <<<"$out" ||
	e2e_fail "apikey list does not show the key: $out"
grep -qE "^$ro_id +$proj_ino +read-only +0 +0 " <<<"$out" || e2e_fail "apikey list: $out"
! grep -qE "^$tok_id " <<<"$out" || e2e_fail "apikey list shows a plain token: $out"
out=$(admin token list) || e2e_fail "token list"
grep -qE "^$tok_id " <<<"$out" && ! grep -qE "^($rw_id|$ro_id) " <<<"$out" ||
	e2e_fail "token list must show the token and not the API keys: $out"
out=$(admin apikey list --json) || e2e_fail "apikey list --json"
grep -q "\"id\": $rw_id, \"subtree\": $proj_ino, \"read_only\": false, \"uid\": 1000, \"gid\": 100" \
	<<<"$out" || e2e_fail "apikey list --json: $out"
rc=0; admin apikey revoke "$tok_id" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || e2e_fail "apikey revoke of a plain token: exit $rc, not 1"

e2e_log "the Bearer string is no token file: refused at the handshake"
TPROBE=$GODFS_BUILDDIR/tests/tools/godfs_token_probe
kid=$(cut -d' ' -f6 "$E2E_TMP/plain.token")   # the cluster key's id: public
(umask 077; echo "godfs-token-v1 $rw_id $proj_ino 0 2 $kid ${RW##*_}" >"$E2E_TMP/forged.token")
out=$("$TPROBE" "$META_ADDR" "$E2E_TMP/plain.token" getattr "$proj_ino" 2>>"$E2E_TMP/log/probe.log") ||
	e2e_fail "the plain token (the control) is refused: $out"
out=$("$TPROBE" "$META_ADDR" "$E2E_TMP/forged.token" getattr "$proj_ino" 2>>"$E2E_TMP/log/probe.log") &&
	e2e_fail "a token file made of the Bearer string was accepted: $out"
[ "$out" = EAUTH ] || e2e_fail "a token file made of the Bearer string: $out"

e2e_log "the key's session: its subtree, its owner"
out=$(probe "Bearer $RW" stat /) || e2e_fail "probe stat /"
[ "$out" = "ok $proj_ino 1000 100" ] || e2e_fail "the key's root is not /proj: $out"
[ "$(probe "Bearer $RW" get /sub/f)" = "ok inside" ] || e2e_fail "get /sub/f through the key"
out=$(probe "Bearer $RW" put /new.txt hello) || e2e_fail "probe put"
[ "$out" = "ok 1000 100" ] || e2e_fail "the meta did not force the key's owner: $out"
[ "$(stat -c '%u %g' "$MNT/proj/new.txt")" = "1000 100" ] ||
	e2e_fail "the mount sees owner $(stat -c '%u %g' "$MNT/proj/new.txt"), not 1000 100"
[ "$(cat "$MNT/proj/new.txt")" = hello ] || e2e_fail "the key's write is not on the mount"
out=$(probe "Bearer $RW" chown /new.txt 0)
[[ $out == "refused EPERM"* ]] || e2e_fail "a chown to root by a uid-1000 key: $out"
out=$(probe "Bearer $RW" getattr "$out_ino")
[[ $out == "refused EACCES"* ]] || e2e_fail "a raw inode outside the subtree: $out"
out=$(probe "Bearer $RW" stat /../other)
[[ $out == "refused EACCES"* ]] || e2e_fail "/../other: $out"
last=${RW: -1}
[ "$last" = 0 ] && other=1 || other=0
out=$(probe "Bearer ${RW%?}$other" stat /)
[[ $out == "refused EAUTH"* ]] || e2e_fail "a wrong secret: $out"
out=$(probe "Bearer gdk_9999_${RW##*_}" stat /)
[[ $out == "refused EAUTH"* ]] || e2e_fail "an unknown id: $out"

e2e_log "mode bits and ACLs, as the key's uid/gid"
ROOTKEY=$(admin apikey create --subtree /proj --name root) || e2e_fail "apikey create (uid 0)"
out=$(probe "Bearer $RW" get /sub/secret)
[[ $out == "refused EACCES"* ]] || e2e_fail "uid 1000 read a root 0600 file: $out"
[ "$(probe "Bearer $ROOTKEY" get /sub/secret)" = "ok private" ] || e2e_fail "uid 0 key get"
out=$(probe "Bearer $RW" put /sub/x.txt no)
[[ $out == "refused EACCES"* ]] || e2e_fail "uid 1000 created in a root 0755 directory: $out"
out=$(probe "Bearer $RW" mkdir /sub/d)
[[ $out == "refused EACCES"* ]] || e2e_fail "uid 1000 made a directory in a root 0755 one: $out"
[ ! -e "$MNT/proj/sub/x.txt" ] && [ ! -e "$MNT/proj/sub/d" ] || e2e_fail "created anyway"
[ "$(probe "Bearer $ROOTKEY" put /sub/x.txt yes)" = "ok 0 0" ] || e2e_fail "uid 0 key put"
[ "$(probe "Bearer $RW" mkdir /mine)" = ok ] || e2e_fail "mkdir in the directory it owns"
[ "$(stat -c '%u %g' "$MNT/proj/mine")" = "1000 100" ] || e2e_fail "owner of /proj/mine"
[ "$(probe "Bearer $RW" put /mine/f.txt a)" = "ok 1000 100" ] || e2e_fail "put in its directory"
[ "$(probe "Bearer $RW" put /shared/f.txt b)" = "ok 1000 100" ] ||
	e2e_fail "put in a root directory whose ACL names uid 1000"
[ "$(cat "$MNT/proj/shared/f.txt")" = b ] || e2e_fail "shared/f.txt"
setfacl -m u:1000:r-x "$MNT/proj/shared"
out=$(probe "Bearer $RW" put /shared/g.txt c)
[[ $out == "refused EACCES"* ]] || e2e_fail "the ACL entry made read-only still lets it create: $out"
out=$(probe "Bearer $RW" rm /tmp/theirs)
[[ $out == "refused EPERM"* ]] || e2e_fail "uid 1000 unlinked uid 2000's file in a sticky directory: $out"
[ -e "$MNT/proj/tmp/theirs" ] || e2e_fail "tmp/theirs is gone"
[ "$(probe "Bearer $RW" put /tmp/mine.txt m)" = "ok 1000 100" ] || e2e_fail "put in /tmp"
[ "$(probe "Bearer $RW" rm /tmp/mine.txt)" = ok ] || e2e_fail "rm of its own file in /tmp"
[ "$(probe "Bearer $ROOTKEY" rm /tmp/theirs)" = ok ] || e2e_fail "uid 0 key rm in /tmp"
out=$(probe "Bearer $ROOTKEY" stat /tmp/theirs)   # the mount's kernel may have it cached
[[ $out == "refused ENOENT"* ]] || e2e_fail "tmp/theirs is still there: $out"

e2e_log "device nodes, set-uid, set-gid"
mkdir "$MNT/proj/sg" && chgrp 50 "$MNT/proj/sg" && chmod 2777 "$MNT/proj/sg"
out=$(probe "Bearer $RW" mknod /mine/dev 020644)
[[ $out == "refused EPERM"* ]] || e2e_fail "a uid-1000 key made a device node: $out"
out=$(probe "Bearer $ROOTKEY" mknod /dev0 060600)
[[ $out == "refused EPERM"* ]] || e2e_fail "a uid-0 key made a device node: $out"
[ "$(probe "Bearer $ROOTKEY" mknod /fifo 010644)" = "ok 644 0 0" ] || e2e_fail "a fifo"
out=$(probe "Bearer $RW" mknod /mine/suid 0104755)
[[ $out == "refused EPERM"* ]] || e2e_fail "a uid-1000 key made a set-uid file: $out"
out=$(probe "Bearer $RW" chmod /mine/f.txt 4755)
[[ $out == "refused EPERM"* ]] || e2e_fail "a uid-1000 key set the set-uid bit: $out"
[ "$(probe "Bearer $RW" mknod /sg/prog 0102755)" = "ok 755 1000 50" ] ||
	e2e_fail "set-gid kept outside the directory's group: $(stat -c '%a %u:%g' "$MNT/proj/sg/prog")"
[ "$(probe "Bearer $RW" mknod /mine/own 0102755)" = "ok 2755 1000 100" ] ||
	e2e_fail "set-gid in its own group: $(stat -c '%a %u:%g' "$MNT/proj/mine/own")"
[ "$(probe "Bearer $ROOTKEY" mknod /sg/rprog 0102755)" = "ok 2755 0 50" ] ||
	e2e_fail "set-gid by a uid-0 key: $(stat -c '%a %u:%g' "$MNT/proj/sg/rprog")"

e2e_log "a read-only key"
[ "$(probe "Bearer $RO" get /new.txt)" = "ok hello" ] || e2e_fail "read-only key cannot read"
out=$(probe "Bearer $RO" put /ro.txt x)
[[ $out == "refused EPERM"* ]] || e2e_fail "read-only key PUT through gw_auth: $out"
out=$(export PROBE_METHOD=GET; probe "Bearer $RO" put /ro.txt x)
[[ $out == "refused EROFS"* ]] || e2e_fail "the meta let a read-only key's session write: $out"
[ ! -e "$MNT/proj/ro.txt" ] || e2e_fail "ro.txt exists"

e2e_log "presigned URLs"
url=$(admin apikey presign "$rw_id" --method GET --path /new.txt --expires 1h \
	--gateway http://gw.example) || e2e_fail "apikey presign: $url"
[[ $url == http://gw.example/v1/fs/content\?path=/new.txt\&godfs_key=$rw_id\&godfs_exp=* ]] ||
	e2e_fail "presign URL: $url"
q() { python3 -c 'import sys, urllib.parse as u; q = u.parse_qs(u.urlsplit(sys.argv[1]).query)
print(":".join(q[k][0] for k in ("godfs_key", "godfs_exp", "godfs_sig")))' "$1"; }
[ "$(probe "presign:$(q "$url")" get /new.txt)" = "ok hello" ] || e2e_fail "the admin's presigned GET"
out=$(probe "presign:$(q "$url")" get /sub/f)
[[ $out == "refused EAUTH"* ]] || e2e_fail "a presigned URL for another path: $out"
out=$(probe "presign:$(q "$url")" put /new.txt x)
[[ $out == "refused EPERM"* ]] || e2e_fail "a GET URL used for PUT: $out"
# offline, from the Bearer string alone (docs/security.md shows the same)
sign() { python3 - "$1" "$2" "$3" "$4" <<'EOF'
import hashlib, hmac, sys, time
key, method, path, ttl = sys.argv[1:5]
_, kid, secret = key.split("_")
exp = int(time.time()) + int(ttl)
msg = f"godfs-presign-v1\n{method}\n{path}\n{exp}\n{kid}".encode()
print(f"{kid}:{exp}:" + hmac.new(bytes.fromhex(secret), msg, hashlib.sha256).hexdigest())
EOF
}
out=$(probe "presign:$(sign "$RW" PUT /up.txt 600)" put /up.txt signed) || e2e_fail "offline PUT"
[ "$out" = "ok 1000 100" ] || e2e_fail "an offline-signed PUT URL: $out"
[ "$(cat "$MNT/proj/up.txt")" = signed ] || e2e_fail "up.txt"
short=$(sign "$RW" GET /new.txt 1)
out=$(probe "presign:$(sign "$RW" GET /new.txt $((8 * 86400)))" get /new.txt)
[[ $out == "refused EAUTH"* ]] || e2e_fail "a URL valid for 8 days: $out"
out=$(probe "presign:$(sign "$RO" PUT /ro.txt 600)" put /ro.txt x)
[[ $out == "refused EPERM"* ]] || e2e_fail "a read-only key's PUT URL: $out"
sleep 2
out=$(probe "presign:$short" get /new.txt)
[[ $out == "refused EAUTH"* ]] || e2e_fail "an expired presigned URL: $out"

e2e_log "a revoke stops a live session within 2 s"
probe "Bearer $RW" watch / 15000 >"$E2E_TMP/watch.out" &
watch_pid=$!
sleep 1.5
t0=$(date +%s%3N)
admin apikey revoke "$rw_id" >/dev/null || e2e_fail "apikey revoke"
wait "$watch_pid" || e2e_fail "probe watch failed"
read -r w1 w2 t1 st <"$E2E_TMP/watch.out"
[ "$w1 $w2" = "refused at" ] || e2e_fail "the revoked key's session: $(cat "$E2E_TMP/watch.out")"
e2e_log "refused $((t1 - t0)) ms after the revoke ($st)"
((t1 - t0 <= 2000)) || e2e_fail "refused only $((t1 - t0)) ms after the revoke"
out=$(probe "Bearer $RW" stat /)
[[ $out == "refused EAUTH"* ]] || e2e_fail "a revoked key: $out"
grep -qE "^$rw_id .* revoked" <<<"$(admin apikey list)" || e2e_fail "apikey list: no revoke"
[ "$(probe "Bearer $RO" get /new.txt)" = "ok hello" ] || e2e_fail "the other key stopped too"
e2e_log "PASS"
