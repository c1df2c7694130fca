#!/bin/sh
# Builds godfs out of tree and installs it.
#
#   ./scripts/build.sh               release build in build/release, then `make install`
#                                    (programs in /usr/local/bin, the daemons and
#                                    mount.godfs in /sbin so that `mount -t godfs` works)
#   ./scripts/build.sh --sanitizers  ASan/UBSan build in build/sanitizers, not installed:
#                                    scripts/test.sh runs `make check` there
#   ./scripts/build.sh --no-install  release build only
#
# configure is (re)generated with autoreconf when it is missing or older than
# configure.ac / Makefile.am; both build trees are git-ignored (build/).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
mode=release
install=yes
for arg in "$@"; do
	case "$arg" in
	--sanitizers) mode=sanitizers; install=no ;;
	--no-install) install=no ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "build.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
	esac
done

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	echo "build.sh: autoreconf -fi"
	autoreconf -fi
fi

bdir="$top/build/$mode"
mkdir -p "$bdir"
cd "$bdir"
flags="--prefix=/usr/local --sbindir=/sbin --sysconfdir=/etc --localstatedir=/var"
[ "$mode" = sanitizers ] && flags="$flags --enable-sanitizers"
# Reconfigure when configure changed or the tree was configured differently.
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ] ||
   [ "$(cat .godfs-configure-flags 2>/dev/null)" != "$flags" ]; then
	echo "build.sh: configuring build/$mode ($flags)"
	# shellcheck disable=SC2086
	"$top/configure" -q $flags
	echo "$flags" >.godfs-configure-flags
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "build.sh: make -j$jobs in build/$mode"
make -j"$jobs"

if [ "$install" = yes ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: not root, skipping make install (use --no-install to silence this)" >&2
		exit 0
	fi
	make install >/dev/null
	echo "build.sh: installed (godfs-meta, godfs-chunkd and mount.godfs in /sbin, godfs-admin in /usr/local/bin)"
fi
