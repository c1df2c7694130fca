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
libmicrohttpd-dev libjansson-dev
libcmocka-dev
libgnutls28-dev
attr acl rsync psmisc procps util-linux tar diffutils coreutils findutils
iproute2 nftables
python3
prometheus chromium
curl wget
"

# Debian's prometheus package (wanted for promtool and for the Prometheus
# server the alert tests start themselves) also installs a Prometheus
# service on port 9090, godfs-meta's port, started at once and at every
# boot. The service must never run here: nothing starts during the install
# (a policy-rc.d denying every start, unless one is already there), and the
# service is stopped and disabled afterwards (also when the package was
# installed before). Only the service is touched: a prometheus started by a
# test is not the service's.
PROM_WANTS=/etc/systemd/system/multi-user.target.wants/prometheus.service
prometheus_service_on()
{
	[ -e "$PROM_WANTS" ] || ls /etc/rc[2-5].d/S*prometheus >/dev/null 2>&1 ||
		[ -s /run/prometheus/prometheus.pid ]
}
prometheus_service_off()
{
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --now prometheus.service || true
	else
		if [ -s /run/prometheus/prometheus.pid ] && [ -x /etc/init.d/prometheus ]; then
			/etc/init.d/prometheus stop || true
		fi
		rm -f "$PROM_WANTS"
		if command -v update-rc.d >/dev/null && [ -e /etc/init.d/prometheus ]; then
			update-rc.d prometheus disable >/dev/null 2>&1 || true
		fi
	fi
	echo "deps.sh: the Debian prometheus service is disabled (port 9090 is godfs-meta's)"
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	if prometheus_service_on; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "deps.sh: the Debian prometheus service is enabled; run as root to disable it" >&2
			exit 1
		fi
		prometheus_service_off
	fi
	echo "deps.sh: all $(echo $PACKAGES | wc -w) Debian packages are installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing:$missing; run as root to install them" >&2
	exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\n# deps.sh: no service starts while packages install\nexit 101\n' \
		>/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing </dev/null
if prometheus_service_on; then
	prometheus_service_off
fi
