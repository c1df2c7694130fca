#!/bin/bash
# godfs-gateway (docs/gateway.md) with curl against a real cluster: health
# and readiness, errors as JSON with stable codes and the request id.
E2E_TIMEOUT=120
. "$(dirname "$0")/lib.sh"

[ -x "$GODFS_GATEWAY" ] || e2e_fail "$GODFS_GATEWAY is not built"
command -v curl >/dev/null || e2e_skip "no curl"
# the mount sees what the gateway did at once (no kernel caching)
e2e_start_meta
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT" "" "entry_timeout=0,attr_timeout=0"
e2e_start_gateway

# curl -s with the status code on the last line
req() { curl -sS -w '\n%{http_code}' "$@"; }
code_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
expect() { # expect WHAT WANT_CODE OUTPUT
	[ "$(code_of "$3")" = "$2" ] || e2e_fail "$1: HTTP $(code_of "$3"), not $2: $(body_of "$3")"
}

e2e_log "health and readiness"
out=$(req "$GW_URL/v1/health"); expect health 200 "$out"
[ "$(body_of "$out")" = '{"status":"ok"}' ] || e2e_fail "health: $(body_of "$out")"
out=$(req "$GW_URL/v1/ready"); expect ready 200 "$out"

e2e_log "unknown endpoint, wrong method, request id echoed"
out=$(req -H 'X-Request-ID: test-id.1' "$GW_URL/v1/nope"); expect "unknown endpoint" 404 "$out"
grep -q '"code":"not_found"' <<<"$out" || e2e_fail "404 body: $out"
grep -q '"request_id":"test-id.1"' <<<"$out" || e2e_fail "request id not echoed: $out"
out=$(req -X DELETE "$GW_URL/v1/health"); expect "DELETE health" 405 "$out"
hdrs=$(curl -sS -D - -o /dev/null -H 'X-Request-ID: bad id!' "$GW_URL/v1/health")
id=$(sed -n 's/^X-Request-ID: \([0-9a-f]\{16\}\)\r$/\1/ip' <<<"$hdrs")
[ -n "$id" ] || e2e_fail "an invalid X-Request-ID was not replaced by a generated one: $hdrs"

e2e_log "fs: mkdir, file, stat, list (paged), rename, delete"
post() { req -X POST -H 'Content-Type: application/json' --data-binary "$2" "$GW_URL/v1/fs/$1"; }
out=$(post mkdir '{"path":"/d1"}'); expect mkdir 201 "$out"
[ -d "$MNT/d1" ] || e2e_fail "mkdir /d1 is not in the mount"
out=$(post mkdir '{"path":"/d1"}'); expect "mkdir again" 409 "$out"
grep -q '"code":"already_exists"' <<<"$out" || e2e_fail "mkdir again: $out"
out=$(post mkdir '{"path":"/d1/a/b/c","parents":true}'); expect "mkdir parents" 201 "$out"
[ -d "$MNT/d1/a/b/c" ] || e2e_fail "mkdir -p is not in the mount"
out=$(post mkdir '{"path":"/x/y"}'); expect "mkdir without parent" 404 "$out"
out=$(post file '{"path":"/d1/empty"}'); expect "create file" 201 "$out"
[ -f "$MNT/d1/empty" ] && [ ! -s "$MNT/d1/empty" ] || e2e_fail "/d1/empty is not an empty file"
out=$(post file '{"path":"/d1/empty"}'); expect "create file again" 409 "$out"
out=$(post mkdir 'not json'); expect "bad json" 400 "$out"
echo hello >"$MNT/d1/hello.txt"
out=$(req "$GW_URL/v1/fs/stat?path=/d1/hello.txt"); expect stat 200 "$out"
grep -q '"size":6' <<<"$out" && grep -q '"type":"file"' <<<"$out" || e2e_fail "stat: $out"
out=$(req "$GW_URL/v1/fs/stat?path=/d1/nope"); expect "stat missing" 404 "$out"
for i in $(seq 1 25); do : >"$MNT/d1/f$i"; done
names=() cursor=
while :; do
	out=$(req "$GW_URL/v1/fs/list?path=/d1&limit=7${cursor:+&cursor=$cursor}"); expect list 200 "$out"
	body=$(body_of "$out")
	n=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["entries"])); [print(e["name"]) for e in d["entries"]]' <<<"$body")
	[ "$(head -n1 <<<"$n")" -le 7 ] || e2e_fail "list returned more than limit: $body"
	mapfile -t -O "${#names[@]}" names < <(tail -n +2 <<<"$n")
	cursor=$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("next_cursor",""))' <<<"$body")
	[ -n "$cursor" ] || break
done
want=$(ls -A "$MNT/d1" | sort); got=$(printf '%s\n' "${names[@]}" | sort)
[ "$want" = "$got" ] || e2e_fail "paged list differs from ls: $got"
out=$(req "$GW_URL/v1/fs/list?path=/d1&cursor=zz"); expect "bad cursor" 400 "$out"
out=$(post rename '{"old_path":"/d1/hello.txt","new_path":"/d1/f1"}'); expect "rename onto existing" 409 "$out"
out=$(post rename '{"old_path":"/d1/hello.txt","new_path":"/d1/f1","overwrite":true}')
expect "rename overwrite" 204 "$out"
out=$(req "$GW_URL/v1/fs/stat?path=/d1/f1"); expect "stat renamed" 200 "$out"
grep -q '"size":6' <<<"$out" || e2e_fail "rename: /d1/f1 is not the renamed file: $out"
out=$(req "$GW_URL/v1/fs/stat?path=/d1/hello.txt"); expect "stat old name" 404 "$out"
out=$(req -X DELETE "$GW_URL/v1/fs?path=/d1/a"); expect "delete non-empty dir" 409 "$out"
grep -q '"code":"not_empty"' <<<"$out" || e2e_fail "delete non-empty: $out"
out=$(req -X DELETE "$GW_URL/v1/fs?path=/d1/a&recursive=true"); expect "delete recursive" 204 "$out"
out=$(req -X DELETE "$GW_URL/v1/fs?path=/d1/f2"); expect "delete file" 204 "$out"
[ ! -e "$MNT/d1/a" ] && [ ! -e "$MNT/d1/f2" ] || e2e_fail "deletes not seen in the mount"

e2e_log "bad paths: traversal, empty components, overlong names, NUL, bad escapes"
long=$(printf 'n%.0s' $(seq 1 256))
for q in "path=d1" "path=/d1/../etc" "path=/./d1" "path=//d1" "path=/d1/" "path=/$long" \
	"path=/d1%00x" "path=/d1%zz" "path=/d1%2" ""; do
	out=$(req "$GW_URL/v1/fs/stat?$q"); expect "stat ?$q" 400 "$out"
done
grep -q '"code":"name_too_long"' <<<"$(req "$GW_URL/v1/fs/stat?path=/$long")" ||
	e2e_fail "a 256-byte name is not name_too_long"
out=$(req "$GW_URL/v1/fs/stat?path=/d1/..%2F..%2Fetc"); expect "encoded traversal" 400 "$out"

e2e_log "ok"
