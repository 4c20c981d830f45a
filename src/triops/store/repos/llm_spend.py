"""The gateway's spend ledger: one row per settled call, summed per key and project."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from triops.store.schema_llm_gateway import GatewaySpend


@dataclass(frozen=True)
class SpendRow:
    key_id: str
    project: str
    route: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    created_ms: int


@dataclass(frozen=True)
class SpendTotal:
    key_id: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def append(session: Session, rows: Iterable[SpendRow]) -> None:
    values = [row.__dict__ for row in rows]
    if values:
        session.execute(insert(GatewaySpend), values)


def key_total(session: Session, key_id: str, since_ms: int, until_ms: int) -> float:
    """USD a key spent in ``[since_ms, until_ms)``, in every project, on every replica."""
    total = session.scalar(select(func.coalesce(func.sum(GatewaySpend.cost_usd), 0.0))
                           .where(GatewaySpend.key_id == key_id,
                                  GatewaySpend.created_ms >= since_ms,
                                  GatewaySpend.created_ms < until_ms))
    return float(total or 0.0)


def by_key(session: Session, project: str, since_ms: int, until_ms: int,
           key_id: str | None = None) -> list[SpendTotal]:
    """Calls, tokens and USD per key of ``project`` in ``[since_ms, until_ms)``."""
    query = (select(GatewaySpend.key_id, func.count(),
                    func.coalesce(func.sum(GatewaySpend.prompt_tokens), 0),
                    func.coalesce(func.sum(GatewaySpend.completion_tokens), 0),
                    func.coalesce(func.sum(GatewaySpend.cost_usd), 0.0))
             .where(GatewaySpend.project == project, GatewaySpend.created_ms >= since_ms,
                    GatewaySpend.created_ms < until_ms)
             .group_by(GatewaySpend.key_id).order_by(GatewaySpend.key_id))
    if key_id is not None:
        query = query.where(GatewaySpend.key_id == key_id)
    return [SpendTotal(key_id=k, calls=int(n), prompt_tokens=int(p),
                       completion_tokens=int(c), cost_usd=float(usd))
            for k, n, p, c, usd in session.execute(query)]


def projects_of_route(session: Session, route: str, since_ms: int) -> set[str]:
    """The projects that called gateway route ``route`` since ``since_ms``."""
    query = select(GatewaySpend.project).where(
        GatewaySpend.route == route, GatewaySpend.created_ms >= since_ms).distinct()
    return set(session.scalars(query))


#: What spend can be summed by; ``day`` is the UTC calendar day (as ms since the epoch).
GROUPINGS = ("key", "project", "model", "route", "day")
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class SpendGroup:
    group: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def grouped(session: Session, by: str, since_ms: int, until_ms: int, *,
            project: str | None, key_id: str | None = None) -> list[SpendGroup]:
    """Calls, tokens and USD in ``[since_ms, until_ms)`` per ``by`` (one of
    ``GROUPINGS``), of one project (``None``: every project) and optionally one key;
    days oldest first, other groups dearest first."""
    s = GatewaySpend
    column = {"key": s.key_id, "project": s.project, "model": s.model, "route": s.route,
              "day": s.created_ms // _DAY_MS}[by]
    cost = func.coalesce(func.sum(s.cost_usd), 0.0)
    query = (select(column, func.count(), func.coalesce(func.sum(s.prompt_tokens), 0),
                    func.coalesce(func.sum(s.completion_tokens), 0), cost)
             .where(s.created_ms >= since_ms, s.created_ms < until_ms)
             .group_by(column))
    if project is not None:
        query = query.where(s.project == project)
    if key_id is not None:
        query = query.where(s.key_id == key_id)
    query = query.order_by(column) if by == "day" else query.order_by(cost.desc(), column)
    out = []
    for value, n, p, c, usd in session.execute(query):
        group = str(int(value) * _DAY_MS) if by == "day" else str(value)
        out.append(SpendGroup(group, int(n), int(p), int(c), float(usd)))
    return out
