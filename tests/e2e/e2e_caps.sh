#!/bin/bash
# Chunk capabilities (docs/security.md "Chunk capabilities"): a peer that
# holds the cluster key but no capability from the meta gets nothing from a
# chunkd. With tests/tools/godfs_wire speaking the wire by hand, CS_READ,
# CS_WRITE, CS_FSYNC, CS_TRUNCATE, CS_DELETE and CS_REPLICATE of a real
# chunk are refused (GD_ECAP) without a capability, with one for another
# chunk or another version, with a READ one for a write or a delete, with
# an expired one, and with one signed by another key; the copies are
# unchanged afterwards (the file reads back identical through a new mount).
# The meta's own READ capability does read the chunk, and one signed with the
# cluster key for a right the meta never hands out (DELETE) passes the check.
# The meta's capabilities last 4 s here (chunkd skew 1 s): a file held open
# for several lifetimes keeps reading, writing and syncing, and a reader of a
# location older than that is refused.
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

WIRE=$GODFS_BUILDDIR/tests/tools/godfs_wire
[ -x "$WIRE" ] || e2e_fail "$WIRE is not built"
KEY=$E2E_KEY   # the cluster's (lib.sh)
"$WIRE" key-generate "$E2E_TMP/other.key" || e2e_fail "cannot make a second key file"
LIFE_MS=4000
META_ARGS+=(--cap-lifetime-ms "$LIFE_MS" --lease-ms 2000)
CHUNKD_ARGS+=(--cap-skew-ms 1000)
e2e_cluster_up

wire() { "$WIRE" --key-file "$KEY" "$@"; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }

# expect_refused WHAT COMMAND...: the daemon answers GD_ECAP (exit 1).
expect_refused() {
	local what=$1 rc=0 out
	shift
	out=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 1 ] && grep -q 'status GD_ECAP' <<<"$out" ||
		e2e_fail "$what: expected GD_ECAP, got exit $rc: $out"
}

head -c $((3 * 1024 * 1024 + 777)) /dev/urandom >"$E2E_TMP/src"
cp "$E2E_TMP/src" "$MNT/f" && sync "$MNT/f" || e2e_fail "cp f"
head -c 100000 /dev/urandom >"$E2E_TMP/src_g"
cp "$E2E_TMP/src_g" "$MNT/g" && sync "$MNT/g" || e2e_fail "cp g"

loc=$(wire locate "$META_ADDR" "$(stat -c %i "$MNT/f")" 0) || e2e_fail "locate f: $loc"
CHUNK=$(field chunk <<<"$loc")
VER=$(field version <<<"$loc")
CAP=$(field cap <<<"$loc")
CS=$(field chain <<<"$loc" | cut -d, -f1)
CS2=$(field chain <<<"$loc" | cut -d, -f2)
[ -n "$CHUNK" ] && [ "$CAP" != - ] && [ -n "$CAP" ] && [ -n "$CS2" ] ||
	e2e_fail "the meta's location has no capability or not two copies: $loc"
e2e_log "f: chunk $CHUNK v$VER on $(field chain <<<"$loc"); cap: $(wire cap-show "$CAP")"
loc_g=$(wire locate "$META_ADDR" "$(stat -c %i "$MNT/g")" 0) || e2e_fail "locate g: $loc_g"
CAP_G=$(field cap <<<"$loc_g")
files_before=$(for i in 1 2 3; do e2e_chunk_file "$i" "${CHUNK#0x}"; done)
# The copies of f are still open after its write (chunkd_store.h: the
# header's state byte is 1 until the copy is settled, synced and marked
# clean, after 5 s idle): wait for every copy to be settled, so that only the
# refused requests below could change the files.
settled() {
	local f
	for f in $files_before; do
		[ "$(od -An -tu1 -j48 -N1 "$f" | tr -d ' ')" = 0 ] || return 1
	done
}
for ((i = 0; i < 100; i++)); do settled && break; sleep 0.2; done
settled || e2e_fail "the copies of f are not settled 20 s after the write"
sums_before=$(for f in $files_before; do md5sum "$f"; done)
# Fresh capabilities (those above may be near their 4 s lifetime by now).
loc=$(wire locate "$META_ADDR" "$(stat -c %i "$MNT/f")" 0) || e2e_fail "locate f: $loc"
CAP=$(field cap <<<"$loc")
[ "$(field version <<<"$loc")" = "$VER" ] || e2e_fail "f's chunk changed version while settling: $loc"
loc_g=$(wire locate "$META_ADDR" "$(stat -c %i "$MNT/g")" 0) || e2e_fail "locate g: $loc_g"
CAP_G=$(field cap <<<"$loc_g")

# The meta's capability opens the chunk for reading, and only that.
wire cs-read "$CS" "$CHUNK" "$VER" --cap "$CAP" --length 65536 --out "$E2E_TMP/r0" 2>/dev/null ||
	e2e_fail "CS_READ with the meta's capability failed"
cmp -n 65536 "$E2E_TMP/r0" "$E2E_TMP/src" || e2e_fail "CS_READ with the capability read other bytes"

head -c 65536 /dev/urandom >"$E2E_TMP/junk"
for cap in "" "$CAP_G" "$CAP"; do
	what=${cap:+a capability for another chunk}
	[ "$cap" = "$CAP" ] && what="a READ capability"
	what=${what:-no capability}
	c=(${cap:+--cap "$cap"})
	expect_refused "CS_WRITE, $what" wire cs-write "$CS" "$CHUNK" "$VER" --in "$E2E_TMP/junk" "${c[@]}"
	expect_refused "CS_FSYNC, $what" wire cs-fsync "$CS" "$CHUNK" "$VER" "${c[@]}"
	expect_refused "CS_TRUNCATE, $what" wire cs-truncate "$CS" "$CHUNK" "$VER" 0 "${c[@]}"
	# (the method table lets only the meta and admins send these two)
	expect_refused "CS_DELETE, $what" wire --role admin cs-delete "$CS" "$CHUNK" "$VER" "${c[@]}"
	expect_refused "CS_DELETE v0, $what" wire --role admin cs-delete "$CS" "$CHUNK" 0 "${c[@]}"
	expect_refused "CS_REPLICATE, $what" \
		wire --role admin cs-replicate "$CS2" "$CHUNK" "$VER" "$CS" "${c[@]}"
	[ "$cap" = "$CAP" ] && continue
	expect_refused "CS_READ, $what" wire cs-read "$CS" "$CHUNK" "$VER" --length 4096 "${c[@]}"
done
# Another version (the capability names its own); with the meta's
# capability but no key, the handshake refuses the connection already.
expect_refused "CS_READ, another version" wire cs-read "$CS" "$CHUNK" $((VER + 1)) --cap "$CAP"
rc=0
out=$("$WIRE" cs-read "$CS" "$CHUNK" "$VER" --cap "$CAP" 2>&1 >/dev/null) || rc=$?
[ "$rc" = 3 ] && grep -q GD_EAUTH <<<"$out" || e2e_fail "CS_READ without the key: exit $rc: $out"
# Signed by another key; expired; a right the meta never grants, signed
# with the cluster key (passes the check: the chunk itself is missing).
bad=$("$WIRE" --key-file "$E2E_TMP/other.key" cap-sign "$CHUNK" "$VER" all 60000)
expect_refused "CS_READ, another key" wire cs-read "$CS" "$CHUNK" "$VER" --cap "$bad"
expect_refused "CS_DELETE, another key" wire --role admin cs-delete "$CS" "$CHUNK" "$VER" --cap "$bad"
old=$(wire cap-sign "$CHUNK" "$VER" all -60000)
expect_refused "CS_READ, expired" wire cs-read "$CS" "$CHUNK" "$VER" --cap "$old"
expect_refused "CS_WRITE, expired" wire cs-write "$CS" "$CHUNK" "$VER" --in "$E2E_TMP/junk" --cap "$old"
del=$(wire cap-sign 0xfffffff0 1 delete 60000)
out=$(wire --role admin cs-delete "$CS" 0xfffffff0 1 --cap "$del" 2>&1) &&
	e2e_fail "deleting a missing chunk succeeded"
grep -q 'GD_ENOCHUNK' <<<"$out" || e2e_fail "a valid DELETE capability was not accepted: $out"

# The meta's own capability, once its lifetime and the skew are over.
sleep $(((LIFE_MS + 1000) / 1000 + 1))
expect_refused "CS_READ, the meta's capability after it ended" \
	wire cs-read "$CS" "$CHUNK" "$VER" --cap "$CAP" --length 4096
n=$(cat "$E2E_TMP"/log/chunkd*.log | grep -c 'refused: ' || true)
e2e_log "refusals logged by the chunkds: $n (rate-limited)"
[ "$n" -ge 1 ] || e2e_fail "no chunkd logged a refusal"
grep -h 'refused: ' "$E2E_TMP"/log/chunkd*.log | head -n 3

# Nothing changed: the same chunk files, the same bytes, the same file.
files_after=$(for i in 1 2 3; do e2e_chunk_file "$i" "${CHUNK#0x}"; done)
[ "$files_before" = "$files_after" ] || e2e_fail "the chunk files changed: [$files_before] -> [$files_after]"
sums_after=$(for f in $files_after; do md5sum "$f"; done)
[ "$sums_before" = "$sums_after" ] || e2e_fail "a refused request changed a chunk file"
e2e_remount
cmp "$E2E_TMP/src" "$MNT/f" || e2e_fail "f does not read back identical after the refused requests"
cmp "$E2E_TMP/src_g" "$MNT/g" || e2e_fail "g does not read back identical"

# A file held open across many capability lifetimes: writes, reads and
# fsyncs keep working (the client asks for new capabilities before they end,
# and after an idle spell takes a new lease for the fsync).
python3 - "$MNT/long" "$LIFE_MS" <<'EOF' || e2e_fail "a long-open file failed (above)"
import os, sys, time
path, life = sys.argv[1], int(sys.argv[2]) / 1000.0
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
want = bytearray()
for rnd in range(4):
    block = os.urandom(1024 * 1024 + 17 * rnd)
    os.pwrite(fd, block, len(want))
    want += block
    if rnd % 2:
        os.fsync(fd)
    time.sleep(life + 2)          # every capability this mount holds has ended
    try:                          # the reads go to the client, not the page cache
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
    except OSError:
        pass
    got = os.pread(fd, len(want), 0)
    if got != want:
        sys.exit("round %d: read back %d bytes, differ" % (rnd, len(got)))
time.sleep(life + 2)
os.fsync(fd)                      # idle, lease and capability long gone
os.close(fd)
print("long-open file: 4 rounds of %.1f s, %d bytes" % (life + 2, len(want)))
EOF
e2e_remount
python3 - "$MNT/long" <<'EOF' || e2e_fail "the long-open file does not read back after a remount"
import sys
d = open(sys.argv[1], 'rb').read()
sys.exit(0 if len(d) == 4 * 1024 * 1024 + 17 * 6 else "size %d" % len(d))
EOF
if grep -h 'ECAP\|capability' "$E2E_TMP"/log/mount*.log | grep -v 'debug' | head -n 5 | grep -q .; then
	e2e_log "mount log lines about capabilities:"
	grep -h 'ECAP\|capability' "$E2E_TMP"/log/mount*.log | head -n 5
fi
e2e_log "every request without a valid capability was refused; the long-open file works"
