"""Model serving: triops vs ``mlflow models serve``, or vs MLServer; same models, same
machine, one run.

  .venv/bin/python bench/serving.py [--seconds 10] [--concurrency 1,8,32]
  .venv/bin/python bench/serving.py --peer mlserver [--seconds 6] [--rounds 2]

The model: a RandomForestClassifier (100 trees, depth 10) on a fixed synthetic data set
of 20 features (``bench/peers/serving_model.py``), trained the same way on both sides.

(a) ``mlflow models serve`` 3.17 from PyPI in its own venv (``bench/.venvs/mlflow``),
    ``--env-manager local``, its default workers; the model logged by the mlflow client
    to an MLflow SQLite tracking store (skops, MLflow 3.17's default).
(b) ``triops up`` (SQLite in a temp folder); the model logged by the stock mlflow client
    to the triops server (skops) and deployed as an endpoint with defaults; every
    request is written to the prediction log and answered after its commit.

Load: single-row requests, the same ``dataframe_split`` body to both, from a separate
process (asyncio, one HTTP/1.1 keep-alive connection per caller) with C callers, for ``--seconds`` each after a 2 s
warm-up; the two servers alternate per concurrency level so shared-machine load hits
both alike. Reports requests/s, p50 and p99 latency and the triops/mlflow ratios.

``--peer mlserver``: MLServer 1.7 (``mlserver`` + ``mlserver-sklearn`` in
``bench/.venvs/mlserver``) against triops' Open Inference Protocol route, the same V2
``infer`` bodies to both (one [rows, 20] FP64 tensor), for the forest and a
LogisticRegression, each fitted once: joblib files for MLServer, skops through the
mlflow client for triops. Rows per request 1 and 64; MLServer with ``parallel_workers``
``--mlserver-workers`` (1, its default: one inference process beside the HTTP one) and
each model twice, adaptive batching off (its default) and on (``MLSERVER_BATCHING``).
Each cell splits ``--seconds`` per side over ``--rounds`` rounds whose order rotates;
latencies are pooled over rounds; the server's CPU time per request (its process tree,
from ``/proc``) and the load average are reported beside them. The outputs of every
side are compared on a few bodies before timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import peer_venv
import serving_model
from raw_http import read_response

PEER_MODEL = Path(__file__).resolve().parent / "peers" / "serving_model.py"
OUT = Path(__file__).resolve().parent / "out"
KEY = "tri_bench_admin_key_0123456789abcdef"
# The mlflow venv is shared with bench/tracking.py; full mlflow brings scikit-learn.
MLFLOW_REQUIREMENTS = ["mlflow==3.17.*"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 240) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready: {url}")


def start_mlflow(tmp: Path, python: Path) -> tuple[subprocess.Popen, str]:
    # MLflow 3.17 refuses its file store by default; its SQLite store is the local default.
    store = f"sqlite:///{tmp / 'mlflow.db'}"
    # ``mlflow models serve`` starts ``uvicorn`` from PATH: the peer venv's own.
    env = {**os.environ, "MLFLOW_TRACKING_URI": store,
           "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    uri = subprocess.run([str(python), str(PEER_MODEL), store], check=True, env=env, cwd=tmp,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    with open(tmp / "mlflow.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(python.parent / "mlflow"), "models", "serve", "-m", uri, "--env-manager",
             "local", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    print(f"[bench] mlflow models serve ready in {wait_ready(url + '/ping', proc):.1f}s "
          f"({uri})", file=sys.stderr)
    return proc, url


def start_triops(tmp: Path, procs: list[subprocess.Popen], model=None, x=None
                 ) -> tuple[subprocess.Popen, str]:
    """``triops up`` with ``model`` (default: the shared forest) deployed as ``bench``."""
    home = tmp / "triops"
    home.mkdir()
    port = free_port()
    with open(tmp / "triops.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "triops", "up", "--port", str(port),
             "--store", f"sqlite:///{home / 'triops.db'}", "--home", str(home),
             "--log-level", "warning"],
            env={**os.environ, "TRIOPS_ADMIN_KEY": KEY}, stdout=subprocess.DEVNULL, stderr=log)
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    print(f"[bench] triops ready in {wait_ready(url + '/readyz', proc):.1f}s", file=sys.stderr)
    if model is None:
        x, _ = serving_model.data()
        model = serving_model.model()
    deploy(url, "bench", "bench-rf", model, x)
    return proc, url


def deploy(url: str, endpoint: str, registered: str, model, x) -> None:
    """Log ``model`` with the stock mlflow client to the triops server (skops, MLflow's
    default) as ``registered`` version 1 and deploy it as ``endpoint`` with defaults."""
    import mlflow
    import skops.io
    from mlflow.models import infer_signature

    os.environ["MLFLOW_TRACKING_TOKEN"] = KEY
    mlflow.set_tracking_uri(url)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            model, name="model", registered_model_name=registered,
            signature=infer_signature(x, model.predict(x)), serialization_format="skops",
            pip_requirements=["scikit-learn"],
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    deployed = httpx.post(f"{url}/api/v1/endpoints", headers={"Authorization": f"Bearer {KEY}"},
                          json={"name": endpoint, "model": f"{registered}/1"}, timeout=60)
    deployed.raise_for_status()


#: MLServer's two configurations of each model: adaptive batching at its defaults (off:
#: ``max_batch_size`` 0), and on with triops' defaults (32 per batch, 2 ms wait). MLServer
#: counts requests per batch, triops rows.
MLSERVER_BATCHING = {"": {}, "-batched": {"max_batch_size": 32, "max_batch_time": 0.002}}


def start_mlserver(tmp: Path, python: Path, models: dict[str, object], parallel_workers: int
                   ) -> tuple[subprocess.Popen, str]:
    """``mlserver start`` on a model repository holding each fitted estimator as joblib
    (what mlserver-sklearn loads), once per configuration of ``MLSERVER_BATCHING``."""
    import joblib

    root = tmp / "mlserver"
    for name, model in models.items():
        for suffix, batching in MLSERVER_BATCHING.items():
            folder = root / f"{name}{suffix}"
            folder.mkdir(parents=True)
            joblib.dump(model, folder / "model.joblib")
            (folder / "model-settings.json").write_text(json.dumps({
                "name": f"{name}{suffix}", "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"}, **batching}))
    port = free_port()
    # debug off: MLServer's default (debug on) writes an access-log line per request,
    # which triops, run at --log-level warning, does not.
    (root / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_port": free_port(), "parallel_workers": parallel_workers, "debug": False}))
    with open(tmp / "mlserver.log", "wb") as log:
        proc = subprocess.Popen([str(python.parent / "mlserver"), "start", str(root)], cwd=root,
                                stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        took = max(wait_ready(f"{url}/v2/models/{name}{suffix}/ready", proc)
                   for name in models for suffix in MLSERVER_BATCHING)
    except BaseException:
        proc.terminate()
        raise
    print(f"[bench] mlserver ready in {took:.1f}s", file=sys.stderr)
    return proc, url


def body_rows(n: int = 256) -> list[bytes]:
    x, _ = serving_model.data()
    columns = list(x.columns)
    return [json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode()
            for row in x.head(n).values.tolist()]


# -- the load generator (runs in its own process) --------------------------------------
# A minimal HTTP/1.1 keep-alive client on asyncio streams: one connection per caller.
# httpx's async pool costs ~10x more CPU per request than these servers need to answer
# a trivial route, so with it the benchmark would measure the client, not the servers.

async def _load(url: str, headers: dict[str, str], concurrency: int, seconds: float,
                warmup: float, bodies: list[bytes] | None = None, keep: bool = False) -> dict:
    parsed = urlsplit(url)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [
        (f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n{extra}"
         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
         ).encode() + body
        for body in bodies or body_rows()]
    latencies: list[float] = []
    errors = 0
    answered = 0  # warm-up included: what the server's CPU time is divided by
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def caller(n: int) -> None:
        nonlocal errors, answered
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
        i = n
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                writer.write(requests[i % len(requests)])
                status, _ = await read_response(reader)
                t1 = time.perf_counter()
                i += concurrency
                answered += 1
                if status != 200:
                    errors += 1
                elif t0 >= measure_from:
                    latencies.append(t1 - t0)
        finally:
            writer.close()

    await asyncio.gather(*[caller(n) for n in range(concurrency)])
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    out = {"requests": len(latencies), "answered": answered,
           "rps": len(latencies) / seconds, "errors": errors,
           "p50_ms": pct(0.50), "p99_ms": pct(0.99)}
    if keep:  # so that rounds can be pooled
        out["latencies_ms"] = [round(t * 1000, 3) for t in latencies]
    return out


def measure(url: str, headers: dict[str, str], concurrency: int, seconds: float,
            bodies_file: str | None = None, keep: bool = False) -> dict:
    """Load ``url`` from a separate process; ``bodies_file`` holds one JSON body a line
    (default: rows of the shared forest's data); ``keep`` returns every latency too."""
    out = subprocess.run(
        [sys.executable, __file__, "--load", json.dumps(
            {"url": url, "headers": headers, "concurrency": concurrency, "seconds": seconds,
             "bodies_file": bodies_file, "keep": keep})],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_s(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of a process so far, and of its live descendants with
    ``children`` (MLServer's inference workers are child processes)."""
    tck = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir() if children else [Path(f"/proc/{pid}")]:
        try:
            stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (ValueError, OSError):
            continue
    tree = {pid}
    grew = children
    while grew:
        found = {p for p, f in stats.items() if int(f[1]) in tree} - tree
        tree |= found
        grew = bool(found)
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats) / tck


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--peer", choices=["mlflow", "mlserver"], default="mlflow")
    parser.add_argument("--rounds", type=int, default=2,
                        help="mlserver: alternations of the servers sharing --seconds")
    parser.add_argument("--mlserver-workers", type=int, default=1,
                        help="MLServer's parallel_workers (0: inference in the server process)")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        spec = json.loads(args.load)
        bodies = (Path(spec["bodies_file"]).read_bytes().splitlines()
                  if spec.get("bodies_file") else None)
        print(json.dumps(asyncio.run(_load(spec["url"], spec["headers"], spec["concurrency"],
                                           spec["seconds"], warmup=2.0, bodies=bodies,
                                           keep=spec.get("keep", False)))))
        return
    if args.peer == "mlserver":
        compare_mlserver(args)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    python = peer_venv.ensure("mlflow", MLFLOW_REQUIREMENTS)
    results: dict[str, dict[int, dict]] = {"mlflow": {}, "triops": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        procs: list[subprocess.Popen] = []
        try:
            mlflow_proc, mlflow_url = start_mlflow(tmp, python)
            procs.append(mlflow_proc)
            triops_proc, triops_url = start_triops(tmp, procs)
        except BaseException:
            for proc in procs:
                proc.terminate()
            raise
        targets = {
            "mlflow": (f"{mlflow_url}/invocations", {}),
            "triops": (f"{triops_url}/api/v1/endpoints/bench/predict",
                       {"Authorization": f"Bearer {KEY}"}),
        }
        try:
            for c in levels:
                order = ["mlflow", "triops"] if c % 2 else ["triops", "mlflow"]
                for name in order:
                    url, headers = targets[name]
                    results[name][c] = measure(url, headers, c, args.seconds)
                    print(f"[bench] {name:6} c={c:<3} {results[name][c]}", file=sys.stderr)
        finally:
            for proc in (mlflow_proc, triops_proc):
                proc.terminate()
                proc.wait(30)
    report(results, levels, args)


def report(results: dict[str, dict[int, dict]], levels: list[int],
           args: argparse.Namespace) -> None:
    print(f"\nsingle-row requests, {args.seconds:g} s per level, RandomForest 100 trees\n")
    print("| concurrency | mlflow req/s | triops req/s | ratio | mlflow p50 / p99 ms "
          "| triops p50 / p99 ms |")
    print("|---|---|---|---|---|---|")
    for c in levels:
        m, t = results["mlflow"][c], results["triops"][c]
        ratio = t["rps"] / m["rps"] if m["rps"] else float("inf")
        print(f"| {c} | {m['rps']:.0f} | {t['rps']:.0f} | {ratio:.2f}x | "
              f"{m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {t['p50_ms']:.1f} / {t['p99_ms']:.1f} |")
    errors = {n: sum(r["errors"] for r in results[n].values()) for n in results}
    print(f"\nerrors: {errors}")
    OUT.mkdir(exist_ok=True)
    (OUT / "serving.json").write_text(json.dumps(results, indent=2))


# -- triops vs MLServer: the same V2 infer requests ------------------------------------

def mlserver_requirements() -> list[str]:
    """MLServer 1.7 and its scikit-learn runtime, with the scikit-learn triops fits with
    (so that the joblib files load as they were dumped). uvloop 0.22 and later refuse
    ``asyncio.get_event_loop()`` without a running loop, which MLServer 1.7's inference
    worker processes call as they start."""
    import sklearn

    return ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", f"scikit-learn=={sklearn.__version__}",
            "uvloop<0.22"]


#: Served by both sides: name -> (triops endpoint, the estimator's maker).
MLSERVER_MODELS = {"rf": ("bench", serving_model.model), "lr": ("bench-lr", serving_model.logistic)}
MLSERVER_SIDES = ["triops", "mlserver", "mlserver-batched"]


def v2_bodies(rows: int, n: int = 64) -> list[bytes]:
    """``n`` V2 infer bodies of ``rows`` consecutive rows each, one [rows, 20] FP64 tensor."""
    x, _ = serving_model.data()
    values = x.to_numpy()
    return [json.dumps({"inputs": [{
        "name": "input-0", "shape": [rows, values.shape[1]], "datatype": "FP64",
        "data": values[i * rows:(i + 1) * rows].ravel().tolist()}]}).encode()
        for i in range(n)]


def _same_answers(targets: dict[str, tuple[str, dict[str, str]]], bodies: list[bytes]) -> None:
    """Refuse to time servers that do not give the same predictions."""
    for body in bodies:
        got = {}
        for side, (url, headers) in targets.items():
            r = httpx.post(url, content=body, timeout=60,
                           headers={**headers, "Content-Type": "application/json"})
            r.raise_for_status()
            got[side] = r.json()["outputs"][0]["data"]
        if len({json.dumps(v) for v in got.values()}) != 1:
            raise RuntimeError(f"the servers disagree: {got}")


def compare_mlserver(args: argparse.Namespace) -> None:
    levels = [int(c) for c in args.concurrency.split(",")]
    python = peer_venv.ensure("mlserver", mlserver_requirements())
    version = subprocess.run([str(python), "-c", "import mlserver; print(mlserver.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    x, _ = serving_model.data()
    fitted = {name: make() for name, (_endpoint, make) in MLSERVER_MODELS.items()}
    started_load = load_average()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        procs: list[subprocess.Popen] = []
        try:
            ml_proc, ml_url = start_mlserver(tmp, python, fitted, args.mlserver_workers)
            procs.append(ml_proc)
            tri_proc, tri_url = start_triops(tmp, procs, model=fitted["rf"], x=x)
            for name, (endpoint, _make) in MLSERVER_MODELS.items():
                if endpoint != "bench":
                    deploy(tri_url, endpoint, f"{endpoint}-model", fitted[name], x)
            files = {}
            for rows in (1, 64):
                files[rows] = tmp / f"bodies-{rows}.jsonl"
                files[rows].write_bytes(b"\n".join(v2_bodies(rows)))
            auth = {"Authorization": f"Bearer {KEY}"}
            pids = {"triops": (tri_proc.pid, False), "mlserver": (ml_proc.pid, True),
                    "mlserver-batched": (ml_proc.pid, True)}
            for name, (endpoint, _make) in MLSERVER_MODELS.items():
                targets = {"triops": (f"{tri_url}/v2/models/{endpoint}/infer", auth),
                           "mlserver": (f"{ml_url}/v2/models/{name}/infer", {}),
                           "mlserver-batched": (f"{ml_url}/v2/models/{name}-batched/infer", {})}
                for rows, file in files.items():
                    _same_answers(targets, file.read_bytes().splitlines()[:4])
                    for c in levels:
                        cell = f"{name}/{rows}/{c}"
                        runs: dict[str, list[dict]] = {side: [] for side in MLSERVER_SIDES}
                        for r in range(args.rounds):
                            # Rotate the order each round, so load on the shared machine
                            # falls on every side alike.
                            k = r % len(MLSERVER_SIDES)
                            for side in MLSERVER_SIDES[k:] + MLSERVER_SIDES[:k]:
                                pid, tree = pids[side]
                                before = cpu_s(pid, tree)
                                url, headers = targets[side]
                                got = measure(url, headers, c, args.seconds / args.rounds,
                                              str(file), keep=True)
                                got["cpu_s"] = cpu_s(pid, tree) - before
                                runs[side].append(got)
                        results[cell] = {side: _pooled(got, args.seconds)
                                         for side, got in runs.items()}
                        results[cell]["load"] = load_average()
                        print(f"[bench] {cell} load {results[cell]['load']} " + "  ".join(
                            f"{side} {v['rps']:.0f}/s {v['p50_ms']:.1f}/{v['p99_ms']:.1f} ms"
                            for side, v in results[cell].items() if side != "load"),
                            file=sys.stderr)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    report_mlserver(results, version, started_load, args)


def _pooled(runs: list[dict], seconds: float) -> dict:
    latencies = sorted(t for run in runs for t in run.pop("latencies_ms"))

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies \
            else float("nan")

    answered = sum(run["answered"] for run in runs)
    return {"rps": len(latencies) / seconds, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "errors": sum(run["errors"] for run in runs),
            "cpu_ms": sum(run["cpu_s"] for run in runs) * 1000 / max(1, answered),
            "rounds": runs}


def report_mlserver(results: dict[str, dict], version: str, started_load: str,
                    args: argparse.Namespace) -> None:
    print(f"\nMLServer {version}, parallel_workers {args.mlserver_workers}; {args.seconds:g} s "
          f"per side and cell in {args.rounds} rounds; load average {started_load} at the "
          f"start, {load_average()} at the end\n")
    print("| model | rows | concurrency | triops req/s | triops p50 / p99 ms "
          "| MLServer req/s | p50 / p99 ms | ratio "
          "| MLServer batched req/s | p50 / p99 ms | ratio | CPU ms/request t / m / mb "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cell, got in results.items():
        model, rows, c = cell.split("/")
        t = got["triops"]
        line = f"| {model} | {rows} | {c} | {t['rps']:,.0f} | {t['p50_ms']:.1f} / {t['p99_ms']:.1f} "
        for side in ("mlserver", "mlserver-batched"):
            m = got[side]
            ratio = t["rps"] / m["rps"] if m["rps"] else float("inf")
            line += (f"| {m['rps']:,.0f} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} "
                     f"| {ratio:.2f}× ")
        line += "| " + " / ".join(f"{got[s]['cpu_ms']:.2f}" for s in MLSERVER_SIDES)
        print(line + f" | {got['load'].split()[0]} |")
    errors = {s: sum(got[s]["errors"] for got in results.values()) for s in MLSERVER_SIDES}
    print(f"\nerrors: {errors}")
    OUT.mkdir(exist_ok=True)
    (OUT / "serving_mlserver.json").write_text(json.dumps(
        {"mlserver": version, "parallel_workers": args.mlserver_workers,
         "seconds": args.seconds, "rounds": args.rounds, "load_start": started_load,
         "load_end": load_average(), "cells": results}, indent=2))


if __name__ == "__main__":
    main()
