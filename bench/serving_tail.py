"""Where a served request's latency tail comes from: ``triops up`` with timers around the
prediction log and the garbage collector, builds side by side.

  .venv/bin/python bench/serving_tail.py [--cell lr/64] [--concurrency 32] \
      [--seconds 8] before=/tmp/before/src after=$PWD/src

Each ``LABEL=SRC`` is a ``src`` folder (``git archive COMMIT src``). For each build, in
the order given, one ``triops up`` starts under a wrapper that times, inside the server:
each commit of the prediction log's writer thread (``LogWriter._flush``: rows, wall and
the thread's CPU ms), each record's JSON (``records.dumps``), how long a request waits
for its log row (``LogWriter.write``) and each collection of the cyclic garbage collector
(by generation). The cell (``serving_cpu.py``'s models and bodies) is loaded for
``--seconds`` after a 2 s warm-up; one JSON line per build gives the load generator's
figures and the wrapper's, counted from the start of the load, with the UTC time and the
load average. The timers cost CPU of their own: compare builds within one run, not with
``serving_cpu.py``'s figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import serving
import serving_model
from serving_cpu import ENDPOINTS

#: Runs ``triops up`` (argv) with the timers; writes what they saw to $TAIL_OUT each second.
WRAPPER = """
import gc, json, os, sys, threading, time
from triops.ml.serving import logwriter
from triops.store import records

seen = {"flush": [], "dumps": [], "log_wait": [], "gc": []}
started = {}

def on_gc(phase, info):
    if phase == "start":
        started["gc"] = time.perf_counter()
    else:
        ms = (time.perf_counter() - started.get("gc", time.perf_counter())) * 1000
        seen["gc"].append((time.time(), info["generation"], ms))

gc.callbacks.append(on_gc)
flush, dumps, write = logwriter.LogWriter._flush, records.dumps, logwriter.LogWriter.write

def timed_flush(self, batch):
    t0, c0 = time.perf_counter(), time.thread_time()
    flush(self, batch)
    seen["flush"].append((time.time(), len(batch), (time.perf_counter() - t0) * 1000,
                          (time.thread_time() - c0) * 1000))

def timed_dumps(data):
    t0 = time.perf_counter()
    out = dumps(data)
    seen["dumps"].append((time.time(), (time.perf_counter() - t0) * 1000))
    return out

async def timed_write(self, *args):
    t0 = time.perf_counter()
    try:
        return await write(self, *args)
    finally:
        seen["log_wait"].append((time.time(), (time.perf_counter() - t0) * 1000))

logwriter.LogWriter._flush, records.dumps = timed_flush, timed_dumps
logwriter.LogWriter.write = timed_write

def keep():
    while True:
        time.sleep(1.0)
        text = json.dumps(seen)
        with open(os.environ["TAIL_OUT"] + ".tmp", "w") as f:
            f.write(text)
        os.replace(os.environ["TAIL_OUT"] + ".tmp", os.environ["TAIL_OUT"])

threading.Thread(target=keep, daemon=True).start()
from triops.cli.main import run
sys.argv = ["triops", *sys.argv[1:]]
run()
"""


def _pct(values: list[float], p: float) -> float | None:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 2) if values else None


def _summary(seen: dict, since: float) -> dict:
    flush = [f for f in seen["flush"] if f[0] >= since]
    gcs = [g for g in seen["gc"] if g[0] >= since]
    out: dict = {
        "commits": len(flush), "rows_per_commit_max": max((f[1] for f in flush), default=0),
        "commit_wall_ms_p50_p99_max": [_pct([f[2] for f in flush], q) for q in (0.5, 0.99, 1)],
        "commit_cpu_ms_p50_p99_max": [_pct([f[3] for f in flush], q) for q in (0.5, 0.99, 1)],
        "dumps_ms_p50_p99_max": [_pct([d[1] for d in seen["dumps"] if d[0] >= since], q)
                                 for q in (0.5, 0.99, 1)],
        "log_wait_ms_p50_p99_max": [_pct([w[1] for w in seen["log_wait"] if w[0] >= since], q)
                                    for q in (0.5, 0.99, 1)]}
    for generation in (0, 1, 2):
        ms = [g[2] for g in gcs if g[1] == generation]
        out[f"gc{generation}_count_total_max_ms"] = [len(ms), round(sum(ms), 1),
                                                     round(max(ms, default=0), 2)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", default="lr/64")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("builds", nargs="+", help="LABEL=SRC")
    args = parser.parse_args()
    model, rows = args.cell.split("/")
    x, _ = serving_model.data()
    fitted = {"rf": serving_model.model(), "lr": serving_model.logistic()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bodies = tmp / "bodies.jsonl"
        bodies.write_bytes(b"\n".join(serving.v2_bodies(int(rows))))
        for label, src in (b.split("=", 1) for b in args.builds):
            home = tmp / label
            (home / "triops").mkdir(parents=True)
            seen_file = home / "seen.json"
            port = serving.free_port()
            with open(home / "triops.log", "wb") as server_log:
                proc = subprocess.Popen(
                    [sys.executable, "-c", WRAPPER, "up", "--port", str(port), "--store",
                     f"sqlite:///{home / 'triops' / 'triops.db'}", "--home",
                     str(home / "triops"), "--log-level", "warning"],
                    env={**os.environ, "PYTHONPATH": str(Path(src).resolve()),
                         "TRIOPS_ADMIN_KEY": serving.KEY, "TAIL_OUT": str(seen_file)},
                    stdout=subprocess.DEVNULL, stderr=server_log)
            try:
                url = f"http://127.0.0.1:{port}"
                serving.wait_ready(url + "/readyz", proc)
                serving.deploy(url, ENDPOINTS[model], f"tail-{model}", fitted[model], x)
                since = time.time()
                got = serving.measure(f"{url}/v2/models/{ENDPOINTS[model]}/infer",
                                      {"Authorization": f"Bearer {serving.KEY}"},
                                      args.concurrency, args.seconds, str(bodies))
                time.sleep(1.5)  # the wrapper's next write of what it saw
                seen = json.loads(seen_file.read_text())
            finally:
                proc.terminate()
                proc.wait(30)
            print(json.dumps({
                "utc": time.strftime("%H:%M:%S", time.gmtime()),
                "load": serving.load_average(), "build": label, "cell": args.cell,
                "concurrency": args.concurrency, "rps": round(got["rps"]),
                "p50_ms": round(got["p50_ms"], 2), "p99_ms": round(got["p99_ms"], 2),
                "errors": got["errors"], **_summary(seen, since)}), flush=True)


if __name__ == "__main__":
    main()
