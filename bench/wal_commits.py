"""SQLite commits under steady writes, builds side by side: what a WAL checkpoint costs the
writer.

  .venv/bin/python bench/wal_commits.py [--rounds 2] [--seconds 8] [--kb 60] \
      before=/tmp/before/src after=$PWD/src

Each ``LABEL=SRC`` is a ``src`` folder (``git archive COMMIT src``); each round runs one
child process per build, in an order that alternates by round. The child opens a fresh
SQLite ``Database`` and commits one ``--kb`` blob at a time through a ``KeptWriter`` (the
prediction log's writer), 2 ms apart, for ``--seconds``: 60 kB every ~2.5 ms is ~24 MB/s
into the WAL, about what 64-row predictions at 2,000 requests/s log. Prints one JSON line
per build and round: commits, wall and CPU ms per commit (p50, p99, max), and the WAL
file's size at the end (SQLite reuses the file from its start, so it is the longest the
WAL grew), with the UTC time and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, os, sys, tempfile, time
from sqlalchemy import text
from triops.store.engine import Database

seconds, kb = float(sys.argv[1]), int(sys.argv[2])
folder = tempfile.mkdtemp()
path = os.path.join(folder, "w.db")
db = Database(f"sqlite:///{path}")
db.write_core(lambda c: c.execute(text("CREATE TABLE b (x BLOB)")))
writer = db.kept_writer()
insert = text("INSERT INTO b VALUES (randomblob(:n))")
walls, cpus = [], []
stop = time.perf_counter() + seconds
while time.perf_counter() < stop:
    t0, c0 = time.perf_counter(), time.thread_time()
    writer.write(lambda c: c.execute(insert, {"n": kb * 1000}))
    walls.append((time.perf_counter() - t0) * 1000)
    cpus.append((time.thread_time() - c0) * 1000)
    time.sleep(0.002)
wal_mb = os.path.getsize(path + "-wal") / 1e6
writer.close()
db.dispose()
def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(p * len(v)))], 2)
print(json.dumps({"commits": len(walls),
                  "wall_ms": [pct(walls, 0.5), pct(walls, 0.99), round(max(walls), 2)],
                  "cpu_ms": [pct(cpus, 0.5), pct(cpus, 0.99), round(max(cpus), 2)],
                  "wal_mb": round(wal_mb, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kb", type=int, default=60)
    parser.add_argument("builds", nargs="+", help="LABEL=SRC")
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    for r in range(args.rounds):
        for label, src in builds if r % 2 == 0 else builds[::-1]:
            env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
            out = subprocess.run([sys.executable, "-c", CHILD, str(args.seconds), str(args.kb)],
                                 env=env, capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps({
                "utc": time.strftime("%H:%M:%S", time.gmtime()),
                "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
                "build": label, "round": r, **got}), flush=True)


if __name__ == "__main__":
    main()
