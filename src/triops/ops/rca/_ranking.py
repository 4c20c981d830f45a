"""Metric-based root-cause ranking over a call graph.

The method, in four steps (docs/root-cause.md has the reasoning):

1. **Robust z-scores.** Every series of the target's metric and statistic is scored
   against its own normal period: ``(x - median) / scale`` with ``scale`` the MAD,
   falling back to the mean absolute deviation and then to a small fraction of the
   median for series that were (nearly) constant, so that a change of a constant series
   is large but finite. Signs are turned so that positive means *worse* (higher latency,
   lower availability).
2. **Evidence aligned with the symptom.** The target's own z-scores weight the abnormal
   window's rows: a node's evidence is its mean z over the rows where the target is
   worst, minus its level over the rows where the target is fine. A node that is shifted
   all the time (a drifting dependency unrelated to the alarm) gets little evidence; one
   that goes bad exactly when the target does gets much. The evidence is scaled by how
   well the node's series follows the target's (correlation, clipped at zero).
3. **Traffic-weighted share.** A node's excess is its deviation from its normal median
   times its traffic (failed requests, added waiting time): amounts that add up along a
   call path, unlike z-scores. Its share of the target's excess, clipped to [0, 1] and
   raised to ``coverage_power``, scales its score, so a low-traffic leaf that fails
   harder does not outrank the busy service that carries the symptom.
4. **Graph position.** Candidates are the components the target calls, directly or not
   (a fault propagates from callee to caller); the target's own anomaly is the symptom,
   never reported as its cause. A node whose anomaly is matched by an
   anomalous callee is explained by it: its score is its evidence minus its strongest
   anomalous callee's, times the part of its excess no anomalous callee accounts for
   (raised to ``residual_power``), so the most downstream anomalous node on the path wins.
5. **A threshold.** Nodes scoring below ``min_score`` are not reported; a window without
   a matching anomaly yields no cause.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput
from triops.ops.rca._config import LOWER_IS_WORSE, RcaConfig


@dataclass(frozen=True)
class Cause:
    """One probable root cause: the node, the metric in which it was anomalous, a score."""

    node: str
    metric: str
    score: float


def robust_z(normal: np.ndarray, values: np.ndarray, relative_floor: float) -> np.ndarray:
    """``values`` as robust z-scores against ``normal`` (finite values only); NaN stays NaN.

    >>> robust_z(np.array([1.0, 2.0, 3.0, 2.0]), np.array([2.0, 4.0]), 1e-3).round(2).tolist()
    [0.0, 2.7]
    >>> robust_z(np.array([100.0, 100.0, 100.0]), np.array([99.0]), 1e-3).tolist()
    [-10.0]
    """
    median = float(np.median(normal))
    deviation = np.abs(normal - median)
    scale = max(
        1.4826 * float(np.median(deviation)),
        1.2533 * float(np.mean(deviation)),
        relative_floor * abs(median),
        1e-9,
    )
    return (values - median) / scale


def _column(table: pd.DataFrame, key: tuple[str, str, str]) -> np.ndarray | None:
    if key not in table.columns:
        return None
    return table[key].to_numpy(dtype=float)


def _signed_scores(
    normal: pd.DataFrame,
    abnormal: pd.DataFrame,
    nodes: set[str],
    metric: str,
    stat: str,
    config: RcaConfig,
) -> dict[str, np.ndarray]:
    sign = -1.0 if metric.lower() in LOWER_IS_WORSE else 1.0
    scores = {}
    for node in sorted(nodes):
        history = _column(normal, (node, metric, stat))
        window = _column(abnormal, (node, metric, stat))
        if history is None or window is None:
            continue
        history = history[np.isfinite(history)]
        if history.size < config.min_history:
            continue
        z = sign * robust_z(history, window, config.relative_floor)
        scores[node] = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    return scores


def _evidence(z: np.ndarray, weights: np.ndarray) -> float:
    """Mean z where the target is bad, less the (non-negative) level where it is fine."""
    rest = 1.0 - weights
    during = float(weights @ z / weights.sum())
    before = max(float(rest @ z / rest.sum()), 0.0) if rest.sum() >= 1.0 else 0.0
    following = float(np.corrcoef(z, weights)[0, 1]) if z.std() > 0 else 0.0
    return (during - before) * max(following, 0.0)


def _excess(
    normal: pd.DataFrame,
    abnormal: pd.DataFrame,
    node: str,
    metric: str,
    stat: str,
    weights: np.ndarray,
    config: RcaConfig,
) -> float | None:
    """The node's deviation from its normal median times its traffic, averaged by ``weights``.

    For availability this counts failed requests, for latency added waiting time: amounts
    that add up along a call path, unlike z-scores, whose scale is each series' own noise.
    """
    history = _column(normal, (node, metric, stat))
    window = _column(abnormal, (node, metric, stat))
    volume = _column(abnormal, (node, config.volume_metric, config.volume_stat))
    if history is None or window is None or volume is None:
        return None
    history = history[np.isfinite(history)]
    if history.size == 0:
        return None
    sign = -1.0 if metric.lower() in LOWER_IS_WORSE else 1.0
    excess = np.nan_to_num(sign * (window - np.median(history)) * volume)
    return float(weights @ excess / weights.sum())


def _coverage(excess: float | None, target_excess: float | None) -> float:
    """Share of the target's excess a node accounts for, in [0, 1]; 1 when unknown."""
    if excess is None or target_excess is None or target_excess <= 0.0:
        return 1.0
    return min(max(excess / target_excess, 0.0), 1.0)


def rank_causes(
    graph: nx.DiGraph,
    normal: pd.DataFrame,
    abnormal: pd.DataFrame,
    target_node: str,
    target_metric: str,
    target_stat: str,
    config: RcaConfig | None = None,
) -> list[Cause]:
    """Probable root causes of ``target_node``'s ``target_metric`` ``target_stat``, best first.

    ``graph`` has an edge caller → callee; ``normal`` and ``abnormal`` are metric tables
    (rows are times, columns a (node, metric, statistic) MultiIndex). An empty list means
    nothing anomalous explains the target in the abnormal window.
    """
    config = config or RcaConfig()
    if target_node not in graph:
        raise InvalidInput(f"the target node {target_node!r} is not a node of the graph")
    key = (target_node, target_metric, target_stat)
    for name, table in (("normal", normal), ("abnormal", abnormal)):
        if key not in table.columns:
            raise InvalidInput(
                f"the {name} metrics have no column {target_node}/{target_metric}/{target_stat}"
            )
    candidates = {target_node} | nx.descendants(graph, target_node)
    z = _signed_scores(normal, abnormal, candidates, target_metric, target_stat, config)
    if target_node not in z:
        return []
    worst = np.clip(z[target_node], 0.0, None)
    if worst.max() <= 0.0:
        return []
    weights = worst / worst.max()
    evidence = {node: _evidence(series, weights) for node, series in z.items()}
    anomalous = {node for node, e in evidence.items() if e >= config.min_score}
    target_excess = _excess(normal, abnormal, target_node, target_metric, target_stat,
                            weights, config)
    excess = {node: _excess(normal, abnormal, node, target_metric, target_stat, weights, config)
              for node in anomalous}
    causes = []
    for node in anomalous - {target_node}:
        callees = [c for c in graph.successors(node) if c in anomalous]
        explained = max((evidence[c] for c in callees), default=0.0)
        covered = max((_coverage(excess[c], excess[node]) for c in callees
                       if excess[c] is not None and excess[node] is not None), default=0.0)
        share = _coverage(excess[node], target_excess)
        score = ((evidence[node] - explained) * share**config.coverage_power
                 * (1.0 - covered) ** config.residual_power)
        if score >= config.min_score:
            causes.append(Cause(node, target_metric, round(score, 6)))
    return sorted(causes, key=lambda c: (-c.score, c.node))
