#!/bin/bash
# godfs-down.sh: stop the cluster started by godfs-up.sh, by its recorded
# PIDs (the data stays until godfs-up.sh --fresh).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_godfs_env
[ -d "$GODFS_STATE" ] || exit 0
"$BENCH_TOP/scripts/local-cluster.sh" down >&2
