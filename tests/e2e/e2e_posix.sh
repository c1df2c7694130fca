#!/bin/bash
# The POSIX operations of plain tools on the mount: mkdir -p, mv (files and
# directories, over an existing file), ln, ln -s, chmod, chown, truncate up and
# down with content checks, utimens with nanoseconds, mkfifo, xattrs, readdir
# of many entries, unlink while open, rmdir of a non-empty directory, rm -r;
# the results are checked again after a remount (from the meta, not the caches).
E2E_TIMEOUT=300
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
cd "$MNT"

expect() { # expect DESCRIPTION ACTUAL WANTED
	[ "$2" = "$3" ] || e2e_fail "$1: got '$2', expected '$3'"
}

mkdir -p a/b/c/d || e2e_fail "mkdir -p"
[ -d a/b/c/d ] || e2e_fail "a/b/c/d is not a directory"
echo hello >a/b/c/d/f
expect "cat" "$(cat a/b/c/d/f)" hello
mv a/b/c/d/f a/g || e2e_fail "mv file"
[ ! -e a/b/c/d/f ] || e2e_fail "the old name still exists after mv"
expect "cat after mv" "$(cat a/g)" hello
mv a/b a/b2 || e2e_fail "mv directory"
[ -d a/b2/c/d ] && [ ! -e a/b ] || e2e_fail "directory rename"
echo one >x
echo two >y
mv x y || e2e_fail "mv over an existing file"
expect "mv over a file" "$(cat y)" one
[ ! -e x ] || e2e_fail "x still exists"

ln a/g a/hard || e2e_fail "ln"
expect "nlink after ln" "$(stat -c %h a/g)" 2
expect "same inode" "$(stat -c %i a/hard)" "$(stat -c %i a/g)"
echo more >>a/hard
expect "write through a hard link" "$(cat a/g)" "hello
more"
rm a/hard
expect "nlink after rm" "$(stat -c %h a/g)" 1

ln -s ../g a/b2/sym || e2e_fail "ln -s"
[ -L a/b2/sym ] || e2e_fail "not a symlink"
expect "readlink" "$(readlink a/b2/sym)" ../g
expect "cat through a symlink" "$(head -n 1 a/b2/sym)" hello
ln -s nowhere dangling
[ -L dangling ] && [ ! -e dangling ] || e2e_fail "dangling symlink"

chmod 0750 a/g || e2e_fail "chmod"
expect "chmod" "$(stat -c %a a/g)" 750
chmod 4711 a/g
expect "chmod setuid" "$(stat -c %a a/g)" 4711
chown 1234:5678 a/g || e2e_fail "chown"
expect "chown" "$(stat -c %u:%g a/g)" 1234:5678
chmod 0644 a/g
touch -d '2020-01-02 03:04:05.123456789 UTC' a/g || e2e_fail "touch -d"
expect "mtime with nanoseconds" "$(stat -c %Y.%y a/g | sed 's/ [-+]0000$//')" "1577934245.2020-01-02 03:04:05.123456789"

# truncate down and up, small and across 64 KiB blocks
printf 0123456789 >t
truncate -s 4 t
expect "truncate down" "$(cat t)" 0123
truncate -s 10 t
expect "size after truncate up" "$(stat -c %s t)" 10
printf '0123\0\0\0\0\0\0' | cmp - t || e2e_fail "truncate up does not read as zeros"
head -c 300000 /dev/urandom >"$E2E_TMP/tr"
cp "$E2E_TMP/tr" tr
for s in 100000 300000 3000000 70000; do
	truncate -s "$s" "$E2E_TMP/tr"
	truncate -s "$s" tr || e2e_fail "truncate -s $s"
	cmp "$E2E_TMP/tr" tr || e2e_fail "content after truncate -s $s"
done
echo new >t   # open with O_TRUNC
expect "O_TRUNC" "$(cat t)" new

mkfifo fifo || e2e_fail "mkfifo"
[ -p fifo ] || e2e_fail "not a fifo"

setfattr -n user.color -v blue a/g || e2e_fail "setfattr"
expect "getfattr" "$(getfattr --only-values -n user.color a/g)" blue
getfattr -d a/g | grep -q '^user.color="blue"' || e2e_fail "listxattr"
setfattr -x user.color a/g || e2e_fail "removexattr"
out=$(getfattr -n user.color a/g 2>&1) && e2e_fail "removed xattr still there"
grep -q 'No such attribute' <<<"$out" || e2e_fail "getfattr of a removed xattr: $out"

mkdir many
for i in $(seq 1 500); do : >"many/f$i"; done
expect "readdir of 500 entries" "$(ls many | wc -l)" 500
expect "readdir finds every name" "$(ls many | sort | md5sum)" "$(seq 1 500 | sed 's/^/f/' | sort | md5sum)"

echo still-here >open-unlinked
exec 7<open-unlinked
rm open-unlinked
[ ! -e open-unlinked ] || e2e_fail "unlinked name still there"
expect "read of an unlinked open file" "$(cat <&7)" still-here
exec 7<&-

out=$(rmdir a 2>&1) && e2e_fail "rmdir of a non-empty directory succeeded"
grep -q 'Directory not empty' <<<"$out" || e2e_fail "rmdir non-empty: $out"
df -P "$MNT" | tail -n 1 | awk '{ exit !($2 > 0) }' || e2e_fail "statfs: $(df -P "$MNT")"

cd /
e2e_remount
cd "$MNT"
expect "mode after remount" "$(stat -c %a a/g)" 644
expect "owner after remount" "$(stat -c %u:%g a/g)" 1234:5678
expect "content after remount" "$(cat a/g)" "hello
more"
expect "symlink after remount" "$(readlink a/b2/sym)" ../g
cmp "$E2E_TMP/tr" tr || e2e_fail "truncated file after remount"
expect "entries after remount" "$(ls many | wc -l)" 500
[ -p fifo ] || e2e_fail "fifo after remount"

rm -r a many || e2e_fail "rm -r"
[ ! -e a ] && [ ! -e many ] || e2e_fail "rm -r left something"
expect "root after rm -r" "$(ls -A | sort | tr '\n' ' ')" "dangling fifo t tr y "
cd /
