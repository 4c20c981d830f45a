"""PetShop root-cause analysis: ``triops ops rca`` beside the PetShop paper's baselines.

    python bench/rca.py [--data /work/shared/datasets/petshop] [--no-baselines]

Every issue of every scenario (train and test splits) is run through the CLI contract
``triops ops rca --graph … --normal … --abnormal … --target-node … --target-metric …
--target-stat … --output …`` and scored as the dataset's ``rca_task.py`` does:

* **top-k recall**: the injected component is among the first k causes;
* **specificity**: on windows cut from the normal data (split at 50 %, 60 %, … of it,
  the part before is the normal period), the fraction that yields no cause, for each
  target node/metric/statistic the scenario's issues use.

triops runs once with ``--min-score 0``, so every threshold can be applied afterwards to
the same scores. The threshold is chosen by maximising top-1 recall + specificity:
*in-sample* on all scenarios, and *held-out* by leave-one-scenario-out (chosen on the
other scenarios, applied to the held-out one). The shipped default is reported too.
Then, in-process on inputs read once, the two exponents of the ranking
(``coverage_power``, ``residual_power``) are chosen together with the threshold by
leave-one-scenario-out over a small grid (``--no-nested`` skips it).

Baselines: ranked correlation and anomaly traversal from the paper's repository
(``/work/shared/reference/petshop-baselines``, Apache-2.0), run unchanged as a peer in
``bench/.venvs/petshop`` (dowhy 0.9.1 without its dependencies, scikit-learn < 1.2, as
the repository's notes say), with ``PYTHONHASHSEED=0``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import peer_venv

from triops.ops.rca import RcaConfig, rank_causes, read_graph, read_metrics

BENCH = Path(__file__).resolve().parent
DEFAULT_DATA = Path("/work/shared/datasets/petshop")
BASELINE_CODE = Path("/work/shared/reference/petshop-baselines")
SCENARIOS = ["low_traffic", "high_traffic"]
TRIOPS = str(Path(sys.executable).parent / "triops")
BASELINES = ["ranked_correlation", "anomaly_traversal"]
# What dowhy 0.9.1's gcm imports need (its own pins are not installable on Python 3.11).
PEER_REQUIREMENTS = ["numpy<1.25", "pandas<2", "scipy<1.12", "scikit-learn<1.2", "networkx<3",
                     "statsmodels<0.14", "sympy", "tqdm", "matplotlib<3.9", "econml",
                     "causal-learn"]
DOWHY = "dowhy==0.9.1"  # declares Python < 3.11; installed without its dependencies


@dataclass
class Case:
    scenario: str
    graph: Path
    normal: Path
    abnormal: Path | None  # None: a window cut from the normal data at ``split``
    target: dict[str, str]
    cause: str | None  # the injected component; None for a normal window
    split: int | None = None
    ranked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return self.target["metric"]


def load_cases(data: Path) -> list[Case]:
    cases = []
    for scenario in SCENARIOS:
        root = data / scenario
        graph, normal = root / "graph.csv", root / "noissue" / "metrics.csv"
        targets = set()
        for issue_dir in sorted(root.glob("*/issue_*")):
            info = json.loads((issue_dir / "target.json").read_text())
            target = info["target"]
            targets.add((target["node"], target["metric"], target["agg"]))
            cases.append(Case(scenario, graph, normal, issue_dir / "metrics.csv",
                              target, info["root_cause"]["node"]))
        rows = len(pd.read_csv(normal, header=[0, 1, 2], index_col=0))
        for node, metric, agg in sorted(targets):
            for split in range(rows // 2, rows - 3, int(rows * 0.1)):
                cases.append(Case(scenario, graph, normal, None,
                                  {"node": node, "metric": metric, "agg": agg}, None, split))
    return cases


def _window_files(case: Case, tmp: Path) -> tuple[Path, Path]:
    if case.split is None:
        assert case.abnormal is not None
        return case.normal, case.abnormal
    table = pd.read_csv(case.normal, header=[0, 1, 2], index_col=0)
    before, after = tmp / "normal.csv", tmp / "abnormal.csv"
    table.iloc[: case.split].to_csv(before)
    table.iloc[case.split:].to_csv(after)
    return before, after


def run_triops(case: Case) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        normal, abnormal = _window_files(case, tmp)
        out = tmp / "causes.csv"
        subprocess.run(
            [TRIOPS, "ops", "rca", "--graph", str(case.graph), "--normal", str(normal),
             "--abnormal", str(abnormal), "--target-node", case.target["node"],
             "--target-metric", case.target["metric"], "--target-stat", case.target["agg"],
             "--output", str(out), "--min-score", "0"],
            check=True, capture_output=True,
        )
        with out.open(newline="") as handle:
            return [(row["node"], float(row["score"])) for row in csv.DictReader(handle)]


def run_baseline(method: str, cases: list[Case]) -> list[list[tuple[str, float]]]:
    python = peer_venv.ensure("petshop", PEER_REQUIREMENTS)
    if subprocess.run([str(python), "-c", "import dowhy"], check=False,
                      capture_output=True).returncode:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                        "--ignore-requires-python", DOWHY], check=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        spec, out = Path(tmp_name) / "cases.json", Path(tmp_name) / "out.json"
        spec.write_text(json.dumps([
            {"graph": str(c.graph), "normal": str(c.normal),
             "abnormal": str(c.abnormal) if c.abnormal else None, "split": c.split,
             "target": c.target} for c in cases]))
        subprocess.run([str(python), str(BENCH / "peers" / "petshop_baselines.py"), method,
                        str(BASELINE_CODE), str(spec), str(out)],
                       check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        return [[(node, score) for node, score in ranked] for ranked in json.loads(out.read_text())]


def reported(ranked: list[tuple[str, float]], threshold: float | None) -> list[str]:
    """Causes a method reports: baselines as they return them, triops above a threshold."""
    return [node for node, score in ranked if threshold is None or score >= threshold]


def scores(cases: list[Case], method: str, threshold: float | None) -> dict[str, float]:
    issues = [c for c in cases if c.cause is not None]
    windows = [c for c in cases if c.cause is None]
    causes = [reported(c.ranked[method], threshold) for c in issues]
    return {
        "n": len(issues),
        "top1": sum(c.cause in r[:1] for c, r in zip(issues, causes, strict=True)),
        "top3": sum(c.cause in r[:3] for c, r in zip(issues, causes, strict=True)),
        "specificity": (sum(not reported(c.ranked[method], threshold) for c in windows)
                        / len(windows)) if windows else float("nan"),
    }


def choose_threshold(cases: list[Case], method: str = "triops") -> float:
    """The threshold maximising top-1 recall + specificity on ``cases``.

    Every threshold in an interval between two observed scores gives the same result, so
    the best interval is found and its geometric middle taken: the margin to both the
    normal windows' scores and the causes' scores is as large as possible.
    """
    candidates = sorted({s for c in cases for _, s in c.ranked[method] if s > 0} | {0.0})

    def objective(t: float) -> float:
        s = scores(cases, method, t)
        return s["top1"] / max(s["n"], 1) + s["specificity"]

    values = [objective(t) for t in candidates]
    low = high = values.index(max(values))
    while high + 1 < len(candidates) and values[high + 1] == values[low]:
        high += 1
    upper = candidates[high + 1] if high + 1 < len(candidates) else 2 * candidates[high]
    return math.sqrt(candidates[low] * upper) if candidates[low] > 0 else upper / 2


def nested_selection(cases: list[Case]) -> list[str]:
    """Leave-one-scenario-out choice of the exponents *and* the threshold, in-process.

    Inputs are read once per file and ``rank_causes`` is run for every pair of
    exponents in the grid; for each held-out scenario the pair and threshold that score
    best on the other scenarios (smallest exponents on ties) are applied to it.
    """
    tables: dict[Path, pd.DataFrame] = {}
    graphs = {c.graph: read_graph(c.graph) for c in cases}
    grid = [(p, q) for p in (0.0, 1.0, 2.0, 3.0) for q in (0.0, 1.0, 2.0)]
    for case in cases:
        normal = tables.setdefault(case.normal, read_metrics(case.normal))
        if case.split is None:
            assert case.abnormal is not None
            before, after = normal, read_metrics(case.abnormal)
        else:
            before, after = normal.iloc[: case.split], normal.iloc[case.split:]
        for p, q in grid:
            config = replace(RcaConfig(), min_score=0.0, coverage_power=p, residual_power=q)
            causes = rank_causes(graphs[case.graph], before, after, case.target["node"],
                                 case.target["metric"], case.target["agg"], config)
            case.ranked[f"grid {p:g},{q:g}"] = [(c.node, c.score) for c in causes]
    lines, total = [], {"n": 0, "top1": 0, "top3": 0, "windows": 0, "quiet": 0.0}
    for held in SCENARIOS:
        train = [c for c in cases if c.scenario != held]
        test = [c for c in cases if c.scenario == held]

        def fit(key: str, train: list[Case] = train) -> tuple[float, float]:
            t = choose_threshold(train, key)
            s = scores(train, key, t)
            return s["top1"] / max(s["n"], 1) + s["specificity"], t

        fits = {f"grid {p:g},{q:g}": fit(f"grid {p:g},{q:g}") for p, q in grid}
        key = max(fits, key=lambda k: fits[k][0])  # first (smallest) pair on ties
        s = scores(test, key, fits[key][1])
        windows = sum(c.cause is None for c in test)
        for name in ("n", "top1", "top3"):
            total[name] += s[name]
        total["windows"] += windows
        total["quiet"] += s["specificity"] * windows
        lines.append(f"held out {held}: exponents {key[5:]}, threshold {fits[key][1]:.3g} → "
                     f"top-1 {s['top1']}/{s['n']}, top-3 {s['top3']}/{s['n']}, "
                     f"specificity {s['specificity']:.3f}")
    lines.append(f"nested leave-one-scenario-out: top-1 {total['top1']}/{total['n']} = "
                 f"{total['top1'] / total['n']:.3f}, top-3 {total['top3']}/{total['n']}, "
                 f"specificity {total['quiet'] / total['windows']:.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-nested", action="store_true",
                        help="skip the in-process choice of the exponents by held-out scenario")
    args = parser.parse_args()
    cases = load_cases(args.data)
    print(f"[bench] {sum(c.cause is not None for c in cases)} issues, "
          f"{sum(c.cause is None for c in cases)} normal windows", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for case, ranked in zip(cases, pool.map(run_triops, cases), strict=True):
            case.ranked["triops"] = ranked
    methods = ["triops"]
    if not args.no_baselines:
        for method in BASELINES:
            for case, ranked in zip(cases, run_baseline(method, cases), strict=True):
                case.ranked[method] = ranked
            methods.append(method)

    in_sample = choose_threshold(cases)
    held_out = {s: choose_threshold([c for c in cases if c.scenario != s]) for s in SCENARIOS}
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        groups[(case.scenario, case.metric)].append(case)
        groups[("all", "all")].append(case)

    columns = [(f"triops (default {RcaConfig.min_score:g})", "triops", lambda _s: RcaConfig.min_score),
               (f"triops (in-sample {in_sample:.3g})", "triops", lambda _s: in_sample),
               ("triops (held-out scenario)", "triops", None)]
    columns += [(m.replace("_", " "), m, lambda _s: None) for m in methods[1:]]
    print("thresholds chosen leaving out: "
          + ", ".join(f"{s} → {t:.3g}" for s, t in held_out.items()))
    print("| scenario | metric | method | issues | top-1 | top-3 | specificity |")
    print("|---|---|---|---:|---:|---:|---:|")
    for (scenario, metric), group in sorted(groups.items(), key=lambda kv: kv[0][0] == "all"):
        for label, method, pick in columns:
            if pick is None:  # each scenario scored with the threshold chosen without it
                parts = [scores([c for c in group if c.scenario == s], method, held_out[s])
                         for s in SCENARIOS if any(c.scenario == s for c in group)]
                n = sum(p["n"] for p in parts)
                windows = [sum(1 for c in group if c.scenario == s and c.cause is None)
                           for s in SCENARIOS if any(c.scenario == s for c in group)]
                spec = sum(p["specificity"] * w for p, w in zip(parts, windows, strict=True)
                           if w) / max(sum(windows), 1)
                s = {"n": n, "top1": sum(p["top1"] for p in parts),
                     "top3": sum(p["top3"] for p in parts), "specificity": spec}
            else:
                s = scores(group, method, pick(scenario))
            print(f"| {scenario} | {metric} | {label} | {s['n']} | "
                  f"{s['top1']}/{s['n']} = {s['top1'] / max(s['n'], 1):.3f} | "
                  f"{s['top3']}/{s['n']} = {s['top3'] / max(s['n'], 1):.3f} | "
                  f"{s['specificity']:.3f} |")
    if not args.no_nested:
        print("\n".join(nested_selection(cases)))


if __name__ == "__main__":
    main()
