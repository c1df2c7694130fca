#!/bin/bash
# The alert rules of observability/alerts.yml on a real cluster and a real
# Prometheus (the Debian prometheus binary, on its own port and data dir).
# Every daemon serves /metrics (--metrics-listen; the mount -o
# metrics_listen; a gateway); Prometheus scrapes them each second and evaluates a copy
# of the checked-in rules whose `for:` is cut to 2 s (nothing else changed,
# so the checked-in expressions are what is tested).
#   1. A healthy cluster (the gateway answering 200s): no godfs alert
#      pending or firing, for a while.
#   2. The dashboard (observability/grafana-godfs.json) and the rules query
#      only metrics that are in the real scrapes, the gateway's included.
#   3. chunkd1 killed: GodfsChunkdDown fires for its node id, and
#      GodfsChunksUnderGoal (a goal-3 file, two chunkds left).
#   4. chunkd3's data directory, a small tmpfs, filled up with a plain file:
#      GodfsDiskFull fires for chunkd3.
#   5. chunkd2 and chunkd3 killed too: the gateway's PUTs fail with 5xx and
#      GodfsGatewayErrors fires for the gateway; with no chunkd left the
#      file's chunk has no copy: GodfsChunksMissing fires.
E2E_TIMEOUT=150
META_ARGS=(--node-dead-ms 2000)
. "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || e2e_fail "prometheus is missing (scripts/deps.sh installs it)"
[ "$(id -u)" = 0 ] || e2e_fail "this test mounts a tmpfs: run it as root"
read -r PROM_PORT MM_META MM_C1 MM_C2 MM_C3 MM_MOUNT MM_GW <<<"$(e2e_free_ports 7)"
PROM=http://127.0.0.1:$PROM_PORT

# chunkd3 keeps its data on a small tmpfs, to be filled later
CHUNKD_DIR[3]=$E2E_TMP/small3
mkdir -p "${CHUNKD_DIR[3]}"
mount -t tmpfs -o size=64m godfs-e2e-alerts "${CHUNKD_DIR[3]}" || e2e_fail "mount tmpfs"
E2E_MOUNTS+=("${CHUNKD_DIR[3]}")

e2e_start_meta --metrics-listen "127.0.0.1:$MM_META"
e2e_start_chunkd 1 --metrics-listen "127.0.0.1:$MM_C1"
e2e_start_chunkd 2 --metrics-listen "127.0.0.1:$MM_C2"
e2e_start_chunkd 3 --metrics-listen "127.0.0.1:$MM_C3" --reserve 1048576
e2e_wait_nodes 3
e2e_mount "$MNT" "" "metrics_listen=127.0.0.1:$MM_MOUNT"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$MNT/f" || e2e_fail "write"
sync "$MNT/f"
cat "$MNT/f" >/dev/null
# a gateway with an API key; gw PATH...: curl through it (status code out)
e2e_start_gateway --metrics-listen "127.0.0.1:$MM_GW"
"$GODFS_ADMIN" --meta "$META_ADDR" apikey create --subtree / -o "$E2E_TMP/gw.key" >/dev/null ||
	e2e_fail "apikey create"
gw() { curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
	-H "Authorization: Bearer $(cat "$E2E_TMP/gw.key")" "$@"; }
for i in 1 2 3 4 5; do   # 200s: the request series exist before the scrapes
	[ "$(gw "$GW_URL/v1/fs/stat?path=/f")" = 200 ] || e2e_fail "gateway: stat /f"
done
[ "$(gw -T "$E2E_TMP/log/meta.log" "$GW_URL/v1/fs/content?path=/put")" = 201 ] ||
	e2e_fail "gateway: PUT /put"

# ---- Prometheus with the checked-in rules, `for:` cut to 2 s
mkdir -p "$E2E_TMP/prom"
sed -E 's/^( *for: *).*/\12s/' "$E2E_SRCDIR/observability/alerts.yml" >"$E2E_TMP/prom/alerts.yml"
grep -q 'for: 2s' "$E2E_TMP/prom/alerts.yml" || e2e_fail "no for: rewritten in the rules"
cat >"$E2E_TMP/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: godfs-meta
    static_configs: [{targets: ['127.0.0.1:$MM_META']}]
  - job_name: godfs-chunkd
    static_configs:
      - {targets: ['127.0.0.1:$MM_C1'], labels: {chunkd: chunkd1}}
      - {targets: ['127.0.0.1:$MM_C2'], labels: {chunkd: chunkd2}}
      - {targets: ['127.0.0.1:$MM_C3'], labels: {chunkd: chunkd3}}
  - job_name: godfs-mount
    static_configs: [{targets: ['127.0.0.1:$MM_MOUNT']}]
  - job_name: godfs-gateway
    static_configs: [{targets: ['127.0.0.1:$MM_GW']}]
EOF
promtool check config "$E2E_TMP/prom/prometheus.yml" >/dev/null || e2e_fail "promtool check config"
prometheus --config.file="$E2E_TMP/prom/prometheus.yml" --storage.tsdb.path="$E2E_TMP/prom/data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
	</dev/null >>"$E2E_TMP/log/prometheus.log" 2>&1 &
PROM_PID=$!
E2E_PIDS[$PROM_PID]=prometheus
e2e_wait_port "$PROM_PORT" prometheus "$PROM_PID"

# prom_query EXPR: the instant query's result as JSON
prom_query() { curl -fsS --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1"; }
# alerts_json: Prometheus' alerts (pending and firing)
alerts_json() { curl -fsS --max-time 5 "$PROM/api/v1/alerts"; }
# alert_state NAME [LABEL=VALUE]: "firing", "pending" or "" for the alert
alert_state() {
	alerts_json | python3 -c '
import json, sys
name, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
alerts = json.load(sys.stdin)["data"]["alerts"]
states = [a["state"] for a in alerts if a["labels"].get("alertname") == name
          and all(a["labels"].get(k) == v for k, v in want.items())]
print("firing" if "firing" in states else states[0] if states else "")' "$@"
}
# wait_firing SECONDS NAME [LABEL=VALUE]
wait_firing() {
	local max=$1 i; shift
	for ((i = 0; i < max * 4; i++)); do
		[ "$(alert_state "$@")" = firing ] && return 0
		sleep 0.25
	done
	alerts_json || true
	e2e_fail "alert $* not firing after $max s"
}

# every target up
for ((i = 0; i < 120; i++)); do
	up=$(prom_query 'sum(up)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
	[ "$up" = 6 ] && break
	sleep 0.25
done
[ "$up" = 6 ] || e2e_fail "Prometheus sees $up of 6 targets up: $(curl -fsS "$PROM/api/v1/targets" | head -c 2000)"
e2e_log "Prometheus on $PROM_PORT scrapes the meta, 3 chunkds, the mount and the gateway"

# ---- 1. healthy: the leader's census done, then 6 s of evaluations without an alert
for ((i = 0; i < 80; i++)); do
	v=$(prom_query 'godfs_meta_chunks_under_goal == 0' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))')
	[ "$v" = 1 ] && break
	sleep 0.25
done
[ "$v" = 1 ] || e2e_fail "godfs_meta_chunks_under_goal is not 0 on the healthy cluster"
sleep 6
alerts=$(alerts_json | python3 -c '
import json, sys
print(" ".join(sorted(a["labels"]["alertname"] + ":" + a["state"] for a in json.load(sys.stdin)["data"]["alerts"])))')
[ -z "$alerts" ] || e2e_fail "alerts on the healthy cluster: $alerts"
v=$(prom_query 'sum(godfs_gateway_http_requests_total{code="200"})' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
[ "$v" = 5 ] || e2e_fail "Prometheus sees $v gateway answers 200, not 5"
e2e_log "healthy cluster: no alert pending or firing (GodfsGatewayErrors neither, over $v answers 200)"

# ---- 2. the dashboard's and the rules' metrics are in the real scrapes
for t in "meta:$MM_META" "c1:$MM_C1" "c2:$MM_C2" "c3:$MM_C3" "mount:$MM_MOUNT" "gw:$MM_GW"; do
	curl -fsS --max-time 5 "http://127.0.0.1:${t#*:}/metrics" >"$E2E_TMP/scrape-${t%%:*}.txt" ||
		e2e_fail "no /metrics from ${t%%:*}"
done
python3 "$E2E_SRCDIR/tests/observability/dashboard.py" "$E2E_SRCDIR/observability/grafana-godfs.json" \
	--names-from "$E2E_SRCDIR/observability/alerts.yml" "$E2E_TMP"/scrape-*.txt \
	>"$E2E_TMP/dashboard-metrics.txt" || e2e_fail "the dashboard or the rules query metrics no daemon exports"
e2e_log "the dashboard's $(wc -w <"$E2E_TMP/dashboard-metrics.txt") metrics are all exported (the gateway's too)"

# ---- 3. a dead chunkd: down, and its chunks under goal
DEAD=$(cat "${CHUNKD_DIR[1]}/node_id")
e2e_stop "${CHUNKD_PID[1]}" KILL
e2e_log "chunkd1 ($DEAD) killed"
t0=$(date +%s%N)
wait_firing 30 GodfsChunkdDown "node=$DEAD"
wait_firing 30 GodfsChunksUnderGoal
e2e_log "GodfsChunkdDown{node=$DEAD} and GodfsChunksUnderGoal firing $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
[ "$(alert_state GodfsChunksMissing)" = "" ] || e2e_fail "GodfsChunksMissing with two copies of every chunk left"

# ---- 4. a full disk on chunkd3
[ "$(alert_state GodfsDiskFull)" = "" ] || e2e_fail "GodfsDiskFull before the disk is full"
avail=$(df -B1 --output=avail "${CHUNKD_DIR[3]}" | tail -n 1)
fallocate -l $((avail - 1024 * 1024)) "${CHUNKD_DIR[3]}/filler" 2>/dev/null ||
	dd if=/dev/zero of="${CHUNKD_DIR[3]}/filler" bs=1M count=$((avail / 1048576 - 1)) status=none ||
	e2e_fail "cannot fill chunkd3's tmpfs"
e2e_log "chunkd3's data dir filled: $(df -h --output=avail "${CHUNKD_DIR[3]}" | tail -n 1 | tr -d ' ') left"
t0=$(date +%s%N)
wait_firing 30 GodfsDiskFull "instance=127.0.0.1:$MM_C3"
e2e_log "GodfsDiskFull{instance=127.0.0.1:$MM_C3} firing $(( ($(date +%s%N) - t0) / 1000000 )) ms after the fill"
[ "$(alert_state GodfsDiskFull "instance=127.0.0.1:$MM_C2")" = "" ] || e2e_fail "GodfsDiskFull for chunkd2"
rm -f "${CHUNKD_DIR[3]}/filler"

for pid in "$META_PID" "${CHUNKD_PID[2]}" "${CHUNKD_PID[3]}" "$MOUNT_PID" "$GW_PID" "$PROM_PID"; do
	e2e_alive "$pid" || e2e_fail "${E2E_PIDS[$pid]} died"
done

# ---- 5. no chunkd left: the gateway's PUTs end in 5xx (the rule's code=~"5..")
[ "$(alert_state GodfsGatewayErrors)" = "" ] || e2e_fail "GodfsGatewayErrors before any 5xx"
e2e_stop "${CHUNKD_PID[2]}" KILL
e2e_stop "${CHUNKD_PID[3]}" KILL
e2e_log "chunkd2 and chunkd3 killed: no chunkd left"
t0=$(date +%s%N)
codes=()
for ((i = 0; i < 120; i++)); do
	c=$(gw -T "$E2E_TMP/log/meta.log" "$GW_URL/v1/fs/content?path=/put$i") || true
	codes+=("$c")
	[[ $c = 5?? ]] || e2e_fail "a PUT with no chunkd left answered $c, not a 5xx"
	[ "$(alert_state GodfsGatewayErrors "instance=127.0.0.1:$MM_GW")" = firing ] && break
	sleep 0.25
done
wait_firing 5 GodfsGatewayErrors "instance=127.0.0.1:$MM_GW"
e2e_log "GodfsGatewayErrors firing $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill, after ${#codes[@]} PUTs answered $(printf '%s\n' "${codes[@]}" | sort | uniq -c | tr -s ' \n' ' ')"
# Every chunkd is dead now: the goal-3 file's chunk has no live copy left.
wait_firing 30 GodfsChunksMissing
e2e_log "GodfsChunksMissing firing $(( ($(date +%s%N) - t0) / 1000000 )) ms after the last chunkd died"
e2e_alive "$GW_PID" || e2e_fail "the gateway died"
