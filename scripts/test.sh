#!/bin/bash
# Runs every test (cmocka unit tests, fuzz targets over their seeds, and the
# end-to-end tests on real daemons and a real FUSE mount) with `make check` in
# the ASan/UBSan build made by `./scripts/build.sh --sanitizers`.
#
#   ./scripts/test.sh                                  every test
#   ./scripts/test.sh TESTS=tests/e2e/e2e_posix.sh     one test (any make argument)
#
# It builds the test programs in parallel first (make check alone builds them
# one at a time), prints how long each test took, and on failure prints the
# summary of build/sanitizers/test-suite.log and the log of each failing test.
# Exit status: that of make check.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bdir="$top/build/sanitizers"
if [ ! -f "$bdir/Makefile" ]; then
	echo "test.sh: build/sanitizers is not configured: run ./scripts/build.sh --sanitizers first" >&2
	exit 2
fi
cd "$bdir"
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

# The programs, then the test programs, built with -j (make check alone
# builds the test programs one at a time). The first make also brings the
# Makefile up to date (configure.ac or a Makefile.inc changed), so that the
# list of test programs comes from the current one. A failure here is a build
# failure: make says why.
echo "test.sh: make -j$jobs the programs and the test programs"
make -j"$jobs" all
# shellcheck disable=SC2016
progs=$(make -s --no-print-directory --eval 'godfs-print-check-programs: ; @echo $(check_PROGRAMS)' \
	godfs-print-check-programs) || progs=
case "$progs" in *[!a-zA-Z0-9_./\ -]*) progs= ;; esac
# shellcheck disable=SC2086
[ -z "$progs" ] || make -j"$jobs" $progs

# Each test runs under a small wrapper that appends its wall time to its log.
timer="$bdir/tests/godfs-test-timer"
mkdir -p "$bdir/tests"
cat >"$timer" <<'EOF'
#!/bin/sh
# Written by scripts/test.sh: runs a test and appends its wall time to its log.
t0=$(date +%s%N)
"$@"
rc=$?
t1=$(date +%s%N)
echo "test-time: $(( (t1 - t0) / 1000000 )) ms, exit $rc"
exit "$rc"
EOF
chmod +x "$timer"

rc=0
stamp="$bdir/tests/.godfs-test-start"
touch "$stamp"
make check LOG_COMPILER="$timer" SH_LOG_COMPILER="$timer bash" "$@" || rc=$?
end=$(date +%s)

# The logs of the tests that ran this time (not those of an earlier run of
# other tests), with their result and time.
logs=$(find tests -name '*.trs' -newer "$stamp" 2>/dev/null | sed 's/\.trs$/.log/' | sort) || logs=
if [ -n "$logs" ]; then
	echo "test.sh: time of each test (slowest first)"
	for log in $logs; do
		trs=${log%.log}.trs
		[ -f "$trs" ] || continue
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		ms=$(sed -n 's/^test-time: \([0-9]*\) ms.*/\1/p' "$log" | tail -n 1)
		echo "${ms:-0} ${res:-?} ${log%.log}"
	done | sort -rn | LC_ALL=C awk '{ t += $1; printf "%8.1f s  %-5s %s\n", $1 / 1000, $2, $3 }
		END { printf "%8.1f s  in all\n", t / 1000 }'
fi

if [ "$rc" -ne 0 ]; then
	if [ -f test-suite.log ]; then
		echo "===== $bdir/test-suite.log (summary)"
		sed -n '1,/^\.\. contents:: :depth: 2/p' test-suite.log | head -n 20
	fi
	for log in $logs; do
		trs=${log%.log}.trs
		if grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "$trs" 2>/dev/null; then
			echo "===== $bdir/$log (failed; last 200 lines)"
			tail -n 200 "$log"
		fi
	done
fi
skipped=$(find tests -name '*.trs' -newer "$stamp" -exec grep -lE '^:test-result: SKIP' {} + 2>/dev/null |
	sort) || skipped=
if [ -n "$skipped" ]; then
	echo "test.sh: warning: skipped: $(echo "$skipped" | sed 's/\.trs$//' | tr '\n' ' ')"
	for trs in $skipped; do grep -h 'SKIP:' "${trs%.trs}.log" 2>/dev/null | head -n 1; done
fi
echo "test.sh: make check exited $rc after $((end - start)) s"
exit "$rc"
