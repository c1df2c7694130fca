# tests/e2e/netns.sh: hosts for the end-to-end tests, sourced after lib.sh.
#
# Each host is a network namespace with one interface (eth0, 10.77.0.N/24)
# on a bridge that lives in a namespace of its own (the switch), so nothing
# of the machine's own network is touched and two tests never share a
# subnet. Programs run in a host with nsenter --net: they keep the test's
# mount namespace, so a FUSE mount made "on" a client host is visible to the
# test (ip netns exec would give them a private one). Each host has its own
# ports, so every daemon listens on its usual port.
#
# Faults: netns_partition HOST cuts the host off (nftables drop rules in its
# namespace, both ways; `ip link set eth0 down` when nft is missing: the
# peers see no RST either way), netns_heal HOST undoes it. Process faults
# (kill -9, SIGSTOP) are plain signals to the daemon's pid.
#
# The namespaces are removed by the EXIT trap of lib.sh once the daemons are
# gone (E2E_AFTER_EXIT): without their network they would stop slowly.

command -v ip >/dev/null || e2e_skip "no ip(8): cannot make network namespaces"
command -v nsenter >/dev/null || e2e_skip "no nsenter(1)"

NETNS_PREFIX=gd$$
NETNS_SW=${NETNS_PREFIX}sw
NETNS_SUBNET=10.77.0
declare -A NETNS_IP=()          # host -> address
NETNS_HOSTS=()
NETNS_HAVE_NFT=0
command -v nft >/dev/null && NETNS_HAVE_NFT=1

netns_cleanup() {
	local h
	for h in "${NETNS_HOSTS[@]+"${NETNS_HOSTS[@]}"}"; do
		ip netns del "$NETNS_PREFIX$h" 2>/dev/null
	done
	ip netns del "$NETNS_SW" 2>/dev/null
	return 0
}
E2E_AFTER_EXIT+=("netns_cleanup")   # the daemons stop first, with their network

ip netns add "$NETNS_SW" 2>/dev/null || e2e_skip "cannot create network namespaces here"
ip -n "$NETNS_SW" link add br0 type bridge || e2e_fail "no bridge in the switch namespace"
ip -n "$NETNS_SW" link set br0 up
ip -n "$NETNS_SW" link set lo up

# netns_host NAME N: a host named NAME at $NETNS_SUBNET.N.
netns_host() {
	local h=$1 n=$2 ns=$NETNS_PREFIX$1
	ip netns add "$ns" || e2e_fail "ip netns add $ns"
	NETNS_HOSTS+=("$h")
	ip -n "$NETNS_SW" link add "p$h" type veth peer name eth0 netns "$ns" ||
		e2e_fail "veth for $h"
	ip -n "$NETNS_SW" link set "p$h" master br0 up
	ip -n "$ns" addr add "$NETNS_SUBNET.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	NETNS_IP[$h]=$NETNS_SUBNET.$n
}

# netns_run HOST CMD...: runs CMD in HOST's network (same mounts, same files).
netns_run() {
	local h=$1; shift
	nsenter --net="/run/netns/$NETNS_PREFIX$h" -- "$@"
}

# netns_exec HOST CMD...: the same in place of the shell (nsenter --net execs
# CMD), for a daemon in the background whose $! must be the daemon:
#   ( netns_exec HOST prog args ) >log 2>&1 &
netns_exec() {
	local h=$1; shift
	exec nsenter --net="/run/netns/$NETNS_PREFIX$h" -- "$@"
}

netns_partition() {
	local h=$1
	if [ "$NETNS_HAVE_NFT" = 1 ]; then
		netns_run "$h" nft -f - <<-EOF || e2e_fail "nft in $h"
		table inet gdfault {
			chain in { type filter hook input priority 0; policy drop; iif lo accept; }
			chain out { type filter hook output priority 0; policy drop; oif lo accept; }
		}
		EOF
	else
		ip -n "$NETNS_PREFIX$h" link set eth0 down
	fi
}

netns_heal() {
	local h=$1
	if [ "$NETNS_HAVE_NFT" = 1 ]; then
		netns_run "$h" nft delete table inet gdfault 2>/dev/null || true
	else
		ip -n "$NETNS_PREFIX$h" link set eth0 up
	fi
}

# Waits (10 s) until ADDR:PORT accepts connections from HOST.
netns_wait_port() {
	local h=$1 addr=$2 port=$3 name=$4 pid=$5 i
	for ((i = 0; i < 200; i++)); do
		netns_run "$h" bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null && return 0
		e2e_alive "$pid" || e2e_fail "$name exited before listening (log: $E2E_TMP/log/$name.log)"
		sleep 0.05
	done
	e2e_fail "$name does not listen on $addr:$port after 10 s"
}
