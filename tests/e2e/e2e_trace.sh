#!/bin/bash
# Request ids across daemons and the log formats (docs/observability.md,
# "Logs and request ids"): `godfs-admin --request-id ID status` reaches the
# meta, and its log has a line with the id; a file written under an id
# (tests/tools/godfs_put: one chunk, goal 3) leaves the id in the meta's log
# and in the log of each chunkd of the chain (the head got it from the
# client, the other two only through the pipeline's forwards); a chunkd run
# with --log-format json, one with GODFS_LOG_FORMAT=json and a mount with
# -o log_format=json write only lines that parse as JSON with every field
# (the id in "req"); a text log has the one line format; an id the daemons
# would not take is refused by godfs-admin; a replication order runs under
# an id of its own, which the source chunkd logs with the reads it serves.
# Through godfs-gateway (--log-format json): the X-Request-ID of a PUT, a GET
# (9 MiB: writer and reader threads) and a multipart complete is in the
# access log, the gateway's log, the meta's and every chunkd's; an id with
# spaces or of 200 bytes is replaced by a generated one, echoed back.
E2E_TIMEOUT=120
META_ARGS=(--chunk-size 1048576 --lease-ms 2000 --grace-ms 1000 --log-level debug)
. "$(dirname "$0")/lib.sh"
PUT=$GODFS_BUILDDIR/tests/tools/godfs_put
[ -x "$PUT" ] || e2e_fail "$PUT is not built (make check builds it)"

e2e_start_meta
e2e_start_chunkd 1 --log-level debug --log-format json
GODFS_LOG_FORMAT=json e2e_start_chunkd 2 --log-level debug
e2e_start_chunkd 3 --log-level debug
e2e_wait_nodes 3

# Lines of a log that carry id (text: " req=ID" at the end; JSON: "req":"ID").
with_id() { grep -E "( req=$2\$|\"req\":\"$2\")" "$1" || true; }

# ---- godfs-admin --request-id: a call that reaches the meta
AID=admin-$RANDOM.$$
"$GODFS_ADMIN" --meta "$META_ADDR" --request-id "$AID" status >/dev/null ||
	e2e_fail "godfs-admin --request-id $AID status failed"
line=$(with_id "$E2E_TMP/log/meta.log" "$AID" | grep -m1 'ADMIN_STATUS request' || true)
[ -n "$line" ] || e2e_fail "the meta's log has no ADMIN_STATUS line with req=$AID"
# the one text format: UTC time with ms, program[pid], level, file:line, message, req=
echo "$line" | grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z godfs-meta\[$META_PID\] debug [a-z_]+\.c:[0-9]+: .* req=$AID\$" ||
	e2e_fail "not the text line format: $line"
e2e_log "meta: $line"

# a bad id is refused by godfs-admin, not silently replaced
rc=0
"$GODFS_ADMIN" --meta "$META_ADDR" --request-id 'no good' status >/dev/null 2>"$E2E_TMP/bad.err" || rc=$?
[ "$rc" = 2 ] && grep -q 'request-id' "$E2E_TMP/bad.err" ||
	e2e_fail "godfs-admin --request-id 'no good': exit $rc, $(cat "$E2E_TMP/bad.err")"

# ---- a write under an id: the meta, then every chunkd of the chain
PID_=put-$RANDOM-$$
"$PUT" "$META_ADDR" "$PID_" traced 512K || e2e_fail "godfs_put under $PID_ failed"
n=$(with_id "$E2E_TMP/log/meta.log" "$PID_" | wc -l)
for m in MKNOD WRITE_LEASE WRITE_COMMIT; do
	with_id "$E2E_TMP/log/meta.log" "$PID_" | grep -q "$m request" ||
		e2e_fail "the meta's log has no $m line with req=$PID_"
done
e2e_log "meta: $n lines with req=$PID_ (MKNOD, WRITE_LEASE, WRITE_COMMIT among them)"
for i in 1 2 3; do
	log=$E2E_TMP/log/chunkd$i.log
	with_id "$log" "$PID_" | grep -q 'CS_WRITE request' ||
		e2e_fail "chunkd$i logged no CS_WRITE with the id $PID_: $(tail -n 5 "$log")"
	with_id "$log" "$PID_" | grep -q 'CS_FSYNC request' ||
		e2e_fail "chunkd$i logged no CS_FSYNC with the id $PID_"
done
e2e_log "chunkd 1, 2, 3: CS_WRITE and CS_FSYNC lines with req=$PID_ (one chunk: two of them had it only from a forward)"

# ---- through the gateway: an X-Request-ID reaches the meta and every chunkd
if [ -x "$GODFS_GATEWAY" ] && command -v curl >/dev/null; then
	e2e_start_gateway --log-level debug --log-format json
	GW_JSON_PID=$GW_PID
	"$GODFS_ADMIN" --meta "$META_ADDR" apikey create --subtree / -o "$E2E_TMP/gw.key" >/dev/null ||
		e2e_fail "apikey create"
	gw() { curl -sS -H "Authorization: Bearer $(cat "$E2E_TMP/gw.key")" "$@"; }
	# echoed ID HEADERS: the X-Request-ID of an answer's headers is ID
	echoed() { grep -qi "^X-Request-ID: $1"$'\r'"\$" <<<"$2" || e2e_fail "X-Request-ID $1 not echoed: $2"; }
	GWLOG=$E2E_TMP/log/gateway.log ACCESS=$E2E_TMP/log/gateway-access.log
	# 9 MiB: three 4 MiB buffers for the PUT's writer threads, and a GET
	# read by the download's reader threads (over one 4 MiB block): every
	# chunkd request of both comes from a thread the request handed work to
	head -c $((9 << 20)) /dev/urandom >"$E2E_TMP/gw.data"
	PUTID=itest-put-$RANDOM$RANDOM
	h=$(gw -D - -o /dev/null -f -H "X-Request-ID: $PUTID" -T "$E2E_TMP/gw.data" \
		"$GW_URL/v1/fs/content?path=/gw.data") || e2e_fail "PUT /gw.data under $PUTID failed"
	echoed "$PUTID" "$h"
	GETID=itest-get-$RANDOM$RANDOM
	h=$(gw -D - -o "$E2E_TMP/gw.back" -f -H "X-Request-ID: $GETID" \
		"$GW_URL/v1/fs/content?path=/gw.data") || e2e_fail "GET /gw.data under $GETID failed"
	echoed "$GETID" "$h"
	cmp -s "$E2E_TMP/gw.data" "$E2E_TMP/gw.back" || e2e_fail "GET /gw.data: not the bytes PUT"
	for id in "$PUTID" "$GETID"; do
		grep -q " req=$id ok\$" "$ACCESS" || e2e_fail "the access log has no line with req=$id"
		with_id "$GWLOG" "$id" | grep -q 'HTTP ' || e2e_fail "the gateway's log has no line with req=$id"
	done
	for m in MKNOD WRITE_LEASE RENAME; do
		with_id "$E2E_TMP/log/meta.log" "$PUTID" | grep -q "$m request" ||
			e2e_fail "the meta's log has no $m line with req=$PUTID"
	done
	with_id "$E2E_TMP/log/meta.log" "$GETID" | grep -q 'request' ||
		e2e_fail "the meta's log has no request with req=$GETID"
	reads=0
	for i in 1 2 3; do
		log=$E2E_TMP/log/chunkd$i.log
		with_id "$log" "$PUTID" | grep -q 'CS_WRITE request' ||
			e2e_fail "chunkd$i logged no CS_WRITE with the gateway PUT's id $PUTID"
		reads=$((reads + $(with_id "$log" "$GETID" | grep -c 'CS_READ request' || true)))
	done
	((reads >= 9)) || e2e_fail "$reads CS_READ lines with the GET's id $GETID, not one per chunk at least"
	e2e_log "gateway: PUT $PUTID and GET $GETID in the access log, the gateway's, the meta's and every chunkd's log ($reads CS_READ lines)"

	# a one-copy multipart complete: its staging reader thread reads under the id
	MPID=itest-mp-$RANDOM$RANDOM
	up=$(gw -f -X POST -H 'Content-Type: application/json' --data-binary '{"path":"/gw.mp"}' \
		"$GW_URL/v1/fs/multipart" | python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_id"])') ||
		e2e_fail "multipart init"
	gw -f -o /dev/null -T "$E2E_TMP/gw.data" "$GW_URL/v1/fs/multipart/$up?partNumber=1" ||
		e2e_fail "multipart part 1"
	gw -f -o /dev/null -H "X-Request-ID: $MPID" -X POST -H 'Content-Type: application/json' \
		--data-binary '{"parts":[{"part_number":1}]}' "$GW_URL/v1/fs/multipart/$up/complete" ||
		e2e_fail "multipart complete under $MPID"
	cat "$E2E_TMP"/log/chunkd[123].log | with_id /dev/stdin "$MPID" | grep -q 'CS_READ request' ||
		e2e_fail "no chunkd logged the complete's staging reads with its id $MPID"
	cat "$E2E_TMP"/log/chunkd[123].log | with_id /dev/stdin "$MPID" | grep -q 'CS_WRITE request' ||
		e2e_fail "no chunkd logged the complete's writes with its id $MPID"
	e2e_log "gateway: a multipart complete's reads and writes carry its id $MPID"

	# ids the daemons would not take are replaced by a generated one, echoed back
	long=$(printf 'x%.0s' $(seq 1 200))
	for bad in 'has spaces in it' "$long"; do
		h=$(gw -D - -o /dev/null -f -H "X-Request-ID: $bad" "$GW_URL/v1/fs/stat?path=/gw.data") ||
			e2e_fail "stat with a bad X-Request-ID failed"
		gen=$(sed -n 's/^X-Request-ID: \([0-9a-f]\{16\}\)\r$/\1/ip' <<<"$h")
		[ -n "$gen" ] || e2e_fail "X-Request-ID '${bad:0:20}...' was not replaced by a generated id: $h"
		grep -q " req=$gen ok\$" "$ACCESS" || e2e_fail "the access log has no line with the generated $gen"
	done
	e2e_log "gateway: an X-Request-ID with spaces or of 200 bytes is replaced by a generated id"
fi

# ---- a replication order: the copying chunkd and its source share an id
e2e_more_chunkds 4
e2e_start_chunkd 4 --log-level debug
e2e_wait_nodes 4
"$GODFS_ADMIN" --meta "$META_ADDR" goal /traced 4 >/dev/null || e2e_fail "goal /traced 4"
line=
for ((t = 0; t < 200; t++)); do
	line=$(grep -m1 'replicated from' "$E2E_TMP/log/chunkd4.log" || true)
	[ -n "$line" ] && break
	sleep 0.1
done
[ -n "$line" ] || e2e_fail "chunkd4 made no copy in 20 s: $(tail -n 5 "$E2E_TMP/log/chunkd4.log")"
RID=$(echo "$line" | sed -n 's/.* req=\([0-9a-f]\{16\}\)$/\1/p')
[ -n "$RID" ] || e2e_fail "the copy's line has no generated id: $line"
src=$(cat "$E2E_TMP"/log/chunkd[123].log | with_id /dev/stdin "$RID" | grep -c 'CS_READ request' || true)
((src >= 1)) || e2e_fail "no source chunkd logged a CS_READ with the copy's id $RID"
e2e_log "chunkd4: $line; $src CS_READ line(s) with req=$RID at the source"

# ---- JSON logs: every line parses, with every field; the id in "req"
# json_log LOG PROG PID ID MIN_WITH_ID
json_log() {
	python3 - "$@" <<'EOF'
import json, sys
path, prog, pid, rid, min_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
n = with_id = 0
with open(path, encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        o = json.loads(line)            # every line is one object
        for k in ("ts", "prog", "pid", "level", "src", "msg"):
            assert k in o, (k, line)
        assert o["prog"] == prog and o["pid"] == pid, (prog, pid, line)
        assert o["level"] in ("error", "warn", "info", "debug"), line
        assert o["ts"].endswith("Z") and len(o["ts"]) == 24, line
        n += 1
        with_id += o.get("req") == rid
assert n > 0 and with_id >= min_id, (n, with_id)
print("%s: %d JSON lines, %d with req=%s" % (path.rsplit("/", 1)[1], n, with_id, rid))
EOF
}
for i in 1 2; do
	json_log "$E2E_TMP/log/chunkd$i.log" godfs-chunkd "${CHUNKD_PID[$i]}" "$PID_" 2 ||
		e2e_fail "chunkd$i: JSON log lines"
done
e2e_log "chunkd1 (--log-format json) and chunkd2 (GODFS_LOG_FORMAT=json): JSON lines parse"
if [ -n "${GW_JSON_PID:-}" ]; then
	json_log "$E2E_TMP/log/gateway.log" godfs-gateway "$GW_JSON_PID" "$PUTID" 1 ||
		e2e_fail "gateway: JSON log lines"
	e2e_log "godfs-gateway --log-format json: JSON lines parse"
fi
# the mount: -o log_format=json (it reads the file written above)
e2e_mount "$MNT" "" log_format=json
[ "$(wc -c <"$MNT/traced")" = $((512 << 10)) ] || e2e_fail "traced: $(wc -c <"$MNT/traced") bytes"
mpid=$MOUNT_PID
e2e_umount "$MNT"
json_log "$E2E_TMP/log/mount0.log" mount.godfs "$mpid" "$PID_" 0 || e2e_fail "mount: JSON log lines"
e2e_log "mount.godfs -o log_format=json: JSON lines parse"

# text stays text where it was not asked for
head -n 1 "$E2E_TMP/log/chunkd3.log" | grep -qE "^[0-9-]{10}T[0-9:.]{12}Z godfs-chunkd\[${CHUNKD_PID[3]}\] " ||
	e2e_fail "chunkd3's log is not text: $(head -n 1 "$E2E_TMP/log/chunkd3.log")"
e2e_log "request ids followed through the meta and a chain of three chunkds"
