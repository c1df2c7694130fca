#!/usr/bin/env python3
"""Writes the seed corpus of the frame fuzz target (tests/fuzz/corpus/frame/):
well-formed frames of the main methods (requests and responses, with and
without bulk data), several frames on one stream, and the edge cases of the
header (limits, torn frames, wrong magic/version/kind/method). Run it from
the repository root after changing wire.proto; the files are committed."""
import os
import struct

MAGIC_VERSION = (0x474446 << 8) | 1
REQ, RESP, PUSH = 1, 2, 3
M = dict(HELLO=1, PING=2, SESSION_RENEW=10, LOOKUP=11, GETATTR=12, SETATTR=13, MKNOD=14,
         MKDIR=15, SYMLINK=16, LINK=17, UNLINK=18, RENAME=20, READLINK=21, READDIR=22,
         OPEN=23, STATFS=25, GETXATTR=26, SETXATTR=27, LISTXATTR=28, CHUNK_LOCATE=40,
         WRITE_LEASE=41, WRITE_COMMIT=42, CHUNK_FAILED=43, CS_REGISTER=60,
         CS_HEARTBEAT=61, CS_REPORT_BAD=62, ADMIN_STATUS=80, CS_WRITE=100, CS_READ=101,
         CS_FSYNC=102, CS_TRUNCATE=103, CS_DELETE=104, CS_REPLICATE=105)


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


def fv(num, v):                      # varint field
    return varint(num << 3) + varint(v)


def fb(num, b):                      # length-delimited field
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def frame(kind, method, pb=b"", data=b"", rid=7, pb_len=None, data_len=None, mv=MAGIC_VERSION):
    hdr = struct.pack("<IHHQII", mv, kind, method, rid,
                      len(pb) if pb_len is None else pb_len,
                      len(data) if data_len is None else data_len)
    return hdr + pb + data


def attr(ino):
    return (fv(1, ino) + fv(2, 1) + fv(3, 0o100644) + fv(4, 1000) + fv(5, 100) + fv(6, 1) +
            fv(7, 12345) + fv(8, 1764633600) + fv(9, 999999999) + fv(10, 1) + fv(11, 0) +
            fv(12, (1 << 64) - 5) + fv(13, 1) + fv(14, 0) + fv(15, 3))


seeds = {}
seeds["hello_req"] = frame(REQ, M["HELLO"], fv(1, 1) + fv(2, 0) + fb(3, "client1") +
                           fb(4, "/mnt/godfs") + fv(5, 42) + fv(6, 2) + fv(6, 3))
seeds["hello_resp"] = frame(RESP, M["HELLO"], fv(1, 0) + fv(3, 42) + fv(4, 64 << 20) + fv(5, 30000))
seeds["ping"] = frame(REQ, M["PING"], fv(1, 0xDEADBEEF))
seeds["lookup_req"] = frame(REQ, M["LOOKUP"], fv(1, 1) + fb(2, "file.txt"))
seeds["attr_resp"] = frame(RESP, M["LOOKUP"], fv(1, 0) + fb(3, attr(5)))
seeds["notleader_resp"] = frame(RESP, M["GETATTR"], fv(1, (1 << 64) - 100) + fb(2, "10.0.0.2:9090"))
seeds["setattr_req"] = frame(REQ, M["SETATTR"], fv(1, 5) + fv(2, 1 | 8 | 32) + fv(3, 0o4755) +
                             fv(6, 1 << 40) + fv(9, (1 << 64) - 1) + fv(10, 5) + fv(14, 42))
seeds["mknod_req"] = frame(REQ, M["MKNOD"], fv(1, 1) + fb(2, "new") + fv(3, 0o100600) + fv(4, 0) +
                           fv(5, 0) + fv(8, 1) + fv(9, 42))
seeds["symlink_req"] = frame(REQ, M["SYMLINK"], fv(1, 1) + fb(2, "l") + fb(7, "../target/x"))
seeds["rename_req"] = frame(REQ, M["RENAME"], fv(1, 1) + fb(2, "a") + fv(3, 2) + fb(4, "b") + fv(5, 2))
seeds["readdir_req"] = frame(REQ, M["READDIR"], fv(1, 1) + fv(2, 3) + fv(3, 100) + fv(4, 1))
ents = b"".join(fb(3, fb(1, "e%d" % i) + fv(2, 10 + i) + fv(3, 0o100000) + fv(4, 3 + i) +
                   (fb(5, attr(10 + i)) if i % 2 else b"")) for i in range(4))
seeds["readdir_resp"] = frame(RESP, M["READDIR"], fv(1, 0) + ents + fv(4, 1))
seeds["xattr_req"] = frame(REQ, M["SETXATTR"], fv(1, 5) + fb(2, "user.k") + fb(3, b"\x00\x01\xff") + fv(4, 1))
seeds["listxattr_resp"] = frame(RESP, M["LISTXATTR"], fv(1, 0) + fb(3, b"user.a\x00user.bb\x00"))
seeds["lease_resp"] = frame(RESP, M["WRITE_LEASE"], fv(1, 0) + fv(3, 9) + fv(4, 2) + fv(5, 1) +
                            fb(6, "cs-a") + fb(6, "cs-b") + fb(6, "cs-c") + fv(7, 1 << 30) + fv(8, 60000))
seeds["commit_req"] = frame(REQ, M["WRITE_COMMIT"], fv(1, 5) + fv(2, 1 << 33) + fv(3, 1764633600) + fv(4, 1))
seeds["chunk_failed_req"] = frame(REQ, M["CHUNK_FAILED"], fv(1, 5) + fv(2, 0) + fv(3, 9) + fv(4, 2) +
                                  fb(5, "127.0.0.1:8001"))
seeds["cs_register_req"] = frame(REQ, M["CS_REGISTER"], fb(1, "node-1") + fb(2, "127.0.0.1:8000") +
                                 fv(3, 1 << 40) + fv(4, 1 << 39) +
                                 b"".join(fb(5, fv(1, i) + fv(2, 1)) for i in range(1, 6)) + fb(6, "rack1"))
seeds["cs_heartbeat_resp"] = frame(RESP, M["CS_HEARTBEAT"], fv(1, 0) +
                                   fb(3, fv(1, 2) + fv(2, 9) + fv(3, 2) + fb(4, "127.0.0.1:8002")) + fv(4, 1))
seeds["admin_status_resp"] = frame(RESP, M["ADMIN_STATUS"], fv(1, 0) + fv(3, 100) + fv(4, 50) +
                                   fb(7, fb(1, "n1") + fb(2, "a:1") + fv(6, 1)) + fv(8, 2))
seeds["cs_write_req"] = frame(REQ, M["CS_WRITE"], fv(1, 9) + fv(2, 2) + fv(3, 1) + fv(4, 65536) +
                              fb(5, "127.0.0.1:8001") + fv(6, 64 << 20), data=bytes(range(256)) * 4)
seeds["cs_read_resp"] = frame(RESP, M["CS_READ"], fv(1, 0) + fv(2, 512), data=b"\xaa" * 512)
seeds["cs_truncate_req"] = frame(REQ, M["CS_TRUNCATE"], fv(1, 9) + fv(2, 3) + fv(3, 2) + fv(4, 4096))
seeds["push"] = frame(PUSH, M["PING"], fv(1, 1))
seeds["empty_pb"] = frame(REQ, M["STATFS"])
seeds["stream_three"] = (seeds["ping"] + seeds["lookup_req"] + frame(REQ, M["CS_READ"], fv(1, 9) + fv(2, 1) +
                                                                     fv(3, 0) + fv(4, 4096), rid=8))
seeds["max_lengths_torn"] = frame(REQ, M["CS_WRITE"], fv(1, 1), pb_len=1 << 20, data_len=8 << 20)
seeds["over_pb"] = frame(REQ, M["LOOKUP"], pb_len=(1 << 20) + 1)
seeds["over_data"] = frame(REQ, M["CS_WRITE"], data_len=(8 << 20) + 1)
seeds["bad_magic"] = frame(REQ, M["PING"], fv(1, 1), mv=0x12345601)
seeds["bad_version"] = frame(REQ, M["PING"], fv(1, 1), mv=(0x474446 << 8) | 2)
seeds["bad_kind"] = frame(4, M["PING"], fv(1, 1))
seeds["bad_method"] = frame(REQ, 9999, fv(1, 1))
seeds["torn_header"] = frame(REQ, M["PING"], fv(1, 1))[:17]
seeds["bad_pb"] = frame(REQ, M["LOOKUP"], b"\x12\xff\xff\xff\xff\x0f")  # string longer than the frame
seeds["http_get"] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
# Request ids (GD_FRAME_F_TRACE): u8 n, n bytes of id, then the protobuf, all in pb_len
TRACE = 0x0100


def traced(kind, method, tid, pb=b"", data=b"", **kw):
    if isinstance(tid, str):
        tid = tid.encode()
    return frame(kind | TRACE, method, bytes([len(tid)]) + tid + pb, data, **kw)


seeds["trace_ping"] = traced(REQ, M["PING"], "gw-0f3a9c", fv(1, 0xDEADBEEF))
seeds["trace_cs_write"] = traced(REQ, M["CS_WRITE"], "op.42:x_y-Z", fv(1, 7) + fv(2, 1) + fv(4, 0) +
                                 fb(5, "127.0.0.1:9422"), b"\xab" * 64)
seeds["trace_longest_only"] = traced(REQ, M["STATFS"], "L" * 64)
seeds["trace_stream"] = (seeds["trace_ping"] + seeds["ping"] +
                         traced(REQ, M["LOOKUP"], "t2", fv(1, 1) + fb(2, "etc")))
seeds["trace_bad_resp"] = traced(RESP, M["PING"], "r", fv(1, 0))
seeds["trace_bad_flag"] = frame(REQ | 0x0200, M["PING"], fv(1, 1))
seeds["trace_bad_zero"] = frame(REQ | TRACE, M["PING"], b"\x00" + fv(1, 1))
seeds["trace_bad_long"] = frame(REQ | TRACE, M["PING"], b"\x41" + b"a" * 65 + fv(1, 1))
seeds["trace_bad_past"] = frame(REQ | TRACE, M["PING"], b"\x09abc")
seeds["trace_bad_char"] = traced(REQ, M["PING"], "a b\n", fv(1, 1))
seeds["trace_no_room"] = frame(REQ | TRACE, M["PING"], b"\x01")
# Raft entries (the FSM's decoding path): MetaEntry{method, request, time, chain, node}
seeds["meta_entry_mkdir"] = fv(1, M["MKDIR"]) + fb(2, fv(1, 1) + fb(2, "d") + fv(3, 0o40755)) + fv(3, 1764633600) + fv(4, 5)
seeds["meta_entry_lease"] = fv(1, M["WRITE_LEASE"]) + fb(2, fv(1, 5) + fv(2, 0)) + fv(5, 42) + fb(6, "cs-a") + fb(6, "cs-b")
seeds["meta_entry_register"] = fv(1, M["CS_REGISTER"]) + fb(2, fb(1, "n")) + fb(8, fb(1, "n") + fb(2, "a:1") + fb(3, "r"))
seeds["meta_entry_unlink"] = fv(1, M["UNLINK"]) + fb(2, fv(1, 1) + fb(2, "f")) + fv(11, 7) + fv(12, 1)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "frame")
os.makedirs(out, exist_ok=True)
for name, data in sorted(seeds.items()):
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
print("%d seeds in %s" % (len(seeds), out))
