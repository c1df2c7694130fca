#!/bin/bash
# godfs-gateway (docs/gateway.md) with curl against a real cluster: health
# and readiness, errors as JSON with stable codes and the request id.
E2E_TIMEOUT=120
. "$(dirname "$0")/lib.sh"

[ -x "$GODFS_GATEWAY" ] || e2e_fail "$GODFS_GATEWAY is not built"
command -v curl >/dev/null || e2e_skip "no curl"
e2e_cluster_up
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

e2e_log "ok"
