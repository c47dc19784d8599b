#!/usr/bin/env python3
"""The SQLite FTS5 peer of `donebot bench search`.

Reads the dones and queries `donebot bench search` generated (the same files its own index is
built from), builds an FTS5 index of them, runs the same queries, and prints one JSON object:
indexing rate, index size, and p50/p99 latency per kind of query.

The table is contentless (content=''): like donebot's index, it holds the words, not the text
(which lives in the database proper). The team is an indexed column and every query is
`team:tN AND (words)` ordered by FTS5's bm25 rank, 20 rows: FTS5's fastest way to answer
"within one team, best first" (an UNINDEXED team column filtered in WHERE would rank every match
of every team first).

Usage: bench-search.py DONES.tsv QUERIES.tsv DB_PATH
  DONES.tsv:   id <TAB> team <TAB> day <TAB> text
  QUERIES.tsv: kind <TAB> team <TAB> words   (words in FTS5's syntax, which donebot shares)
"""

import json
import os
import sqlite3
import sys
import time

BATCH = 50_000


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[i]


def main():
    dones_path, queries_path, db_path = sys.argv[1:4]
    for suffix in ("", "-journal", "-wal"):
        try:
            os.remove(db_path + suffix)
        except FileNotFoundError:
            pass
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("CREATE VIRTUAL TABLE dones USING fts5(text, team, content='')")

    n = 0
    started = time.perf_counter()
    with open(dones_path, encoding="utf-8") as f:
        batch = []
        for line in f:
            done_id, team, _day, text = line.rstrip("\n").split("\t", 3)
            batch.append((int(done_id), text, "t" + team))
            if len(batch) == BATCH:
                db.executemany("INSERT INTO dones(rowid, text, team) VALUES (?, ?, ?)", batch)
                n += len(batch)
                batch = []
        if batch:
            db.executemany("INSERT INTO dones(rowid, text, team) VALUES (?, ?, ?)", batch)
            n += len(batch)
    db.commit()
    inserted = time.perf_counter() - started
    db.execute("INSERT INTO dones(dones) VALUES ('optimize')")
    db.commit()
    indexed = time.perf_counter() - started
    size = os.path.getsize(db_path)

    latencies = {}
    with open(queries_path, encoding="utf-8") as f:
        queries = [line.rstrip("\n").split("\t", 2) for line in f if line.strip()]
    sql = "SELECT rowid FROM dones WHERE dones MATCH ? ORDER BY rank LIMIT 20"
    hits = {}
    for kind, team, words in queries:
        match = "team:t%s AND (%s)" % (team, words)
        t0 = time.perf_counter()
        rows = db.execute(sql, (match,)).fetchall()
        latencies.setdefault(kind, []).append(time.perf_counter() - t0)
        hits[kind] = hits.get(kind, 0) + len(rows)

    report = {
        "sqlite": sqlite3.sqlite_version,
        "dones": n,
        "insert_seconds": inserted,
        "index_seconds": indexed,
        "dones_per_second": n / indexed if indexed > 0 else 0.0,
        "index_bytes": size,
        "queries": {
            kind: {
                "n": len(v),
                "p50_ms": percentile(sorted(v), 50) * 1000,
                "p99_ms": percentile(sorted(v), 99) * 1000,
                "hits": hits[kind],
            }
            for kind, v in latencies.items()
        },
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
