#!/bin/bash
# Corrupted blocks in chunk files: the file still reads back identical from a
# good copy, and a file whose every copy has a bad block (each in another
# 1 MiB piece) reads back whole: the meta keeps the last copy in use and
# lists copies marked bad last, and the client reads each range from a copy
# where it is good; it is repaired from the good pieces of two copies. Six files of goal 3; for file r the copies on two chunkds get 16
# flipped bytes in one 4 KiB block (data area, behind the 4 KiB header and
# 128 KiB checksum table) and only one chunkd, chosen at random per file, keeps a good
# copy, so whichever copy the client reads first, most rounds can only pass by
# noticing the checksum mismatch and going on to another copy (the good copy
# is not chosen in turn: the meta's least-loaded read order also rotates, and
# the two rotations met once, so that no read found a corrupt copy). A bad
# block is reported to the meta by its chunkd, which keeps the copy (its other
# blocks are good) until the meta has it replaced: nothing goes to lost+found.
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

ROUNDS=6
e2e_cluster_up

all_ids() { for i in 1 2 3; do e2e_chunk_ids "$i"; done | sort -u; }

declare -A ID=() GOOD=()
for ((r = 1; r <= ROUNDS; r++)); do
	head -c $((1024 * 1024 + 12345)) /dev/urandom >"$E2E_TMP/src$r"
	before=$(all_ids)
	cp "$E2E_TMP/src$r" "$MNT/f$r" || e2e_fail "cp f$r"
	sync "$MNT/f$r"
	new=$(comm -13 <(echo "$before") <(all_ids) | sed '/^$/d')
	[ "$(echo "$new" | wc -l)" = 1 ] && [ -n "$new" ] || e2e_fail "f$r: expected one new chunk, got [$new]"
	ID[$r]=$new
	for i in 1 2 3; do
		[ -n "$(e2e_chunk_file "$i" "$new")" ] || e2e_fail "f$r: no copy of chunk $new on chunkd$i"
	done
done

# One more file whose three copies are all bad, each in another 1 MiB piece:
# every piece is good on two copies, so the file still reads back whole.
head -c $((3 * 1024 * 1024 + 5)) /dev/urandom >"$E2E_TMP/all"
before=$(all_ids)
cp "$E2E_TMP/all" "$MNT/all" && sync "$MNT/all" || e2e_fail "cp all"
ALL=$(comm -13 <(echo "$before") <(all_ids) | sed '/^$/d')

e2e_umount
for i in 1 2 3; do
	e2e_flip_bytes "$(e2e_chunk_file "$i" "$ALL")" $(((i - 1) * 1024 * 1024 + 70000)) 16
done
for ((r = 1; r <= ROUNDS; r++)); do
	good=$((RANDOM % 3 + 1))
	GOOD[$r]=$good
	for i in 1 2 3; do
		[ "$i" = "$good" ] && continue
		f=$(e2e_chunk_file "$i" "${ID[$r]}")
		e2e_flip_bytes "$f" $((65536 + 4000 + r)) 16
		cmp -s -i "$E2E_CHUNK_DATA_OFF:0" -n $((1024 * 1024)) "$f" "$E2E_TMP/src$r" &&
			e2e_fail "flipping bytes in $f changed nothing"
	done
done
e2e_drop_caches
e2e_mount

for ((r = 1; r <= ROUNDS; r++)); do
	cmp "$E2E_TMP/src$r" "$MNT/f$r" || e2e_fail "f$r (good copy only on chunkd${GOOD[$r]}) does not read back identical"
done
cmp "$E2E_TMP/all" "$MNT/all" || e2e_fail "a file with a bad block on every copy (each in another piece) does not read back"
q=$(cat "$E2E_TMP"/log/chunkd*.log | grep -c 'does not match its checksum' || true)
lf=$(for i in 1 2 3; do find "${CHUNKD_DIR[$i]}" -path '*/lost+found/*' -type f; done | wc -l)
e2e_log "all $ROUNDS files read back identical; $q bad blocks reported, $lf files in lost+found"
[ "$q" -ge 1 ] || e2e_fail "no chunkd noticed a bad block: the reads never met one?"
[ "$lf" = 0 ] || e2e_fail "a copy with one bad block was moved to lost+found"

# The meta has each reported copy replaced from a good one: the import at the
# same version replaces the copy with the bad block on its chunkd. For the
# file bad on every copy, the replica takes the pieces bad at the source from
# the copy it replaces (chunkd_pipeline_replicate): one good copy again.
for ((t = 0; t < 600; t++)); do
	grep -q "chunk $ALL v.*replaced by a replica" "$E2E_TMP"/log/chunkd*.log && break
	sleep 0.1
done
n=$(cat "$E2E_TMP"/log/chunkd*.log | grep -c 'replaced by a replica' || true)
e2e_log "$n copies with a bad block replaced by a replica after $((t / 10)) s"
grep -q "chunk $ALL v.*replaced by a replica" "$E2E_TMP"/log/chunkd*.log ||
	e2e_fail "the chunk bad on every copy was not repaired in 60 s"
e2e_remount
e2e_drop_caches
for ((r = 1; r <= ROUNDS; r++)); do
	cmp "$E2E_TMP/src$r" "$MNT/f$r" || e2e_fail "f$r does not read back after the repair"
done
