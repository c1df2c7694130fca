#!/bin/bash
# Bad names and paths get the errno a Linux file system gives, and change
# nothing: a 256-byte name is ENAMETOOLONG (255 bytes works), a path through a
# regular file is ENOTDIR, and the usual EEXIST, ENOENT, EISDIR, ENOTEMPTY.
E2E_TIMEOUT=120
. "$(dirname "$0")/lib.sh"

e2e_cluster_up
cd "$MNT"

# must_fail MESSAGE CMD...: CMD fails and its error output holds MESSAGE.
must_fail() {
	local msg=$1 out; shift
	if out=$("$@" 2>&1); then
		e2e_fail "'$*' succeeded, expected: $msg"
	fi
	grep -q "$msg" <<<"$out" || e2e_fail "'$*' failed with '$out', expected: $msg"
}

n255=$(printf 'n%.0s' $(seq 1 255))
n256=${n255}x
must_fail "File name too long" touch "$n256"
must_fail "File name too long" mkdir "$n256"
must_fail "File name too long" ln -s target "$n256"
echo data >short
must_fail "File name too long" mv short "$n256"
must_fail "File name too long" ln short "$n256"
[ "$(ls -A | wc -l)" = 1 ] || e2e_fail "a failed name left something: $(ls -A)"
touch "$n255" || e2e_fail "a 255-byte name is refused"
[ -f "$n255" ] || e2e_fail "the 255-byte name is not there"
rm "$n255"

must_fail "Not a directory" mkdir short/x
must_fail "Not a directory" touch short/x
must_fail "Not a directory" cat short/x
must_fail "Not a directory" ls short/
must_fail "Not a directory" rmdir short
must_fail "Not a directory" mv short/x y

mkdir d
echo in >d/f
must_fail "File exists" mkdir d
must_fail "No such file or directory" cat missing
must_fail "No such file or directory" mv missing other
must_fail "Is a directory" rm d
must_fail "Is a directory" cat d
must_fail "Directory not empty" rmdir d
[ "$(cat short)" = data ] && [ "$(cat d/f)" = in ] || e2e_fail "a failed operation changed a file"
cd /
