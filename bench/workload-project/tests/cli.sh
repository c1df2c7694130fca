#!/bin/sh
# The two programs end to end (run by make check from the build directory).
set -e
out=$(printf 'b a b\nc b a\n' | ./wclite 2)
[ "$out" = "3 b
2 a" ] || { echo "wclite: got '$out'"; exit 1; }
out=$(printf '1 2 +\n6 7 *\n' | ./rpncalc)
[ "$out" = "3
42" ] || { echo "rpncalc: got '$out'"; exit 1; }
if printf '1 +\n' | ./rpncalc >/dev/null; then echo "rpncalc accepted '1 +'"; exit 1; fi
echo ok
