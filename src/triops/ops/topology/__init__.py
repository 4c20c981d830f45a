"""Topology: one graph of the entities triops knows, keyed by signal subjects.

Observed nodes and edges (services and their calls, hosts, containers, pods, metric
series) are recorded by the intakes through ``observe_*``; the configured part
(lineage, prompts, gateway routes, monitors) is read with the graph. ``load_graph``
returns both; ``load_view`` the distances the incident engine places signals with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.ops.telemetry import MetricSample
from triops.ops.topology import _keys as keys
from triops.ops.topology._config import CONFIGURED, add_configured
from triops.ops.topology._graph import Edge, Graph, Node, TopologyView
from triops.ops.topology._keys import EDGE_TYPES, NODE_TYPES
from triops.ops.topology._observe import (
    Observed,
    TraceSightings,
    from_alerts,
    from_samples,
    join_traces,
    record,
    trace_sightings,
)
from triops.store.repos import topology as repo

__all__ = [
    "CONFIGURED", "EDGE_TYPES", "NODE_TYPES", "Edge", "Graph", "Node", "Observed",
    "TopologyView", "TraceSightings", "keys", "load_graph", "load_view", "observe_alerts",
    "observe_samples", "observe_sightings", "trace_sightings",
]


def load_graph(session: Session, project: str) -> Graph:
    graph = Graph(
        (Node(n.key, n.type, dict(n.attributes or {}), first_ms=n.first_ms, last_ms=n.last_ms)
         for n in repo.nodes(session, project)),
        (Edge(e.src, e.dst, e.type) for e in repo.edges(session, project)),
    )
    add_configured(session, project, graph)
    return graph


def load_view(session: Session, project: str) -> TopologyView:
    return TopologyView(load_graph(session, project))


def observe_sightings(session: Session, project: str, sightings: TraceSightings) -> None:
    """Services, their calls and where they run, from one OTLP trace export request read
    by ``trace_sightings``."""
    record(session, project, join_traces(session, project, sightings), now_ms())


def observe_samples(session: Session, project: str, samples: Iterable[MetricSample]) -> None:
    """Each series of a batch attached to its service and host."""
    record(session, project, from_samples(samples), now_ms())


def observe_alerts(session: Session, project: str,
                   alerts: Iterable[tuple[Mapping[str, str], str]]) -> None:
    """Alertmanager alerts' services, pods and hosts, from (labels, signal subject)."""
    record(session, project, from_alerts(alerts), now_ms())
