#!/bin/bash
# POSIX ACLs on the mount: cp -a keeps the modes of a tree with varied modes
# (it sets them through system.posix_acl_access); a named-user entry lets uid
# 1234 read a 0600 file and a mask takes it away again; a directory's default
# ACL is inherited by a new file and a new subdirectory (and the umask is not
# applied there); chmod rewrites the mask; setfacl -b removes the ACL and
# leaves the mode; an ACL set by the owner outside the file's group clears
# its set-group-id bit; cp -a and rsync -aAX copy a tree with ACLs (getfacl
# the same as the source). Every ACL step runs also on the local file system of
# the temporary directory (ext4 or tmpfs: the kernel's own ACL code), and both
# must give the same getfacl output; the results are checked again after a
# remount (from the meta, not the kernel's caches).
E2E_TIMEOUT=120
. "$(dirname "$0")/lib.sh"

for t in setfacl getfacl rsync setpriv; do
	command -v "$t" >/dev/null || e2e_fail "$t is missing (scripts/deps.sh installs it)"
done

e2e_cluster_up
umask 022

expect() { # expect DESCRIPTION ACTUAL WANTED
	[ "$2" = "$3" ] || e2e_fail "$1: got '$2', expected '$3'"
}
as_1234() { setpriv --reuid 1234 --regid 1234 --clear-groups "$@"; }
# Modes, types and owners of a tree, one line per entry, relative names.
modes() { (cd "$1" && find . -printf '%m %y %u:%g %p\n' | sort); }
# ACLs of a tree as getfacl prints them, relative names in sorted order.
acls() { (cd "$1" && find . -print0 | sort -z | xargs -0 getfacl -n --); }

# ---- a source tree on the local file system, with varied modes and ACLs
SRC=$E2E_TMP/src
mkdir -p "$SRC"/{plain,private,setgid,sticky,exec,deep/a/b}
for m in 0644 0755 0700 0600 0751 0640 0444 0000 4755 2755 6711 1644; do
	echo "$m" >"$SRC/plain/f$m"
	chmod "$m" "$SRC/plain/f$m"
done
mkfifo -m 0620 "$SRC/plain/fifo"
ln -s plain/f0644 "$SRC/link"
echo owned >"$SRC/plain/owned"
chown 1234:1234 "$SRC/plain/owned"
chmod 0700 "$SRC/private"
chmod 2775 "$SRC/setgid"
chmod 1777 "$SRC/sticky"
chmod 0751 "$SRC/exec"
chmod 0711 "$SRC/deep/a"
echo x >"$SRC/deep/a/b/x"
chmod 0604 "$SRC/deep/a/b/x"
if [ -d /usr/include/linux ]; then
	mkdir "$SRC/include"
	cp -a /usr/include/linux/[a-c]* "$SRC/include/"
fi

# ---- cp -a keeps the modes (GNU cp sets them with system.posix_acl_access)
e2e_log "cp -a of $(find "$SRC" | wc -l) entries"
cp -a "$SRC" "$MNT/cpa" || e2e_fail "cp -a"
diff <(modes "$SRC") <(modes "$MNT/cpa") >"$E2E_TMP/modes.diff" ||
	e2e_fail "cp -a changed modes: $(head -n 20 "$E2E_TMP/modes.diff")"

# ---- the ACL steps, on the mount and on the local reference
REF=$E2E_TMP/ref
mkdir -p "$REF"
touch "$REF/probe"
if ! setfacl -m u:1234:r "$REF/probe" 2>/dev/null; then
	e2e_log "$REF has no POSIX ACLs: only the fixed expectations are checked"
	REF=
fi

# acl_steps DIR: the ACL operations; prints what getfacl and stat say.
acl_steps() {
	local d=$1
	cd "$d"
	echo secret >f
	chmod 0600 f
	setfacl -m u:1234:r f
	getfacl -c f; stat -c 'f %a' f
	setfacl -m m::- f
	getfacl -c f; stat -c 'f %a' f
	setfacl -m m::r f
	chmod 0750 f
	getfacl -c f; stat -c 'f chmod %a' f
	chmod g+w f
	getfacl -c f; stat -c 'f g+w %a' f
	setfacl -b f
	getfacl -c f; stat -c 'f -b %a' f
	getfattr -n system.posix_acl_access f 2>&1 | grep -c 'No such attribute'
	# An ACL that says no more than the mode is not stored.
	setfacl -m u::rwx,g::r,o::- f
	stat -c 'f equiv %a' f
	getfattr -n system.posix_acl_access f 2>&1 | grep -c 'No such attribute'

	# the owner sets an ACL on a set-group-id file: outside its group the bit goes
	echo s >sgid.other
	echo s >sgid.own
	chown 1234:5678 sgid.other
	chown 1234:1234 sgid.own
	chmod 2755 sgid.other sgid.own
	as_1234 setfacl -m u:4321:r sgid.other
	as_1234 setfacl -m u:4321:r sgid.own
	stat -c '%n %a' sgid.other sgid.own

	mkdir dflt
	setfacl -d -m u:1234:rwx,g::rx,o::- dflt
	getfacl -c dflt
	(umask 077 && echo data >dflt/f && mkdir dflt/sub && mkfifo dflt/fifo &&
	 touch dflt/plain && chmod 0644 dflt/plain)
	getfacl -c dflt/f dflt/sub dflt/fifo
	stat -c '%n %a' dflt/f dflt/sub dflt/fifo dflt/plain
	(umask 077 && echo deeper >dflt/sub/g && mkdir dflt/sub/sub2)
	getfacl -c dflt/sub/g dflt/sub/sub2
	chmod 0640 dflt/f
	getfacl -c dflt/f; stat -c 'dflt/f chmod %a' dflt/f
	setfacl -k dflt
	getfacl -c dflt
	# no default ACL: the umask applies
	(umask 027 && echo u >umasked && mkdir umasked.d)
	stat -c '%n %a' umasked umasked.d
	# setgid directory with a default ACL
	mkdir sg
	chmod 2770 sg
	setfacl -d -m g:5678:rw sg
	(umask 077 && touch sg/f && mkdir sg/d)
	stat -c '%n %a' sg/f sg/d
	getfacl -c sg/f sg/d
	cd - >/dev/null
}

mkdir -p "$MNT/steps"
acl_steps "$MNT/steps" >"$E2E_TMP/steps.mnt" 2>&1 ||
	e2e_fail "ACL steps on the mount: $(cat "$E2E_TMP/steps.mnt")"
if [ -n "$REF" ]; then
	mkdir -p "$REF/steps"
	acl_steps "$REF/steps" >"$E2E_TMP/steps.ref" 2>&1 || e2e_fail "ACL steps on $REF"
	diff "$E2E_TMP/steps.ref" "$E2E_TMP/steps.mnt" >"$E2E_TMP/steps.diff" ||
		e2e_fail "the mount and the local file system disagree (< local, > mount): $(cat "$E2E_TMP/steps.diff")"
fi

# ---- fixed expectations (POSIX rules), whatever the local file system does
S=$MNT/steps
expect "mode from an ACL equal to a mode" "$(stat -c %a "$S/f")" 740
expect "ACL set outside the group clears set-group-id" "$(stat -c %a "$S/sgid.other")" 755
expect "ACL set inside the group keeps set-group-id" "$(stat -c %a "$S/sgid.own")" 2755
expect "inherited file mode (umask 077 not applied)" "$(stat -c %a "$S/dflt/f")" 640
expect "inherited directory mode" "$(stat -c %a "$S/dflt/sub")" 770
expect "umask without a default ACL" "$(stat -c %a "$S/umasked" "$S/umasked.d" | tr '\n' ' ')" "640 750 "
expect "default ACL of a new subdirectory" "$(cd "$S" && getfacl -c -d dflt/sub | grep . | tr '\n' ' ')" \
	"user::rwx user:1234:rwx group::r-x mask::rwx other::--- "
expect "access ACL of a new file" "$(cd "$S" && getfacl -c -n dflt/sub/g | grep . | tr '\n' ' ')" \
	"user::rw- user:1234:rwx	#effective:rw- group::r-x	#effective:r-- mask::rw- other::--- "

# ---- access as another uid honours the ACL (the kernel checks it)
cd "$MNT"
echo secret >private
chmod 0600 private
as_1234 cat private >/dev/null 2>&1 && e2e_fail "uid 1234 reads a 0600 file without an ACL"
setfacl -m u:1234:r private || e2e_fail "setfacl -m u:1234:r"
expect "read as uid 1234 through the ACL" "$(as_1234 cat private)" secret
expect "mode shows the mask" "$(stat -c %a private)" 640
as_1234 sh -c 'echo x >>private' 2>/dev/null && e2e_fail "uid 1234 writes with r only"
setfacl -m m::- private || e2e_fail "setfacl -m m::-"
as_1234 cat private >/dev/null 2>&1 && e2e_fail "uid 1234 reads although the mask is ---"
expect "mode after mask ---" "$(stat -c %a private)" 600
chmod 0640 private
expect "read after chmod g+r (the mask)" "$(as_1234 cat private)" secret
expect "mask after chmod" "$(getfacl -c private | grep '^mask')" "mask::r--"
mkdir shared
setfacl -m u:1234:rwx -d -m u:1234:rwx shared
as_1234 sh -c 'echo mine >shared/by1234 && mkdir shared/d1234' || e2e_fail "uid 1234 creates in a directory its ACL entry opens"
expect "owner of a file uid 1234 made" "$(stat -c %u "$MNT/shared/by1234")" 1234
cat shared/by1234 >/dev/null || e2e_fail "root reads the file uid 1234 made"

# ---- ACLs copied by cp -a and rsync -aAX
e2e_log "ACLs on the source tree, cp -a and rsync -aAX"
setfacl -m u:1234:rw,g:5678:r "$SRC/plain/f0640"
setfacl -m u:1234:rx,m::rx "$SRC/exec"
setfacl -d -m u:1234:rwx,g:5678:rx "$SRC/deep"
setfacl -m g:5678:rwx "$SRC/deep/a/b/x"
setfacl -R -m u:4321:r "$SRC/include" 2>/dev/null || true
rm -rf "$MNT/cpa"
cp -a "$SRC" "$MNT/cpa" || e2e_fail "cp -a with ACLs"
rsync -aAX "$SRC/" "$MNT/rs/" || e2e_fail "rsync -aAX"
for d in cpa rs; do
	diff <(acls "$SRC") <(acls "$MNT/$d") >"$E2E_TMP/acls.diff" ||
		e2e_fail "$d: getfacl -R differs from the source: $(head -n 30 "$E2E_TMP/acls.diff")"
	diff <(modes "$SRC") <(modes "$MNT/$d") >"$E2E_TMP/modes.diff" ||
		e2e_fail "$d: modes differ from the source: $(head -n 20 "$E2E_TMP/modes.diff")"
done
acls "$MNT/rs" >"$E2E_TMP/acls.before"
modes "$MNT/rs" >"$E2E_TMP/modes.before"
getfacl -R -n "$S" >"$E2E_TMP/steps.before" 2>/dev/null

# ---- after a remount everything comes from the meta
cd /
e2e_remount
diff "$E2E_TMP/acls.before" <(acls "$MNT/rs") || e2e_fail "ACLs changed across a remount"
diff "$E2E_TMP/modes.before" <(modes "$MNT/rs") || e2e_fail "modes changed across a remount"
diff "$E2E_TMP/steps.before" <(getfacl -R -n "$S" 2>/dev/null) || e2e_fail "step results changed across a remount"
cd "$MNT"
as_1234 cat private >/dev/null || e2e_fail "uid 1234 cannot read after a remount"
setfacl -b private
expect "mode after setfacl -b" "$(stat -c %a private)" 600
as_1234 cat private >/dev/null 2>&1 && e2e_fail "uid 1234 reads after setfacl -b"
cd /
