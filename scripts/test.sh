#!/bin/sh
# Runs every test (cmocka unit tests and the end-to-end tests on real daemons
# and a real FUSE mount) with `make check` in the ASan/UBSan build made by
# `./scripts/build.sh --sanitizers`. Extra arguments go to make
# (e.g. TESTS=tests/e2e/e2e_posix.sh). On failure it prints the failing logs.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bdir="$top/build/sanitizers"
if [ ! -f "$bdir/Makefile" ]; then
	echo "test.sh: build/sanitizers is not configured: run ./scripts/build.sh --sanitizers first" >&2
	exit 2
fi
cd "$bdir"
start=$(date +%s)
rc=0
make check "$@" || rc=$?
end=$(date +%s)
if [ "$rc" -ne 0 ]; then
	for log in $(find tests -name '*.log' ! -name test-suite.log 2>/dev/null); do
		trs=${log%.log}.trs
		if grep -qE '^:test-result: (FAIL|ERROR)' "$trs" 2>/dev/null; then
			echo "===== $log (last 80 lines)"
			tail -n 80 "$log"
		fi
	done
fi
echo "test.sh: make check exited $rc after $((end - start)) s"
exit "$rc"
