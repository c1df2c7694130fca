#!/bin/bash
# godfs-up.sh [--fresh]: start the benchmark's godfs cluster with the
# checkout's own scripts/local-cluster.sh (1 godfs-meta, 3 godfs-chunkd, a
# mount at $GODFS_BENCH_DIR/mnt/godfs, ports from GODFS_BENCH_PORT: see
# bench/lib.sh), and make its directories g3 (goal 3) and g1 (goal 1).
# --fresh deletes the cluster's data first (a new, empty file system).
# The programs are those of GODFS_BENCH_BIN (default: build/release).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
case "${1:-}" in
--fresh | "") ;;
*) echo "usage: $0 [--fresh]" >&2; exit 2 ;;
esac
bench_link_bin
bench_godfs_env
[ "${1:-}" = --fresh ] && "$BENCH_TOP/scripts/local-cluster.sh" purge >&2
"$BENCH_TOP/scripts/local-cluster.sh" up >&2
mkdir -p "$GODFS_MNT/g3" "$GODFS_MNT/g1"
bench_admin goal /g3 3 >&2
bench_admin goal /g1 1 >&2
