"""Runs the PetShop paper's baselines (peer code, in its own venv) on the bench's cases.

    python petshop_baselines.py METHOD CODE_DIR CASES.json OUT.json

CASES.json lists cases ``{"graph", "normal", "abnormal", "split", "target"}``; a case with
a ``split`` is a window cut from the normal data at that row (``abnormal`` is then unused);
OUT.json gets, per case, the ranked ``[node, score]`` list the method returned.
"""

from __future__ import annotations

import json
import sys
import warnings
from functools import cache

import networkx as nx
import pandas as pd


@cache
def graph(path: str) -> nx.DiGraph:
    return nx.from_pandas_adjacency(pd.read_csv(path, index_col=0), create_using=nx.DiGraph)


@cache
def metrics(path: str) -> pd.DataFrame:
    return pd.read_csv(path, header=[0, 1, 2], index_col=0)


def make(method: str):  # type: ignore[no-untyped-def]
    if method == "ranked_correlation":
        import ranked_correlation

        return ranked_correlation.make_ranked_correlation()
    if method == "anomaly_traversal":
        import baseline_anomaly_traversal

        return baseline_anomaly_traversal.make_baseline_analyze_root_causes()
    raise SystemExit(f"unknown method {method}")


def main() -> None:
    method, code_dir, cases_path, out_path = sys.argv[1:5]
    sys.path.insert(0, code_dir)
    warnings.simplefilter("ignore")
    analyze = make(method)
    results = []
    with open(cases_path) as handle:
        cases = json.load(handle)
    for case in cases:
        normal = metrics(case["normal"])
        if case.get("split") is None:
            abnormal = metrics(case["abnormal"])
        else:
            normal, abnormal = normal.iloc[: case["split"]], normal.iloc[case["split"]:]
        target = case["target"]
        causes = analyze(graph(case["graph"]), target["node"], target["metric"], target["agg"],
                         normal, abnormal)
        ranked = sorted(causes, key=lambda c: c.score, reverse=True)
        results.append([[c.node, float(c.score)] for c in ranked])
    with open(out_path, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
