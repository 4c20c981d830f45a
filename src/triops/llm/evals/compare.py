"""Aggregates of one run, and two runs side by side with bootstrap confidence intervals.

Aggregation rule: a case whose call failed, and a score whose scorer raised, count as 0
in that scorer's mean — a run cannot pass a gate by failing. ``score`` is the mean of
the scorers' means. The counts of both kinds of error are reported next to the means.

>>> r = [{"case_index": 0, "error": "", "scores": {"exact": {"value": 1.0, "error": ""}},
...       "latency_ms": 10.0, "cost": 0.0, "prompt_tokens": 1, "completion_tokens": 1}]
>>> summarize(r, ["exact"])["metrics"]
{'exact': 1.0, 'score': 1.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BOOTSTRAP_SAMPLES = 2000
SEED = 20240611


def case_value(result: dict[str, Any], scorer: str) -> float:
    if result.get("error"):
        return 0.0
    score = (result.get("scores") or {}).get(scorer) or {}
    value = score.get("value")
    return 0.0 if value is None or score.get("error") else float(value)


def summarize(results: Sequence[dict[str, Any]], scorers: Sequence[str]) -> dict[str, Any]:
    metrics: dict[str, float] = {}
    score_errors: dict[str, int] = {}
    for name in scorers:
        values = [case_value(r, name) for r in results]
        metrics[name] = round(float(np.mean(values)), 6) if values else 0.0
        score_errors[name] = sum(1 for r in results if not r.get("error") and (
            (r.get("scores") or {}).get(name) or {}).get("error"))
    if scorers:
        metrics["score"] = round(float(np.mean([metrics[s] for s in scorers])), 6)
    latencies = [float(r["latency_ms"]) for r in results if not r.get("error")]
    return {
        "cases": len(results),
        "errors": sum(1 for r in results if r.get("error")),
        "score_errors": score_errors,
        "metrics": metrics,
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 3) if latencies else None,
        "cost_usd": round(sum(float(r.get("cost") or 0.0) for r in results), 8),
        "tokens": sum(int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0)
                      for r in results),
    }


def failed_gates(summary: dict[str, Any], gates: dict[str, float]) -> list[str]:
    """One line per gate the run misses, e.g. ``exact = 0.5000 < 0.8``."""
    lines = []
    metrics = summary.get("metrics", {})
    for metric, floor in gates.items():
        if metric not in metrics:
            lines.append(f"{metric}: no such metric (have {', '.join(metrics) or 'none'})")
        elif metrics[metric] < floor:
            lines.append(f"{metric} = {metrics[metric]:.4f} < {floor}")
    return lines


@dataclass(frozen=True)
class Delta:
    scorer: str
    mean_a: float
    mean_b: float
    delta: float  # b - a
    ci_low: float
    ci_high: float
    cases: int  # cases present in both runs


def bootstrap_ci(diffs: np.ndarray, level: float = 0.95,
                 samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """Percentile bootstrap of the mean of paired differences, with a fixed seed so that the
    same two runs always give the same interval."""
    if diffs.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(SEED)
    picks = rng.integers(0, diffs.size, size=(samples, diffs.size))
    means = diffs[picks].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def compare(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]],
            scorers: Sequence[str]) -> tuple[list[Delta], list[dict[str, Any]]]:
    """Aggregate deltas per scorer (b minus a) and the case-by-case rows, paired on case
    index; cases only one run holds are listed but left out of the deltas."""
    by_a = {r["case_index"]: r for r in a}
    by_b = {r["case_index"]: r for r in b}
    shared = sorted(set(by_a) & set(by_b))
    deltas = []
    for name in scorers:
        va = np.array([case_value(by_a[i], name) for i in shared], dtype=float)
        vb = np.array([case_value(by_b[i], name) for i in shared], dtype=float)
        low, high = bootstrap_ci(vb - va)
        mean_a = float(va.mean()) if shared else 0.0
        mean_b = float(vb.mean()) if shared else 0.0
        deltas.append(Delta(name, mean_a, mean_b, mean_b - mean_a, low, high, len(shared)))
    rows = []
    for i in sorted(set(by_a) | set(by_b)):
        ra, rb = by_a.get(i), by_b.get(i)
        rows.append({
            "case_index": i, "inputs": (ra or rb or {}).get("inputs", {}),
            "expected": (ra or rb or {}).get("expected"),
            "output_a": ra.get("output") if ra else None, "output_b": rb.get("output") if rb else None,
            "error_a": ra.get("error", "") if ra else "missing",
            "error_b": rb.get("error", "") if rb else "missing",
            "scores_a": {s: case_value(ra, s) for s in scorers} if ra else {},
            "scores_b": {s: case_value(rb, s) for s in scorers} if rb else {},
        })
    return deltas, rows
