#!/bin/bash
# bench/meta_commit.sh: where a metadata change's time goes (docs/benchmarks.md,
# "Metadata commit latency").
#
#   GODFS_BUILDDIR=/path/to/release/build bench/meta_commit.sh
#
# Starts a private cluster of that build with tests/e2e/lib.sh (one meta, one
# Raft voter, three chunkds, a mount; random free ports; data in $TMPDIR, which
# must be on the disk to measure, not tmpfs), then, ROUNDS times, one after the
# other so that both see the same load:
#   - libraft alone (bench/raft_alone.c) in a directory beside the meta's, one
#     apply at a time, then 8 in flight;
#   - md_create (bench/md_create.c) on the mount: one process, then 8 at once;
#     after each, the mean time of every FUSE operation (the mount's
#     /metrics), every RPC method as the meta served it, the meta's Raft commits
#     and its log writes (the meta's /metrics), over that run only.
# Environment: ROUNDS (3), N1 (2000 creates by one process), N8 (500 creates by
# each of 8 processes). Use a release build (an ASan build is several times
# slower) and note `uptime`: other work on the machine moves every figure.
E2E_TIMEOUT=${E2E_TIMEOUT:-1800}
here=$(cd "$(dirname "$0")" && pwd)
: "${GODFS_BUILDDIR:=$here/../build/release}"
export GODFS_BUILDDIR
# shellcheck source=../tests/e2e/lib.sh
source "$here/../tests/e2e/lib.sh"

cc -O2 -o "$E2E_TMP/md_create" "$here/md_create.c" || e2e_fail "cannot build md_create"
# shellcheck disable=SC2046
cc -O2 -o "$E2E_TMP/raft_alone" "$here/raft_alone.c" $(pkg-config --cflags --libs raft libuv) ||
	e2e_fail "cannot build raft_alone"

read -r MMP CMP RAP <<<"$(e2e_free_ports 3)"
# shellcheck disable=SC2034 # read by lib.sh (e2e_start_meta)
META_ARGS=(--metrics-listen "127.0.0.1:$MMP")
e2e_start_meta
for i in 1 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_mount "$MNT" "" "metrics_listen=127.0.0.1:$CMP"
e2e_log "build $GODFS_BUILDDIR; $(uptime)"

scrape() {
	curl -sf "127.0.0.1:$MMP/metrics" >"$E2E_TMP/meta.$1" || e2e_fail "meta /metrics"
	curl -sf "127.0.0.1:$CMP/metrics" >"$E2E_TMP/mount.$1" || e2e_fail "mount /metrics"
}
# means FILE_BEFORE FILE_AFTER HISTOGRAM: count and mean (us) of each series
# of HISTOGRAM between two scrapes.
means() {
	awk -v h="$3" '
	function key(name) { sub("_(sum|count)", "", name); return name }
	FNR == NR { if (index($1, h "_sum") == 1 || index($1, h "_count") == 1) before[$1] = $2; next }
	index($1, h "_sum") == 1 { sum[key($1)] = $2 - before[$1] }
	index($1, h "_count") == 1 { cnt[key($1)] = $2 - before[$1] }
	END { for (k in cnt) if (cnt[k] > 0)
		printf "    %-66s n=%-6d mean %5.0f us\n", k, cnt[k], sum[k] / cnt[k] * 1e6 }' \
		"$1" "$2" | sort
}
raft_alone() {
	rm -rf "$E2E_TMP/raft-alone" && mkdir "$E2E_TMP/raft-alone"
	RAFT_ALONE_PORT=$RAP "$E2E_TMP/raft_alone" "$E2E_TMP/raft-alone" "$1" "$2" ||
		e2e_fail "raft_alone failed"
}
creates() {
	local d=$MNT/run$RANDOM$RANDOM
	mkdir "$d"
	scrape a
	"$E2E_TMP/md_create" "$d" "$1" "$2" || e2e_fail "md_create failed"
	scrape b
	means "$E2E_TMP/mount.a" "$E2E_TMP/mount.b" godfs_client_fuse_request_duration_seconds
	means "$E2E_TMP/meta.a" "$E2E_TMP/meta.b" godfs_rpc_request_duration_seconds
	means "$E2E_TMP/meta.a" "$E2E_TMP/meta.b" godfs_raft_commit_duration_seconds
	means "$E2E_TMP/meta.a" "$E2E_TMP/meta.b" godfs_raft_log_write_duration_seconds
}

for ((r = 1; r <= ${ROUNDS:-3}; r++)); do
	e2e_log "round $r: $(cut -d' ' -f1-3 /proc/loadavg)"
	raft_alone "${N1:-2000}" 1
	creates 1 "${N1:-2000}"
	raft_alone $((8 * ${N8:-500})) 8
	creates 8 "${N8:-500}"
done
e2e_log "done: $(uptime)"
