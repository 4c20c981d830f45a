"""Incident correlation on replayed mixed signal streams with known grouping.

Usage::

    PYTHONPATH=src .venv/bin/python bench/correlation.py [--streams 10] [--folds 5]

Each stream interleaves, at random start times over ``--span-h`` hours (fixed seeds):

* **PetShop issues** (``/work/shared/datasets/petshop``): the component where the issue
  was injected and its callers on the call graph (the nodes on the shortest call path
  from the SLO target down to the root cause, and the root cause's direct callers) that
  the issue window shows anomalous — any of latency Average/p99, availability Average,
  requests Sum more than 5 robust σ (median/MAD) from the scenario's normal data — each
  raise an anomaly signal (``service:<node>``) at the first anomalous 5-minute stamp,
  and the SLO target raises an
  Alertmanager-style alert (``SLOViolation``, ``service=<target>``) that is re-sent twice
  with its ``startsAt``. One issue is one true group.
* **NAB anomalies** (``/work/shared/datasets/nab``): a labelled anomaly window of a
  series raises one to three signals on ``series:<file>`` minutes apart. One window is
  one true group; series share no entity.
* **Alertmanager-style alert groups** of synthetic services on a pool of six hosts: a
  latency alert ``{service, instance}`` (re-sent once), a pod restart ``{service, pod}``,
  a CPU alert on its container ``{instance, container}``, and an anomaly on
  ``series:<svc>_latency {service}``; the pod restart resolves and fires again. One
  service's burst is one true group — two services on one host firing close together
  share an ``instance`` and are a trap for wide windows.

Every stream is replayed in time order through the real engine
(:func:`triops.ops.ingest` and :func:`triops.ops.alertmanager.receive`) on a fresh
SQLite store, with the PetShop call graph as the topology view. Scored: pairwise
precision and recall of the grouping (pairs of distinct signals — re-sent copies left
out — in one incident vs in one true group). The correlation window and hop limit are
chosen by k-fold cross-validation over streams (best F1 on the training streams),
scored on the held-out streams; the fingerprint-only baseline is the same engine with
correlation off.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from triops.core.signals import Pillar, Severity, Signal
from triops.ops import ingest
from triops.ops.alertmanager import Alert, receive
from triops.ops.correlation import Rules
from triops.ops.topology import Edge, Graph, TopologyView
from triops.store import Database
from triops.store.migrate import upgrade

PETSHOP = Path("/work/shared/datasets/petshop")
NAB = Path("/work/shared/datasets/nab")
MINUTE = 60_000
#: Hosts the synthetic services run on: two services' alerts on one host close in time
#: look related, which is where a wide window loses precision.
HOSTS = 6
WINDOWS_MIN = (2, 5, 10, 20, 30)
HOPS = (0, 1, 2, 3)
#: Correlation off: no signal is ever within a negative window of another.
BASELINE = Rules(window_ms=-1, max_hops=0)


def petshop_view(adjacency: pd.DataFrame) -> TopologyView:
    """The PetShop call graph as a topology view over ``service:<node>`` keys (undirected
    hops: a symptom travels to callers, a cause to callees)."""
    edges = [Edge(f"service:{caller}", f"service:{callee}", "calls")
             for caller in adjacency.index
             for callee in adjacency.columns[adjacency.loc[caller].to_numpy() > 0]]
    return TopologyView(Graph(edges=edges))


@dataclass
class Event:
    """One thing sent to triops: a signal, or an Alertmanager alert (firing/resolved)."""

    offset_ms: int
    group: str
    signal: Signal | None = None
    alert: Alert | None = None
    copy: bool = False


@dataclass
class Template:
    """A true group before it is placed in a stream: events at offsets from its start."""

    name: str
    events: list[Event] = field(default_factory=list)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _robust_z(window: pd.DataFrame, normal: pd.DataFrame) -> pd.DataFrame:
    median = normal.median()
    mad = (normal - median).abs().median() * 1.4826
    spread = mad.where(mad > 0, normal.std().where(normal.std() > 0, 1.0))
    return (window - median) / spread


def petshop_templates() -> list[Template]:
    templates = []
    for scenario in sorted(p for p in PETSHOP.iterdir() if p.is_dir()):
        adjacency = pd.read_csv(scenario / "graph.csv", index_col=0)
        normal = pd.read_csv(scenario / "noissue" / "metrics.csv", header=[0, 1, 2], index_col=0)
        callers = {c: set(adjacency.index[adjacency[c].to_numpy() > 0]) for c in adjacency}
        for issue in sorted(scenario.glob("*/issue_*")):
            meta = json.loads((issue / "target.json").read_text())
            target, root = meta["target"]["node"], meta["root_cause"]["node"]
            nodes = set(_call_path(adjacency, target, root)) | callers.get(root, set()) | {root}
            window = pd.read_csv(issue / "metrics.csv", header=[0, 1, 2], index_col=0)
            common = [c for c in window.columns if c in normal.columns and c[0] in nodes
                      and c[1:] in {("latency", "Average"), ("latency", "p99"),
                                    ("availability", "Average"), ("requests", "Sum")}]
            z = _robust_z(window[common].astype(float), normal[common].astype(float)).abs()
            start_s = float(window.index[0])
            name = f"petshop/{scenario.name}/{issue.parent.name}/{issue.name}"
            t = Template(name)
            for node in sorted(nodes - {target}):
                cols = [c for c in common if c[0] == node]
                hot = z[cols].max(axis=1) > 5 if cols else pd.Series(dtype=bool)
                if hot.any():
                    first_s = float(hot.index[np.argmax(hot.to_numpy())])
                    t.events.append(Event(int((first_s - start_s) * 1000), name, signal=Signal(
                        source=Pillar.ops, kind="anomaly", subject=f"service:{node}",
                        severity=Severity.warning, value=float(z[cols].max().max()),
                        summary=f"{node} anomalous")))
            slo_at = int((meta["target"]["timestamp"] - start_s) * 1000)
            labels = {"alertname": "SLOViolation", "service": target, "severity": "critical"}
            for copy in range(3):  # Alertmanager re-sends with the same startsAt
                t.events.append(Event(slo_at + copy * 5 * MINUTE, name, copy=copy > 0,
                                      alert=Alert("firing", labels, {"summary": "SLO"},
                                                  starts_at=str(slo_at))))
            templates.append(t)
    return templates


def _call_path(adjacency: pd.DataFrame, source: str, target: str) -> list[str]:
    walks, seen = deque([[source]]), {source}
    while walks:
        walk = walks.popleft()
        if walk[-1] == target:
            return walk
        row = adjacency.loc[walk[-1]] if walk[-1] in adjacency.index else None
        for nxt in ([] if row is None else adjacency.columns[row.to_numpy() > 0]):
            if nxt not in seen:
                seen.add(nxt)
                walks.append([*walk, nxt])
    return [source, target]


def nab_templates(rng: random.Random) -> list[Template]:
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    templates = []
    for name, spans in sorted(windows.items()):
        if not name.startswith("real"):
            continue
        for i, _ in enumerate(spans):
            group = f"nab/{name}#{i}"
            t = Template(group)
            subject = f"series:{Path(name).stem}"
            for k in range(rng.randint(1, 3)):
                t.events.append(Event(k * rng.randint(2, 6) * MINUTE, group, signal=Signal(
                    source=Pillar.ops, kind="anomaly", subject=subject, value=rng.random(),
                    labels={"corpus": "nab"})))
            templates.append(t)
    return templates


def alert_template(k: int, rng: random.Random) -> Template:
    svc, group = f"svc-{k}", f"alerts/svc-{k}"
    host = f"node-{rng.randint(0, HOSTS - 1)}:9100"  # services share a small pool of hosts
    t = Template(group)

    def fire(at: int, name: str, labels: dict[str, str], status: str = "firing",
             starts: int | None = None, copy: bool = False) -> None:
        t.events.append(Event(at, group, copy=copy, alert=Alert(
            status, {"alertname": name, "severity": "warning", **labels},
            {"summary": name}, starts_at=str(at if starts is None else starts),
            ends_at=str(at) if status == "resolved" else "")))

    fire(0, "HighLatency", {"service": svc, "instance": host})
    fire(rng.randint(1, 4) * MINUTE, "PodRestart", {"service": svc, "pod": f"{svc}-7d9f"})
    fire(rng.randint(1, 6) * MINUTE, "ContainerCPU", {"instance": host, "container": svc})
    fire(4 * MINUTE, "HighLatency", {"service": svc, "instance": host}, starts=0, copy=True)
    t.events.append(Event(rng.randint(0, 5) * MINUTE, group, signal=Signal(
        source=Pillar.ops, kind="anomaly", subject=f"series:{svc}_latency",
        labels={"service": svc}, value=rng.random())))
    fire(7 * MINUTE, "PodRestart", {"service": svc, "pod": f"{svc}-7d9f"}, "resolved")
    fire(9 * MINUTE, "PodRestart", {"service": svc, "pod": f"{svc}-7d9f"})
    return t


def make_stream(seed: int, petshop: list[Template], span_h: float) -> list[Event]:
    """PetShop issues one per two-hour slot (one application has one issue at a time:
    two copies of the same fault at once could not be told apart by anyone), the rest
    anywhere in the span."""
    rng = random.Random(seed)
    slots = int(span_h // 2)
    nab = {t.name.split("#")[0]: t for t in rng.sample(nab_templates(rng), 60)}  # one a series
    placed = [(t, slot * 2 * 60 * MINUTE + rng.randint(0, 15 * MINUTE))
              for slot, t in enumerate(rng.sample(petshop, slots))]
    others = list(nab.values())[:15] + [alert_template(seed * 100 + k, rng) for k in range(8)]
    placed += [(t, rng.randint(0, int(span_h * 60 * MINUTE))) for t in others]
    base = 1_700_000_000_000 + seed * 86_400_000
    events = []
    for t, offset in placed:
        start = base + offset
        for e in t.events:
            alert = e.alert
            if alert is not None:  # times were offsets; make them absolute RFC 3339
                alert = Alert(alert.status, alert.labels, alert.annotations,
                              starts_at=_iso(start + int(alert.starts_at)),
                              ends_at=_iso(start + int(alert.ends_at)) if alert.ends_at else "")
            signal = e.signal
            if signal is not None:
                signal = Signal(source=signal.source, kind=signal.kind, subject=signal.subject,
                                severity=signal.severity, value=signal.value,
                                time_ms=start + e.offset_ms, labels=signal.labels,
                                summary=signal.summary)
            events.append(Event(start + e.offset_ms, e.group, signal, alert, e.copy))
    events.sort(key=lambda e: e.offset_ms)
    return events


def replay(events: list[Event], rules: Rules, topology: Graph, store: Path
           ) -> list[str | None]:
    """The incident each event ended in (None for re-sent copies and resolutions)."""
    db = Database(f"sqlite:///{store}")
    placed: list[str | None] = []
    try:
        for e in events:
            with db.write() as session:
                if e.signal is not None:
                    placed.append(ingest(session, "bench", e.signal, rules=rules,
                                         topology=topology).incident_id)
                    continue
                assert e.alert is not None
                report = receive(session, "bench", "bench", [e.alert], "bench", rules=rules,
                                 topology=topology)
                fresh = e.alert.status == "firing" and report.firing == 1
                placed.append(report.incidents[0] if fresh else None)
    finally:
        db.dispose()
    return placed


def pair_counts(events: list[Event], placed: list[str | None]) -> tuple[int, int, int]:
    scored = [(e.group, p) for e, p in zip(events, placed, strict=True) if p is not None]
    tp = fp = fn = 0
    for (g1, p1), (g2, p2) in combinations(scored, 2):
        same_truth, same_pred = g1 == g2, p1 == p2
        tp += same_truth and same_pred
        fp += same_pred and not same_truth
        fn += same_truth and not same_pred
    return tp, fp, fn


def prf(counts: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--span-h", type=float, default=6.0)
    args = parser.parse_args()

    petshop = petshop_templates()
    topology = petshop_view(pd.read_csv(PETSHOP / "low_traffic" / "graph.csv", index_col=0))
    streams = [make_stream(seed, petshop, args.span_h) for seed in range(args.streams)]
    grid = [Rules(window_ms=w * MINUTE, max_hops=h) for w in WINDOWS_MIN for h in HOPS]
    copies = sum(e.copy for s in streams for e in s)
    print(f"{len(streams)} streams, {sum(len(s) for s in streams)} events "
          f"({copies} re-sent copies), {len(petshop)} PetShop issues")

    results: dict[Rules, list[tuple[int, int, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "migrated.db"
        migrated = Database(f"sqlite:///{template}")
        upgrade(migrated.engine)
        migrated.dispose()
        for n, rules in enumerate([BASELINE, *grid]):
            results[rules] = []
            for i, events in enumerate(streams):
                store = Path(tmp) / f"{n}-{i}.db"
                shutil.copyfile(template, store)
                placed = replay(events, rules, topology, store)
                store.unlink()
                if rules is BASELINE:
                    leaked = sum(p is not None for e, p in zip(events, placed, strict=True)
                                 if e.copy)
                    assert leaked == 0, f"{leaked} re-sent copies were counted as new"
                results[rules].append(pair_counts(events, placed))

    folds = [list(range(args.streams))[k::args.folds] for k in range(args.folds)]
    held_out: list[tuple[int, int, int]] = []
    print("\n| fold | held-out streams | chosen window | chosen hops | train F1 |")
    print("|---|---|---|---|---|")
    for k, test in enumerate(folds):
        train = [i for i in range(args.streams) if i not in test]
        best = max(grid, key=lambda r: (prf([results[r][i] for i in train])[2],
                                        -r.max_hops, -r.window_ms))
        held_out += [results[best][i] for i in test]
        print(f"| {k} | {test} | {best.window_ms // MINUTE} min | {best.max_hops} | "
              f"{prf([results[best][i] for i in train])[2]:.3f} |")
    base = prf(results[BASELINE])
    tuned = prf(held_out)
    print("\n| grouping | pairwise precision | pairwise recall | F1 |")
    print("|---|---|---|---|")
    print(f"| fingerprint only (baseline) | {base[0]:.3f} | {base[1]:.3f} | {base[2]:.3f} |")
    print(f"| correlation, held-out (cross-validated) | {tuned[0]:.3f} | {tuned[1]:.3f} | "
          f"{tuned[2]:.3f} |")
    print("\nEvery setting on all streams:\n\n| window | hops | precision | recall | F1 |")
    print("|---|---|---|---|---|")
    for rules in grid:
        p, r, f = prf(results[rules])
        print(f"| {rules.window_ms // MINUTE} min | {rules.max_hops} | {p:.3f} | {r:.3f} | "
              f"{f:.3f} |")


if __name__ == "__main__":
    main()
