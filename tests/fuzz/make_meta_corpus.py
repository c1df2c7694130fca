#!/usr/bin/env python3
"""Writes the seed corpus of the meta FSM fuzz target (tests/fuzz/corpus/meta/):
sequences of Raft entries (fsm.proto MetaEntry around wire.proto requests)
that build a small tree and use every mutating method, with queries and
snapshot mutations in between. The record format is in tests/fuzz/fuzz_meta.c.
Run from the repository root; the files are committed."""
import os
import struct

M = dict(HELLO=1, SETATTR=13, MKNOD=14, MKDIR=15, SYMLINK=16, LINK=17, UNLINK=18, RMDIR=19,
         RENAME=20, READLINK=21, READDIR=22, OPEN=23, STATFS=25, GETXATTR=26, SETXATTR=27,
         LISTXATTR=28, REMOVEXATTR=29, LOOKUP=11, GETATTR=12, CHUNK_LOCATE=40, WRITE_LEASE=41,
         WRITE_COMMIT=42, CHUNK_FAILED=43, CS_REGISTER=60, SESSION_EXPIRE=1000, NOOP=1001,
         PURGE=1002, CHUNK_NODES=1003)


def varint(v):
    if v < 0:
        v += 1 << 64
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fv(num, v):
    return varint(num << 3) + varint(v)


def fb(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


T = [1764633600]


def entry(method, req=b"", session=0, chain=(), extra=b""):
    T[0] += 1
    e = fv(1, M[method]) + fb(2, req) + fv(3, T[0]) + fv(4, 5)
    if session:
        e += fv(5, session)
    for c in chain:
        e += fb(6, c)
    return rec(0, e + extra)


def rec(kind, payload):
    return struct.pack("<BH", kind, len(payload)) + payload


def query(method, req=b""):
    return rec(1, struct.pack("<H", M[method]) + req)


def snapmut(*pairs):
    return rec(2, b"".join(struct.pack("<HB", at, x) for at, x in pairs))


def mknod(parent, name, mode, target=None, excl=False):
    r = fv(1, parent) + fb(2, name) + fv(3, mode) + fv(4, 1000) + fv(5, 100)
    if target is not None:
        r += fb(7, target)
    if excl:
        r += fv(8, 1)
    return r


def name_req(parent, name):
    return fv(1, parent) + fb(2, name)


def rename(p, n, np, nn, flags=0):
    return fv(1, p) + fb(2, n) + fv(3, np) + fb(4, nn) + (fv(5, flags) if flags else b"")


CHAIN = ("cs-a", "cs-b", "cs-c")
setup = (entry("CS_REGISTER", fb(1, "cs-a") + fb(2, "127.0.0.1:1"),
               extra=fb(8, fb(1, "cs-a") + fb(2, "127.0.0.1:1") + fb(3, "r1"))) +
         entry("HELLO", fb(3, "h") + fb(4, "/m"), session=7, extra=fb(9, "h") + fb(10, "/m")) +
         entry("MKDIR", mknod(1, "a", 0o40755)) +          # ino 2
         entry("MKDIR", mknod(2, "b", 0o40700)) +          # ino 3
         entry("MKNOD", mknod(2, "f", 0o100644, excl=True), session=7) +  # ino 4
         entry("SYMLINK", mknod(1, "l", 0, target="a/f")) +  # ino 5
         entry("MKNOD", mknod(3, "p", 0o10600)))             # ino 6

seeds = {}
seeds["setup"] = setup
seeds["files"] = (setup +
                  entry("WRITE_LEASE", fv(1, 4) + fv(2, 0), session=7, chain=CHAIN) +
                  entry("WRITE_LEASE", fv(1, 4) + fv(2, 2), session=7, chain=CHAIN[:2]) +
                  entry("WRITE_COMMIT", fv(1, 4) + fv(2, 3 << 20)) +
                  entry("CHUNK_FAILED", fv(1, 4) + fv(2, 0) + fv(3, 1) + fv(4, 1) + fb(5, "cs-b"),
                        chain=("cs-a", "cs-c")) +
                  entry("CHUNK_NODES", fv(1, 2) + fv(2, 1), chain=("cs-c",)) +
                  entry("SETATTR", fv(1, 4) + fv(2, 8 | 1 | 512) + fv(3, 0o600) + fv(6, 1 << 20) + fv(13, 2)) +
                  entry("OPEN", fv(1, 4) + fv(2, 0o1001)) +
                  query("CHUNK_LOCATE", fv(1, 4) + fv(2, 0)) +
                  query("GETATTR", fv(1, 4)))
seeds["links_renames"] = (setup +
                          entry("LINK", fv(1, 4) + fv(2, 3) + fb(3, "hard")) +
                          entry("RENAME", rename(2, "f", 1, "g")) +
                          entry("RENAME", rename(2, "b", 1, "b2", 1)) +
                          entry("RENAME", rename(1, "b2", 1, "a", 2)) +
                          entry("RENAME", rename(1, "g", 3, "hard")) +
                          entry("RENAME", rename(1, "a", 3, "x")) +
                          query("READDIR", fv(1, 1) + fv(3, 2) + fv(4, 1)) +
                          query("LOOKUP", fv(1, 3) + fb(2, "hard")))
seeds["remove_orphans"] = (setup +
                           entry("WRITE_LEASE", fv(1, 4) + fv(2, 1), session=7, chain=CHAIN) +
                           entry("UNLINK", name_req(2, "f")) +
                           entry("UNLINK", name_req(3, "p"), extra=fv(11, 6) + fv(12, 1)) +
                           entry("RMDIR", name_req(2, "b")) +
                           entry("SESSION_EXPIRE", extra=fv(7, 7)) +
                           entry("PURGE", extra=fv(13, 4)) +
                           entry("PURGE", extra=fv(13, 3)) +
                           entry("NOOP"))
seeds["xattrs"] = (setup +
                   entry("SETXATTR", fv(1, 4) + fb(2, "user.a") + fb(3, b"\x00\x01") + fv(4, 1)) +
                   entry("SETXATTR", fv(1, 2) + fb(2, "trusted.t") + fb(3, b"v")) +
                   entry("REMOVEXATTR", fv(1, 4) + fb(2, "user.a")) +
                   query("LISTXATTR", fv(1, 2)) +
                   query("GETXATTR", fv(1, 2) + fb(2, "trusted.t")) +
                   query("READLINK", fv(1, 5)) +
                   query("STATFS"))
seeds["snapshot_mutations"] = (setup + snapmut((40, 1)) + snapmut((100, 0x80), (200, 0xff)) +
                               snapmut((60, 4)) + snapmut((300, 1), (301, 1)))
seeds["errors"] = (setup +
                   entry("MKDIR", mknod(4, "x", 0o40755)) +
                   entry("MKDIR", mknod(1, "n" * 256, 0o40755)) +
                   entry("RMDIR", name_req(1, "a")) +
                   entry("RENAME", rename(1, "a", 3, "a")) +
                   entry("RENAME", rename(2, "f", 1, "l", 1)) +
                   rec(0, b"\xff\xff\xff") + rec(0, b""))

# Exactly-once: requests with req_seq/req_ack (fields 100/101) in entries with
# req_session (field 15); resends, acknowledgements, a reused seq, expiry.
def once(method, req, seq, ack=0, **kw):
    return entry(method, req + fv(100, seq) + (fv(101, ack) if ack else b""),
                 extra=kw.pop("extra", b"") + fv(15, 7), **kw)


seeds["exactly_once"] = (setup +
                         once("MKDIR", mknod(1, "e", 0o40755), 1) +
                         once("MKDIR", mknod(1, "e", 0o40755), 1) +
                         once("MKNOD", mknod(2, "x", 0o100600, excl=True), 2, session=7) +
                         once("UNLINK", name_req(2, "x"), 3, 1) +
                         once("UNLINK", name_req(2, "x"), 3, 1) +
                         once("RMDIR", name_req(1, "e"), 3) +
                         once("MKDIR", mknod(1, "e", 0o40755), 1, 2) +
                         snapmut((700, 1)) + snapmut((760, 0x80), (770, 0xff)) +
                         once("RENAME", rename(1, "l", 2, "l2"), 9, 8) +
                         entry("SESSION_EXPIRE", extra=fv(7, 7)) +
                         once("RENAME", rename(1, "l", 2, "l2"), 9, 8))


def acl(*ents):
    """A POSIX ACL in its xattr form: (tag, perm, id) entries (meta/meta_acl.h)."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in ents)


NOID = 0xFFFFFFFF
ACL_FULL = acl((1, 7, NOID), (2, 7, 1234), (4, 5, NOID), (16, 7, NOID), (32, 0, NOID))
ACL_MODE = acl((1, 6, NOID), (4, 4, NOID), (32, 0, NOID))
ACL_BAD = acl((1, 7, NOID), (2, 7, 1234), (4, 5, NOID), (32, 0, NOID))
seeds["acls"] = (setup +
                 entry("SETXATTR", fv(1, 2) + fb(2, "system.posix_acl_default") + fb(3, ACL_FULL)) +
                 entry("MKNOD", mknod(2, "inh", 0o100666) + fv(10, 0o77)) +
                 entry("MKDIR", mknod(2, "sub", 0o40777) + fv(10, 0o22)) +
                 entry("MKDIR", mknod(1, "plain", 0o40777) + fv(10, 0o27)) +
                 entry("SETXATTR", fv(1, 4) + fb(2, "system.posix_acl_access") + fb(3, ACL_FULL) + fv(4, 4)) +
                 entry("SETATTR", fv(1, 4) + fv(2, 1) + fv(3, 0o2705)) +
                 entry("SETXATTR", fv(1, 4) + fb(2, "system.posix_acl_access") + fb(3, ACL_MODE)) +
                 entry("SETXATTR", fv(1, 4) + fb(2, "system.posix_acl_access") + fb(3, ACL_BAD)) +
                 entry("SETXATTR", fv(1, 4) + fb(2, "system.posix_acl_default") + fb(3, ACL_FULL)) +
                 entry("SETXATTR", fv(1, 5) + fb(2, "system.posix_acl_access") + fb(3, ACL_FULL)) +
                 entry("REMOVEXATTR", fv(1, 2) + fb(2, "system.posix_acl_default")) +
                 query("GETXATTR", fv(1, 4) + fb(2, "system.posix_acl_access")) +
                 query("LISTXATTR", fv(1, 2)) +
                 query("GETATTR", fv(1, 4)))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "meta")
os.makedirs(out, exist_ok=True)
for name, data in sorted(seeds.items()):
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
print("%d seeds in %s" % (len(seeds), out))
