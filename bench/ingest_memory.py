"""Memory under steady intake: MLflow tracking and OTLP metrics on the real ASGI app.

  PYTHONPATH=src .venv/bin/python bench/ingest_memory.py [--minutes 5] [--no-trace] [--postgres]
      [--mix] [--threads N]
  MALLOC_ARENA_MAX=2 PYTHONPATH=src .venv/bin/python bench/ingest_memory.py --no-trace

One process, a fresh SQLite store (or PostgreSQL database), the app driven by Starlette's ``TestClient`` (so
requests run on the server's thread pool as under uvicorn), in a loop: ``log-metric``
and ``log-batch`` (10 metrics) on one run, and every fifth round one OTLP request of
20 gauge series x 10 points. ``--mix`` adds the soak's other kinds at its ratios
(tracking 20 : gateway 20 : predictions 20 : OTLP 1): each round also sends two gateway
chat completions (a fake upstream, ``triops.llm.gateway.local_upstream``, in its own
process) and two predictions on a served LogisticRegression with a fresh
``X-Request-ID``; OTLP goes every tenth round to one of two senders' 20 series (the
soak's 40), and a drift monitor on the endpoint runs every 5 s on the app's scheduler.
``--threads N`` runs N such loops at once, as the soak's concurrent callers do.
Every 30 s: the process' RSS and the memory Python objects hold (``tracemalloc``); at
the end the drift monitor's runs (with ``--mix``) and the allocation sites that grew
most since the first 30 s. RSS growing while traced memory stays flat points at the allocator or
C libraries, not at Python objects kept alive; ``MALLOC_ARENA_MAX=2`` separates glibc's
per-thread arenas from the rest.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_cluster import (
    STEP_MS,
    drop_pg_database,
    free_port,
    metrics_request,
    new_pg_database,
    series_of,
)

SECRET = "tk_memory_bench_0123456789abcdef"
ENDPOINT, CHAT_MODEL, MONITOR_INTERVAL_S = "memory", "memory-chat", 5


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
    parser.add_argument("--mix", action="store_true",
                        help="the soak's mix: gateway calls, predictions and a drift monitor too")
    parser.add_argument("--threads", type=int, default=1, help="loops running at once")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="triops-memory-"))
    pg_name, url = new_pg_database() if args.postgres else (None, f"sqlite:///{home / 'store.db'}")
    upstream = None
    try:
        if args.mix:
            port = free_port()
            upstream = subprocess.Popen(
                [sys.executable, "-m", "triops.llm.gateway.local_upstream", "--port", str(port),
                 "--name", "alpha"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            args.upstream = f"http://127.0.0.1:{port}"
        run(args, home, url)
    finally:
        if upstream is not None:
            upstream.terminate()
            upstream.wait(10)
        if pg_name:
            drop_pg_database(pg_name)


def gateway_settings(upstream: str) -> Any:
    from triops.core.gateway_settings import GatewaySettings

    return GatewaySettings.model_validate({
        "retries": 0, "upstreams": [{"name": "alpha", "base_url": f"{upstream}/v1"}],
        "routes": [{"alias": CHAT_MODEL,
                    "deployments": [{"upstream": "alpha", "model": "gpt-4o-mini"}]}]})


def serve_model(rt: Any, client: Any) -> None:
    """A LogisticRegression registered as a skops file, served as ``ENDPOINT``, 200
    predictions as the reference window and a drift monitor on them."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from triops.store.repos import registry

    x = pd.DataFrame({"f0": np.arange(60.0) % 7, "f1": np.arange(60.0) % 3})
    model = LogisticRegression().fit(x, (x.f0 > 3).astype(int))
    rel = "0/models/m-memory/artifacts"
    rt.artifacts.write_bytes(f"mlflow/default/{rel}/model.skops", sio.dumps(model))
    with rt.db.write() as session:
        registry.create_model(session, "default", "memory-model")
        registry.create_version(session, "default", "memory-model",
                                source=f"mlflow-artifacts:/{rel}", run_id=None,
                                storage_location=f"mlflow-artifacts:/{rel}")
    client.post("/api/v1/endpoints", json={"name": ENDPOINT, "model": "memory-model/1"}
                ).raise_for_status()
    ref_start = int(time.time() * 1000)
    for n in range(200):
        predict(client, "reference", n)
    client.post("/api/v1/monitors", json={
        "name": "memory-drift", "endpoint": ENDPOINT, "interval_s": MONITOR_INTERVAL_S,
        "spec": {"window": {"kind": "count", "size": 500},
                 "reference": {"kind": "window", "start_ms": ref_start,
                               "end_ms": int(time.time() * 1000) + 1}}}).raise_for_status()


def predict(client: Any, tag: str, n: int) -> None:
    client.post(f"/api/v1/endpoints/{ENDPOINT}/predict",
                json={"records": [{"f0": float(n % 7), "f1": float(n % 3)}]},
                headers={"X-Request-ID": f"{tag}-{n}"}).raise_for_status()


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
    extra = {"gateway": gateway_settings(args.upstream)} if args.mix else {}
    rt = Runtime.build(Settings(store=url, artifacts=str(home / "artifacts"), home=home, **extra))
    with rt.db.write() as session:
        keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="bench", secret=SECRET)
    with TestClient(create_app(rt)) as client:
        client.headers["Authorization"] = f"Bearer {SECRET}"
        experiment = client.post("/api/2.0/mlflow/experiments/create",
                                 json={"name": "memory"}).json()["experiment_id"]
        if args.mix:
            serve_model(rt, client)
        first_ts = 1_700_000_000_000
        senders = [series_of(100 + s, 0, 20) for s in range(2 if args.mix else 1)]
        rounds = [0] * args.threads
        stop = threading.Event()

        def loop(t: int) -> None:
            run_id = client.post("/api/2.0/mlflow/runs/create", json={
                "experiment_id": experiment}).json()["run"]["info"]["run_id"]
            otlp_every = 10 if args.mix else 5
            n = 0
            while not stop.is_set():
                now = int(time.time() * 1000)
                client.post("/api/2.0/mlflow/runs/log-metric", json={
                    "run_id": run_id, "key": "loss", "value": 1 / (n + 1), "timestamp": now,
                    "step": n}).raise_for_status()
                client.post("/api/2.0/mlflow/runs/log-batch", json={
                    "run_id": run_id, "metrics": [
                        {"key": f"m{k}", "value": float(n + k), "timestamp": now, "step": n}
                        for k in range(10)]}).raise_for_status()
                if args.mix:
                    for k in range(2):
                        client.post("/v1/chat/completions", json={"model": CHAT_MODEL, "messages": [
                            {"role": "user", "content": f"question {t}-{n}-{k}"}]}
                        ).raise_for_status()
                        predict(client, f"t{t}", 2 * n + k)
                # Each sender's series get consecutive points, whichever loop sends them.
                if t == 0 and n % otlp_every == 0:
                    i = n // otlp_every
                    labels = senders[i % len(senders)]
                    body = metrics_request(labels, first_ts + i // len(senders) * 10 * STEP_MS,
                                           10, "memory")
                    client.post("/v1/metrics", content=body, headers={
                        "Content-Type": "application/x-protobuf"}).raise_for_status()
                n += 1
                rounds[t] = n

        threads = [threading.Thread(target=loop, args=(t,), daemon=True)
                   for t in range(args.threads)]
        if not args.no_trace:
            tracemalloc.start(8)
        started, marks, base = time.time(), [], None
        for thread in threads:
            thread.start()
        while time.time() - started < args.minutes * 60 and all(t.is_alive() for t in threads):
            time.sleep(1)
            elapsed = time.time() - started
            if not marks or elapsed - marks[-1] >= 30:
                gc.collect()
                marks.append(elapsed)
                print(f"{elapsed:6.0f} s  rounds {sum(rounds):6d}  RSS {rss_mb():7.1f} MB  "
                      f"traced {tracemalloc.get_traced_memory()[0] / 2**20:6.1f} MB  "
                      f"tracemalloc's own {tracemalloc.get_tracemalloc_memory() / 2**20:5.1f} MB",
                      flush=True)
                if len(marks) == 2 and tracemalloc.is_tracing():
                    base = tracemalloc.take_snapshot()
        stop.set()
        for thread in threads:
            thread.join(60)
        if args.mix:
            runs = client.get("/api/v1/monitors/memory-drift/results",
                              params={"limit": 10_000}).json()
            print(f"drift monitor runs: {len(runs)} ({sorted({r['status'] for r in runs})})")
        gc.collect()
        if base is not None:
            print("\nlargest growth since the first 30 s, by allocation site:")
            for stat in tracemalloc.take_snapshot().compare_to(base, "lineno")[:12]:
                print(f"  {stat.size_diff / 1024:+8.0f} KiB {stat.count_diff:+7d} blocks  "
                      f"{stat.traceback.format()[0].strip()}")
    rt.close()


if __name__ == "__main__":
    main()
