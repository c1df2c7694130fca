#!/bin/bash
# tar -x of a real tree (a tarball of /usr/include, several thousand files,
# directories and symlinks) onto the mount, then diff -r against the original
# and tar --compare (mode, owner, mtime, size, content, link targets), cold.
E2E_TIMEOUT=900
. "$(dirname "$0")/lib.sh"

SRC=${E2E_TAR_SRC:-/usr/include}
[ -d "$SRC" ] || e2e_fail "$SRC is missing"
e2e_cluster_up

tar -C "$(dirname "$SRC")" -cf "$E2E_TMP/tree.tar" "$(basename "$SRC")"
nent=$(tar -tf "$E2E_TMP/tree.tar" | wc -l)
e2e_log "tarball of $SRC: $nent entries, $(du -sh "$E2E_TMP/tree.tar" | cut -f1)"
t0=$(date +%s%N)
tar -C "$MNT" -xf "$E2E_TMP/tree.tar" || e2e_fail "tar -x failed"
t1=$(date +%s%N)
e2e_log "tar -x: $(( (t1 - t0) / 1000000 )) ms"

e2e_remount
e2e_drop_caches
t0=$(date +%s%N)
# --no-dereference: symlinks are compared as links (their targets); /usr/include
# holds relative links that leave the tree (clang/14 -> ../../../lib/...),
# which resolve on the original but not under the mount point.
diff -r --no-dereference "$SRC" "$MNT/$(basename "$SRC")" >"$E2E_TMP/diff.out" 2>&1 ||
	e2e_fail "diff -r found differences: $(head -n 20 "$E2E_TMP/diff.out")"
t1=$(date +%s%N)
e2e_log "diff -r: $(( (t1 - t0) / 1000000 )) ms"
tar -C "$MNT" -df "$E2E_TMP/tree.tar" >"$E2E_TMP/cmp.out" 2>&1 ||
	e2e_fail "tar --compare found differences: $(head -n 20 "$E2E_TMP/cmp.out")"
n=$(find "$MNT/$(basename "$SRC")" | wc -l)
[ "$n" = "$nent" ] || e2e_fail "find counts $n entries on the mount, the tarball has $nent"
