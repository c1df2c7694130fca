#!/bin/bash
# mount(8) integration: `mount -t godfs HOST:PORT DIR` runs /sbin/mount.godfs
# (which daemonizes), an fstab line `HOST:PORT:/SUBDIR DIR godfs
# defaults,_netdev 0 0` mounts a subdirectory (tried with mount -T on a
# private fstab file, /etc/fstab is not touched), and `umount DIR` stops the
# client. The fstab line names the cluster key with -o key_file=.
#
# It is this build's mount.godfs that runs: when one is installed in /sbin
# (where mount(8) looks first), the test runs in a private mount namespace
# in which this build's is bound over it (an installed one of another
# version may not speak this build's protocol; nothing outside the namespace
# changes); when none is installed, this build's is linked as
# /sbin/fs.d/mount.godfs (where mount(8) also looks) for the length of the
# test.
E2E_TIMEOUT=180
if [ -z "${E2E_IN_MOUNT_NS:-}" ] && [ -x /sbin/mount.godfs ] && command -v unshare >/dev/null; then
	b=${GODFS_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)/build/sanitizers}
	[ -x "$b/fs/mount.godfs" ] || b=$(cd "$(dirname "$0")/../.." && pwd)/build/release
	export E2E_IN_MOUNT_NS=1
	# shellcheck disable=SC2016
	exec unshare -m --propagation private bash -c \
		'mount --bind "$1" /sbin/mount.godfs && exec bash "$2"' _ "$b/fs/mount.godfs" "$0"
fi
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || e2e_fail "mount -t needs root"
if [ -n "${E2E_IN_MOUNT_NS:-}" ]; then
	cmp -s /sbin/mount.godfs "$GODFS_MOUNT" ||
		e2e_fail "/sbin/mount.godfs is not $GODFS_MOUNT in this mount namespace"
	e2e_log "running $GODFS_MOUNT as /sbin/mount.godfs (private mount namespace)"
elif [ -x /sbin/mount.godfs ]; then
	e2e_log "no unshare(1): using the installed /sbin/mount.godfs"
elif [ -e /sbin/fs.d/mount.godfs ]; then
	e2e_fail "/sbin/fs.d/mount.godfs exists but /sbin/mount.godfs does not: leaving both alone"
else
	e2e_log "no /sbin/mount.godfs installed: linking $GODFS_MOUNT as /sbin/fs.d/mount.godfs for this test"
	created_fsd=0
	[ -d /sbin/fs.d ] || { mkdir /sbin/fs.d; created_fsd=1; }
	ln -s "$GODFS_MOUNT" /sbin/fs.d/mount.godfs
	E2E_ON_EXIT+=("rm -f /sbin/fs.d/mount.godfs; [ $created_fsd = 1 ] && rmdir /sbin/fs.d")
fi

e2e_cluster_up
mkdir -p "$MNT/sub/inner"
echo top >"$MNT/top"
echo in-sub >"$MNT/sub/inner/file"

# The daemonized client of mount point M (for cleanup only: found by its
# unique mount point in the command line).
client_pid() { pgrep -f -- "mount.godfs .*$1( |$)" | head -n 1; }
register() {
	local p
	p=$(client_pid "$1")
	[ -n "$p" ] && E2E_PIDS[$p]=helper-mount
	E2E_MOUNTS+=("$1")
}

M2=$E2E_TMP/m2
mkdir -p "$M2"
mount -t godfs "$META_ADDR" "$M2" >"$E2E_TMP/log/mount-t.log" 2>&1 ||
	e2e_fail "mount -t godfs failed: $(cat "$E2E_TMP/log/mount-t.log")"
register "$M2"
grep -qs " $M2 fuse.godfs " /proc/self/mounts || e2e_fail "$M2 is not a fuse.godfs mount: $(grep " $M2 " /proc/self/mounts)"
[ "$(cat "$M2/top")" = top ] || e2e_fail "mount -t godfs does not show the file system"
echo via-m2 >"$M2/from-m2"
[ "$(cat "$MNT/from-m2")" = via-m2 ] || e2e_fail "a file written through the second mount is not seen by the first"
pid=$(client_pid "$M2")
umount "$M2" || e2e_fail "umount $M2"
for ((i = 0; i < 100; i++)); do e2e_alive "$pid" || break; sleep 0.1; done
e2e_alive "$pid" && e2e_fail "the client (pid $pid) still runs after umount"
e2e_log "mount -t godfs / umount work"

M3=$E2E_TMP/m3
mkdir -p "$M3"
printf '127.0.0.1:%s:/sub %s godfs defaults,_netdev,key_file=%s 0 0\n' "$META_PORT" "$M3" \
	"$E2E_KEY" >"$E2E_TMP/fstab"
# The key comes from the fstab line alone here.
env -u GODFS_KEY_FILE mount -T "$E2E_TMP/fstab" "$M3" >"$E2E_TMP/log/mount-fstab.log" 2>&1 ||
	e2e_fail "mount from an fstab line failed: $(cat "$E2E_TMP/log/mount-fstab.log")"
register "$M3"
[ "$(cat "$M3/inner/file")" = in-sub ] || e2e_fail "the fstab mount does not show /sub"
[ ! -e "$M3/top" ] || e2e_fail "the fstab mount of /sub shows the root"
umount "$M3" || e2e_fail "umount $M3"
e2e_log "fstab-style mount of a subdirectory works"
