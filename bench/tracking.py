"""Tracking throughput and search latency: triops vs ``mlflow server``, same machine, one run.

  .venv/bin/python bench/tracking.py [--points 100000] [--budget 20] [--runs 10000]
  .venv/bin/python bench/tracking.py --in-process 20   # native batch route only, no peer
  .venv/bin/python bench/tracking.py --log-metric-calls 2000   # MLflow log-metric, in-process
  .venv/bin/python bench/tracking.py --log-metric-calls 200 --log-batch-size 1000   # log-batch

(a) stock ``mlflow`` client → ``mlflow server`` 3.17 (its own venv, its defaults: 4
    workers, SQLite backend store in a temp folder);
(b) stock ``mlflow`` client → ``triops up`` (SQLite in a temp folder);
(c) triops' SDK → the same triops server.
One-by-one ``log_metric`` runs until ``--points`` or ``--budget`` seconds, whichever
comes first, and reports points/s; ``log_batch`` sends batches of 1,000. The stock
client alternates between the two servers in rounds (and searches alternate too), so
load from other processes on a shared machine hits both alike. Search: both
stores get the same ``--runs`` runs (written straight into each store: MLflow's rows
with SQL in its own schema, triops' with its repositories), then the stock client
runs ``search_runs`` with one filter ~20 times against each server; p50 is reported
and both servers must return the same runs. For each case the CPU per call is reported
too: the stock client's own (its process time) and each server's (its process and
workers, from ``/proc``): during its own calls, read by the client around each round
(or search), and over the whole phase, which also counts the server's background work
while the other server is called.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_venv

ROOT = Path(__file__).resolve().parents[1]
PEER_CLIENT = Path(__file__).resolve().parent / "peers" / "mlflow_tracking_client.py"
KEY = "tri_bench_admin_key_0123456789abcdef"
FILTER = "metrics.rmse < 0.5 and params.alpha = '0.1'"
ALPHAS = ("0.1", "0.2", "0.5", "1.0")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {url}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready: {url}")


def start_triops(tmp: Path, src: str | None = None) -> tuple[subprocess.Popen, str, str]:
    """``triops up`` on SQLite under ``tmp``, from ``src`` (a ``src`` folder) when given."""
    port = free_port()
    store = f"sqlite:///{tmp / 'triops' / 'triops.db'}"
    (tmp / "triops").mkdir()
    with open(tmp / "triops.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "triops", "up", "--port", str(port), "--store", store,
             "--home", str(tmp / "triops"), "--log-level", "warning"],
            env={**os.environ, "TRIOPS_ADMIN_KEY": KEY, **({"PYTHONPATH": src} if src else {})},
            stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    print(f"[bench] triops ready in {wait_ready(url + '/readyz', proc):.1f}s", file=sys.stderr)
    return proc, url, store


def start_mlflow(tmp: Path, python: Path) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    db = tmp / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    with open(tmp / "mlflow.log", "wb") as log:
        proc = subprocess.Popen(
            [str(python.parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{db}",
             "--default-artifact-root", str(tmp / "mlflow" / "artifacts")],
            stdout=subprocess.DEVNULL, stderr=log, cwd=tmp / "mlflow")
    url = f"http://127.0.0.1:{port}"
    print(f"[bench] mlflow server ready in {wait_ready(url + '/health', proc):.1f}s",
          file=sys.stderr)
    return proc, url, db


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants
    (``mlflow server``'s uvicorn workers), read from ``/proc``; NaN where there is none."""
    try:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return float("nan")
    tree, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        tree.add(parent)
        todo += [p for p, (ppid, _) in stats.items() if ppid == parent and p not in tree]
    return sum(stats[p][1] for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_cpu(pids: dict[str, int], into: dict[str, float]) -> Iterator[None]:
    """Each server's CPU seconds over the block, by name, into ``into``."""
    before = {name: tree_cpu(pid) for name, pid in pids.items()}
    yield
    into.update({name: tree_cpu(pid) - before[name] for name, pid in pids.items()})


def _cpu_split(res: dict, phase_cpu_s: float, calls: int) -> dict:
    """A peer's result with the server's CPU both ways: over the whole phase
    (``server_cpu_s``: the other server's rounds and the client's start included, so
    background work weighs in by how long the *other* server took) and during its own
    calls only (``server_own_cpu_s``, read by the peer)."""
    return {**res, "server_own_cpu_s": res["server_cpu_s"], "server_cpu_s": phase_cpu_s,
            "calls": calls}


def peer(python: Path, mode: str, **args: object) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_TOKEN": KEY}
    out = subprocess.run([str(python), str(PEER_CLIENT), mode, json.dumps(args)], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"mlflow client {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sdk_throughput(url: str, points: int, batch_size: int) -> dict:
    import triops

    with tempfile.TemporaryDirectory() as spool:
        run = triops.start_run(experiment="bench-sdk", url=url, api_key=KEY, spool_dir=spool,
                               batch_size=batch_size)
        start = time.perf_counter()
        log = run.log_metric
        for i in range(points):
            log("loss", 1.0 / (i + 1), step=i)
        logged = time.perf_counter() - start
        run.end()  # returns once every batch is acknowledged by the server
        elapsed = time.perf_counter() - start
    assert run.errors == [] and run.status == "FINISHED"
    return {"points": points, "seconds": elapsed, "points_per_s": points / elapsed,
            "logging_s": logged, "run_id": run.run_id}


@contextmanager
def sqlite_runtime() -> Iterator[tuple[Any, Path]]:
    """A server runtime on a fresh SQLite store in a temporary folder, with the bench's
    admin key, and that folder; closed on leaving."""
    from triops.core.principals import ALL_PROJECTS, Role
    from triops.core.settings import Settings
    from triops.server.runtime import Runtime
    from triops.store import Database, upgrade_schema
    from triops.store.repos import keys as api_keys

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = f"sqlite:///{tmp / 'triops.db'}"
        migrated = Database(store)
        upgrade_schema(migrated.engine)
        migrated.dispose()
        rt = Runtime.build(Settings(store=store, artifacts=str(tmp / "artifacts"), home=tmp))
        try:
            with rt.db.write() as session:
                api_keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="bench",
                                secret=KEY)
            yield rt, tmp
        finally:
            rt.close()


def in_process(batches: int, size: int = 10_000, keys: int = 1) -> dict:
    """The native batch route through the real ASGI app on SQLite, without HTTP or client.

    Bodies are serialised before the clock starts, so what is timed is the server's
    share: parsing, validation, the store write and the commit.
    """
    import orjson
    from fastapi.testclient import TestClient

    from triops.server.app import create_app

    with sqlite_runtime() as (rt, tmp):
        run_id = uuid.uuid4().hex
        now = int(time.time() * 1000)
        bodies = []
        for b in range(batches):
            first = b * size
            metrics = [[f"loss{i % keys}", 1.0 / (i + 1), now + i, i]
                       for i in range(first, first + size)]
            bodies.append(orjson.dumps({"batch_id": f"bench-{b:06d}", "metrics": metrics}))
        with TestClient(create_app(rt)) as client:
            client.headers["Authorization"] = f"Bearer {KEY}"
            client.headers["Content-Type"] = "application/json"
            client.post("/api/v1/runs", json={"run_id": run_id, "experiment": "bench"}
                        ).raise_for_status()
            start = time.perf_counter()
            for body in bodies:
                client.post(f"/api/v1/runs/{run_id}/batch", content=body).raise_for_status()
            elapsed = time.perf_counter() - start
        with sqlite3.connect(tmp / "triops.db") as con:
            stored = con.execute("SELECT count(*) FROM records WHERE kind = 'metric'"
                                 ).fetchone()[0]
    points = batches * size
    return {"points": points, "seconds": elapsed, "points_per_s": points / elapsed,
            "records": stored, "loadavg": os.getloadavg()}


def log_metric_in_process(calls: int, batch: int = 0) -> dict:
    """MLflow ``runs/log-metric`` one call at a time through the real ASGI app on SQLite,
    driven straight from an event loop: no HTTP, no client, no test client's thread.
    With ``batch``, ``runs/log-batch`` of that many metrics per call instead, each body
    as the stock client writes it (pretty-printed JSON, int64 fields as numbers).

    What is timed is the server's share of one stock-client call: the middleware, the
    route, the write and its commit. Wall and CPU time per call are both reported; on a
    shared machine the CPU time is the steadier of the two.
    """
    import asyncio
    import gc

    from triops.server.app import create_app

    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {KEY}".encode()),
               (b"content-type", b"application/json")]

    async def call(app, path: str, payload: dict | bytes) -> dict:  # type: ignore[no-untyped-def]
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80),
                 "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        out: dict = {"body": b""}

        async def receive() -> dict:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            else:
                out["body"] += message.get("body", b"")

        await app(scope, receive, send)
        if out["status"] != 200:
            raise RuntimeError(f"{path}: {out['status']} {out['body'][:300]!r}")
        return json.loads(out["body"])

    async def drive(app) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        api = "/api/2.0/mlflow"
        run_id = (await call(app, f"{api}/runs/create", {}))["run"]["info"]["run_id"]
        path = f"{api}/runs/log-batch" if batch else f"{api}/runs/log-metric"
        now = 1_700_000_000_000
        bodies: list[dict | bytes]
        if batch:
            bodies = [json.dumps({"run_id": run_id, "metrics": [
                {"key": "loss", "value": 1.0 / (i + 1), "timestamp": now + i, "step": i}
                for i in range(c * batch, (c + 1) * batch)]}, indent=2).encode()
                for c in range(calls + 50)]
        else:
            bodies = [{"run_id": run_id, "key": "loss", "value": 1.0 / (i + 1),
                       "timestamp": now + i, "step": i} for i in range(calls + 50)]
        for body in bodies[:50]:  # warm-up: caches, the key lookup, the first connection
            await call(app, path, body)
        wall, cpu = time.perf_counter(), time.process_time()
        for body in bodies[50:]:
            await call(app, path, body)
        return time.perf_counter() - wall, time.process_time() - cpu

    with sqlite_runtime() as (rt, _):
        app = create_app(rt)
        gc.collect()
        gc.freeze()  # as ``triops up`` does after start-up
        wall, cpu = asyncio.run(drive(app))
    return {"calls": calls, "wall_us": wall / calls * 1e6, "cpu_us": cpu / calls * 1e6,
            "loadavg": os.getloadavg()}


def rmse_of(i: int) -> float:
    return ((i * 7919) % 10007) / 10007


def seed_mlflow(db: Path, experiment_id: str, n: int) -> None:
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    with con:
        for i in range(n):
            rid = uuid.UUID(int=i + 1).hex
            con.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, "
                        "entry_point_name, user_id, status, start_time, end_time, "
                        "source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES "
                        "(?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)",
                        (rid, f"run-{i}", now + i, now + i, f"/a/{rid}", int(experiment_id)))
            con.execute("INSERT INTO params VALUES ('alpha', ?, ?)", (ALPHAS[i % 4], rid))
            con.execute("INSERT INTO tags VALUES ('mlflow.runName', ?, ?)", (f"run-{i}", rid))
            con.execute("INSERT INTO metrics VALUES ('rmse', ?, ?, ?, 0, 0)",
                        (rmse_of(i), now + i, rid))
            con.execute("INSERT INTO latest_metrics VALUES ('rmse', ?, ?, 0, 0, ?)",
                        (rmse_of(i), now + i, rid))
    con.close()


def seed_triops(store: str, experiment_id: str, n: int) -> None:
    from triops.store import Database
    from triops.store.repos import runs
    from triops.store.repos.projects import DEFAULT_PROJECT

    db = Database(store)
    now = int(time.time() * 1000)
    for chunk in range(0, n, 1000):
        with db.write() as session:
            for i in range(chunk, min(chunk + 1000, n)):
                run = runs.create(session, DEFAULT_PROJECT, experiment_id, run_name=f"run-{i}",
                                  user_id="bench", start_time=now + i, tags={},
                                  run_id=uuid.UUID(int=i + 1).hex)
                run.status = "FINISHED"
                runs.log_params(session, run, {"alpha": ALPHAS[i % 4]})
                runs.log_metrics(session, run, [runs.MetricPoint("rmse", rmse_of(i), now + i)])
    db.dispose()


def create_experiment(url: str, name: str) -> str:
    r = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": name},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    r.raise_for_status()
    return r.json()["experiment_id"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--budget", type=float, default=20.0,
                    help="seconds of one-by-one logging per server (in 4 alternating rounds)")
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--sdk-points", type=int, default=500_000)
    ap.add_argument("--searches", type=int, default=20)
    ap.add_argument("--in-process", type=int, default=0, metavar="BATCHES",
                    help="only time BATCHES native batches of 10,000 points in-process")
    ap.add_argument("--log-metric-calls", type=int, default=0, metavar="CALLS",
                    help="only time CALLS MLflow log-metric calls in-process")
    ap.add_argument("--log-batch-size", type=int, default=0, metavar="N",
                    help="with --log-metric-calls: log-batch calls of N metrics instead")
    args = ap.parse_args()
    if args.log_metric_calls:
        res = log_metric_in_process(args.log_metric_calls, args.log_batch_size)
        route = f"log-batch of {args.log_batch_size:,}" if args.log_batch_size else "log-metric"
        print(f"MLflow {route} in-process (SQLite): {res['calls']:,} calls, "
              f"{res['wall_us']:,.0f} us wall and {res['cpu_us']:,.0f} us CPU per call; "
              "load average " + " / ".join(f"{x:.1f}" for x in res["loadavg"]))
        return
    if args.in_process:
        res = in_process(args.in_process)
        print(f"native batch route in-process (SQLite): {res['points']:,} points in "
              f"{res['seconds']:.2f} s = {res['points_per_s']:,.0f} points/s, "
              f"{res['records']:,} metric records; load average "
              + " / ".join(f"{x:.1f}" for x in res["loadavg"]))
        return
    python = peer_venv.ensure("mlflow", ["mlflow==3.17.*"])
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        mlflow_proc, mlflow_url, mlflow_db = start_mlflow(tmp, python)
        triops_proc, triops_url, triops_store = start_triops(tmp)
        try:
            urls = {"mlflow": mlflow_url, "triops": triops_url}
            pids = {"mlflow": mlflow_proc.pid, "triops": triops_proc.pid}
            cpu: dict[str, dict[str, float]] = {"one": {}, "batch": {}, "search": {}}
            # The peer reads each server's CPU around that server's own calls too.
            peer_pids = {urls[name]: pid for name, pid in pids.items()}
            # Rounds alternate between the servers, so load spikes on a shared machine
            # hit both alike.
            with server_cpu(pids, cpu["one"]):
                one = peer(python, "one_by_one", uris=list(urls.values()), points=args.points,
                           budget_s=args.budget, rounds=4, pids=peer_pids)
            with server_cpu(pids, cpu["batch"]):
                many = peer(python, "batch", uris=list(urls.values()), points=args.points,
                            size=1000, rounds=4, budget_s=max(args.budget * 4, 90),
                            pids=peer_pids)
            for name, url in urls.items():
                results[f"{name}/one_by_one"] = _cpu_split(one[url], cpu["one"][name],
                                                           one[url]["points"])
                results[f"{name}/batch"] = _cpu_split(many[url], cpu["batch"][name],
                                                      many[url]["points"] // 1000)
            results["triops/sdk"] = sdk_throughput(triops_url, args.sdk_points, 10_000)
            for name, seed, store in (("mlflow", seed_mlflow, mlflow_db),
                                      ("triops", seed_triops, triops_store)):
                exp = create_experiment(urls[name], "bench-search")
                t0 = time.perf_counter()
                seed(store, exp, args.runs)
                print(f"[bench] seeded {args.runs} runs into {name} in "
                      f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)
            with server_cpu(pids, cpu["search"]):
                found = peer(python, "search", uris=list(urls.values()),
                             experiment="bench-search", filter=FILTER, repeat=args.searches,
                             max_results=100, pids=peer_pids)
            for name, url in urls.items():
                results[f"{name}/search"] = _cpu_split(found[url], cpu["search"][name],
                                                       args.searches)
        finally:
            for proc in (mlflow_proc, triops_proc):
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    report(results, args)


def cpu_calibration() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def report(r: dict[str, dict], args: argparse.Namespace) -> None:
    same = r["mlflow/search"]["run_ids"] == r["triops/search"]["run_ids"]
    base_one = r["mlflow/one_by_one"]["points_per_s"]
    base_batch = r["mlflow/batch"]["points_per_s"]
    rows = [
        ("stock client, `log_metric` one by one", "mlflow/one_by_one", base_one, 20),
        ("stock client, `log_metric` one by one", "triops/one_by_one", base_one, 20),
        ("stock client, `log_batch` of 1,000", "mlflow/batch", base_batch, 5),
        ("stock client, `log_batch` of 1,000", "triops/batch", base_batch, 5),
        ("triops SDK (batches of 10,000)", "triops/sdk", base_batch, None),
    ]
    print(f"\nTracking throughput (points/s; one-by-one for up to {args.points:,} points or "
          f"{args.budget:.0f} s)\n")
    print("| case | server | points | points/s | vs mlflow server | goal |")
    print("|---|---|---:|---:|---:|---|")
    for label, key, base, goal in rows:
        res = r[key]
        ratio = res["points_per_s"] / base
        server = key.split("/")[0]
        goal_text = "≥100,000 points/s" if key == "triops/sdk" else (
            f"≥{goal}×" if server == "triops" else "")
        met = ""
        if key == "triops/sdk":
            met = " ✓" if res["points_per_s"] >= 100_000 else " ✗"
        elif server == "triops":
            met = " ✓" if ratio >= goal else " ✗"
        print(f"| {label} | {server} | {res['points']:,} | {res['points_per_s']:,.0f} | "
              f"{ratio:.1f}× | {goal_text}{met} |")
    m, t = r["mlflow/search"]["p50_ms"], r["triops/search"]["p50_ms"]
    calib = cpu_calibration()
    print(f"\nCPU calibration: a 10M-iteration Python loop took {calib:.2f} s at the end of the "
          "run (about 0.4 s on an idle modern core)")
    print(f"\nSearch over {args.runs:,} runs, filter `{FILTER}`, max_results=100, "
          f"p50 of {args.searches} (stock client)\n")
    print("| server | p50 ms | runs returned | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| mlflow | {m:.1f} | {r['mlflow/search']['found']} | 1.0× |")
    print(f"| triops | {t:.1f} | {r['triops/search']['found']} | {m / t:.1f}× "
          f"(goal ≥3×{' ✓' if m / t >= 3 else ' ✗'}) |")
    print(f"\nsame runs returned by both servers: {same}")
    print("\nCPU per call, ms (client: the stock client's own process; server: the server's "
          "process and its workers during its own calls, and in brackets over the whole "
          "phase, the other server's rounds and the client's start included)\n")
    print("| call | mlflow: client | mlflow: server | triops: client | triops: server |")
    print("|---|---:|---:|---:|---:|")
    for label, case in (("`log_metric`", "one_by_one"), ("`log_batch` of 1,000", "batch"),
                        ("`search_runs`", "search")):
        cells = []
        for server in ("mlflow", "triops"):
            res = r[f"{server}/{case}"]
            calls = max(res["calls"], 1)
            cells += [f"{res['client_cpu_s'] / calls * 1000:.2f}",
                      (f"{res['server_own_cpu_s'] / calls * 1000:.2f} "
                       f"({res['server_cpu_s'] / calls * 1000:.2f})")]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
