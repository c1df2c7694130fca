#!/bin/bash
# Prometheus metrics of every daemon (docs/observability.md), scraped with
# curl from a cluster whose meta, chunkds and mount all have a metrics
# listener:
# 1. every /metrics is valid text format 0.0.4 (promtool check metrics when
#    it is installed, else a parser here) and has the names the docs list;
# 2. values move with the work: RPC requests and bytes grow, the chunkds
#    count the bytes written (each copy) and read, the mount counts its FUSE
#    operations and errors (a lookup of a missing name: also an ENOENT at
#    the meta), the Raft commit histogram fills;
# 3. the meta is the leader (godfs_raft_is_leader 1) and its census agrees
#    with what was written: every chunk with 3 copies, none under goal or
#    missing, the chunkds' copy counts adding up to 3 per chunk;
# 4. a chunkd killed: godfs_meta_chunkd_up of it goes to 0 and the chunks go
#    under goal, with 2 copies each;
# 5. the listener answers 404 to another path and 405 to a POST.
E2E_TIMEOUT=180
. "$(dirname "$0")/lib.sh"

read -r MP CM1 CM2 CM3 FP <<<"$(e2e_free_ports 5)"
declare -A CM=([1]=$CM1 [2]=$CM2 [3]=$CM3)
META_ARGS+=(--metrics-listen "127.0.0.1:$MP" --node-dead-ms 2000)

e2e_start_meta
for i in 1 2 3; do e2e_start_chunkd "$i" --metrics-listen "127.0.0.1:${CM[$i]}"; done
e2e_wait_nodes 3
e2e_mount "$MNT" "" "metrics_listen=127.0.0.1:$FP"
e2e_wait_port "$FP" mount0 "$MOUNT_PID"

# scrape PORT NAME: /metrics of PORT into $E2E_TMP/NAME.prom, checked.
scrape() {
	local port=$1 name=$2 out=$E2E_TMP/$2.prom
	curl -sSf --max-time 10 "http://127.0.0.1:$port/metrics" -o "$out" ||
		e2e_fail "GET /metrics of $name (port $port) failed"
	if command -v promtool >/dev/null 2>&1; then
		# promtool also lints naming style (exit 1 with a list); a text
		# that does not parse says "error while linting"
		promtool check metrics <"$out" >"$out.lint" 2>&1 ||
			! grep -q 'error while linting' "$out.lint" ||
			e2e_fail "promtool: /metrics of $name: $(cat "$out.lint")"
		[ ! -s "$out.lint" ] || e2e_log "promtool on $name: $(tr '\n' ' ' <"$out.lint")"
	fi
	python3 - "$out" <<'EOF' || e2e_fail "/metrics of $name is not valid text format (above)"
import math, re, sys
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
lab = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r'^(%s)(\{%s(?:,%s)*\})? (\S+)$' % (name, lab, lab))
types, seen, bad = {}, set(), 0
for ln in open(sys.argv[1], encoding='utf-8'):
    ln = ln.rstrip('\n')
    if ln.startswith('# TYPE '):
        _, _, n, t = ln.split(' ', 3)
        if n in types or t not in ('counter', 'gauge', 'histogram'):
            print('bad or repeated TYPE:', ln); bad += 1
        types[n] = t
        continue
    if ln.startswith('#'):
        continue
    m = sample.match(ln)
    if not m:
        print('not a sample:', ln); bad += 1; continue
    n, labels, v = m.groups()
    base = re.sub(r'_(bucket|sum|count)$', '', n)
    fam = n if n in types else base
    if fam not in types:
        print('no TYPE before:', ln); bad += 1; continue
    if types[fam] == 'counter' and not n.endswith('_total'):
        print('counter without _total:', n); bad += 1
    if types[fam] == 'histogram' and n == fam:
        print('histogram sample without suffix:', ln); bad += 1
    if (n, labels) in seen:
        print('repeated sample:', ln); bad += 1
    seen.add((n, labels))
    float(v.replace('+Inf', 'inf'))
for fam, t in types.items():
    if t == 'histogram' and any(s[0] == fam + '_bucket' for s in seen):
        if not any(s[0] == fam + '_bucket' and 'le="+Inf"' in (s[1] or '') for s in seen):
            print('histogram without +Inf bucket:', fam); bad += 1
sys.exit(1 if bad else 0)
EOF
}

# mval NAME KEY: the value of sample KEY (exact: name{labels}) in NAME.prom, or "".
mval() { awk -v k="$2" '$1 == k { print $2; exit }' "$E2E_TMP/$1.prom"; }
# msum NAME REGEX: the sum of the samples whose name{labels} matches REGEX.
msum() { awk -v r="$2" '!/^#/ && $1 ~ r { s += $2 } END { printf "%.0f\n", s }' "$E2E_TMP/$1.prom"; }
# has NAME METRIC...: each metric name is in NAME.prom (a # TYPE line).
has() {
	local f=$1 m; shift
	for m in "$@"; do
		grep -q "^# TYPE $m " "$E2E_TMP/$f.prom" || e2e_fail "$f: no metric $m"
	done
}
# ge A B WHAT: A >= B (integers), else fail.
ge() { [ "${1%.*}" -ge "${2%.*}" ] || e2e_fail "$3: $1 < $2"; }

scrape "$MP" meta0
scrape "$CM1" chunkd0
scrape "$FP" mount0
rpc0=$(msum meta0 '^godfs_rpc_requests_total')
rx0=$(mval meta0 godfs_rpc_received_bytes_total)

# ---- some work
head -c 5000000 /dev/urandom >"$E2E_TMP/a"
head -c 3000000 /dev/urandom >"$E2E_TMP/b"
cp "$E2E_TMP/a" "$MNT/a" && cp "$E2E_TMP/b" "$MNT/b" && mkdir "$MNT/d" || e2e_fail "writes"
sync "$MNT/a" "$MNT/b"
scrape "$FP" mountw
ge "$(mval mountw 'godfs_client_fuse_requests_total{op="write"}')" 8 "FUSE writes"
ge "$(mval mountw 'godfs_client_fuse_request_duration_seconds_count{op="write"}')" 8 "FUSE writes timed"
# a new mount (its counters start at 0), nothing read from the kernel's cache
e2e_umount "$MNT"
e2e_mount "$MNT" "" "metrics_listen=127.0.0.1:$FP"
e2e_wait_port "$FP" mount1 "$MOUNT_PID"
cmp "$E2E_TMP/a" "$MNT/a" && cmp "$E2E_TMP/b" "$MNT/b" || e2e_fail "read back"
stat "$MNT/missing" 2>/dev/null && e2e_fail "stat of a missing file succeeded"

# ---- 1. names, format
scrape "$MP" meta
for i in 1 2 3; do scrape "${CM[$i]}" "chunkd$i"; done
scrape "$FP" mount
for f in meta chunkd1 mount; do
	has "$f" godfs_build_info process_resident_memory_bytes process_cpu_seconds_total \
		process_open_fds process_start_time_seconds
done
for f in meta chunkd1; do
	has "$f" godfs_rpc_requests_total godfs_rpc_errors_total \
		godfs_rpc_request_duration_seconds godfs_rpc_received_bytes_total \
		godfs_rpc_sent_bytes_total
done
has meta godfs_raft_term godfs_raft_last_index godfs_raft_commit_index \
	godfs_raft_applied_index godfs_raft_is_leader godfs_raft_voters \
	godfs_raft_commit_duration_seconds godfs_raft_log_write_duration_seconds \
	godfs_meta_chunks godfs_meta_chunks_under_goal \
	godfs_meta_chunks_missing godfs_meta_replication_backlog_chunks \
	godfs_meta_replication_backlog_bytes godfs_meta_inodes godfs_meta_sessions \
	godfs_meta_chunkd_up godfs_meta_chunkd_draining godfs_meta_chunkd_space_total_bytes \
	godfs_meta_chunkd_space_used_bytes
has chunkd1 godfs_chunkd_disk_total_bytes godfs_chunkd_disk_free_bytes \
	godfs_chunkd_disk_io_errors_total godfs_chunkd_checksum_errors_total godfs_chunkd_chunks \
	godfs_chunkd_read_bytes_total godfs_chunkd_written_bytes_total \
	godfs_chunkd_replicated_bytes_total godfs_chunkd_disk_full
has mount godfs_client_fuse_requests_total godfs_client_fuse_errors_total \
	godfs_client_fuse_request_duration_seconds godfs_client_write_buffer_bytes \
	godfs_client_readahead_bytes godfs_client_inode_cache_entries \
	godfs_client_location_cache_entries
e2e_log "every daemon's /metrics is valid and complete"

# ---- 2. values move
ge "$(msum meta '^godfs_rpc_requests_total')" $((rpc0 + 10)) "meta RPC requests"
ge "$(mval meta godfs_rpc_received_bytes_total)" $((rx0 + 1000)) "meta received bytes"
ge "$(mval meta 'godfs_rpc_errors_total{method="LOOKUP",code="enoent"}')" 1 "meta LOOKUP enoent"
ge "$(mval meta godfs_raft_commit_duration_seconds_count)" 5 "Raft commits timed"
ge "$(mval meta godfs_raft_log_write_duration_seconds_count)" 5 "Raft log writes timed"
written=$(( $(mval chunkd1 godfs_chunkd_written_bytes_total) + $(mval chunkd2 godfs_chunkd_written_bytes_total) +
	$(mval chunkd3 godfs_chunkd_written_bytes_total) ))
ge "$written" $((3 * 8000000)) "bytes written by the chunkds (3 copies of 8 MB)"
read_b=$(( $(mval chunkd1 godfs_chunkd_read_bytes_total) + $(mval chunkd2 godfs_chunkd_read_bytes_total) +
	$(mval chunkd3 godfs_chunkd_read_bytes_total) ))
ge "$read_b" 8000000 "bytes read from the chunkds"
ge "$(msum chunkd1 '^godfs_chunkd_disk_total_bytes')" 1 "chunkd disk size"
[ "$(mval chunkd1 godfs_chunkd_disk_full)" = 0 ] || e2e_fail "chunkd1 says its disk is full"
ge "$(mval mount 'godfs_client_fuse_requests_total{op="read"}')" 1 "FUSE reads"
ge "$(mval mount 'godfs_client_fuse_errors_total{op="lookup"}')" 1 "FUSE lookup errors"
ge "$(mval mount 'godfs_client_fuse_request_duration_seconds_count{op="lookup"}')" 1 "FUSE lookups timed"
ge "$(mval mount godfs_client_inode_cache_entries)" 1 "mount inode table"
e2e_log "the counters moved: $written bytes written and $read_b read by the chunkds"

# ---- 3. leader and census (the scan pass ends within a few seconds)
[ "$(mval meta godfs_raft_is_leader)" = 1 ] || e2e_fail "the only meta is not the leader"
[ "$(mval meta godfs_raft_voters)" = 1 ] || e2e_fail "godfs_raft_voters is not 1"
ge "$(mval meta godfs_raft_commit_index)" 2 "commit index"
# The leader publishes its gauges from its loop every 500 ms: the scrape above
# may predate the publication that counts the last files.
for ((i = 0; i < 50; i++)); do
	[ "$(mval meta godfs_meta_inodes)" -ge 4 ] 2>/dev/null && break
	sleep 0.1
	scrape "$MP" meta
done
ge "$(mval meta godfs_meta_inodes)" 4 "inodes"
ge "$(mval meta godfs_meta_sessions)" 1 "sessions"
chunks=$(e2e_status_json | sed -n 's/.*"chunks":\([0-9]*\).*/\1/p')
ge "$chunks" 2 "chunks in the status"
for ((i = 0; i < 100; i++)); do
	scrape "$MP" meta
	[ "$(mval meta 'godfs_meta_chunks{copies="3"}')" = "$chunks" ] && break
	sleep 0.2
done
[ "$(mval meta 'godfs_meta_chunks{copies="3"}')" = "$chunks" ] ||
	e2e_fail "godfs_meta_chunks{copies=\"3\"} is $(mval meta 'godfs_meta_chunks{copies="3"}'), not $chunks"
[ "$(mval meta godfs_meta_chunks_under_goal)" = 0 ] || e2e_fail "chunks under goal"
[ "$(mval meta godfs_meta_chunks_missing)" = 0 ] || e2e_fail "chunks missing"
[ "$(msum meta '^godfs_meta_chunkd_up')" = 3 ] || e2e_fail "not 3 chunkds up"
copies=0
for i in 1 2 3; do
	scrape "${CM[$i]}" "chunkd$i"
	copies=$((copies + $(msum "chunkd$i" '^godfs_chunkd_chunks')))
done
[ "$copies" = $((3 * chunks)) ] || e2e_fail "the chunkds hold $copies copies, not 3 x $chunks"
e2e_log "census: $chunks chunks with 3 copies each, $copies copies on the chunkds"

# ---- 4. a chunkd dies
e2e_stop "${CHUNKD_PID[3]}" KILL
# up3: godfs_meta_chunkd_up of chunkd3 in meta.prom
up3() { grep '^godfs_meta_chunkd_up{.*addr="127.0.0.1:'"${CHUNKD_PORT[3]}"'"} ' "$E2E_TMP/meta.prom" |
	awk '{ print $2 }'; }
for ((i = 0; i < 100; i++)); do
	scrape "$MP" meta
	[ "$(up3)" = 0 ] && [ "$(mval meta godfs_meta_chunks_under_goal)" = "$chunks" ] && break
	sleep 0.2
done
[ "$(up3)" = 0 ] || e2e_fail "chunkd3 is not down in godfs_meta_chunkd_up: '$(up3)'"
[ "$(msum meta '^godfs_meta_chunkd_up')" = 2 ] || e2e_fail "not 2 chunkds up"
[ "$(mval meta godfs_meta_chunks_under_goal)" = "$chunks" ] ||
	e2e_fail "under goal: $(mval meta godfs_meta_chunks_under_goal), not $chunks"
[ "$(mval meta 'godfs_meta_chunks{copies="2"}')" = "$chunks" ] || e2e_fail "chunks with 2 copies"
ge "$(mval meta godfs_meta_replication_backlog_chunks)" "$chunks" "replication backlog"
e2e_log "chunkd3 down: godfs_meta_chunkd_up 0, $chunks chunks under goal"

# ---- 5. other paths and methods
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MP/nope")
[ "$code" = 404 ] || e2e_fail "GET /nope: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$MP/metrics")
[ "$code" = 405 ] || e2e_fail "POST /metrics: $code"
curl -sSf -I "http://127.0.0.1:${CM[1]}/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' ||
	e2e_fail "HEAD /metrics: no text format content type"
e2e_log "pass"
