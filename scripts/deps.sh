#!/bin/sh
# Installs the Debian 12 packages godfs needs to build, run and test
# (docs/dependencies.md says why each one). Idempotent: packages already
# there are left as they are, and apt-get is not run at all when nothing is missing.
set -eu

PACKAGES="
gcc make autoconf automake libtool pkg-config
libfuse3-dev fuse3
liburing-dev
libraft-dev libuv1-dev
libprotobuf-c-dev protobuf-c-compiler
libxxhash-dev
libmicrohttpd-dev
libcmocka-dev
libgnutls28-dev
attr acl rsync psmisc procps util-linux tar diffutils coreutils findutils
iproute2 nftables
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps.sh: all $(echo $PACKAGES | wc -w) Debian packages are installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing:$missing; run as root to install them" >&2
	exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing </dev/null
