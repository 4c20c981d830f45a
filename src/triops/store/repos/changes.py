"""Change events: append one, search them by entity and time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.core.principals import ALL_PROJECTS
from triops.store.schema_topology import ChangeEvent

#: Changes made by triops itself (registry, deployments, prompts, gateway, monitors).
TRIOPS = "triops"
#: Changes posted from outside (CI/CD deploy markers, new ``service.version`` values).
EXTERNAL = "external"


@dataclass(frozen=True)
class NewChange:
    entity: str
    kind: str
    summary: str
    version: str = ""
    commit: str = ""
    actor: str = ""
    time_ms: int | None = None
    source: str = TRIOPS
    attributes: dict[str, Any] = field(default_factory=dict)


def add(session: Session, project: str, change: NewChange) -> ChangeEvent:
    """Append in the caller's transaction, so a change exists exactly when its write does.

    ``project`` ``*`` marks a server-wide change (gateway, guardrails)."""
    row = ChangeEvent(
        project=project, entity=change.entity[:512], kind=change.kind[:64],
        summary=change.summary, version=change.version[:256], commit=change.commit[:128],
        actor=change.actor[:256],
        time_ms=change.time_ms if change.time_ms is not None else now_ms(),
        source=change.source, attributes=dict(change.attributes),
    )
    session.add(row)
    session.flush()
    return row


def add_server_wide(session: Session, entity: str, kind: str, actor: str,
                    attributes: dict[str, Any] | None = None) -> ChangeEvent:
    """A change to server-wide configuration (gateway, guardrails): every project sees it."""
    verb = "deleted" if kind.endswith(".delete") else "changed"
    return add(session, ALL_PROJECTS, NewChange(
        entity=entity, kind=kind, summary=f"{entity} {verb}", actor=actor,
        attributes=attributes or {}))


def search(session: Session, project: str, *, entities: Sequence[str] = (),
           since_ms: int | None = None, until_ms: int | None = None, limit: int = 500
           ) -> list[ChangeEvent]:
    """Newest first: the project's changes and the server-wide ones."""
    query = select(ChangeEvent).where(ChangeEvent.project.in_((project, ALL_PROJECTS)))
    if entities:
        query = query.where(ChangeEvent.entity.in_(list(entities)))
    if since_ms is not None:
        query = query.where(ChangeEvent.time_ms >= since_ms)
    if until_ms is not None:
        query = query.where(ChangeEvent.time_ms <= until_ms)
    return list(session.scalars(
        query.order_by(ChangeEvent.time_ms.desc(), ChangeEvent.id.desc()).limit(limit)))


def latest(session: Session, project: str, entity: str) -> ChangeEvent | None:
    hits = search(session, project, entities=[entity], limit=1)
    return hits[0] if hits else None
