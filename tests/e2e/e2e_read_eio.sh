#!/bin/bash
# A read that cannot be served fails with EIO, never with ENOSPC and never
# with zeros, and no good copy is lost meanwhile:
# 1. every chunkd holding the file is down (kill -9): `cat` fails with
#    "Input/output error";
# 2. one chunkd whose copy was lost (its chunk files deleted) comes back
#    alone: the meta must not conclude from it that the chunk was never
#    written (that read as zeros, and deleted the good copies when their
#    servers came back): still EIO;
# 3. the other two come back: the file reads back byte for byte, and their
#    copies were kept.
E2E_TIMEOUT=240
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
head -c 3000000 /dev/urandom >"$E2E_TMP/f"
cp "$E2E_TMP/f" "$MNT/f" || e2e_fail "cp"
sync "$MNT/f"

# wait_alive N: until the meta lists exactly N live chunk servers (20 s).
wait_alive() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(e2e_alive_nodes)" -eq "$1" ] && return 0
		sleep 0.1
	done
	e2e_fail "the meta does not list $1 live chunk servers after 20 s"
}

# expect_eio WHAT: reading the file must fail with EIO.
expect_eio() {
	local err
	e2e_remount
	e2e_drop_caches
	if err=$(cat "$MNT/f" 2>&1 >"$E2E_TMP/out"); then
		cmp -s "$E2E_TMP/f" "$E2E_TMP/out" && e2e_fail "$1: the read succeeded (how?)"
		e2e_fail "$1: the read succeeded with wrong data ($(cmp "$E2E_TMP/f" "$E2E_TMP/out" 2>&1 | head -1))"
	fi
	case $err in
	*"Input/output error"*) e2e_log "$1: EIO, as it must" ;;
	*) e2e_fail "$1: the read failed with '$err', expected EIO" ;;
	esac
}

for i in 1 2 3; do e2e_stop "${CHUNKD_PID[$i]}" KILL; done
wait_alive 0
expect_eio "every chunkd down"

ids=$(e2e_chunk_ids 2)
[ -n "$ids" ] || e2e_fail "chunkd2 holds no chunk"
e2e_chunk_files 1 | xargs -r rm -f
e2e_start_chunkd 1
wait_alive 1
sleep 1
expect_eio "only a chunkd that lost its copy is up"

for i in 2 3; do e2e_start_chunkd "$i"; done
e2e_wait_nodes 3
e2e_remount
e2e_drop_caches
cmp "$E2E_TMP/f" "$MNT/f" || e2e_fail "the file does not read back once the chunkds with copies are back"
sleep 2
for i in 2 3; do
	[ "$(e2e_chunk_ids "$i")" = "$ids" ] || e2e_fail "chunkd$i lost copies: had $ids, has $(e2e_chunk_ids "$i")"
done
e2e_log "read back identical; chunkd2 and chunkd3 kept their copies"
