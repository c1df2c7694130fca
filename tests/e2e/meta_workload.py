#!/usr/bin/env python3
"""The metadata workload of the failover tests (e2e_meta_failover.sh,
e2e_meta_partition.sh, e2e_meta_allkill.sh) and its checker.

  meta_workload.py run ROOT NAME LOG STOP ERR
      In ROOT/NAME (made if missing), until the file STOP exists, iteration i:
        create  f<i> with O_CREAT|O_EXCL, random bytes written, fsync, close
        rename  f<i> -> r<i>                       (i % 3 == 0)
        mkdir   d<i>                               (i % 5 == 0)
        append  a line to "app" (O_APPEND), fsync  (every iteration)
        unlink  f<i-1> or r<i-1>                   (i % 4 == 1, i > 1)
      Every one of these must succeed: the workload is the only writer of
      ROOT/NAME, so an EEXIST, ENOENT or EIO means the cluster lost, doubled
      or refused an operation. The first failure is written to ERR and the
      workload exits 1. Each acknowledged operation is one line of LOG:
        START_NS ACK_NS OP PATH SHA256
      (CLOCK_REALTIME ns when the operation began and when its last call
      returned; SHA256 of the whole file after the operation, "-" for a
      directory or a removal; PATH relative to ROOT). A line is written and
      flushed before the next operation begins.

  meta_workload.py check ROOT LOG...
      The tree under ROOT/<name> of every LOG's workload must be exactly what
      the acknowledged operations imply: the same names, directories, and the
      content (SHA256) of every file. Prints the differences; exit 1 if any.

  meta_workload.py first-ack T_NS LOG...
      Milliseconds from T_NS to the first acknowledgement of an operation
      that began after T_NS (so that no reply already on its way when T_NS
      came counts); prints nothing when there is none yet.

  meta_workload.py acked T_NS LOG...
      How many operations were acknowledged after T_NS.

  meta_workload.py dist MS...
      "n N, median X ms, 90th Y ms, worst Z ms" of the numbers.
"""
import errno
import hashlib
import os
import sys
import time


def now():
    return time.time_ns()


def run(root, name, log_path, stop, err_path):
    base = os.path.join(root, name)
    os.makedirs(base, exist_ok=True)
    log = open(log_path, "a", buffering=1)
    app = hashlib.sha256()
    i = 0

    def ack(t0, op, path, sha):
        log.write("%d %d %s %s %s\n" % (t0, now(), op, os.path.join(name, path), sha))

    def fail(what, e):
        with open(err_path, "w") as f:
            f.write("%s: iteration %d: %s: %s\n" % (name, i, what, e))
        sys.exit(1)

    while not os.path.exists(stop):
        i += 1
        what = "create f%d (O_EXCL) + write + fsync" % i
        try:
            t0 = now()
            data = os.urandom(64 + (i * 7919) % 20000)
            fd = os.open(os.path.join(base, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                n = os.write(fd, data)
                if n != len(data):
                    raise OSError(errno.EIO, "short write %d of %d" % (n, len(data)))
                os.fsync(fd)
            finally:
                os.close(fd)
            ack(t0, "create", "f%d" % i, hashlib.sha256(data).hexdigest())
            cur = "f%d" % i
            if i % 3 == 0:
                what = "rename f%d r%d" % (i, i)
                t0 = now()
                os.rename(os.path.join(base, cur), os.path.join(base, "r%d" % i))
                ack(t0, "rename", "f%d r%d" % (i, i), "-")
            if i % 5 == 0:
                what = "mkdir d%d" % i
                t0 = now()
                os.mkdir(os.path.join(base, "d%d" % i))
                ack(t0, "mkdir", "d%d" % i, "-")
            what = "append to app + fsync"
            t0 = now()
            line = ("%s %d %s\n" % (name, i, os.urandom(8).hex())).encode()
            fd = os.open(os.path.join(base, "app"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                n = os.write(fd, line)
                if n != len(line):
                    raise OSError(errno.EIO, "short append %d of %d" % (n, len(line)))
                os.fsync(fd)
            finally:
                os.close(fd)
            app.update(line)
            ack(t0, "append", "app", app.hexdigest())
            if i % 4 == 1 and i > 1:
                prev = "r%d" % (i - 1) if (i - 1) % 3 == 0 else "f%d" % (i - 1)
                what = "unlink " + prev
                t0 = now()
                os.unlink(os.path.join(base, prev))
                ack(t0, "unlink", prev, "-")
        except OSError as e:
            fail(what, "%s (%s)" % (e.strerror, errno.errorcode.get(e.errno, e.errno)))
    log.close()
    return 0


def read_log(path):
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 6 and p[2] == "rename":
                yield int(p[0]), int(p[1]), p[2], (p[3], p[4]), p[5]
            elif len(p) == 5:
                yield int(p[0]), int(p[1]), p[2], p[3], p[4]
            elif line.strip():
                raise SystemExit("%s: bad line %r" % (path, line))


def expected(logs):
    """name -> {relative path: sha or 'dir'} implied by the acknowledged ops."""
    want = {}
    for path in logs:
        for _t0, _t1, op, p, sha in read_log(path):
            if op == "rename":
                src, dst = p[0], p[1]
                top = src.split("/")[0]
                tree = want.setdefault(top, {})
                d = os.path.dirname(src)
                tree[os.path.join(d, dst)] = tree.pop(src)
                continue
            top = p.split("/")[0]
            tree = want.setdefault(top, {})
            if op in ("create", "append"):
                tree[p] = sha
            elif op == "mkdir":
                tree[p] = "dir"
            elif op == "unlink":
                tree.pop(p, None)
    return want


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def check(root, logs):
    want = expected(logs)
    bad = []
    for top, tree in sorted(want.items()):
        have = {}
        for d, dirs, files in os.walk(os.path.join(root, top)):
            rel = os.path.relpath(d, root)
            for x in dirs:
                have[os.path.join(rel, x)] = "dir"
            for x in files:
                try:
                    have[os.path.join(rel, x)] = sha_of(os.path.join(d, x))
                except OSError as e:
                    have[os.path.join(rel, x)] = "unreadable: " + e.strerror
        for p in sorted(set(want[top]) | set(have)):
            w, h = tree.get(p), have.get(p)
            if w != h:
                bad.append("%s: expected %s, found %s" % (p, w or "nothing", h or "nothing"))
    n = sum(len(t) for t in want.values())
    for b in bad[:20]:
        print(b)
    if bad:
        print("%d of %d entries differ from the acknowledged operations" % (len(bad), n))
        return 1
    print("%d entries match the acknowledged operations" % n)
    return 0


def first_ack(t, logs):
    best = None
    for path in logs:
        for t0, t1, _op, _p, _sha in read_log(path):
            if t0 > t and (best is None or t1 < best):
                best = t1
    if best is not None:
        print((best - t) // 1000000)
    return 0


def acked(t, logs):
    print(sum(1 for path in logs for x in read_log(path) if x[1] > t))
    return 0


def dist(values):
    v = sorted(int(x) for x in values)
    if not v:
        print("n 0")
        return 1

    def pct(p):  # nearest rank
        k = max(1, -(-len(v) * p // 100))
        return v[k - 1]
    print("n %d, median %d ms, 90th %d ms, worst %d ms" % (len(v), pct(50), pct(90), v[-1]))
    return 0


def main(argv):
    if len(argv) >= 6 and argv[1] == "run":
        return run(*argv[2:7])
    if len(argv) >= 4 and argv[1] == "check":
        return check(argv[2], argv[3:])
    if len(argv) >= 4 and argv[1] == "first-ack":
        return first_ack(int(argv[2]), argv[3:])
    if len(argv) >= 4 and argv[1] == "acked":
        return acked(int(argv[2]), argv[3:])
    if len(argv) >= 2 and argv[1] == "dist":
        return dist(argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
