"""Drift report on 1,000,000 rows x 20 columns: triops vs Evidently's DataDriftPreset.

Usage::

    .venv/bin/python bench/drift.py [--rows 1000000] [--repeat 1]

The data (12 numeric and 8 categorical columns, fixed seed) is written once as parquet
to a temporary folder; reference and current frames have ``--rows`` rows each. Shifts
are injected in known columns, one of them (``n3``) deliberately below the threshold.
Each tool runs in its own subprocess — triops from this venv, Evidently 0.7.23 from
``bench/.venvs/evidently`` — reads the same files and reports the per-column verdicts.
Both use the same tests and thresholds: normalised Wasserstein (numeric) and
Jensen–Shannon (categorical) at 0.1, the choice Evidently makes above 1,000 rows.
The parent records wall time and peak memory (ru_maxrss of the child) of each.
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

NUMERIC = [f"n{i}" for i in range(12)]
CATEGORICAL = [f"c{i}" for i in range(8)]
#: The columns whose distribution is moved in the current frame, and how.
SHIFTED = {"n0": "mean +0.5 sd", "n1": "sd x1.6", "n2": "mean +0.25 sd",
           "c0": "mix reversed", "c1": "new category takes 30%"}
SUBTLE = {"n3": "mean +0.03 sd (below threshold)"}


def make_data(rows: int, folder: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(20251123)
    levels = [f"v{i}" for i in range(6)]
    probs = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])

    def frame(current: bool) -> pd.DataFrame:
        cols = {}
        for i, name in enumerate(NUMERIC):
            base = rng.normal(10 * i, 1 + i, rows) if i % 3 else rng.lognormal(1, 0.5, rows)
            sd = float(np.std(base))
            if current and name == "n0":
                base = base + 0.5 * sd
            if current and name == "n1":
                base = base.mean() + (base - base.mean()) * 1.6
            if current and name == "n2":
                base = base + 0.25 * sd
            if current and name == "n3":
                base = base + 0.03 * sd
            cols[name] = base
        for name in CATEGORICAL:
            p = probs
            if current and name == "c0":
                p = probs[::-1]
            values = rng.choice(levels, rows, p=p).astype(object)
            if current and name == "c1":
                values[rng.random(rows) < 0.3] = "new"
            cols[name] = values
        return pd.DataFrame(cols)

    frame(False).to_parquet(folder / "reference.parquet")
    frame(True).to_parquet(folder / "current.parquet")


def worker_triops(folder: Path) -> dict:
    import pandas as pd

    from triops.ml.monitoring import drift_report

    t0 = time.perf_counter()
    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    t1 = time.perf_counter()
    report = drift_report(ref, cur)
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "report_s": t2 - t1,
            "scores": {c.column: c.score for c in report.columns},
            "tests": {c.column: c.test for c in report.columns},
            "drifted": sorted(report.drifted_columns)}


def worker_evidently(folder: Path) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    t1 = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition))
    result = snapshot.dict()
    t2 = time.perf_counter()
    scores, tests, drifted = {}, {}, []
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            column = config["column"]
            scores[column], tests[column] = float(metric["value"]), config["method"]
            if float(metric["value"]) >= float(config["threshold"]):
                drifted.append(column)
    return {"read_s": t1 - t0, "report_s": t2 - t1, "scores": scores, "tests": tests,
            "drifted": sorted(drifted)}


def run_child(python: str, tool: str, folder: Path) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([python, __file__, "--worker", tool, str(folder)],
                            stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
    out = proc.stdout.read() if proc.stdout else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{tool} worker failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result.update(wall_s=wall, peak_mb=usage.ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, folder = args.worker
        fn = worker_triops if tool == "triops" else worker_evidently
        print(json.dumps(fn(Path(folder))))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peer_venv import ensure

    evidently_python = str(ensure("evidently", ["evidently==0.7.23", "pandas<3", "pyarrow"]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        make_data(args.rows, folder)
        print(f"data: {args.rows:,} reference + {args.rows:,} current rows x "
              f"{len(NUMERIC) + len(CATEGORICAL)} columns ({time.perf_counter() - t:.1f}s)")
        runs: dict[str, list[dict]] = {"triops": [], "evidently": []}
        for _ in range(args.repeat):  # interleaved so machine load hits both alike
            runs["triops"].append(run_child(sys.executable, "triops", folder))
            runs["evidently"].append(run_child(evidently_python, "evidently", folder))
    best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in runs.items()}
    print(f"{'tool':<10} {'wall s':>8} {'report s':>9} {'read s':>7} {'peak MB':>8}  drifted")
    for name, r in best.items():
        print(f"{name:<10} {r['wall_s']:>8.2f} {r['report_s']:>9.2f} {r['read_s']:>7.2f} "
              f"{r['peak_mb']:>8.0f}  {', '.join(r['drifted'])}")
    tri, evi = best["triops"], best["evidently"]
    print(f"speed-up: wall {evi['wall_s'] / tri['wall_s']:.1f}x, "
          f"report {evi['report_s'] / tri['report_s']:.1f}x; "
          f"memory {evi['peak_mb'] / tri['peak_mb']:.1f}x less")
    injected = sorted(SHIFTED)
    print(f"injected shifts: {injected}; triops found {tri['drifted']}, "
          f"Evidently found {evi['drifted']}")
    agree = sum(1 for c in tri["scores"] if (c in tri["drifted"]) == (c in evi["drifted"]))
    print(f"verdicts agree on {agree}/{len(tri['scores'])} columns; largest score gap "
          f"{max(abs(tri['scores'][c] - evi['scores'][c]) for c in tri['scores']):.4f}")


if __name__ == "__main__":
    main()
