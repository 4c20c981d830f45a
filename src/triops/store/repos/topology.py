"""Topology nodes and edges: batched upserts cheap enough for the intake hot path.

An upsert reads the batch's existing rows in one query per table, inserts only what
is new (``ON CONFLICT DO NOTHING``, so concurrent writers never fail on each other),
and writes an existing row only when its attributes changed or its ``last_ms`` is
older than the touch interval. A steady stream of the same spans therefore costs two
indexed reads per request and almost no writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
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
    out = Upserted()
    _upsert_nodes(session, project, by_key, now, touch_ms, out)
    out.written += _upsert_edges(session, project, wanted_edges, now, touch_ms)
    return out


def _upsert_nodes(session: Session, project: str, by_key: dict[str, NodeRow], now: int,
                  touch_ms: int, out: Upserted) -> None:
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
        elif now - last >= touch_ms:
            touched.append({"b_key": key, "b_last": max(now, last)})
    if touched:
        # One statement for the batch's stale nodes (executemany), not one a node: a
        # request's series all come due in the same minute.
        table = TopologyNode.__table__
        session.execute(update(table).where(
            table.c.project == project, table.c.key == bindparam("b_key"),
        ).values(last_ms=bindparam("b_last")), touched)
        out.written += len(touched)


def _upsert_edges(session: Session, project: str, wanted: set[tuple[str, str, str]],
                  now: int, touch_ms: int) -> int:
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
