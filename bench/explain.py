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

Fairness: see ``fairness()`` below.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT.parent / "shared" / "datasets" / "adult" / "adult.data"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-fairness", action="store_true")
    args = parser.parse_args()
    print(f"# load: {Path('/proc/loadavg').read_text().split()[:3]}")
    attributions(args.rows, args.repeat)


if __name__ == "__main__":
    main()
