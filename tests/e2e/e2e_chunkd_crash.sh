#!/bin/bash
# Crash consistency of godfs-chunkd (docs/durability.md, "Crashes of a
# chunkd"): whatever a chunkd was doing when it died, every byte that fsync
# acknowledged reads back and no whole chunk is lost.
#
# One chunkd holds the only copy of each chunk, so nothing can be read from a
# peer: what the test reads is what the crashed chunkd kept. It runs with
# --force-pread and the power-loss shim (tests/shim/powerloss.c) preloaded.
#
# Part 1, fault points (chunkd/chunkd_fault.h): for each point, with kill -9
# (":1") and with a power loss (":1:power": every write not fdatasynced is
# undone, or torn at 4 KiB), a file of 4 blocks is written and fsynced, the
# chunkd restarted with the fault armed, then a partial-block overwrite in the
# middle and a partial-block append are written and fsynced; the fault ends
# the chunkd on the way. After a restart the file must read back whole: the
# bytes outside the overwrite as fsynced, each overwritten byte old or new,
# the append there if its fsync succeeded. Every earlier file still reads.
#
# Part 2, power loss at a random moment: a writer appends 20000-byte pieces
# (each ends inside a 4 KiB checksum block, so the next one rewrites it in
# part) and fsyncs after every second one; the shim's trigger file cuts the
# power after a random delay (0 to 0.6 s); after a restart every fsynced byte
# reads back.
#
# Nothing may end up in lost+found.
E2E_TIMEOUT=180
. "$(dirname "$0")/lib.sh"

SHIM=$GODFS_BUILDDIR/tests/shim/godfs_powerloss.so
[ -f "$SHIM" ] || e2e_fail "$SHIM is not built (make check builds it)"
CHUNKD_ARGS=(--force-pread --scrub-rate 0)

# chunkd 1 with the shim and (optionally) GODFS_FAULT, in its own environment.
start_shimmed() {
	local fault=$1 trigger=${2:-}
	ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD="$SHIM" \
		GODFS_PL_DIR="${CHUNKD_DIR[1]}" GODFS_PL_SEED="$RANDOM" GODFS_PL_TRIGGER="$trigger" \
		GODFS_FAULT="$fault" e2e_start_chunkd 1
}

# Waits (10 s) for chunkd 1 to end by itself; kill -9 when it does not.
wait_chunkd_dead() {
	local pid=${CHUNKD_PID[1]} i
	for ((i = 0; i < 100; i++)); do
		e2e_alive "$pid" || break
		sleep 0.1
	done
	if e2e_alive "$pid"; then
		e2e_log "  chunkd still runs (fault not reached): kill -9"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset "E2E_PIDS[$pid]"
}

# read_back FILE COPY: copies FILE, retrying for 10 s. A lease granted while
# the chunkd was dying names it at the new version, which it never got, and
# the meta keeps that for FIRST_WRITE_MS (5 s, meta/meta_locs.c)
# before a report corrects it: reads meanwhile fail with ESTALE (EIO).
read_back() {
	local t
	for ((t = 0; t < 20; t++)); do
		cp "$1" "$2" 2>"$E2E_TMP/err" && return 0
		sleep 0.5
	done
	return 1
}

restart_clean() {
	e2e_start_chunkd 1
	e2e_wait_nodes 1
	e2e_remount
	e2e_drop_caches
}

# check GOT OLD NEW_MID MID_OFF APPEND APPEND_ACKED: OLD outside the overwrite,
# each byte of it old or new, and the append there when its fsync was acked.
check_file() {
	python3 - "$@" <<'EOF'
import sys
got, old, mid = (open(p, 'rb').read() for p in sys.argv[1:4])
off = int(sys.argv[4]); app = open(sys.argv[5], 'rb').read(); acked = sys.argv[6] == '1'
end = off + len(mid)
if len(got) < len(old):
    sys.exit(f"short: {len(got)} bytes, {len(old)} were fsynced")
for i in range(len(old)):
    ok = got[i] == old[i] or (off <= i < end and got[i] == mid[i - off])
    if not ok:
        sys.exit(f"byte {i}: {got[i]}, fsynced {old[i]}")
if acked and got[len(old):] != app:
    sys.exit(f"the append (fsync acked) did not read back: {len(got) - len(old)} bytes")
EOF
}

e2e_start_meta
e2e_start_chunkd 1
e2e_wait_nodes 1
e2e_mount

# The first fdatasync of a round is the one that marks the copy open (the
# chunkd was stopped cleanly, which settled it), the second the fsync's.
POINTS=${E2E_CRASH_POINTS:-"write_dirty:1 write_dirty:1:power write_data:1 write_data:1:power \
	rename:1 rename:1:power before_fdatasync:1:power after_fdatasync:1:power \
	before_fdatasync:2 before_fdatasync:2:power after_fdatasync:2 after_fdatasync:2:power"}
r=0
for fault in $POINTS; do
	r=$((r + 1))
	f=$MNT/f$r
	head -c $((3 * 65536 + 7777)) /dev/urandom >"$E2E_TMP/old$r"
	cp "$E2E_TMP/old$r" "$f" && sync "$f" || e2e_fail "f$r: first write and fsync"
	e2e_stop "${CHUNKD_PID[1]}"
	start_shimmed "$fault"
	e2e_wait_nodes 1
	e2e_remount
	head -c 10000 /dev/urandom >"$E2E_TMP/mid$r"
	head -c 5000 /dev/urandom >"$E2E_TMP/app$r"
	acked=0
	{ dd if="$E2E_TMP/mid$r" of="$f" bs=10000 seek=7 conv=notrunc status=none &&
	  cat "$E2E_TMP/app$r" >>"$f" && sync "$f"; } 2>/dev/null && acked=1
	wait_chunkd_dead
	e2e_log "round $r ($fault): second write fsync $([ $acked = 1 ] && echo acked || echo failed)"
	restart_clean
	read_back "$f" "$E2E_TMP/got$r" ||
		e2e_fail "f$r ($fault): does not read back: $(cat "$E2E_TMP/err")"
	why=$(check_file "$E2E_TMP/got$r" "$E2E_TMP/old$r" "$E2E_TMP/mid$r" 70000 \
		"$E2E_TMP/app$r" "$acked" 2>&1) || e2e_fail "f$r ($fault): $why"
	for ((k = 1; k < r; k++)); do
		cmp -s "$MNT/f$k" "$E2E_TMP/got$k" || e2e_fail "f$k changed after round $r ($fault)"
	done
done
e2e_log "part 1: $r fault rounds, every fsynced byte read back"

for ((p = 1; p <= 3; p++)); do
	g=$MNT/g$p
	head -c $((80 * 20000)) /dev/urandom >"$E2E_TMP/gsrc$p"
	: >"$g"
	echo 0 >"$E2E_TMP/acked$p"
	e2e_stop "${CHUNKD_PID[1]}"
	rm -f "$E2E_TMP/trigger"
	start_shimmed "" "$E2E_TMP/trigger"
	e2e_wait_nodes 1
	e2e_remount
	(
		for ((k = 0; k < 80; k++)); do
			dd if="$E2E_TMP/gsrc$p" of="$g" bs=20000 skip=$k seek=$k count=1 \
				conv=notrunc status=none 2>/dev/null || exit 0
			[ $((k % 2)) = 1 ] || continue
			sync "$g" 2>/dev/null || exit 0
			echo $(((k + 1) * 20000)) >"$E2E_TMP/acked$p"
		done
	) &
	writer=$!
	sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
	touch "$E2E_TMP/trigger"
	wait_chunkd_dead
	wait "$writer" || true
	acked=$(cat "$E2E_TMP/acked$p")
	e2e_log "power loss $p: $acked bytes fsynced before it"
	restart_clean
	read_back "$g" "$E2E_TMP/g" || e2e_fail "g$p: does not read back: $(cat "$E2E_TMP/err")"
	cmp -n "$acked" "$E2E_TMP/g" "$E2E_TMP/gsrc$p" ||
		e2e_fail "g$p: the $acked fsynced bytes do not read back"
	for ((k = 1; k <= r; k++)); do
		cmp -s "$MNT/f$k" "$E2E_TMP/got$k" || e2e_fail "f$k changed after power loss $p"
	done
done

lf=$(find "${CHUNKD_DIR[1]}/lost+found" -type f | wc -l)
[ "$lf" = 0 ] || e2e_fail "$lf chunk file(s) moved to lost+found: $(ls "${CHUNKD_DIR[1]}/lost+found")"
e2e_log "part 2: 3 power losses at random moments, every fsynced byte read back"
