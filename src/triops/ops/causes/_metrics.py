"""Metric-based ranking over the topology: the stored series of the services a symptom's
service calls, cut into a normal and an abnormal period, ranked by :mod:`triops.ops.rca`.

A series belongs to the service its ``measures`` edge points at; its metric is its name
and its statistic the values of its other labels (see :func:`metric_and_stat`). Series
are put on one time grid — the symptom series' median sampling step — and averaged per
step, so that several instances of one service count as one node.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.ops.causes._changes import duration
from triops.ops.causes._model import METRIC_ANOMALY, CausesConfig, ProbableCause
from triops.ops.causes._series import metric_and_stat
from triops.ops.rca import LOWER_IS_WORSE, RcaConfig, rank_causes, robust_z
from triops.ops.telemetry import SAMPLE
from triops.ops.topology import TopologyView
from triops.ops.topology import keys as k
from triops.store import records

_SERVICE = k.key(k.SERVICE, "")
_SERIES = k.key(k.SERIES, "")


def _call_graph(view: TopologyView) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(key[len(_SERVICE):] for key, node in view.graph.nodes.items()
                         if node.type == k.SERVICE)
    graph.add_edges_from((e.src[len(_SERVICE):], e.dst[len(_SERVICE):])
                         for e in view.graph.edges.values()
                         if e.type == k.CALLS and e.src.startswith(_SERVICE)
                         and e.dst.startswith(_SERVICE))
    return graph


def _series_of(view: TopologyView) -> dict[str, list[str]]:
    """Service name → the keys of the series that measure it."""
    out: dict[str, list[str]] = {}
    for e in view.graph.edges.values():
        if e.type == k.MEASURES and e.src.startswith(_SERIES) and e.dst.startswith(_SERVICE):
            out.setdefault(e.dst[len(_SERVICE):], []).append(e.src[len(_SERIES):])
    return {service: sorted(keys) for service, keys in out.items()}


def _targets(view: TopologyView, subjects: Sequence[str], series_of: dict[str, list[str]],
             limit: int) -> list[tuple[str, str]]:
    """(service, series key) pairs whose series is the symptom to explain."""
    owner = {key: service for service, keys in series_of.items() for key in keys}
    out: list[tuple[str, str]] = []
    for subject in subjects:
        if subject.startswith(_SERIES) and subject[len(_SERIES):] in owner:
            key = subject[len(_SERIES):]
            out.append((owner[key], key))
        elif subject.startswith(_SERVICE):
            service = subject[len(_SERVICE):]
            out.extend((service, key) for key in series_of.get(service, []))
    return list(dict.fromkeys(out))[:limit]


def _table(rows: list[records.StoredRecord], columns: dict[str, tuple[str, str, str]],
           step_ms: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(r.ts_ms // step_ms * step_ms, *columns[r.stream], float(r.data["v"])) for r in rows],
        columns=["t", "node", "metric", "stat", "v"])
    table = frame.pivot_table(index="t", columns=["node", "metric", "stat"], values="v",
                              aggfunc="mean")
    return table.sort_index()


def _step(times: Sequence[int]) -> int:
    gaps = np.diff(sorted(set(times)))
    return max(int(np.median(gaps)), 1000) if gaps.size else 60_000


def _peak_z(normal: pd.DataFrame, abnormal: pd.DataFrame, column: tuple[str, str, str],
            rca: RcaConfig) -> float:
    history = normal[column].dropna().to_numpy(dtype=float)
    window = abnormal[column].dropna().to_numpy(dtype=float)
    if history.size == 0 or window.size == 0:
        return float("nan")
    sign = -1.0 if column[1].lower() in LOWER_IS_WORSE else 1.0
    return float(np.max(sign * robust_z(history, window, rca.relative_floor)))


def _rank_one(session: Session, project: str, graph: nx.DiGraph,
              series_of: dict[str, list[str]], service: str, key: str, first_ms: int,
              config: CausesConfig, rca: RcaConfig) -> list[ProbableCause]:
    metric, stat = metric_and_stat(key)
    wanted = {(metric, stat), (rca.volume_metric, rca.volume_stat)}
    nodes = {service} | nx.descendants(graph, service)
    columns = {s: (node, *metric_and_stat(s)) for node in nodes
               for s in series_of.get(node, []) if metric_and_stat(s) in wanted}
    start = first_ms - config.abnormal_before_ms
    end = first_ms + config.abnormal_after_ms
    rows = list(records.scan(session, project, SAMPLE, streams=sorted(columns),
                             start_ms=start - config.normal_ms, end_ms=end + 1))
    if not rows:
        return []
    table = _table(rows, columns, _step([r.ts_ms for r in rows if r.stream == key]))
    normal, abnormal = table[table.index < start], table[table.index >= start]
    try:
        found = rank_causes(graph, normal, abnormal, service, metric, stat, rca)
    except InvalidInput:  # the symptom series has no points in one of the periods
        return []
    out = []
    for cause in found:
        column = (cause.node, metric, stat)
        hops = nx.shortest_path_length(graph, service, cause.node)
        evidence = (
            f"{metric} {stat} of {cause.node} went bad with the symptom {key} "
            f"(peak robust z {_peak_z(normal, abnormal, column, rca):.1f} against the "
            f"{duration(config.normal_ms)} before; RCA score {cause.score:.1f}), "
            f"{hops} call{'s' if hops > 1 else ''} downstream of {service}")
        out.append(ProbableCause(
            entity=k.key(k.SERVICE, cause.node), kind=METRIC_ANOMALY,
            score=round(cause.score / (cause.score + config.metric_half_score), 6),
            evidence=evidence))
    return out


def rank_metrics(session: Session, project: str, view: TopologyView, subjects: Sequence[str],
                 first_ms: int, config: CausesConfig, rca: RcaConfig | None = None
                 ) -> list[ProbableCause]:
    """The services whose metrics explain a symptom series of ``subjects``; the best
    cause per service when several symptom series are tried."""
    rca = rca or RcaConfig()
    series_of = _series_of(view)
    targets = _targets(view, subjects, series_of, config.max_targets)
    if not targets:
        return []
    graph = _call_graph(view)
    best: dict[str, ProbableCause] = {}
    for service, key in targets:
        for cause in _rank_one(session, project, graph, series_of, service, key, first_ms,
                               config, rca):
            if cause.entity not in best or cause.score > best[cause.entity].score:
                best[cause.entity] = cause
    return list(best.values())
