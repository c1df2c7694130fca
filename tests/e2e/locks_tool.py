#!/usr/bin/env python3
"""Lock probes for tests/e2e/e2e_locks.sh (one subcommand per run).

  hold KIND TYPE START LEN PATH READY GO   take a lock (blocking), touch READY,
                                           wait until GO exists, exit (closing
                                           releases it)
  try KIND TYPE START LEN PATH             non-blocking: prints ok or EAGAIN
  getlk START LEN PATH                     F_GETLK for a write lock: prints
                                           "unlocked" or "TYPE START LEN PID"
  ofd_same_process PATH                    two OFD locks of one process on two
                                           open files conflict; POSIX locks of
                                           one process on two fds do not
  deadlock SIDE PATH READY PEER_READY OUT  side a: lock 100, wait for the peer,
                                           lock 200 blocking; side b: lock 200,
                                           wait, then lock 100 blocking: prints
                                           EDEADLK or ok into OUT
  interrupted PATH READY OUT GO             a blocking write lock interrupted by
                                           SIGUSR1: writes EINTR (or what it
                                           got) into OUT, keeps the file open
                                           until GO exists
  sqlite MODE DB WORKER N                  N transactions of inserts (MODE wal
                                           or delete), busy timeout 60 s
  sqlite_check DB                          prints "integrity rows"

KIND: posix (fcntl F_SETLK), ofd (F_OFD_SETLK) or flock; TYPE: r or w.
"""
import errno
import fcntl
import os
import signal
import sqlite3
import struct
import sys
import time

F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38


def flock_struct(ltype, start, length, pid=0):
    # struct flock on x86-64: short l_type, short l_whence, off_t l_start,
    # off_t l_len, pid_t l_pid (+ padding)
    return struct.pack("hhqqi4x", ltype, os.SEEK_SET, start, length, pid)


def lock(fd, kind, ltype, start, length, wait):
    t = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}[ltype]
    if kind == "flock":
        op = {"r": fcntl.LOCK_SH, "w": fcntl.LOCK_EX, "u": fcntl.LOCK_UN}[ltype]
        fcntl.flock(fd, op | (0 if wait else fcntl.LOCK_NB))
    elif kind == "posix":
        fcntl.fcntl(fd, fcntl.F_SETLKW if wait else fcntl.F_SETLK,
                    flock_struct(t, start, length))
    else:
        fcntl.fcntl(fd, F_OFD_SETLKW if wait else F_OFD_SETLK,
                    flock_struct(t, start, length))


def ename(e):
    # errno.errorcode says EDEADLOCK for 35 on Linux: EDEADLK is its name
    return "EDEADLK" if e.errno == errno.EDEADLK else errno.errorcode.get(e.errno, str(e.errno))


def wait_for(path, timeout=60):
    end = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("timed out waiting for " + path)
        time.sleep(0.02)


def main(a):
    cmd = a[0]
    if cmd == "hold":
        kind, ltype, start, length, path, ready, go = a[1:8]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        lock(fd, kind, ltype, int(start), int(length), True)
        open(ready, "w").close()
        wait_for(go, 120)
        os.close(fd)
    elif cmd == "try":
        kind, ltype, start, length, path = a[1:6]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            lock(fd, kind, ltype, int(start), int(length), False)
            print("ok")
        except OSError as e:
            print(ename(e))
        os.close(fd)
    elif cmd == "getlk":
        start, length, path = a[1:4]
        fd = os.open(path, os.O_RDWR)
        r = fcntl.fcntl(fd, fcntl.F_GETLK, flock_struct(fcntl.F_WRLCK, int(start), int(length)))
        t, _, s, n, pid = struct.unpack("hhqqi4x", r)
        if t == fcntl.F_UNLCK:
            print("unlocked")
        else:
            print("%s %d %d %d" % ("w" if t == fcntl.F_WRLCK else "r", s, n, pid))
        os.close(fd)
    elif cmd == "ofd_same_process":
        path = a[1]
        f1 = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        f2 = os.open(path, os.O_RDWR)
        lock(f1, "ofd", "w", 0, 10, False)
        try:
            lock(f2, "ofd", "w", 5, 1, False)
            print("ofd: no conflict (wrong)")
        except OSError as e:
            print("ofd:", ename(e))
        lock(f1, "ofd", "u", 0, 0, False)
        lock(f1, "posix", "w", 0, 10, False)
        lock(f2, "posix", "w", 5, 1, False)     # one process: one owner
        print("posix: ok")
        os.close(f1)
        os.close(f2)
    elif cmd == "deadlock":
        side, path, ready, peer_ready, out = a[1:6]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        mine, theirs = (100, 200) if side == "a" else (200, 100)
        lock(fd, "posix", "w", mine, 1, False)
        open(ready, "w").close()
        wait_for(peer_ready)
        if side == "b":
            time.sleep(1.0)         # a is blocked on 200 by now
        try:
            lock(fd, "posix", "w", theirs, 1, True)
            res = "ok"
        except OSError as e:
            res = ename(e)
        with open(out, "w") as f:
            f.write(res + "\n")
        os.close(fd)
    elif cmd == "interrupted":
        path, ready, out, go = a[1:5]

        class Interrupted(Exception):
            pass

        def on_usr1(signum, frame):
            raise Interrupted()
        signal.signal(signal.SIGUSR1, on_usr1)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        open(ready, "w").close()
        try:
            lock(fd, "posix", "w", 0, 0, True)
            res = "granted"
        except Interrupted:
            res = "EINTR"
        except OSError as e:
            res = ename(e)
        with open(out, "w") as f:
            f.write(res + "\n")
        wait_for(go, 120)
        os.close(fd)
    elif cmd == "sqlite":
        mode, db, worker, n = a[1], a[2], a[3], int(a[4])
        con = sqlite3.connect(db, timeout=60, isolation_level=None)
        con.execute("PRAGMA journal_mode=%s" % mode)
        con.execute("CREATE TABLE IF NOT EXISTS t (w TEXT, i INTEGER, v TEXT)")
        for i in range(n):
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO t VALUES (?, ?, ?)", (worker, i, "x" * (i % 300)))
            if i % 10 == 0:
                con.execute("UPDATE t SET v = v || 'u' WHERE w = ? AND i = ?", (worker, i // 2))
            con.execute("COMMIT")
        con.close()
    elif cmd == "sqlite_check":
        con = sqlite3.connect(a[1], timeout=60)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        print(ok, rows)
        con.close()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except sqlite3.Error as e:
        sys.exit("sqlite: %s (%s)" % (e, getattr(e, "sqlite_errorname", "?")))
