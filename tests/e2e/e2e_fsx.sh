#!/bin/bash
# The random-operation data checker (tests/tools/godfs_fsx.c) on a real
# cluster with 1 MiB chunks (a test-only size, so that files of up to
# 3.5 MiB cross chunk boundaries), goal 3, and two mounts of the same file
# system: buffered, O_DIRECT, io_uring and mmap reads and writes, truncates
# up and down, copy_file_range, fallocate (punch hole, zero range, keep
# size), SEEK_DATA/SEEK_HOLE, fsync, close and reopen with the page cache
# dropped, and close on one mount then open on the other; every read is
# checked against an in-memory model.
#
# Seeds: FSX_SEEDS fixed ones (1..N) on two mounts, plus FSX_RANDOM random
# ones (printed, so a failure can be replayed with
# `godfs_fsx -s SEED -n OPS -S 3670016 FILE1 FILE2`), FSX_OPS operations each.
# The long run (docs/testing.md) sets FSX_OPS and FSX_SEEDS high.
: "${FSX_SEEDS:=4}" "${FSX_RANDOM:=4}" "${FSX_OPS:=1500}" "${FSX_PARALLEL:=2}"
E2E_TIMEOUT=${E2E_TIMEOUT:-600}
META_ARGS=(--chunk-size 1048576)
. "$(dirname "$0")/lib.sh"

FSX=$GODFS_BUILDDIR/tests/tools/godfs_fsx
[ -x "$FSX" ] || e2e_fail "$FSX is not built (make check builds it)"
MAXSIZE=$((3 * 1048576 + 524288))

e2e_cluster_up
MNT2=$E2E_TMP/mnt2
e2e_mount "$MNT2"

seeds=()
for ((s = 1; s <= FSX_SEEDS; s++)); do seeds+=("$s"); done
for ((s = 0; s < FSX_RANDOM; s++)); do seeds+=("$(( (RANDOM << 15 | RANDOM) + 1000 ))"); done
e2e_log "seeds: ${seeds[*]} ($FSX_OPS operations each, $FSX_PARALLEL at a time)"

# run SEED: one checker run on its own file; odd seeds on one mount only,
# even seeds on both.
run() {
	local seed=$1 f="fsx.$1" out="$E2E_TMP/log/fsx.$1.log"
	if ((seed % 2)); then
		"$FSX" -n "$FSX_OPS" -s "$seed" -S "$MAXSIZE" "$MNT/$f" >"$out" 2>&1
	else
		"$FSX" -n "$FSX_OPS" -s "$seed" -S "$MAXSIZE" "$MNT/$f" "$MNT2/$f" >"$out" 2>&1
	fi
}

failed=()
pids=()
declare -A seed_of=()
for seed in "${seeds[@]}"; do
	run "$seed" &
	pids+=($!)
	seed_of[$!]=$seed
	if ((${#pids[@]} >= FSX_PARALLEL)); then
		wait "${pids[0]}" || failed+=("${seed_of[${pids[0]}]}")
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || failed+=("${seed_of[$p]}")
done
for seed in "${seeds[@]}"; do
	tail -n 1 "$E2E_TMP/log/fsx.$seed.log"
done
if ((${#failed[@]})); then
	for seed in "${failed[@]}"; do
		e2e_log "seed $seed failed:"
		cat "$E2E_TMP/log/fsx.$seed.log"
	done
	e2e_fail "godfs_fsx failed for seeds ${failed[*]}"
fi
e2e_log "every checker run passed"
