"""Explanations and fairness on UCI Adult: triops vs shap and Fairlearn, side by side.

Usage::

    .venv/bin/python bench/explain.py [--rows 1000] [--repeat 5] [--skip-fairness]

Attributions: a gradient-boosted model (100 trees, depth 3) and a random forest (100
trees, depth 8) are trained on Adult (categorical columns as ordinal codes) and pickled
to a temporary folder. triops (this venv) and ``shap.TreeExplainer`` with
``feature_perturbation="tree_path_dependent"`` (shap 0.51.0, the last release for
Python 3.11, from ``bench/.venvs/shap``) explain the same rows: one row at a time
(``--rows`` calls, the median per call) and one batch of ``--rows`` rows (the best of
``--repeat``). Both runs are interleaved, round by round, so that load on the machine
falls on both alike. The values are compared element by element.

Fairness: a gradient-boosted model trained on the first half of Adult predicts the
second half; every prediction is logged with its label into a fresh SQLite store, as
serving logs them. triops reads the log back in windows of ``--window`` predictions,
counts per group window by window (``FairnessCounts``) and merges the windows; Fairlearn's
``MetricFrame`` (selection rate, accuracy, TPR, FPR) and its
``demographic_parity_difference`` / ``equalized_odds_difference`` get the same rows, by
``sex`` and by ``race``, per window and over all. The largest absolute difference of any
metric is reported.

Serving (``--serving-depth``, ``--serving-seconds``, ``--serving-rounds``): ``triops up``
serves a 100-tree forest; single-row requests at concurrency 8 alternate between
``predict`` and ``explain`` round by round. Per round: p50 / p99 latency, and the
server's CPU time per answered request (from ``/proc``), which load from other processes
inflates far less than latency; the added p50 and added CPU are reported per round, as a
mean and as a median.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT.parent / "shared" / "datasets" / "adult" / "adult.data"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

#: Fairlearn on the rows written by ``fairness()``: per window and over all, every metric.
FAIRLEARN = r'''
import json, sys
import numpy as np, pandas as pd
from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
    equalized_odds_difference, false_positive_rate, selection_rate, true_positive_rate)
from sklearn.metrics import accuracy_score
rows = pd.read_csv(sys.argv[1])
out = {}
for window, part in [("all", rows)] + list(rows.groupby("window")):
    for by in ("sex", "race"):
        mf = MetricFrame(metrics={"selection_rate": selection_rate, "accuracy": accuracy_score,
                                  "tpr": true_positive_rate, "fpr": false_positive_rate},
                         y_true=part.label, y_pred=part.pred, sensitive_features=part[by])
        out[f"{window}/{by}"] = {
            "groups": {str(g): {k: float(v) for k, v in r.items()} for g, r in mf.by_group.iterrows()},
            "demographic_parity_difference": float(demographic_parity_difference(
                part.label, part.pred, sensitive_features=part[by])),
            "equalized_odds_difference": float(equalized_odds_difference(
                part.label, part.pred, sensitive_features=part[by]))}
print(json.dumps(out))
'''

PEER_REQUIREMENTS = ["shap==0.51.0", "scikit-learn==1.9.1", "pandas", "fairlearn==0.15.0"]

#: The peer side, run in the shap venv: times shap on the same pickled models and rows.
PEER = r'''
import json, pickle, sys, time
import numpy as np, pandas as pd, shap
folder, name, rows, repeat, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
model = pickle.load(open(f"{folder}/{name}.pkl", "rb"))
x = pd.read_csv(f"{folder}/x.csv").iloc[:rows]
explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
def values(frame):
    v = np.asarray(explainer.shap_values(frame, check_additivity=False))
    return v[:, :, -1] if v.ndim == 3 else v
values(x.iloc[:1])
if mode == "single":
    times = []
    for i in range(rows):
        row = x.iloc[i:i + 1]
        t = time.perf_counter(); values(row); times.append(time.perf_counter() - t)
    print(json.dumps({"single_ms": float(np.median(times)) * 1e3}))
else:
    t = time.perf_counter(); v = values(x); took = time.perf_counter() - t
    np.save(f"{folder}/{name}_shap.npy", v)
    base = float(np.atleast_1d(explainer.expected_value)[-1])
    print(json.dumps({"batch_s": took, "base": base}))
'''


def adult():
    import pandas as pd

    df = pd.read_csv(ADULT, skipinitialspace=True)
    y = (df.pop("income") == ">50K").astype(int)
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = pd.Categorical(df[c]).codes
    return df.astype(float), y


def attributions(rows: int, repeat: int) -> dict:
    import numpy as np
    from peer_venv import ensure
    from sklearn import ensemble

    from triops.ml.explain import build_explainer
    from triops.ml.serving.loaders import ModelHandle

    python = ensure("shap", PEER_REQUIREMENTS)
    x, y = adult()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        x.sample(rows, random_state=1).to_csv(f"{folder}/x.csv", index=False)
        sample = x.sample(rows, random_state=1).to_numpy()
        (Path(folder) / "peer.py").write_text(PEER)
        models = {
            "gradient boosting (100 trees, depth 3)": ensemble.GradientBoostingClassifier(
                n_estimators=100, max_depth=3, random_state=0),
            "random forest (100 trees, depth 8)": ensemble.RandomForestClassifier(
                n_estimators=100, max_depth=8, random_state=0, n_jobs=1),
        }
        for i, (label, model) in enumerate(models.items()):
            name = f"m{i}"
            model.fit(x, y)
            (Path(folder) / f"{name}.pkl").write_bytes(pickle.dumps(model))
            started = time.perf_counter()
            explainer = build_explainer(
                ModelHandle(predict=model.predict, columns=None, format="pickle", native=model),
                list(x.columns))
            build_s = time.perf_counter() - started
            explainer.explain(sample[:1])
            ours_single, ours_batch, peer_single, peer_batch = [], [], [], []
            peer = {}
            for _ in range(repeat):
                times = []
                for r in range(rows):
                    t = time.perf_counter()
                    explainer.explain(sample[r:r + 1])
                    times.append(time.perf_counter() - t)
                ours_single.append(float(np.median(times)) * 1e3)
                t = time.perf_counter()
                got = explainer.explain(sample)
                ours_batch.append(time.perf_counter() - t)
                for mode in ("single", "batch"):
                    out = subprocess.run([str(python), f"{folder}/peer.py", folder, name,
                                          str(rows), "1", mode],
                                         capture_output=True, text=True, check=True)
                    peer.update(json.loads(out.stdout.strip().splitlines()[-1]))
                peer_single.append(peer["single_ms"])
                peer_batch.append(peer["batch_s"])
            reference = np.load(f"{folder}/{name}_shap.npy")
            results[label] = {
                "output": explainer.output,
                "max_abs_diff": float(np.abs(reference - got.values).max()),
                "base_diff": abs(peer["base"] - float(got.base_values[0])),
                "triops_single_ms": min(ours_single), "shap_single_ms": min(peer_single),
                "triops_batch_s": min(ours_batch), "shap_batch_s": min(peer_batch),
                "triops_build_s": build_s,
            }
            print(label, json.dumps(results[label]), flush=True)
    return results


def fairness(window: int) -> dict:
    import numpy as np
    from peer_venv import ensure
    from sklearn import ensemble

    from triops.ml.monitoring.fairness import FairnessCounts, is_positive
    from triops.ml.monitoring.sources import LABEL, OUTPUT, served_frame
    from triops.ml.serving import PREDICTION_KIND, append_labels
    from triops.ml.serving.predictions import prediction_row
    from triops.store import records
    from triops.store.engine import Database
    from triops.store.migrate import upgrade

    python = ensure("shap", PEER_REQUIREMENTS)
    import pandas as pd

    raw = pd.read_csv(ADULT, skipinitialspace=True)
    x, y = adult()
    half = len(x) // 2
    model = ensemble.GradientBoostingClassifier(random_state=0).fit(x[:half], y[:half])
    test = raw.iloc[half:].reset_index(drop=True)
    pred = model.predict(x[half:])
    truth = y[half:].to_numpy()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/log.db")
        upgrade(db.engine)
        logged = [prediction_row(endpoint="adult", time_ms=1000 + i, request_id=f"r{i}",
                                 model="adult", version=1, served_by="primary",
                                 latency_ms=0.0, columns=["sex", "race"],
                                 rows=[[test.sex[i], test.race[i]]], outputs=[int(pred[i])])
                  for i in range(len(test))]
        with db.write() as session:
            records.append(session, "default", PREDICTION_KIND, logged)
            append_labels(session, "default", "adult", 10_000_000,
                          [(f"r{i}", int(truth[i])) for i in range(len(test))])
        started = time.perf_counter()
        ours: dict[str, dict] = {}
        totals = {"sex": FairnessCounts(), "race": FairnessCounts()}
        n_windows = (len(test) + window - 1) // window
        for w in range(n_windows):
            with db.read() as session:
                frame = served_frame(session, "default", "adult", start_ms=1000 + w * window,
                                     end_ms=1000 + (w + 1) * window, limit=None).frame
            t = is_positive(frame[LABEL].tolist(), 1)
            p = is_positive(frame[OUTPUT].tolist(), 1)
            for by, total in totals.items():
                counts = FairnessCounts()
                counts.update(frame[by].tolist(), t, p)
                ours[f"{w}/{by}"] = counts.report()
                total.merge(counts)
        for by, total in totals.items():
            ours[f"all/{by}"] = total.report()
        took = time.perf_counter() - started
        table = pd.DataFrame({"sex": test.sex, "race": test.race, "label": truth, "pred": pred,
                              "window": np.arange(len(test)) // window})
        table.to_csv(f"{folder}/rows.csv", index=False)
        (Path(folder) / "fairlearn_peer.py").write_text(FAIRLEARN)
        out = subprocess.run([str(python), f"{folder}/fairlearn_peer.py", f"{folder}/rows.csv"],
                             capture_output=True, text=True, check=False)
        if out.returncode:
            raise SystemExit(out.stderr)
        theirs = json.loads(out.stdout.strip().splitlines()[-1])
    worst = 0.0
    compared = 0
    for key, ref in theirs.items():
        mine = ours[key]
        for gap in ("demographic_parity_difference", "equalized_odds_difference"):
            if abs(ref[gap] - mine[gap]) > 1e-9:
                print("differs", key, gap, ref[gap], mine[gap], file=sys.stderr)
            worst = max(worst, abs(ref[gap] - mine[gap]))
            compared += 1
        for group, metrics in ref["groups"].items():
            for name, value in metrics.items():
                got = mine["groups"][group][name]
                worst = max(worst, abs(value - got))
                compared += 1
    result = {"rows": len(test), "windows": n_windows, "values_compared": compared,
              "max_abs_diff": worst, "triops_s": took,
              "dpd_sex": ours["all/sex"]["demographic_parity_difference"],
              "eod_sex": ours["all/sex"]["equalized_odds_difference"],
              "dpd_race": ours["all/race"]["demographic_parity_difference"],
              "eod_race": ours["all/race"]["equalized_odds_difference"]}
    print("fairness", json.dumps(result), flush=True)
    return result


def serving(seconds: float, depth: int, concurrency: int = 8, rounds: int = 2) -> dict:
    """p50 of predict vs explain through ``triops up`` for a 100-tree forest on Adult, and
    the server's CPU time per request of each (which load on the machine inflates less
    than latency)."""
    import httpx
    import serving as serving_bench
    from sklearn import ensemble

    x, y = adult()
    model = ensemble.RandomForestClassifier(n_estimators=100, max_depth=depth, random_state=0,
                                            n_jobs=1).fit(x, y)
    rows = x.sample(256, random_state=2)
    runs: dict[str, list[dict]] = {"predict": [], "explain": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bodies = tmp / "bodies.jsonl"
        bodies.write_text("\n".join(json.dumps({"dataframe_split": {
            "columns": list(x.columns), "data": [row]}}) for row in rows.values.tolist()))
        procs: list = []
        proc, url = serving_bench.start_triops(tmp, procs, model=model, x=x)
        headers = {"Authorization": f"Bearer {serving_bench.KEY}"}
        try:
            # The explainer is built on the first request that asks: not measured.
            started = time.perf_counter()
            first = httpx.post(f"{url}/api/v1/endpoints/bench/explain", headers=headers,
                               content=bodies.read_text().splitlines()[0], timeout=300)
            first.raise_for_status()
            built_s = time.perf_counter() - started
            for round_ in range(rounds):  # alternate, so that load on the machine hits both
                for verb in (("predict", "explain") if round_ % 2 == 0 else ("explain", "predict")):
                    cpu = serving_bench.cpu_s(proc.pid)
                    got = serving_bench.measure(f"{url}/api/v1/endpoints/bench/{verb}", headers,
                                                concurrency, seconds / rounds, str(bodies))
                    got["cpu_ms"] = (serving_bench.cpu_s(proc.pid) - cpu) * 1000 / max(1, got["answered"])
                    runs[verb].append(got)
        finally:
            proc.terminate()
            proc.wait(30)
    result: dict = {"depth": depth, "concurrency": concurrency, "rounds": rounds,
                    "first_explain_s": built_s}
    for verb, got in runs.items():
        for k in ("rps", "p50_ms", "p99_ms", "cpu_ms"):
            result[f"{verb}_{k}"] = sum(g[k] for g in got) / len(got)
    result["added_p50_ms"] = result["explain_p50_ms"] - result["predict_p50_ms"]
    result["added_cpu_ms"] = result["explain_cpu_ms"] - result["predict_cpu_ms"]
    # Per round, so that a load spike in one round shows as such.
    result["added_p50_ms_by_round"] = [e["p50_ms"] - p["p50_ms"]
                                       for p, e in zip(runs["predict"], runs["explain"],
                                                       strict=True)]
    result["added_cpu_ms_by_round"] = [e["cpu_ms"] - p["cpu_ms"]
                                       for p, e in zip(runs["predict"], runs["explain"],
                                                       strict=True)]
    for key in ("added_p50_ms", "added_cpu_ms"):
        result[f"{key}_median"] = statistics.median(result[f"{key}_by_round"])
    print("serving", json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--skip-fairness", action="store_true")
    parser.add_argument("--skip-attributions", action="store_true")
    parser.add_argument("--serving-seconds", type=float, default=10.0)
    parser.add_argument("--serving-depth", default="6",
                        help="depths of the 100-tree forest served (0 skips serving)")
    parser.add_argument("--serving-rounds", type=int, default=2,
                        help="predict/explain alternations sharing --serving-seconds")
    args = parser.parse_args()
    print(f"# load: {Path('/proc/loadavg').read_text().split()[:3]}")
    if not args.skip_attributions:
        attributions(args.rows, args.repeat)
    if not args.skip_fairness:
        fairness(args.window)
    for depth in [int(d) for d in args.serving_depth.split(",") if int(d) > 0]:
        serving(args.serving_seconds, depth, rounds=args.serving_rounds)


if __name__ == "__main__":
    main()
