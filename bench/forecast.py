"""Forecast the M4 hourly series with triops and statsforecast; score as M4 did.

    python bench/forecast.py                      # triops (CLI) + Naive2 + statsforecast
    python bench/forecast.py --methods triops --limit 50
    python bench/forecast.py --cv 5               # choose Settings by k-fold over series
    python bench/forecast.py --methods triops --levels 0.8,0.9,0.95   # interval coverage

triops runs through its CLI contract (``triops ops forecast``); statsforecast runs from
PyPI in ``bench/.venvs/statsforecast`` so it never becomes a triops dependency. Scoring
follows the dataset README: sMAPE, MASE (lag-24 in-sample scale) and OWA against Naive2,
each averaged over series.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from peer_venv import ensure

from triops.ops.forecasting import Settings, forecast

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TRIOPS_DATASETS", ROOT.parent.parent / "shared" / "datasets")) / "m4hourly"
OUT = ROOT / "bench" / "out" / "forecast"
PERIOD, HORIZON = 24, 48
SF_MODELS = ("AutoETS", "AutoTheta", "MSTL", "SeasonalNaive")
SF_REQUIREMENTS = ["statsforecast==2.1.1", "pandas"]
ALL_METHODS = ("triops", "naive2", *(f"sf:{m}" for m in SF_MODELS))


def load(path: Path) -> dict[str, np.ndarray]:
    rows: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["series"], []).append((int(row["t"]), float(row["value"])))
    return {k: np.array([v for _, v in sorted(r)]) for k, r in rows.items()}


def write(series: dict[str, np.ndarray], path: Path) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["series", "t", "value"])
        for name, values in series.items():
            out.writerows([name, t, repr(float(v))] for t, v in enumerate(values))


def naive2(x: np.ndarray, h: int, m: int = PERIOD) -> np.ndarray:
    """M4's Naive2: naive on the series deseasonalised by classical multiplicative
    decomposition, applied when a 90 % autocorrelation test at lag m finds seasonality."""
    n = len(x)
    xc = x - x.mean()
    acf = np.array([np.sum(xc[k:] * xc[: n - k]) for k in range(m + 1)]) / np.sum(xc * xc)
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[1:m] ** 2)) / n)
    if abs(acf[m]) <= limit:
        return np.full(h, x[-1])
    kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m
    trend = np.convolve(x, kernel, mode="valid")  # positions m/2 .. n-m/2-1
    ratio = x[m // 2: m // 2 + len(trend)] / trend
    phase = (np.arange(len(ratio)) + m // 2) % m
    index = np.array([ratio[phase == p].mean() for p in range(m)])
    index = index / index.mean()
    season = index[np.arange(n) % m]
    future = index[np.arange(n, n + h) % m]
    return np.full(h, x[-1] / season[-1]) * future


def scores(train: np.ndarray, test: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    smape = float(np.mean(200 * np.abs(test - pred) / (np.abs(test) + np.abs(pred))))
    scale = float(np.mean(np.abs(train[PERIOD:] - train[:-PERIOD])))
    return smape, float(np.mean(np.abs(test - pred)) / scale)


def owa(s: np.ndarray, ref: np.ndarray) -> float:
    """OWA of per-series (sMAPE, MASE) rows ``s`` against Naive2's rows ``ref``."""
    return float((s[:, 0].mean() / ref[:, 0].mean() + s[:, 1].mean() / ref[:, 1].mean()) / 2)


def run_triops_cli(train_csv: Path, level: float = Settings.level
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    out = OUT / "triops.csv"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "triops", "ops", "forecast", "--input", str(train_csv),
                    "--horizon", str(HORIZON), "--output", str(out), "--level", str(level)],
                   check=True, env=env)
    wall = time.perf_counter() - started
    cols: dict[str, dict[str, list[float]]] = {"forecast": {}, "lo": {}, "hi": {}}
    with out.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for c, d in cols.items():
                d.setdefault(row["series"], []).append(float(row[c]))
    f, lo, hi = ({k: np.array(v) for k, v in d.items()} for d in cols.values())
    return f, {"lo": lo, "hi": hi}, wall  # type: ignore[return-value]


def run_statsforecast(train_csv: Path, models: list[str]) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
    python = ensure("statsforecast", SF_REQUIREMENTS)
    out = OUT / "statsforecast.csv"
    script = ROOT / "bench" / "peers" / "statsforecast_m4.py"
    done = subprocess.run([str(python), str(script), str(train_csv), str(HORIZON), str(out),
                           ",".join(models)], check=True, capture_output=True, text=True)
    walls = {line.split()[0]: float(line.split()[1]) for line in done.stdout.splitlines() if line}
    preds: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    with out.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for m in models:
                preds[m].setdefault(row["series"], []).append(float(row[m]))
    return {m: {k: np.array(v) for k, v in d.items()} for m, d in preds.items()}, walls


def table(train, test, results, walls, names) -> None:  # type: ignore[no-untyped-def]
    ref = np.array([scores(train[k], test[k], naive2(train[k], HORIZON)) for k in names])
    print(f"\n{len(names)} series, horizon {HORIZON}\n")
    print("| method | sMAPE | MASE | OWA | wall s |\n|---|---|---|---|---|")
    for label, preds in results.items():
        s = np.array([scores(train[k], test[k], preds[k]) for k in names])
        wall = f"{walls[label]:.1f}" if label in walls else "–"
        print(f"| {label} | {s[:, 0].mean():.2f} | {s[:, 1].mean():.3f} | {owa(s, ref):.3f} | {wall} |")


def cross_validate(train, test, names, folds: int) -> None:  # type: ignore[no-untyped-def]
    """Pick Settings on k-1 folds of series, score them on the fold left out."""
    grid = [Settings(windows=w, top=t) for w, t in itertools.product((1, 2, 3), (1, 2, 3, 4, 6))]
    ref = np.array([scores(train[k], test[k], naive2(train[k], HORIZON)) for k in names])
    per = []
    for s in grid:
        started = time.perf_counter()
        per.append(np.array([scores(train[k], test[k], forecast(train[k], HORIZON, settings=s).mean)
                             for k in names]))
        print(f"windows={s.windows} top={s.top}: OWA {owa(per[-1], ref):.3f} "
              f"({time.perf_counter() - started:.1f}s)", flush=True)
    fold_of = np.arange(len(names)) % folds
    np.random.default_rng(0).shuffle(fold_of)
    held, chosen = [], []
    for f in range(folds):
        fit, hold = fold_of != f, fold_of == f
        best = min(range(len(grid)), key=lambda i: owa(per[i][fit], ref[fit]))
        chosen.append(grid[best])
        held.append(owa(per[best][hold], ref[hold]))
    default = next(i for i, s in enumerate(grid) if (s.windows, s.top) == (Settings.windows, Settings.top))
    print(f"\nper fold chosen: {[(s.windows, s.top) for s in chosen]}")
    print(f"held-out-fold OWA (mean of {folds}): {np.mean(held):.3f}")
    print(f"in-sample OWA of the default windows={Settings.windows} top={Settings.top}: "
          f"{owa(per[default], ref):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(ALL_METHODS), help=f"comma list of {ALL_METHODS}")
    ap.add_argument("--limit", type=int, default=0, help="only the first N series")
    ap.add_argument("--cv", type=int, default=0, help="k-fold cross-validation of Settings over series")
    ap.add_argument("--levels", type=lambda v: [float(x) for x in v.split(",")],
                    default=[Settings.level],
                    help="interval levels whose coverage of the test points is reported "
                         "(one CLI run each), e.g. 0.8,0.9,0.95")
    args = ap.parse_args()
    train, test = load(DATA / "train.csv"), load(DATA / "test.csv")
    names = list(train)[: args.limit or None]
    OUT.mkdir(parents=True, exist_ok=True)
    if args.cv:
        cross_validate(train, test, names, args.cv)
        return
    methods = args.methods.split(",")
    unknown = set(methods) - set(ALL_METHODS)
    if unknown:
        ap.error(f"unknown method(s) {sorted(unknown)}")
    train_csv = OUT / "train.csv"
    write({k: train[k] for k in names}, train_csv)
    results: dict[str, dict[str, np.ndarray]] = {}
    walls: dict[str, float] = {}
    if "naive2" in methods:
        started = time.perf_counter()
        results["Naive2"] = {k: naive2(train[k], HORIZON) for k in names}
        walls["Naive2"] = time.perf_counter() - started
    if "triops" in methods:
        for i, level in enumerate(args.levels):
            f, band, wall = run_triops_cli(train_csv, level)
            if i == 0:  # the point forecast does not depend on the level
                results["triops (CLI)"], walls["triops (CLI)"] = f, wall
            inside = np.mean([np.mean((test[k] >= band["lo"][k]) & (test[k] <= band["hi"][k]))
                              for k in names])
            width = np.mean([np.mean(band["hi"][k] - band["lo"][k]) / np.mean(np.abs(train[k]))
                             for k in names])
            print(f"triops {level:.0%} interval covers {inside:.1%} of the test points "
                  f"(mean width {width:.1%} of the series' mean level)", flush=True)
    sf = [m.split(":", 1)[1] for m in methods if m.startswith("sf:")]
    if sf:
        preds, sf_walls = run_statsforecast(train_csv, sf)
        for m in sf:
            results[f"statsforecast {m}"] = preds[m]
            walls[f"statsforecast {m}"] = sf_walls[m]
    table(train, test, results, walls, names)


if __name__ == "__main__":
    main()
