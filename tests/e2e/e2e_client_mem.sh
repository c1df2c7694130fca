#!/bin/bash
# The mount's memory budget (-o mem_budget, docs/client.md "Memory"): six
# writers of new files and three cold sequential readers at once on a mount
# with a 24 MiB budget. Write buffers and read-ahead together (the mount's
# /metrics, sampled every 0.1 s) never pass the budget, though the writers
# alone would want 72 MiB and the readers' read-ahead 96 MiB; what was written
# reads back the same (writes that found no room went straight through). On a
# build without AddressSanitizer (whose quarantine keeps freed memory), the
# mount's peak RSS (VmHWM) also stays under the budget plus a fixed margin.
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
BUDGET_MB=24
MARGIN_MB=48
NW=6 WMB=16 NR=3 RMB=32

e2e_cluster_up
read -r FP <<<"$(e2e_free_ports 1)"
e2e_umount "$MNT"
e2e_mount "$MNT" "" "mem_budget=${BUDGET_MB}M,write_buffer=4M,metrics_listen=127.0.0.1:$FP"

for ((i = 0; i < NW; i++)); do
	head -c $((WMB * MIB)) /dev/urandom >"$E2E_TMP/w$i"
done
for ((i = 0; i < NR; i++)); do
	head -c $((RMB * MIB)) /dev/urandom >"$E2E_TMP/r$i"
	cp "$E2E_TMP/r$i" "$MNT/r$i" || e2e_fail "cp r$i failed"
done
e2e_drop_caches

# The largest write buffer + read-ahead total seen, in bytes, until $stop exists.
stop=$E2E_TMP/stop
sample() {
	local max=0 cur
	while [ ! -e "$stop" ]; do
		cur=$(curl -s --max-time 2 "http://127.0.0.1:$FP/metrics" | awk '
			/^godfs_client_(write_buffer|readahead)_bytes / { s += $2 }
			END { printf "%d", s }')
		[ -n "$cur" ] && [ "$cur" -gt "$max" ] && max=$cur
		sleep 0.1
	done
	echo "$max" >"$E2E_TMP/max"
}
sample &
sampler=$!

pids=()
for ((i = 0; i < NW; i++)); do
	dd if="$E2E_TMP/w$i" of="$MNT/w$i" bs=1M status=none & pids+=($!)
done
for ((i = 0; i < NR; i++)); do
	cat "$MNT/r$i" >"$E2E_TMP/back$i" & pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || e2e_fail "a writer or reader failed"
done
touch "$stop"
wait "$sampler"
max=$(cat "$E2E_TMP/max")

for ((i = 0; i < NR; i++)); do
	cmp "$E2E_TMP/r$i" "$E2E_TMP/back$i" || e2e_fail "r$i read back differs"
done
e2e_drop_caches
for ((i = 0; i < NW; i++)); do
	cmp "$E2E_TMP/w$i" "$MNT/w$i" || e2e_fail "w$i differs from what was written"
done

e2e_log "write buffers + read-ahead: at most $((max / 1024)) KiB (budget ${BUDGET_MB} MiB)"
((max > 0)) || e2e_fail "the mount's /metrics never showed a write buffer or read-ahead byte"
((max <= BUDGET_MB * MIB)) || e2e_fail "write buffers + read-ahead reached $max bytes, over the ${BUDGET_MB} MiB budget"

hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$MOUNT_PID/status")
if ldd "$GODFS_MOUNT" | grep -q libasan; then
	e2e_log "peak RSS $((hwm / 1024)) MiB (AddressSanitizer build: not checked)"
else
	e2e_log "peak RSS $((hwm / 1024)) MiB (limit $((BUDGET_MB + MARGIN_MB)) MiB)"
	((hwm <= (BUDGET_MB + MARGIN_MB) * 1024)) ||
		e2e_fail "the mount's peak RSS is $((hwm / 1024)) MiB, over ${BUDGET_MB} MiB + ${MARGIN_MB} MiB"
fi
