"""Server CPU per Open Inference Protocol ``infer`` request, builds side by side.

  .venv/bin/python bench/serving_cpu.py [--rounds 3] [--concurrency 8] \
      [--cells lr/64,rf/64,lr/1] before=/tmp/before/src after=$PWD/src

Each ``LABEL=SRC`` is a build: a ``src`` folder that ``triops up`` runs from (through
``PYTHONPATH``; a tree of another commit comes from ``git archive COMMIT src``). Each
round starts one server per build, in an order that alternates by round, deploys the
bench's forest and logistic regression on it (``serving.py``'s models and ``deploy``),
and times each cell (model/rows: ``v2_bodies`` of that many rows) with ``serving.py``'s
load generator for 4 s after a 2 s warm-up. Prints one JSON line per cell and build:
requests/s, p50 and p99 ms, and the server's CPU ms per answered request (warm-up
included), with the UTC time and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import serving
import serving_model

ENDPOINTS = {"rf": "bench", "lr": "bench-lr"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cells", default="lr/64,rf/64,lr/1")
    parser.add_argument("builds", nargs="+", help="LABEL=SRC")
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    cells = [(c.split("/")[0], int(c.split("/")[1])) for c in args.cells.split(",")]
    x, _ = serving_model.data()
    fitted = {"rf": serving_model.model(), "lr": serving_model.logistic()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = {}
        for rows in {rows for _m, rows in cells}:
            files[rows] = tmp / f"bodies-{rows}.jsonl"
            files[rows].write_bytes(b"\n".join(serving.v2_bodies(rows)))
        for r in range(args.rounds):
            for label, src in builds if r % 2 == 0 else builds[::-1]:
                os.environ["PYTHONPATH"] = str(Path(src).resolve())
                home = tmp / f"{label}-{r}"
                home.mkdir()
                procs: list = []
                try:
                    proc, url = serving.start_triops(home, procs, model=fitted["rf"], x=x)
                    serving.deploy(url, ENDPOINTS["lr"], "bench-lr-model", fitted["lr"], x)
                    auth = {"Authorization": f"Bearer {serving.KEY}"}
                    for model, rows in cells:
                        before = serving.cpu_s(proc.pid)
                        got = serving.measure(f"{url}/v2/models/{ENDPOINTS[model]}/infer", auth,
                                              args.concurrency, 4.0, str(files[rows]))
                        cpu = serving.cpu_s(proc.pid) - before
                        print(json.dumps({
                            "utc": time.strftime("%H:%M:%S", time.gmtime()),
                            "load": serving.load_average(), "build": label, "round": r,
                            "cell": f"{model}/{rows}", "rps": round(got["rps"]),
                            "p50_ms": round(got["p50_ms"], 2), "p99_ms": round(got["p99_ms"], 2),
                            "errors": got["errors"],
                            "cpu_ms": round(cpu * 1000 / max(1, got["answered"]), 3)}),
                            flush=True)
                finally:
                    for p in procs:
                        p.terminate()
                        p.wait(30)


if __name__ == "__main__":
    main()
