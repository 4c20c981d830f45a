"""Topology nodes and edges: batched upserts cheap enough for the intake hot path.

An upsert reads the batch's existing rows in one query per table, inserts only what
is new (``ON CONFLICT DO NOTHING``, so concurrent writers never fail on each other),
and writes an existing row only when its attributes changed or its ``last_ms`` is
older than the touch interval. A steady stream of the same spans therefore costs two
indexed reads per request and almost no writes — and not even the reads for the rows
this process already found in the store within the touch interval (:class:`_Known`):
such a row would be neither touched nor changed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triops.store.schema_topology import TopologyEdge, TopologyNode

#: ``last_ms`` of a node or edge is refreshed at most this often.
TOUCH_MS = 60_000
_CHUNK = 500


@dataclass(frozen=True)
class NodeRow:
    key: str
    type: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeRow:
    src: str
    dst: str
    type: str


@dataclass
class Upserted:
    written: int = 0
    #: Nodes whose attributes are new or changed: key → (before or None when new, after).
    changed: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = field(
        default_factory=dict)


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def upsert(session: Session, project: str, nodes: Iterable[NodeRow],
           edges: Iterable[EdgeRow], now: int, touch_ms: int = TOUCH_MS) -> Upserted:
    """Record one batch of sightings."""
    by_key: dict[str, NodeRow] = {}
    for node in nodes:
        seen = by_key.get(node.key)
        merged = {**seen.attributes, **node.attributes} if seen else node.attributes
        by_key[node.key] = NodeRow(node.key, node.type, merged)
    wanted_edges = {(e.src, e.dst, e.type) for e in edges}
    known = _KNOWN.of(session)
    by_key = {key: node for key, node in by_key.items()
              if not known.has_node(project, key, node.attributes, now, touch_ms)}
    wanted_edges = {e for e in wanted_edges if not known.has_edge(project, e, now, touch_ms)}
    out = Upserted()
    seen = _Seen(project)
    _upsert_nodes(session, project, by_key, now, touch_ms, out, seen)
    out.written += _upsert_edges(session, project, wanted_edges, now, touch_ms, seen)
    if seen.nodes or seen.edges:
        session.info.setdefault(_PENDING, []).append((known, seen))
    return out


_PENDING = "triops.topology.seen"


@dataclass
class _Seen:
    """Rows a transaction found in the store, as they are once it commits."""

    project: str
    nodes: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], int] = field(default_factory=dict)


class _Known:
    """The nodes and edges of one database that this process found there (and touched
    or changed as needed) in transactions that committed, with their attributes and
    ``last_ms``. Rows it only inserted are not taken: ``ON CONFLICT DO NOTHING`` may have
    kept another writer's. Bounded: forgotten all at once past ``capacity`` rows."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._nodes: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
        self._edges: dict[tuple[str, str, str, str], int] = {}
        self._lock = threading.Lock()

    def has_node(self, project: str, key: str, attributes: dict[str, Any], now: int,
                 touch_ms: int) -> bool:
        found = self._nodes.get((project, key))
        return (found is not None and now - found[1] < touch_ms
                and all(found[0].get(k, _ABSENT) == v for k, v in attributes.items()))

    def has_edge(self, project: str, edge: tuple[str, str, str], now: int,
                 touch_ms: int) -> bool:
        last = self._edges.get((project, *edge))
        return last is not None and now - last < touch_ms

    def add(self, seen: _Seen) -> None:
        with self._lock:
            if len(self._nodes) + len(self._edges) > self.capacity:
                self._nodes.clear()
                self._edges.clear()
            self._nodes.update(((seen.project, k), v) for k, v in seen.nodes.items())
            self._edges.update(((seen.project, *e), v) for e, v in seen.edges.items())


_ABSENT = object()


class _KnownByDatabase:
    def __init__(self) -> None:
        self._by_url: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def of(self, session: Session) -> _Known:
        url = session.get_bind().url.render_as_string(hide_password=False)
        known = self._by_url.get(url)
        if known is None:
            with self._lock:
                known = self._by_url.setdefault(url, _Known())
        return known


_KNOWN = _KnownByDatabase()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for known, seen in session.info.pop(_PENDING, ()):
        known.add(seen)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous_transaction: object) -> None:
    # Any rollback, a savepoint's too: what was found may have been undone.
    session.info.pop(_PENDING, None)


def _upsert_nodes(session: Session, project: str, by_key: dict[str, NodeRow], now: int,
                  touch_ms: int, out: Upserted, seen: _Seen) -> None:
    if not by_key:
        return
    keys = sorted(by_key)
    existing: dict[str, tuple[dict[str, Any], int]] = {}
    for part in _chunks(keys):
        for key, attributes, last in session.execute(
                select(TopologyNode.key, TopologyNode.attributes, TopologyNode.last_ms)
                .where(TopologyNode.project == project, TopologyNode.key.in_(part))):
            existing[key] = (attributes or {}, last)
    fresh = [by_key[k] for k in keys if k not in existing]
    if fresh:
        session.execute(_insert(session)(TopologyNode.__table__).values([
            {"project": project, "key": n.key, "type": n.type, "attributes": n.attributes,
             "first_ms": now, "last_ms": now} for n in fresh
        ]).on_conflict_do_nothing())
        out.written += len(fresh)
        out.changed.update({n.key: (None, n.attributes) for n in fresh if n.attributes})
    touched = []
    for key, (attributes, last) in existing.items():
        merged = {**attributes, **by_key[key].attributes}
        if merged != attributes:
            session.execute(update(TopologyNode).where(
                TopologyNode.project == project, TopologyNode.key == key,
            ).values(attributes=merged, last_ms=max(now, last)))
            out.written += 1
            out.changed[key] = (attributes, merged)
            seen.nodes[key] = (merged, max(now, last))
        elif now - last >= touch_ms:
            touched.append({"b_key": key, "b_last": max(now, last)})
            seen.nodes[key] = (attributes, max(now, last))
        else:
            seen.nodes[key] = (attributes, last)
    if touched:
        # One statement for the batch's stale nodes (executemany), not one a node: a
        # request's series all come due in the same minute.
        table = TopologyNode.__table__
        session.execute(update(table).where(
            table.c.project == project, table.c.key == bindparam("b_key"),
        ).values(last_ms=bindparam("b_last")), touched)
        out.written += len(touched)


def _upsert_edges(session: Session, project: str, wanted: set[tuple[str, str, str]],
                  now: int, touch_ms: int, seen: _Seen) -> int:
    if not wanted:
        return 0
    sources = sorted({src for src, _, _ in wanted})
    existing: dict[tuple[str, str, str], int] = {}
    for part in _chunks(sources):
        for src, dst, kind, last in session.execute(
                select(TopologyEdge.src, TopologyEdge.dst, TopologyEdge.type,
                       TopologyEdge.last_ms)
                .where(TopologyEdge.project == project, TopologyEdge.src.in_(part))):
            if (src, dst, kind) in wanted:
                existing[(src, dst, kind)] = last
    fresh = sorted(wanted - existing.keys())
    if fresh:
        session.execute(_insert(session)(TopologyEdge.__table__).values([
            {"project": project, "src": s, "dst": d, "type": t, "first_ms": now, "last_ms": now}
            for s, d, t in fresh
        ]).on_conflict_do_nothing())
    stale = [edge for edge, last in existing.items() if now - last >= touch_ms]
    seen.edges.update(existing)
    seen.edges.update((edge, now) for edge in stale)
    if stale:
        table = TopologyEdge.__table__
        session.execute(update(table).where(
            table.c.project == project, table.c.src == bindparam("b_src"),
            table.c.dst == bindparam("b_dst"), table.c.type == bindparam("b_type"),
        ).values(last_ms=now), [{"b_src": s, "b_dst": d, "b_type": t} for s, d, t in stale])
    return len(fresh) + len(stale)


def nodes(session: Session, project: str) -> list[TopologyNode]:
    query = select(TopologyNode).where(TopologyNode.project == project)
    return list(session.scalars(query.order_by(TopologyNode.key)))


def edges(session: Session, project: str) -> list[TopologyEdge]:
    query = select(TopologyEdge).where(TopologyEdge.project == project)
    return list(session.scalars(query.order_by(TopologyEdge.src, TopologyEdge.dst)))
