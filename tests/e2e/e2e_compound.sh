#!/bin/bash
# Round trips to the meta and Raft entries per small file (docs/meta-rpc.md
# "Compound requests"), counted with the meta's godfs_rpc_requests_total and
# godfs_raft_last_index around loops of N files by one process, so that a
# change that adds a round trip or an entry per file fails here:
# 1. create + write 16 KiB + close of new files (the FUSE create: one CREATE
#    that also grants the write lease of chunk 0 and brings the directory's
#    new attributes, which answer the kernel's next GETATTR of it; the
#    kernel's GETXATTR of security.capability answered by the mount): at
#    most 4 requests and 2 entries a file (LOOKUP, CREATE, WRITE_COMMIT,
#    RELEASE; CREATE and WRITE_COMMIT), no WRITE_LEASE, no GETXATTR, no
#    GETATTR; every file reads back;
# 2. create + close of empty files (touch, mdtest's md_create): 3 requests
#    and one entry a file, no chunk left behind: after the first file the mount asks no
#    lease, and the first one's unused lease is given back (LEASE_RETURN),
#    so no chunk without a copy stays in the census (godfs-admin status);
# 3. open + read + close on a fresh mount: the OPEN answers where chunk 0
#    is (no CHUNK_LOCATE): at most LOOKUP, OPEN and RELEASE a file;
# 4. unlink and mkdir: at most LOOKUP and UNLINK/MKDIR (their answers bring
#    the directory's attributes for the kernel's next GETATTR of it); stat
#    is counted and logged.
# Set GODFS_COMPOUND_N for more files per loop (default 20).
E2E_TIMEOUT=180
. "$(dirname "$0")/lib.sh"

N=${GODFS_COMPOUND_N:-20}
read -r MP <<<"$(e2e_free_ports 1)"
META_ARGS+=(--metrics-listen "127.0.0.1:$MP")
e2e_cluster_up 3

# counts NAME: the meta's request counts by method and its last Raft index
# into $E2E_TMP/NAME (the Raft gauges are published every 500 ms).
counts() {
	sleep 0.7
	curl -sSf --max-time 10 "http://127.0.0.1:$MP/metrics" |
		sed -n 's/^godfs_rpc_requests_total{method="\([A-Z_]*\)"} \([0-9]*\)$/\1 \2/p
			s/^godfs_raft_last_index \([0-9]*\)$/ENTRIES \1/p' |
		sort >"$E2E_TMP/$1" || e2e_fail "GET /metrics of the meta failed"
}
# delta A B: "METHOD=n ..." of what grew from A to B, without the
# background traffic (session renewals, chunkd heartbeats).
delta() {
	join -a2 -e0 -o 0,1.2,2.2 "$E2E_TMP/$1" "$E2E_TMP/$2" |
		awk '$3 > $2 && $1 !~ /^(SESSION_RENEW|CS_HEARTBEAT|CS_REGISTER|PING)$/ {printf "%s=%d ", $1, $3 - $2}'
}
# per WHAT N -- CMD...: runs CMD between two counts, logs the counts per
# file, and sets REQ (requests per file, x100) and ENT (entries, x100).
declare -A D
per() {
	local what=$1 n=$2 k v; shift 3
	counts a
	"$@" || e2e_fail "$what: $* failed"
	counts b
	D=()
	for kv in $(delta a b); do D[${kv%=*}]=${kv#*=}; done
	REQ=0
	for k in "${!D[@]}"; do [ "$k" = ENTRIES ] || REQ=$((REQ + D[$k])); done
	REQ=$((REQ * 100 / n))
	ENT=$(( ${D[ENTRIES]:-0} * 100 / n ))
	local line=""
	for k in $(printf '%s\n' "${!D[@]}" | sort); do
		v=$((D[$k] * 100 / n)); line+="$k=$((v / 100)).$(printf %02d $((v % 100))) "
	done
	e2e_log "$what, per file: requests $((REQ / 100)).$(printf %02d $((REQ % 100))), entries $((ENT / 100)).$(printf %02d $((ENT % 100))): $line"
}

head -c 16384 /dev/urandom >"$E2E_TMP/src"
mkdir "$MNT/w" "$MNT/e"
writes() {
	python3 - "$1" "$N" "$E2E_TMP/src" <<'PY'
import os, sys
d, n, data = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], 'rb').read()
for i in range(n):
    fd = os.open('%s/f%d' % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, data)
    os.close(fd)
PY
}
empties() {
	python3 - "$1" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open('%s/f%d' % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
PY
}
reads() {
	python3 - "$1" "$N" "$E2E_TMP/src" <<'PY'
import os, sys
d, n, data = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], 'rb').read()
for i in range(n):
    fd = os.open('%s/f%d' % (d, i), os.O_RDONLY)
    got = os.read(fd, 1 << 20)
    os.close(fd)
    if got != data:
        sys.exit('%s/f%d: %d bytes, not what was written' % (d, i, len(got)))
PY
}
stats() { python3 -c 'import os,sys; [os.stat("%s/f%d" % (sys.argv[1], i)) for i in range(int(sys.argv[2]))]' "$1" "$N"; }
unlinks() { python3 -c 'import os,sys; [os.unlink("%s/f%d" % (sys.argv[1], i)) for i in range(int(sys.argv[2]))]' "$1" "$N"; }
mkdirs() { python3 -c 'import os,sys; [os.mkdir("%s/d%d" % (sys.argv[1], i)) for i in range(int(sys.argv[2]))]' "$1" "$N"; }

# 1. small files written
per "create+write 16 KiB+close" "$N" -- writes "$MNT/w"
[ "${D[WRITE_LEASE]:-0}" -eq 0 ] || e2e_fail "a small file took a WRITE_LEASE besides its CREATE (${D[WRITE_LEASE]} for $N files)"
[ "${D[GETXATTR]:-0}" -eq 0 ] || e2e_fail "the kernel's security.capability question of a new file went to the meta (${D[GETXATTR]} for $N files)"
# (+ 2 per loop: the directory's own lookup and getattr, as the kernel's
# cache of it expires)
[ "$REQ" -le $((400 + 200 / N)) ] || e2e_fail "a small file costs more than 4 meta requests ($REQ/100)"
[ "${D[GETATTR]:-0}" -le 2 ] || e2e_fail "the kernel's GETATTR of the directory after a create went to the meta (${D[GETATTR]} for $N files)"
[ "$ENT" -le 200 ] || e2e_fail "a small file costs more than 2 Raft entries ($ENT/100)"
sum1=$(cat "$E2E_TMP/src" | md5sum)
for i in 0 $((N - 1)); do
	[ "$(md5sum <"$MNT/w/f$i")" = "$sum1" ] || e2e_fail "w/f$i does not read back"
done

# 2. empty files: no lease, the first one's given back
per "create+close (empty)" "$N" -- empties "$MNT/e"
[ "$ENT" -le $((100 + 100 / N + 1)) ] || e2e_fail "an empty file costs more than 1 Raft entry ($ENT/100)"
[ "$REQ" -le $((300 + 300 / N)) ] || e2e_fail "an empty file costs more than 3 meta requests ($REQ/100)"
[ "${D[LEASE_RETURN]:-0}" -le 1 ] || e2e_fail "more than one unused lease given back (${D[LEASE_RETURN]})"
chunks=$(e2e_status_json | sed -n 's/.*"chunks":\([0-9]*\).*/\1/p')
[ "$chunks" = "$N" ] || e2e_fail "the meta has $chunks chunks for $N written files (an empty file's chunk left behind?)"

# 3. the rest, counted on a fresh mount (nothing in the kernel's caches)
e2e_remount
per "open+read+close (cold)" "$N" -- reads "$MNT/w"
[ "${D[CHUNK_LOCATE]:-0}" -eq 0 ] || e2e_fail "a small file's read asked CHUNK_LOCATE besides its OPEN (${D[CHUNK_LOCATE]} for $N files)"
[ "$REQ" -le $((300 + 200 / N)) ] || e2e_fail "a small file's read costs more than 3 meta requests ($REQ/100)"
e2e_remount
per "stat (cold)" "$N" -- stats "$MNT/w"
per "unlink" "$N" -- unlinks "$MNT/w"
[ "$REQ" -le $((200 + 200 / N)) ] || e2e_fail "an unlink costs more than 2 meta requests ($REQ/100)"
per "mkdir" "$N" -- mkdirs "$MNT/e"
[ "$REQ" -le $((200 + 200 / N)) ] || e2e_fail "a mkdir costs more than 2 meta requests ($REQ/100)"
e2e_log "PASS"
