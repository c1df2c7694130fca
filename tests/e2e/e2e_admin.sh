#!/bin/bash
# godfs-admin against a live cluster: status and nodes (human and --json),
# goal PATH shows and sets the replication goal, a new file inherits its
# directory's goal (goal 1: one copy of its chunk on one chunkd), exit codes
# 0 / 1 (cluster error, unknown path, no meta) / 2 (usage).
E2E_TIMEOUT=180
. "$(dirname "$0")/lib.sh"

[ -x "$GODFS_ADMIN" ] || e2e_fail "$GODFS_ADMIN is not built"
admin() { "$GODFS_ADMIN" --meta "$META_ADDR" "$@"; }
e2e_cluster_up

out=$(admin status) || e2e_fail "status failed: $out"
grep -q '^inodes' <<<"$out" && grep -q '^raft *index [0-9]' <<<"$out" || e2e_fail "status output: $out"
grep -q 'chunk servers *3 (3 alive)' <<<"$out" || e2e_fail "status does not count 3 live chunk servers: $out"
out=$(admin status --json) || e2e_fail "status --json failed"
grep -qE '^\{"leader":".*","raft_index":[0-9]+,"raft_term":[0-9]+,.*"chunk_servers_alive":3,.*\}$' <<<"$out" ||
	e2e_fail "status --json: $out"
grep -qE '"repl_pending":[0-9]+,"repl_done":[0-9]+,"repl_failed":[0-9]+,"repl_last_error":".*","under_goal_why":\[.*\]\}$' <<<"$out" ||
	e2e_fail "status --json without the re-replication fields: $out"
out=$(admin nodes) || e2e_fail "nodes failed"
[ "$(grep -c ' alive ' <<<"$out")" = 3 ] || e2e_fail "nodes does not list 3 alive: $out"
for i in 1 2 3; do
	grep -q "127.0.0.1:${CHUNKD_PORT[$i]}" <<<"$out" || e2e_fail "nodes does not list chunkd$i: $out"
done
out=$(admin nodes --json) || e2e_fail "nodes --json failed"
[ "$(grep -o '"alive":true' <<<"$out" | wc -l)" = 3 ] || e2e_fail "nodes --json: $out"

mkdir -p "$MNT/one/deeper"
out=$(admin goal /one) || e2e_fail "goal /one failed: $out"
[ "$out" = "/one: goal 3" ] || e2e_fail "goal /one: $out"
out=$(admin goal /one 1) || e2e_fail "goal /one 1 failed: $out"
[ "$out" = "/one: goal 1 (was 3)" ] || e2e_fail "goal /one 1: $out"
[ "$(admin goal /one/deeper/../)" = "/one/deeper/../: goal 1" ] ||
	e2e_fail "goal of /one through ..: $(admin goal /one/deeper/../)"
[ "$(admin goal /one/deeper)" = "/one/deeper: goal 3" ] || e2e_fail "an existing child changed its goal"
before=$(for i in 1 2 3; do e2e_chunk_files "$i"; done | wc -l)
head -c 100000 /dev/urandom >"$E2E_TMP/f"
cp "$E2E_TMP/f" "$MNT/one/f" || e2e_fail "cp"
[ "$(admin goal /one/f)" = "/one/f: goal 1" ] || e2e_fail "a new file does not inherit goal 1: $(admin goal /one/f)"
after=$(for i in 1 2 3; do e2e_chunk_files "$i"; done | wc -l)
[ $((after - before)) = 1 ] || e2e_fail "a goal-1 file made $((after - before)) chunk copies"
e2e_remount
cmp "$E2E_TMP/f" "$MNT/one/f" || e2e_fail "the goal-1 file differs"
out=$(admin goal /one/f --json) || e2e_fail "goal --json"
grep -qE '^\{"path":"/one/f","ino":[0-9]+,"goal":1\}$' <<<"$out" || e2e_fail "goal --json: $out"
[ "$(admin goal /)" = "/: goal 3" ] || e2e_fail "goal of the root: $(admin goal /)"
# A path on the mount, without --meta: the file system path and the meta
# address come from the mount (/proc/self/mounts).
out=$("$GODFS_ADMIN" goal "$MNT/one/f" 2>&1) || e2e_fail "goal $MNT/one/f: $out"
[ "$out" = "$MNT/one/f: goal 1" ] || e2e_fail "goal of a path on the mount: $out"
out=$("$GODFS_ADMIN" goal "$MNT/one/deeper" 2 2>&1) || e2e_fail "goal $MNT/one/deeper 2: $out"
[ "$(admin goal /one/deeper)" = "/one/deeper: goal 2" ] || e2e_fail "goal set through the mount path: $out"

rc=0; out=$(admin goal /missing 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -qi 'no such file' <<<"$out" || e2e_fail "goal of a missing path: rc $rc, $out"
rc=0; admin bogus >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || e2e_fail "an unknown command exits $rc, not 2"
rc=0; admin goal /one 0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || e2e_fail "goal 0 exits $rc, not 2"
port=$(e2e_free_ports 1)
rc=0; "$GODFS_ADMIN" --meta "127.0.0.1:$port" --timeout 2 status >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || e2e_fail "status with no meta exits $rc, not 1"
GODFS_META=$META_ADDR "$GODFS_ADMIN" status >/dev/null || e2e_fail "GODFS_META is not used"
