#!/bin/bash
# Multipart uploads through godfs-gateway (docs/gateway.md "Multipart
# uploads"), with two gateways serving the same uploads, as behind a load
# balancer: curl starts an upload on one, sends parts to both (one of them
# twice: the second replaces the first), lists them on the other and
# completes there; the file read through the mount is the parts in order,
# and the staging directory is gone. Refused: bad part numbers, unknown and
# malformed ids, a missing or duplicate part, a wrong ETag, an existing
# target without ?overwrite=1, another key's upload (404, as if it did not
# exist), a read-only key (403) and no key (401). A key for /other acting as
# 1000:100 uploads into its subtree, both ways (one copy and zero-copy): the
# file is at /other, owned 1000:100; an upload into a directory of root's
# there is refused at init (403). An abort removes the staging. Python's urllib uploads a 40 MiB file
# in 4 MiB parts with 4 threads over both gateways, declaring the part size
# (1 MiB chunks here: zero-copy, no byte copied at complete); checksums are
# compared through the mount. A client that goes away mid-part leaves
# nothing staged. A third gateway with --upload-expiry 2 removes an
# abandoned upload by itself, and its /metrics counts the one left. A gateway killed (-9) in the middle of a
# complete leaves the target absent (or whole, if it had finished) and the
# upload locked: a retry elsewhere gets 409 upload_busy. A complete that
# died between moving the data file and the rename into place (done by hand
# through the mount, its abandoned lock naming its temp file) is finished by
# the next one, which takes the lock over; with the data gone, 404. A
# complete while a zero-copy part is still coming is 409 upload_busy, and the
# part that lands afterwards never changes the completed file. Zero-copy and
# one-copy files in a goal-1 set-group-id directory with a default ACL get
# its group, goal and ACL; a complete with overwrite keeps the replaced
# file's owner, mode and user xattrs (both ways). An abort while a complete
# holds the lock is 409. A gateway with --max-upload refuses at once a part
# that would end past it.
E2E_TIMEOUT=120
META_ARGS=(--chunk-size 1M)
. "$(dirname "$0")/lib.sh"

[ -x "$GODFS_GATEWAY" ] || e2e_fail "$GODFS_GATEWAY is not built"
command -v curl >/dev/null || e2e_fail "curl is missing"
e2e_cluster_up

admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@"; }
admin apikey create --subtree / --name mp -o "$E2E_TMP/k1" >/dev/null || e2e_fail "apikey create"
mkdir -p "$MNT/other"
chown 1000:100 "$MNT/other"   # key 2 acts as 1000:100: its root must be writable by it
admin apikey create --subtree /other --uid 1000 --gid 100 --name mp2 -o "$E2E_TMP/k2" >/dev/null ||
	e2e_fail "apikey create (second key)"
admin apikey create --subtree / --read-only --name ro -o "$E2E_TMP/k3" >/dev/null ||
	e2e_fail "apikey create --read-only"
K1="Authorization: Bearer $(cat "$E2E_TMP/k1")"
K2="Authorization: Bearer $(cat "$E2E_TMP/k2")"

e2e_start_gateway
GW1=$GW_URL
e2e_start_gateway
GW2=$GW_URL
GW2_PID=$GW_PID

# c EXPECTED-STATUS CURL-ARGS...: runs curl with key 1; the body is in
# $E2E_TMP/out, the headers in $E2E_TMP/hdr.
c() {
	local want=$1 got
	shift
	got=$(curl -sS -o "$E2E_TMP/out" -D "$E2E_TMP/hdr" -w '%{http_code}' -H "$K1" "$@") ||
		e2e_fail "curl $*: failed"
	[ "$got" = "$want" ] || e2e_fail "curl $*: HTTP $got, not $want: $(cat "$E2E_TMP/out")"
}
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$E2E_TMP/out" "$1"; }
etag_of() { sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$E2E_TMP/hdr"; }
staged() { ls -A "$MNT/.godfs-gateway/uploads" 2>/dev/null | wc -l; }
init() { # GATEWAY PATH [JSON-EXTRA]
	c 200 -X POST "$1/v1/fs/multipart" -H 'Content-Type: application/json' \
		-d "{\"path\": \"$2\"${3:+, $3}}"
	json 'd["upload_id"]'
}

e2e_log "curl: init on gateway 1, parts on both, list and complete on gateway 2"
mkdir -p "$MNT/dir"
for i in 1 2 3; do head -c $((1000000 + i * 12345)) /dev/urandom >"$E2E_TMP/p$i"; done
head -c 5000 /dev/urandom >"$E2E_TMP/p2-old"
id=$(init "$GW1" /dir/curl.bin)
[[ "$id" =~ ^[0-9a-f]{32}$ ]] || e2e_fail "upload id '$id'"
json 'd["expires_at"]' | grep -qE '^[0-9]{10}$' || e2e_fail "init: $(cat "$E2E_TMP/out")"
c 200 -X PUT --data-binary @"$E2E_TMP/p2-old" "$GW1/v1/fs/multipart/$id?partNumber=2"
old2=$(etag_of)
declare -A ET
for i in 1 2 3; do
	gw=$GW1; ((i % 2)) || gw=$GW2
	c 200 -X PUT --data-binary @"$E2E_TMP/p$i" "$gw/v1/fs/multipart/$id?partNumber=$i"
	ET[$i]=$(etag_of)
	[ "${ET[$i]}" = "\"sha256-$(sha256sum <"$E2E_TMP/p$i" | cut -d' ' -f1)\"" ] ||
		e2e_fail "part $i: ETag ${ET[$i]}"
done
[ "$old2" != "${ET[2]}" ] || e2e_fail "the re-uploaded part 2 kept its ETag"
c 200 "$GW2/v1/fs/multipart/$id/parts"
[ "$(json '[(p["part_number"], p["size"], p["etag"]) for p in d["parts"]]')" = \
  "[(1, $(stat -c %s "$E2E_TMP/p1"), '${ET[1]}'), (2, $(stat -c %s "$E2E_TMP/p2"), '${ET[2]}'), (3, $(stat -c %s "$E2E_TMP/p3"), '${ET[3]}')]" ] ||
	e2e_fail "list parts: $(cat "$E2E_TMP/out")"

e2e_log "refused: bad part numbers, ids, part lists, ETags; another key"
c 400 -X PUT --data-binary x "$GW1/v1/fs/multipart/$id?partNumber=0"
c 400 -X PUT --data-binary x "$GW1/v1/fs/multipart/$id?partNumber=10001"
c 400 -X PUT --data-binary x "$GW1/v1/fs/multipart/$id?partNumber=abc"
c 400 -X PUT --data-binary x "$GW1/v1/fs/multipart/$id"
c 404 -X PUT --data-binary x "$GW1/v1/fs/multipart/0123456789abcdef0123456789abcdef?partNumber=1"
c 404 -X PUT --data-binary x "$GW1/v1/fs/multipart/..%2F..%2Fetc?partNumber=1"
c 404 "$GW1/v1/fs/multipart/${id^^}/parts"
cpl() { # STATUS GATEWAY JSON-PARTS [QUERY]
	c "$1" -X POST "$2/v1/fs/multipart/$id/complete${4:-}" -H 'Content-Type: application/json' \
		-d "{\"parts\": $3}"
}
cpl 400 "$GW2" '[{"part_number": 1}, {"part_number": 3}]'
grep -q 'part 2 is missing' "$E2E_TMP/out" || e2e_fail "missing part: $(cat "$E2E_TMP/out")"
cpl 400 "$GW2" '[{"part_number": 1}, {"part_number": 1}]'
cpl 400 "$GW2" '[{"part_number": 1}, {"part_number": 2}, {"part_number": 3}, {"part_number": 4}]'
grep -q 'part 4 was not uploaded' "$E2E_TMP/out" || e2e_fail "unstaged part: $(cat "$E2E_TMP/out")"
cpl 400 "$GW2" "[{\"part_number\": 1}, {\"part_number\": 2, \"etag\": \"${old2//\"/}\"}, {\"part_number\": 3}]"
grep -q 'part 2: the ETag does not match' "$E2E_TMP/out" || e2e_fail "wrong ETag: $(cat "$E2E_TMP/out")"
cpl 400 "$GW2" "[{\"part_number\": 1}, {\"part_number\": 2, \"etag\": \"sha256-zz\"}, {\"part_number\": 3}]"
cpl 400 "$GW2" '{"part_number": 1}'
got=$(curl -sS -o "$E2E_TMP/out" -w '%{http_code}' -H "Authorization: Bearer $(cat "$E2E_TMP/k3")" \
	-X POST "$GW1/v1/fs/multipart" -d '{"path": "/dir/ro"}')
[ "$got" = 403 ] || e2e_fail "a read-only key started an upload: HTTP $got"
got=$(curl -sS -o "$E2E_TMP/out" -w '%{http_code}' -X POST "$GW1/v1/fs/multipart" -d '{"path": "/dir/x"}')
[ "$got" = 401 ] || e2e_fail "no credential: HTTP $got"
for what in "$GW1/v1/fs/multipart/$id/parts" "-X DELETE $GW1/v1/fs/multipart/$id" \
	"-X PUT --data-binary x $GW2/v1/fs/multipart/$id?partNumber=1"; do
	# shellcheck disable=SC2086
	got=$(curl -sS -o "$E2E_TMP/out" -w '%{http_code}' -H "$K2" $what)
	[ "$got" = 404 ] || e2e_fail "another key: $what: HTTP $got, not 404"
done

echo old >"$MNT/dir/curl.bin"
q() { local v=$1; echo "\"${v//\"/}\""; }   # an ETag as a JSON string (quotes dropped)
all="[{\"part_number\": 3, \"etag\": $(q "${ET[3]}")}, {\"part_number\": 1, \"etag\": $(q "${ET[1]}")}, {\"part_number\": 2, \"etag\": $(q "${ET[2]}")}]"
cpl 409 "$GW2" "$all"
[ "$(cat "$MNT/dir/curl.bin")" = old ] || e2e_fail "a refused complete changed the target"
cpl 200 "$GW2" "$all" '?overwrite=1'
etag=$(json 'd["etag"]')
[ "$(etag_of)" = "$etag" ] || e2e_fail "complete: the ETag header $(etag_of) is not the body's $etag"
[ "$(json 'd["size"]')" = $(( $(cat "$E2E_TMP"/p[123] | wc -c) )) ] || e2e_fail "complete: $(cat "$E2E_TMP/out")"
e2e_remount   # the mount cached the old file (the rename was another session's)
cat "$E2E_TMP/p1" "$E2E_TMP/p2" "$E2E_TMP/p3" | cmp - "$MNT/dir/curl.bin" ||
	e2e_fail "the completed file is not the parts in order"
c 200 -I "$GW1/v1/fs/content?path=/dir/curl.bin"
[ "$(etag_of)" = "$etag" ] || e2e_fail "HEAD gives the ETag $(etag_of), complete gave $etag"
ls -A "$MNT/dir" | grep -q godfs-upload && e2e_fail "a temp file is left in the target directory"
[ "$(staged)" = 0 ] || e2e_fail "the staging directory is left: $(ls -A "$MNT/.godfs-gateway/uploads")"
c 404 "$GW1/v1/fs/multipart/$id/parts"

e2e_log "a key for /other acting as 1000:100: paths in its subtree, the file is its own (both ways)"
head -c $((1 << 20)) /dev/urandom >"$E2E_TMP/m1"
head -c 1000 /dev/urandom >"$E2E_TMP/m2"
for zc in '' '"part_size": 1048576'; do
	got=$(curl -sS -o "$E2E_TMP/out" -w '%{http_code}' -H "$K2" -X POST "$GW1/v1/fs/multipart" \
		-d "{\"path\": \"/k2.bin\"${zc:+, $zc}}")
	[ "$got" = 200 ] || e2e_fail "init with key 2: HTTP $got $(cat "$E2E_TMP/out")"
	id=$(json 'd["upload_id"]')
	for i in 1 2; do
		got=$(curl -sS -o /dev/null -w '%{http_code}' -H "$K2" -X PUT \
			--data-binary @"$E2E_TMP/m$i" "$GW2/v1/fs/multipart/$id?partNumber=$i")
		[ "$got" = 200 ] || e2e_fail "part $i with key 2: HTTP $got"
	done
	got=$(curl -sS -o "$E2E_TMP/out" -w '%{http_code}' -H "$K2" -X POST \
		"$GW1/v1/fs/multipart/$id/complete?overwrite=1" \
		-d '{"parts": [{"part_number": 1}, {"part_number": 2}]}')
	[ "$got" = 200 ] || e2e_fail "complete with key 2: HTTP $got $(cat "$E2E_TMP/out")"
	[ "$(json 'd["zero_copy"]')" = "$([ -n "$zc" ] && echo True || echo False)" ] ||
		e2e_fail "key 2 ($zc): $(cat "$E2E_TMP/out")"
	e2e_remount
	cat "$E2E_TMP/m1" "$E2E_TMP/m2" | cmp - "$MNT/other/k2.bin" || e2e_fail "key 2's file ($zc)"
	[ "$(stat -c %u:%g:%a "$MNT/other/k2.bin")" = 1000:100:644 ] ||
		e2e_fail "key 2's file ($zc) is $(stat -c %u:%g:%a "$MNT/other/k2.bin"), not 1000:100:644"
done
[ -e "$MNT/k2.bin" ] && e2e_fail "key 2's path was taken from the root, not its subtree"
mkdir "$MNT/other/roots"   # root's, 0755: key 2 (uid 1000) may not create there
got=$(curl -sS -o "$E2E_TMP/out" -w '%{http_code}' -H "$K2" -X POST "$GW1/v1/fs/multipart" \
	-d '{"path": "/roots/x"}')
[ "$got" = 403 ] || e2e_fail "key 2 started an upload into root's directory: HTTP $got"
[ -z "$(ls -A "$MNT/other/roots")" ] || e2e_fail "the refused init left $(ls -A "$MNT/other/roots")"

e2e_log "a complete that died between moving the data file and the rename is finished by the next"
zc_upload() { # PATH: a zero-copy upload of m1 + m2 (1 MiB parts), its id in $id
	id=$(init "$GW1" "$1" '"part_size": 1048576')
	c 200 -X PUT --data-binary @"$E2E_TMP/m1" "$GW2/v1/fs/multipart/$id?partNumber=1"
	c 200 -X PUT --data-binary @"$E2E_TMP/m2" "$GW1/v1/fs/multipart/$id?partNumber=2"
}
zc_upload /dir/resumed
# what the dead gateway did: its lock (abandoned: untouched for 120 s) names
# its attempt's temp file; the data file, cut to size, moved over that name
up=$MNT/.godfs-gateway/uploads/$id
dead=.godfs-upload-$id.00000000deadbeef
touch "$up/complete"
setfattr -n user.godfs.complete -v "$(stat -c %i "$MNT/dir") $dead" "$up/complete"
touch -d '-300 seconds' "$up/complete"
mv "$up/data" "$MNT/dir/$dead"
truncate -s $((1048576 + 1000)) "$MNT/dir/$dead"
cpl 200 "$GW2" '[{"part_number": 1}, {"part_number": 2}]'
e2e_remount
cat "$E2E_TMP/m1" "$E2E_TMP/m2" | cmp - "$MNT/dir/resumed" || e2e_fail "the resumed complete's file"
grep -q "multipart upload $id: resuming" "$E2E_TMP/log/gateway.log" || e2e_fail "no resume logged"
ls -A "$MNT/dir" | grep -q godfs-upload && e2e_fail "the resumed complete left a temp file"
zc_upload /dir/lost
rm "$MNT/.godfs-gateway/uploads/$id/data"
cpl 404 "$GW2" '[{"part_number": 1}, {"part_number": 2}]'
grep -q "data is gone" "$E2E_TMP/out" || e2e_fail "data gone: $(cat "$E2E_TMP/out")"
c 204 -X DELETE "$GW1/v1/fs/multipart/$id"

e2e_log "a complete while a zero-copy part is still coming: 409, and the file never changes after its 200"
id=$(init "$GW1" /dir/racing '"part_size": 1048576')
head -c 100 /dev/urandom >"$E2E_TMP/r1"
c 200 -X PUT --data-binary @"$E2E_TMP/r1" "$GW1/v1/fs/multipart/$id?partNumber=1"
curl -sS -o "$E2E_TMP/slow.out" -w '%{http_code}' -H "$K1" --limit-rate 400k -X PUT \
	--data-binary @"$E2E_TMP/m1" "$GW1/v1/fs/multipart/$id?partNumber=2" >"$E2E_TMP/slow.code" &
slow=$!
sleep 1
cpl 409 "$GW2" '[{"part_number": 1}]'
grep -q '"upload_busy"' "$E2E_TMP/out" && grep -q 'part upload' "$E2E_TMP/out" ||
	e2e_fail "a complete during a part upload: $(cat "$E2E_TMP/out")"
wait "$slow" || true
[ "$(cat "$E2E_TMP/slow.code")" = 200 ] || e2e_fail "the slow part: $(cat "$E2E_TMP/slow.code") $(cat "$E2E_TMP/slow.out")"
cpl 200 "$GW2" '[{"part_number": 1}]'
etag=$(json 'd["etag"]')
sleep 0.5
e2e_remount
cmp "$E2E_TMP/r1" "$MNT/dir/racing" || e2e_fail "the completed file is not part 1 alone ($(stat -c %s "$MNT/dir/racing") bytes)"
c 200 -I "$GW1/v1/fs/content?path=/dir/racing"
[ "$(etag_of)" = "$etag" ] || e2e_fail "the completed file changed after the complete: $(etag_of), not $etag"

e2e_log "zero-copy and one copy into a goal-1 set-group-id directory with a default ACL: as a create there"
mkdir "$MNT/g"
chgrp 50 "$MNT/g"
chmod 2775 "$MNT/g"
setfacl -d -m u:1234:r "$MNT/g"
admin goal /g 1 >/dev/null || e2e_fail "goal /g 1"
for zc in '"part_size": 1048576' ''; do
	id=$(init "$GW1" /g/f "$zc")
	c 200 -X PUT --data-binary @"$E2E_TMP/m1" "$GW2/v1/fs/multipart/$id?partNumber=1"
	c 200 -X PUT --data-binary @"$E2E_TMP/m2" "$GW1/v1/fs/multipart/$id?partNumber=2"
	cpl 200 "$GW2" '[{"part_number": 1}, {"part_number": 2}]' '?overwrite=1'
	e2e_remount
	[ "$(stat -c %g "$MNT/g/f")" = 50 ] || e2e_fail "($zc) the file's group is $(stat -c %g "$MNT/g/f"), not the directory's"
	[ "$(admin goal /g/f)" = "/g/f: goal 1" ] || e2e_fail "($zc) $(admin goal /g/f), not the directory's 1"
	getfacl -c "$MNT/g/f" 2>/dev/null | grep -q '^user:1234:r--' || e2e_fail "($zc) no ACL inherited"
done

e2e_log "a complete with overwrite keeps the replaced file's mode, owner, group and user xattrs"
echo old >"$MNT/dir/diary"
chown 1000:100 "$MNT/dir/diary"
chmod 600 "$MNT/dir/diary"
setfattr -n user.tag -v keep "$MNT/dir/diary"
for zc in '"part_size": 1048576' ''; do
	id=$(init "$GW1" /dir/diary "$zc")
	c 200 -X PUT --data-binary @"$E2E_TMP/m2" "$GW2/v1/fs/multipart/$id?partNumber=1"
	cpl 200 "$GW2" '[{"part_number": 1}]' '?overwrite=1'
	e2e_remount
	cmp "$E2E_TMP/m2" "$MNT/dir/diary" || e2e_fail "($zc) diary: bytes"
	[ "$(stat -c %u:%g:%a "$MNT/dir/diary")" = 1000:100:600 ] ||
		e2e_fail "($zc) the replaced file is $(stat -c %u:%g:%a "$MNT/dir/diary"), not 1000:100:600"
	[ "$(getfattr --only-values -n user.tag "$MNT/dir/diary" 2>/dev/null)" = keep ] ||
		e2e_fail "($zc) the replaced file lost user.tag"
done

e2e_log "an abort waits for no one: a running complete's lock makes it 409"
id=$(init "$GW2" /dir/locked)
touch "$MNT/.godfs-gateway/uploads/$id/complete"
c 409 -X DELETE "$GW1/v1/fs/multipart/$id"
rm "$MNT/.godfs-gateway/uploads/$id/complete"
c 204 -X DELETE "$GW1/v1/fs/multipart/$id"

e2e_log "abort"
id=$(init "$GW2" /dir/aborted)
c 200 -X PUT --data-binary @"$E2E_TMP/p1" "$GW1/v1/fs/multipart/$id?partNumber=1"
[ "$(staged)" = 1 ] || e2e_fail "the upload is not staged"
c 204 -X DELETE "$GW1/v1/fs/multipart/$id"
c 404 "$GW2/v1/fs/multipart/$id/parts"
c 404 -X DELETE "$GW2/v1/fs/multipart/$id"
[ "$(staged)" = 0 ] || e2e_fail "abort left the staging directory"
[ -e "$MNT/dir/aborted" ] && e2e_fail "an aborted upload made its file"

e2e_log "a client that goes away in the middle of a part leaves nothing staged"
id=$(init "$GW1" /dir/gone)
python3 - "$GW_PORT" "$id" "$(cat "$E2E_TMP/k1")" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("PUT /v1/fs/multipart/%s?partNumber=1 HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Bearer %s\r\nContent-Length: 8000000\r\n\r\n"
           % (sys.argv[2], sys.argv[3])).encode() + b"x" * 3000000)
time.sleep(0.5)
s.close()
EOF
for ((i = 0; i < 50; i++)); do
	n=$(ls -A "$MNT/.godfs-gateway/uploads/$id" | grep -c part- || true)
	[ "$n" = 0 ] && break
	sleep 0.1
done
[ "$n" = 0 ] || e2e_fail "a broken part upload left: $(ls -A "$MNT/.godfs-gateway/uploads/$id")"
c 200 "$GW1/v1/fs/multipart/$id/parts"
[ "$(json 'len(d["parts"])')" = 0 ] || e2e_fail "a broken part is listed: $(cat "$E2E_TMP/out")"
c 204 -X DELETE "$GW1/v1/fs/multipart/$id"

e2e_log "Python urllib: 40 MiB in 4 MiB parts, 4 threads, both gateways (zero-copy)"
head -c $((40 * 1024 * 1024 + 777)) /dev/urandom >"$E2E_TMP/big"
out=$(python3 "$(dirname "$0")/multipart_upload.py" --gateways "$GW1,$GW2" \
	--bearer-file "$E2E_TMP/k1" --source "$E2E_TMP/big" --path /dir/big.bin \
	--part-size $((4 << 20)) --declare-part-size --threads 4) || e2e_fail "multipart_upload.py"
grep -q '"zero_copy": true' <<<"$out" || e2e_fail "not assembled in place: $out"
e2e_remount
[ "$(sha256sum <"$MNT/dir/big.bin")" = "$(sha256sum <"$E2E_TMP/big")" ] ||
	e2e_fail "the 40 MiB file read through the mount differs from the source"
e2e_log "the same with parts of 3.5 MiB (not whole chunks: one copy)"
out=$(python3 "$(dirname "$0")/multipart_upload.py" --gateways "$GW2,$GW1" \
	--bearer-file "$E2E_TMP/k1" --source "$E2E_TMP/big" --path /dir/big3.bin \
	--part-size $((7 << 19)) --declare-part-size --threads 3) || e2e_fail "multipart_upload.py"
grep -q '"zero_copy": false' <<<"$out" || e2e_fail "3.5 MiB parts: $out"
cmp "$MNT/dir/big3.bin" "$E2E_TMP/big" || e2e_fail "the file of 3.5 MiB parts differs from the source"
[ "$(staged)" = 0 ] || e2e_fail "staging left: $(ls -A "$MNT/.godfs-gateway/uploads")"
[ "$(stat -c %a "$MNT/.godfs-gateway/uploads")" = 700 ] || e2e_fail "the staging area is not 0700"

e2e_log "an abandoned upload expires (a gateway with --upload-expiry 2)"
read -r MPORT <<<"$(e2e_free_ports 1)"
e2e_start_gateway --upload-expiry 2 --metrics-listen "127.0.0.1:$MPORT" --max-upload 1500000
# --max-upload holds at part time: a part that would end past it is 413 at once
id=$(init "$GW1" /dir/toolarge '"part_size": 1048576')
c 413 -X PUT --data-binary @"$E2E_TMP/m1" "$GW_URL/v1/fs/multipart/$id?partNumber=2"
c 413 -X PUT --data-binary x "$GW_URL/v1/fs/multipart/$id?partNumber=3"
c 200 -X PUT --data-binary @"$E2E_TMP/m1" "$GW_URL/v1/fs/multipart/$id?partNumber=1"
c 204 -X DELETE "$GW1/v1/fs/multipart/$id"
id=$(init "$GW_URL" /dir/abandoned)
c 200 -X PUT --data-binary @"$E2E_TMP/p3" "$GW1/v1/fs/multipart/$id?partNumber=1"
keep=$(init "$GW1" /dir/kept)
for ((i = 0; i < 100; i++)); do
	ls -A "$MNT/.godfs-gateway/uploads" | grep -q "$id" || break
	sleep 0.1
done
ls -A "$MNT/.godfs-gateway/uploads" | grep -q "$id" && e2e_fail "the expired upload is still staged after 10 s"
c 404 "$GW1/v1/fs/multipart/$id/parts"
c 200 "$GW_URL/v1/fs/multipart/$keep/parts"
grep -q "multipart upload $id expired: removed" "$E2E_TMP/log/gateway.log" ||
	e2e_fail "no log line for the expired upload"
# its janitor counts what stays staged: the kept upload alone
for ((i = 0; i < 50; i++)); do
	m=$(curl -sS "http://127.0.0.1:$MPORT/metrics" | grep '^godfs_gateway_multipart_uploads_active ' || true)
	[ "$m" = "godfs_gateway_multipart_uploads_active 1" ] && break
	sleep 0.1
done
[ "$m" = "godfs_gateway_multipart_uploads_active 1" ] || e2e_fail "metrics: '$m', not 1 active upload"

e2e_log "kill -9 of the gateway running a complete: the target is whole or absent, never partial"
id=$(init "$GW1" /dir/killed)
for i in 1 2 3; do
	c 200 -X PUT --data-binary @"$E2E_TMP/big" "$GW1/v1/fs/multipart/$id?partNumber=$i"
done
curl -sS -o /dev/null -H "$K1" -X POST "$GW2/v1/fs/multipart/$id/complete" \
	-d '{"parts": [{"part_number": 1}, {"part_number": 2}, {"part_number": 3}]}' &
curl_pid=$!
sleep 0.4
e2e_stop "$GW2_PID" KILL
wait "$curl_pid" || true
e2e_remount
if [ -e "$MNT/dir/killed" ]; then
	e2e_log "the complete finished before the kill"
	for i in 1 2 3; do cat "$E2E_TMP/big"; done | cmp - "$MNT/dir/killed" ||
		e2e_fail "a complete killed mid-way left a partial file"
else
	# the dead gateway's lock holds for GW_MP_LOCK_STALE_S: another complete waits
	cpl 409 "$GW1" '[{"part_number": 1}]'
	grep -q upload_busy "$E2E_TMP/out" || e2e_fail "retry after the kill: $(cat "$E2E_TMP/out")"
fi
