#!/usr/bin/env python3
"""Writes the seeds of fuzz_auth (tests/fuzz/fuzz_auth.c) into corpus/auth/:
valid handshakes under the fuzz key (bytes 0..31) for the cluster key and for
tokens, refused ones, and key and token files. Run from the repository root."""
import hashlib
import hmac
import os
import struct

KEY = bytes(range(32))
OUT = "tests/fuzz/corpus/auth"


def mac(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


KEY_ID = mac(KEY, b"godfs-key-id")[:8]


def challenge(flags, nonce):
    return b"GDA1" + struct.pack(">I", flags) + nonce


def token_fields(tid, subtree, expires, flags):
    return struct.pack(">QQQII", tid, subtree, expires, flags, 0)


def handshake(kind, role, token=None, flags=0, good_verdict=True):
    ch = challenge(flags, bytes([7] * 32))
    fields = token_fields(*token) if token else bytes(32)
    head = b"GDA1" + bytes([kind, role, 0, 0]) + KEY_ID + fields + bytes([9] * 32)
    if kind == 2:
        secret = mac(KEY, b"godfs-token-v1", fields, KEY_ID)
    else:
        secret = KEY
    proof = head + (mac(secret, b"godfs-auth-v1 client", ch, head) if kind else bytes(32))
    status = struct.pack(">i", 0)
    vmac = mac(secret, b"godfs-auth-v1 server", ch, proof, status) if good_verdict else bytes(32)
    return bytes([0]) + ch + proof + b"GDA1" + status + vmac


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "cluster_client": handshake(1, 0),
        "cluster_chunkd": handshake(1, 1),
        "cluster_meta": handshake(1, 5),
        "token_rw": handshake(2, 0, (5, 42, 0, 0)),
        "token_ro": handshake(2, 0, (6, 42, 0, 1)),
        "token_revoked": handshake(2, 0, (13, 42, 0, 0)),
        "token_expired": handshake(2, 0, (8, 42, 1000, 0)),
        "token_admin": handshake(2, 2, (9, 1, 0, 0)),
        "none_insecure": handshake(0, 2, flags=1),
        "bad_verdict": handshake(1, 0, good_verdict=False),
        "keyfile": b"\x01# a key\n" + KEY.hex().encode() + b"\n",
        "keyfile_two": b"\x01" + KEY.hex().encode() + b"\n  " + bytes(32).hex().encode() + b" # old\n",
        "tokenfile": b"\x02godfs-token-v1 5 42 0 1 " + KEY_ID.hex().encode() + b" " + bytes(32).hex().encode() + b"\n",
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
