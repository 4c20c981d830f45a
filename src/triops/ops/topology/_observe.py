"""Observed topology: nodes and edges read from OTLP traces, resources, samples and
alerts, recorded in the intake's own transaction.

Service calls come from span parentage across ``service.name``: a server or consumer
span whose parent span belongs to another service means that service calls this one.
Each service exports its own spans, so the parent often arrived in an earlier request
(or arrives in a later one): those are looked up among the stored spans of the same
trace. A client span's ``peer.service`` names the callee directly; its
``server.address`` is used only when nothing else names the callee.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy.orm import Session

from triops.core.otlp_values import attributes as attribute_dict
from triops.llm.tracing import SPAN
from triops.ops.telemetry import MetricSample, series_key
from triops.ops.topology import _keys as k
from triops.store import records
from triops.store.repos import changes as change_repo
from triops.store.repos import topology as repo

_SERVER, _CLIENT, _PRODUCER, _CONSUMER = 2, 3, 4, 5
_CALLERS = (_CLIENT, _PRODUCER)
_CALLEES = (_SERVER, _CONSUMER)
#: The node attribute that holds a service's ``service.version``.
VERSION = "version"


@dataclass
class Observed:
    nodes: list[repo.NodeRow] = field(default_factory=list)
    edges: list[repo.EdgeRow] = field(default_factory=list)

    def node(self, node_type: str, ident: str, **attributes: Any) -> str:
        node_key = k.key(node_type, ident)
        self.nodes.append(repo.NodeRow(node_key, node_type,
                                       {a: v for a, v in attributes.items() if v}))
        return node_key

    def edge(self, src: str, dst: str, edge_type: str) -> None:
        if src != dst:
            self.edges.append(repo.EdgeRow(src, dst, edge_type))


def _text(value: Any) -> str:
    return str(value).strip()[:400] if value not in (None, "") else ""


def add_resource(seen: Observed, resource: Mapping[str, Any]) -> str | None:
    """The service, host, container and pod a resource names; returns the service key."""
    service = _text(resource.get("service.name"))
    host = _text(resource.get("host.name")) or _text(resource.get("k8s.node.name"))
    container = _text(resource.get("container.id"))
    pod = _text(resource.get("k8s.pod.name"))
    places = []
    if container:
        places.append(seen.node(k.CONTAINER, container,
                                name=_text(resource.get("container.name"))))
    if pod:
        places.append(seen.node(k.POD, pod,
                                namespace=_text(resource.get("k8s.namespace.name"))))
    if host:
        places.append(seen.node(k.HOST, host))
    for inner, outer in pairwise(places):
        seen.edge(inner, outer, k.RUNS_ON)
    if not service or service.startswith("unknown_service"):
        return None
    service_key = seen.node(k.SERVICE, service,
                            namespace=_text(resource.get("service.namespace")),
                            version=_text(resource.get("service.version")))
    if places:
        seen.edge(service_key, places[0], k.RUNS_ON)
    return service_key


#: One span of the batch, by its raw span id: (service key, OTLP kind, raw parent span id
#: or ``b""``, raw trace id). Tuples of the protobuf's own bytes: the pass over every
#: span of a request builds no hex strings and no objects beyond the tuple.
_Side = tuple[str, int, bytes, bytes]


@dataclass
class TraceSightings:
    """What one OTLP trace export request shows before stored spans are consulted: its
    nodes and in-request calls, and what is left to match against earlier spans."""

    seen: Observed
    batch: dict[bytes, _Side]
    named: dict[bytes, str]  # client span id → callee named by its attributes
    weak: dict[bytes, str]  # client span id → server.address
    resolved: set[bytes]  # client span ids whose callee span was found
    unresolved_traces: set[bytes]


def trace_sightings(request: Any) -> TraceSightings:
    """Nodes and calls of an OTLP ``ExportTraceServiceRequest`` (already validated) that
    need no database: one pass over the request, which an intake makes before it takes
    the write lock; ``join_traces`` completes them under it."""
    seen = Observed()
    batch: dict[bytes, _Side] = {}
    callers: list[bytes] = []
    named: dict[bytes, str] = {}
    weak: dict[bytes, str] = {}
    for resource_spans in request.resource_spans:
        service_key = add_resource(seen, attribute_dict(resource_spans.resource.attributes))
        if service_key is None:
            continue
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                span_id, kind = s.span_id, s.kind
                batch[span_id] = (service_key, kind, s.parent_span_id, s.trace_id)
                if kind in _CALLERS:
                    callers.append(span_id)
                    attrs = {kv.key: kv.value.string_value for kv in s.attributes
                             if kv.key in ("peer.service", "server.address")}
                    if attrs.get("peer.service"):
                        named[span_id] = attrs["peer.service"]
                    elif attrs.get("server.address"):
                        weak[span_id] = attrs["server.address"]
    resolved: set[bytes] = set()
    unresolved_traces: set[bytes] = set()
    for service, kind, parent_id, trace_id in batch.values():
        if kind in _CALLEES and parent_id:
            parent = batch.get(parent_id)
            if parent is None:
                unresolved_traces.add(trace_id)
            elif parent[0] != service:
                seen.edge(parent[0], service, k.CALLS)
                resolved.add(parent_id)
    unresolved_traces |= {batch[i][3] for i in callers
                          if i not in resolved and batch[i][1] in _CALLERS}
    return TraceSightings(seen, batch, named, weak, resolved, unresolved_traces)


def join_traces(session: Session, project: str, sightings: TraceSightings) -> Observed:
    """``trace_sightings`` completed with the stored spans of the same traces."""
    seen, batch, resolved = sightings.seen, sightings.batch, sightings.resolved
    if sightings.unresolved_traces:
        _join_stored(session, project, sorted(t.hex() for t in sightings.unresolved_traces),
                     batch, seen, resolved)
    for span_id, callee in sightings.named.items():
        seen.edge(batch[span_id][0], seen.node(k.SERVICE, _text(callee)), k.CALLS)
    for span_id, address in sightings.weak.items():
        if span_id not in resolved:
            seen.edge(batch[span_id][0], seen.node(k.SERVICE, _text(address)), k.CALLS)
    return seen


def _join_stored(session: Session, project: str, traces: Sequence[str],
                 batch: dict[bytes, _Side], seen: Observed, resolved: set[bytes]) -> None:
    """Match this batch's spans against spans of the same traces stored earlier."""
    stored: dict[bytes, tuple[str, bytes]] = {}
    for row in records.scan(session, project, SPAN, streams=traces):
        span_id = _raw_id(row.data.get("span_id"))
        if span_id and span_id not in batch and row.data.get("service_name"):
            stored[span_id] = (k.key(k.SERVICE, row.data["service_name"]),
                               _raw_id(row.data.get("parent_span_id")))
    for service, kind, parent_id, _ in batch.values():
        parent = stored.get(parent_id) if parent_id else None
        if kind in _CALLEES and parent and parent[0] != service:
            seen.edge(parent[0], service, k.CALLS)
    for service, parent_id in stored.values():
        caller = batch.get(parent_id) if parent_id else None
        if caller and caller[1] in _CALLERS and caller[0] != service:
            seen.edge(caller[0], service, k.CALLS)
            resolved.add(parent_id)


def _raw_id(hex_id: Any) -> bytes:
    """A stored span's hex id as the protobuf's bytes; ``b""`` for none or a malformed one."""
    try:
        return bytes.fromhex(hex_id) if isinstance(hex_id, str) else b""
    except ValueError:
        return b""


_SERVICE_LABELS = ("service_name", "service", "job")
_HOST_LABELS = ("host_name", "instance")


def _host_of(instance: str) -> str:
    """``10.0.0.5:9100`` → ``10.0.0.5``: a scrape target's host, without its port."""
    host, _, port = instance.rpartition(":")
    return host if host and port.isdigit() else instance


def from_samples(samples: Iterable[MetricSample]) -> Observed:
    """Each distinct series, attached to the service and host its labels name."""
    seen = Observed()
    done: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    previous = None
    for sample in samples:
        # A request's points of one series come together and often share their labels.
        if (previous is not None and sample.labels is previous.labels
                and sample.name == previous.name):
            continue
        previous = sample
        identity = (sample.name, tuple(sorted(sample.labels.items())))
        if identity in done:
            continue
        done.add(identity)
        series = seen.node(k.SERIES, series_key(sample.name, sample.labels))
        service = next((sample.labels[n] for n in _SERVICE_LABELS if sample.labels.get(n)), "")
        host = next((sample.labels[n] for n in _HOST_LABELS if sample.labels.get(n)), "")
        service_key = seen.node(k.SERVICE, _text(service)) if service else None
        host_key = seen.node(k.HOST, _host_of(_text(host))) if host else None
        if service_key:
            seen.edge(series, service_key, k.MEASURES)
            if host_key:
                seen.edge(service_key, host_key, k.RUNS_ON)
        elif host_key:
            seen.edge(series, host_key, k.MEASURES)
    return seen


def from_alerts(alerts: Iterable[tuple[Mapping[str, str], str]]) -> Observed:
    """Each alert's subject (given with its labels), and the pod and host they name."""
    seen = Observed()
    for labels, subject in alerts:
        _add_alert(seen, labels, subject)
    return seen


def _add_alert(seen: Observed, labels: Mapping[str, str], subject: str) -> None:
    kind, _, name = subject.partition(":")
    if kind != k.SERVICE or not name:
        return
    service_key = seen.node(k.SERVICE, name)
    places = []
    if labels.get("pod"):
        places.append(seen.node(k.POD, _text(labels["pod"]),
                                namespace=_text(labels.get("namespace"))))
    # Without a service or job label the subject is the instance itself: no host node.
    if labels.get("instance") and (labels.get("service") or labels.get("job")):
        places.append(seen.node(k.HOST, _host_of(_text(labels["instance"]))))
    for inner, outer in pairwise(places):
        seen.edge(inner, outer, k.RUNS_ON)
    if places:
        seen.edge(service_key, places[0], k.RUNS_ON)


def record(session: Session, project: str, seen: Observed, now: int) -> repo.Upserted:
    """Upsert the sightings; a service's new ``service.version`` becomes one change."""
    done = repo.upsert(session, project, seen.nodes, seen.edges, now)
    for node_key, (before, after) in sorted(done.changed.items()):
        version = after.get(VERSION)
        if not node_key.startswith("service:") or not version:
            continue
        if before is not None and before.get(VERSION) == version:
            continue
        was = (before or {}).get(VERSION)
        change_repo.add(session, project, change_repo.NewChange(
            entity=node_key, kind="service.version", version=str(version),
            summary=f"{node_key} now reports version {version}"
                    + (f" (was {was})" if was else ""),
            time_ms=now, source=change_repo.EXTERNAL,
            attributes={"from": was, "to": version, "seen_in": "otlp resource"}))
    return done
