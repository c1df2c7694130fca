#!/usr/bin/env python3
"""workload_sqlite.py DB [TXNS]: the SQLite workload of bench/workloads.sh.

A fixed sequence on a new database file DB in SQLite's default rollback-journal
mode (synchronous=FULL): TXNS transactions (default 400), each inserting five
rows, updating two, reading back with an indexed select and an aggregate, and
committing; every 50th transaction also deletes rows. Each commit creates,
syncs and deletes the journal and syncs the database, so the figure is the
cost of small synchronous writes and file creation/unlink on the file system.
At the end PRAGMA integrity_check must say ok and the row count and balance
sum must equal what Python tracked alongside; otherwise the exit status is 1.
"""
import os
import sqlite3
import sys


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    path = sys.argv[1]
    txns = int(sys.argv[2]) if len(sys.argv) == 3 else 400
    if os.path.exists(path):
        print(f"workload_sqlite: {path} exists", file=sys.stderr)
        return 2
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE acct (id INTEGER PRIMARY KEY, name TEXT, "
               "balance INTEGER, note TEXT)")
    db.execute("CREATE INDEX acct_name ON acct(name)")
    rows = {}  # id -> balance, what the database must hold
    next_id = 1
    for t in range(txns):
        db.execute("BEGIN")
        for _ in range(5):
            bal = (next_id * 7919) % 1000
            db.execute("INSERT INTO acct VALUES (?, ?, ?, ?)",
                       (next_id, f"name{next_id % 97}", bal, "x" * (next_id % 200)))
            rows[next_id] = bal
            next_id += 1
        for k in (next_id - 3, (next_id * 31) % next_id or 1):
            if k in rows:
                db.execute("UPDATE acct SET balance = balance + 10 WHERE id = ?", (k,))
                rows[k] += 10
        got = db.execute("SELECT count(*) FROM acct WHERE name = ?",
                         (f"name{t % 97}",)).fetchone()[0]
        want = sum(1 for i in rows if i % 97 == t % 97)
        if got != want:
            print(f"workload_sqlite: txn {t}: {got} rows named name{t % 97}, "
                  f"expected {want}", file=sys.stderr)
            return 1
        if t % 50 == 49:
            cut = next_id - 100
            db.execute("DELETE FROM acct WHERE id < ? AND id % 3 = 0", (cut,))
            for i in [i for i in rows if i < cut and i % 3 == 0]:
                del rows[i]
        db.execute("COMMIT")
    ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    count, total = db.execute("SELECT count(*), total(balance) FROM acct").fetchone()
    db.close()
    if ok != "ok" or count != len(rows) or int(total) != sum(rows.values()):
        print(f"workload_sqlite: integrity {ok}, {count} rows (want {len(rows)}), "
              f"sum {int(total)} (want {sum(rows.values())})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
