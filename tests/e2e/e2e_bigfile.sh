#!/bin/bash
# A 200 MiB file of random bytes copied into the mount and compared with cmp,
# warm and cold (after a remount and dropped caches); with the default goal 3
# every chunk of it has three identical copies, one on each chunkd, whose data
# areas are exactly the file's bytes.
E2E_TIMEOUT=600
. "$(dirname "$0")/lib.sh"

SIZE=$((200 * 1024 * 1024))
CHUNK=$((64 * 1024 * 1024))
e2e_cluster_up

head -c "$SIZE" /dev/urandom >"$E2E_TMP/big"
t0=$(date +%s%N)
cp "$E2E_TMP/big" "$MNT/big" || e2e_fail "cp of 200 MiB failed"
t1=$(date +%s%N)
e2e_log "cp 200 MiB: $(( (t1 - t0) / 1000000 )) ms ($(( SIZE * 1000 / ((t1 - t0) / 1000 + 1) )) bytes/ms)"
[ "$(stat -c %s "$MNT/big")" = "$SIZE" ] || e2e_fail "size is $(stat -c %s "$MNT/big"), not $SIZE"
cmp "$E2E_TMP/big" "$MNT/big" || e2e_fail "the copy differs (warm)"

e2e_remount
e2e_drop_caches
t0=$(date +%s%N)
cmp "$E2E_TMP/big" "$MNT/big" || e2e_fail "the copy differs (cold, after a remount)"
t1=$(date +%s%N)
e2e_log "cold cmp 200 MiB: $(( (t1 - t0) / 1000000 )) ms"

# Goal 3: the same chunks on every chunkd, byte for byte, and together they
# hold exactly the file.
nchunks=$(( (SIZE + CHUNK - 1) / CHUNK ))
ids1=$(e2e_chunk_ids 1)
for i in 2 3; do
	[ "$(e2e_chunk_ids "$i")" = "$ids1" ] ||
		e2e_fail "chunkd$i holds chunks [$(e2e_chunk_ids "$i" | tr '\n' ' ')], chunkd1 [$(echo "$ids1" | tr '\n' ' ')]"
done
n=$(echo "$ids1" | sed '/^$/d' | wc -l)
[ "$n" = "$nchunks" ] || e2e_fail "$n chunks on chunkd1, expected $nchunks"
declare -A seen=()
for id in $ids1; do
	f1=$(e2e_chunk_file 1 "$id")
	for i in 2 3; do
		fi_=$(e2e_chunk_file "$i" "$id")
		cmp -i "$E2E_CHUNK_DATA_OFF" "$f1" "$fi_" ||
			e2e_fail "chunk $id: the copies on chunkd1 and chunkd$i differ"
	done
	# Which part of the file this chunk is.
	found=
	for ((k = 0; k < nchunks; k++)); do
		len=$(( SIZE - k * CHUNK )); [ "$len" -gt "$CHUNK" ] && len=$CHUNK
		if cmp -s -n "$len" -i "$E2E_CHUNK_DATA_OFF:$((k * CHUNK))" "$f1" "$E2E_TMP/big"; then
			found=$k
			break
		fi
	done
	[ -n "$found" ] || e2e_fail "chunk $id does not hold any 64 MiB part of the file"
	[ -z "${seen[$found]:-}" ] || e2e_fail "chunks ${seen[$found]} and $id both hold part $found"
	seen[$found]=$id
done
e2e_log "$nchunks chunks, 3 identical copies each, covering the whole file"
