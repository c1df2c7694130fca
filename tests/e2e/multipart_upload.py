#!/usr/bin/env python3
"""Uploads a file to godfs-gateway in parts, the way a program would: Python's
standard library only (urllib), parts sent by several threads at once, each
part to the next gateway of the list in turn (several gateways behind a load
balancer), the parts listed on another gateway and the upload completed on
the last one. Used by tests/e2e/e2e_multipart.sh.

    multipart_upload.py --gateways URL[,URL...] --bearer-file F --source FILE
                        --path /target [--part-size BYTES] [--threads N]

Prints the complete answer (JSON) on stdout; exits 1 with a message on any
unexpected answer.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request


def call(url, method, bearer, body=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + bearer)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def fail(msg):
    print("multipart_upload.py: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", required=True)
    ap.add_argument("--bearer-file", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--part-size", type=int, default=4 << 20)
    ap.add_argument("--declare-part-size", action="store_true",
                    help="say the part size at init (zero-copy when it fills whole chunks)")
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    gws = a.gateways.split(",")
    bearer = open(a.bearer_file).read().strip()
    size = os.path.getsize(a.source)
    nparts = max(1, (size + a.part_size - 1) // a.part_size)

    init = {"path": a.path}
    if a.declare_part_size:
        init["part_size"] = a.part_size
    st, _, body = call(gws[0] + "/v1/fs/multipart", "POST", bearer,
                       json.dumps(init).encode(), "application/json")
    if st != 200:
        fail("init: %d %s" % (st, body))
    up = json.loads(body)
    uid = up["upload_id"]
    if len(uid) != 32 or up["path"] != a.path:
        fail("init answered %s" % up)

    def send(n):
        with open(a.source, "rb") as f:
            f.seek((n - 1) * a.part_size)
            data = f.read(a.part_size)
        gw = gws[(n - 1) % len(gws)]
        st, hdrs, body = call("%s/v1/fs/multipart/%s?partNumber=%d" % (gw, uid, n), "PUT",
                              bearer, data, "application/octet-stream")
        if st != 200:
            raise RuntimeError("part %d on %s: %d %s" % (n, gw, st, body))
        etag = hdrs.get("ETag") or hdrs.get("Etag")
        want = '"sha256-%s"' % hashlib.sha256(data).hexdigest()
        if etag != want:
            raise RuntimeError("part %d: ETag %s, not %s" % (n, etag, want))
        return n, etag

    with concurrent.futures.ThreadPoolExecutor(a.threads) as ex:
        try:
            etags = dict(ex.map(send, range(1, nparts + 1)))
        except RuntimeError as e:
            fail(str(e))

    st, _, body = call("%s/v1/fs/multipart/%s/parts" % (gws[-1], uid), "GET", bearer)
    if st != 200:
        fail("list parts: %d %s" % (st, body))
    listed = {p["part_number"]: p["etag"] for p in json.loads(body)["parts"]}
    if listed != etags:
        fail("list parts on another gateway: %s, not %s" % (listed, etags))

    # the parts in reverse order: the gateway sorts them
    req = {"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags, reverse=True)]}
    st, _, body = call("%s/v1/fs/multipart/%s/complete" % (gws[-1], uid), "POST", bearer,
                       json.dumps(req).encode(), "application/json")
    if st != 200:
        fail("complete: %d %s" % (st, body))
    done = json.loads(body)
    if done.get("size") != size or done.get("path") != a.path:
        fail("complete answered %s for %d bytes" % (done, size))
    print(json.dumps(done))


if __name__ == "__main__":
    main()
