"""Change events: everything that changes is an event on an entity.

triops records its own changes (model versions, aliases, deployments, prompt labels,
gateway routes and upstreams, guardrail rules, monitors) in the transaction that makes
them, through :mod:`triops.store.repos.changes`; this module is the face for changes
posted from outside (CI/CD deploy markers) and for reading them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from triops.store.repos import changes as repo
from triops.store.repos.changes import EXTERNAL, TRIOPS, NewChange
from triops.store.schema_topology import ChangeEvent

__all__ = ["EXTERNAL", "TRIOPS", "Change", "NewChange", "add_external", "search"]


@dataclass(frozen=True)
class Change:
    id: int
    entity: str
    kind: str
    summary: str
    version: str
    commit: str
    actor: str
    time_ms: int
    source: str
    attributes: dict[str, Any]

    @classmethod
    def of(cls, row: ChangeEvent) -> Change:
        return cls(row.id, row.entity, row.kind, row.summary, row.version, row.commit,
                   row.actor, row.time_ms, row.source, dict(row.attributes or {}))


def add_external(session: Session, project: str, change: NewChange) -> Change:
    """A change reported from outside triops, e.g. a deploy marker from CI/CD."""
    return Change.of(repo.add(session, project, NewChange(
        entity=change.entity, kind=change.kind, summary=change.summary,
        version=change.version, commit=change.commit, actor=change.actor,
        time_ms=change.time_ms, source=EXTERNAL, attributes=change.attributes)))


def search(session: Session, project: str, *, entities: list[str] | None = None,
           since_ms: int | None = None, until_ms: int | None = None, limit: int = 500
           ) -> list[Change]:
    """Newest first; server-wide changes (gateway, guardrails) are in every project."""
    return [Change.of(r) for r in repo.search(session, project, entities=entities or (),
                                              since_ms=since_ms, until_ms=until_ms,
                                              limit=limit)]
