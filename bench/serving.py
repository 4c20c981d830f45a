"""Model serving: triops vs ``mlflow models serve``, same model, same machine, one run.

  .venv/bin/python bench/serving.py [--seconds 10] [--concurrency 1,8,32]

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
    proc = subprocess.Popen(
        [str(python.parent / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "mlflow.log", "wb"), cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    print(f"[bench] mlflow models serve ready in {wait_ready(url + '/ping', proc):.1f}s "
          f"({uri})", file=sys.stderr)
    return proc, url


def start_triops(tmp: Path, procs: list[subprocess.Popen], model=None, x=None
                 ) -> tuple[subprocess.Popen, str]:
    """``triops up`` with ``model`` (default: the shared forest) deployed as ``bench``."""
    import mlflow
    from mlflow.models import infer_signature

    home = tmp / "triops"
    home.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "triops", "up", "--port", str(port),
         "--store", f"sqlite:///{home / 'triops.db'}", "--home", str(home),
         "--log-level", "warning"],
        env={**os.environ, "TRIOPS_ADMIN_KEY": KEY}, stdout=subprocess.DEVNULL,
        stderr=open(tmp / "triops.log", "wb"))
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    print(f"[bench] triops ready in {wait_ready(url + '/readyz', proc):.1f}s", file=sys.stderr)
    os.environ["MLFLOW_TRACKING_TOKEN"] = KEY
    mlflow.set_tracking_uri(url)
    if model is None:
        x, _ = serving_model.data()
        model = serving_model.model()
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="bench-rf",
                                 signature=infer_signature(x, model.predict(x)),
                                 serialization_format="skops", pip_requirements=["scikit-learn"],
                                 skops_trusted_types=["sklearn.tree._tree.Tree"])
    deployed = httpx.post(f"{url}/api/v1/endpoints", headers={"Authorization": f"Bearer {KEY}"},
                          json={"name": "bench", "model": "bench-rf/1"}, timeout=60)
    deployed.raise_for_status()
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
                warmup: float, bodies: list[bytes] | None = None) -> dict:
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

    return {"requests": len(latencies), "answered": answered,
            "rps": len(latencies) / seconds, "errors": errors,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def measure(url: str, headers: dict[str, str], concurrency: int, seconds: float,
            bodies_file: str | None = None) -> dict:
    """Load ``url`` from a separate process; ``bodies_file`` holds one JSON body a line
    (default: rows of the shared forest's data)."""
    out = subprocess.run(
        [sys.executable, __file__, "--load", json.dumps(
            {"url": url, "headers": headers, "concurrency": concurrency, "seconds": seconds,
             "bodies_file": bodies_file})],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        spec = json.loads(args.load)
        bodies = (Path(spec["bodies_file"]).read_bytes().splitlines()
                  if spec.get("bodies_file") else None)
        print(json.dumps(asyncio.run(_load(spec["url"], spec["headers"], spec["concurrency"],
                                           spec["seconds"], warmup=2.0, bodies=bodies))))
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


if __name__ == "__main__":
    main()
