"""Memory under steady intake: MLflow tracking and OTLP metrics on the real ASGI app.

  PYTHONPATH=src .venv/bin/python bench/ingest_memory.py [--minutes 5] [--no-trace] [--postgres]
  MALLOC_ARENA_MAX=2 PYTHONPATH=src .venv/bin/python bench/ingest_memory.py --no-trace

One process, a fresh SQLite store (or PostgreSQL database), the app driven by Starlette's ``TestClient`` (so
requests run on the server's thread pool as under uvicorn), in a loop: ``log-metric``
and ``log-batch`` (10 metrics) on one run, and every fifth round one OTLP request of
20 gauge series x 10 points. Every 30 s: the process' RSS and the memory Python
objects hold (``tracemalloc``); at the end the allocation sites that grew most since
the first 30 s. RSS growing while traced memory stays flat points at the allocator or
C libraries, not at Python objects kept alive; ``MALLOC_ARENA_MAX=2`` separates glibc's
per-thread arenas from the rest.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_cluster import (
    STEP_MS,
    drop_pg_database,
    metrics_request,
    new_pg_database,
    series_of,
)

SECRET = "tk_memory_bench_0123456789abcdef"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--postgres", action="store_true",
                        help="a fresh database on the local PostgreSQL instead of SQLite")
    parser.add_argument("--no-trace", action="store_true",
                        help="RSS only: tracemalloc's own bookkeeping grows RSS too")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="triops-memory-"))
    pg_name, url = new_pg_database() if args.postgres else (None, f"sqlite:///{home / 'store.db'}")
    try:
        run(args, home, url)
    finally:
        if pg_name:
            drop_pg_database(pg_name)


def run(args: argparse.Namespace, home: Path, url: str) -> None:
    from starlette.testclient import TestClient

    from triops.core.principals import ALL_PROJECTS, Role
    from triops.core.settings import Settings
    from triops.server.app import create_app
    from triops.server.runtime import Runtime
    from triops.store import Database, upgrade_schema
    from triops.store.repos import keys

    db = Database(url)
    upgrade_schema(db.engine)
    db.dispose()
    rt = Runtime.build(Settings(store=url, artifacts=str(home / "artifacts"), home=home))
    with rt.db.write() as session:
        keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="bench", secret=SECRET)
    with TestClient(create_app(rt)) as client:
        client.headers["Authorization"] = f"Bearer {SECRET}"
        experiment = client.post("/api/2.0/mlflow/experiments/create",
                                 json={"name": "memory"}).json()["experiment_id"]
        run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": experiment}
                          ).json()["run"]["info"]["run_id"]
        labels, first_ts = series_of(100, 0, 20), 1_700_000_000_000
        if not args.no_trace:
            tracemalloc.start(8)
        started, n, marks, base = time.time(), 0, [], None
        while time.time() - started < args.minutes * 60:
            now = int(time.time() * 1000)
            client.post("/api/2.0/mlflow/runs/log-metric", json={
                "run_id": run, "key": "loss", "value": 1 / (n + 1), "timestamp": now,
                "step": n}).raise_for_status()
            client.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run, "metrics": [
                {"key": f"m{k}", "value": float(n + k), "timestamp": now, "step": n}
                for k in range(10)]}).raise_for_status()
            if n % 5 == 0:
                body = metrics_request(labels, first_ts + (n // 5) * 10 * STEP_MS, 10, "memory")
                client.post("/v1/metrics", content=body, headers={
                    "Content-Type": "application/x-protobuf"}).raise_for_status()
            n += 1
            elapsed = time.time() - started
            if not marks or elapsed - marks[-1] >= 30:
                gc.collect()
                marks.append(elapsed)
                print(f"{elapsed:6.0f} s  rounds {n:6d}  RSS {rss_mb():7.1f} MB  "
                      f"traced {tracemalloc.get_traced_memory()[0] / 2**20:6.1f} MB  "
                      f"tracemalloc's own {tracemalloc.get_tracemalloc_memory() / 2**20:5.1f} MB",
                      flush=True)
                if len(marks) == 2 and tracemalloc.is_tracing():
                    base = tracemalloc.take_snapshot()
        gc.collect()
        if base is not None:
            print("\nlargest growth since the first 30 s, by allocation site:")
            for stat in tracemalloc.take_snapshot().compare_to(base, "lineno")[:8]:
                print(f"  {stat.size_diff / 1024:+8.0f} KiB {stat.count_diff:+7d} blocks  "
                      f"{stat.traceback.format()[0].strip()}")
    rt.close()


if __name__ == "__main__":
    main()
