"""The audit log: who changed what, when. Append-only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.ids import now_ms
from triops.store.schema import AuditEntry


def record(
    session: Session, *, project: str, actor: str, action: str, target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(project=project, time_ms=now_ms(), actor=actor, action=action, target=target,
                   detail=detail or {})
    )


def recent(session: Session, project: str, limit: int = 100) -> list[AuditEntry]:
    query = (
        select(AuditEntry).where(AuditEntry.project == project)
        .order_by(AuditEntry.id.desc()).limit(limit)
    )
    return list(session.scalars(query))


def of_target(session: Session, project: str, action: str, target: str,
              limit: int = 200) -> list[AuditEntry]:
    """The entries of one action on one target, newest first."""
    query = (
        select(AuditEntry).where(AuditEntry.project == project, AuditEntry.action == action,
                                 AuditEntry.target == target)
        .order_by(AuditEntry.id.desc()).limit(limit)
    )
    return list(session.scalars(query))


def under_target(session: Session, project: str, actions: Sequence[str], prefix: str,
                 limit: int = 200) -> list[AuditEntry]:
    """The entries of some actions on every target starting with ``prefix`` (all the
    aliases of one model: ``model:<name>@``), newest first."""
    query = (
        select(AuditEntry).where(AuditEntry.project == project,
                                 AuditEntry.action.in_(list(actions)),
                                 AuditEntry.target.startswith(prefix, autoescape=True))
        .order_by(AuditEntry.id.desc()).limit(limit)
    )
    return list(session.scalars(query))


def of_actions(session: Session, project: str, actions: Sequence[str],
               limit: int = 200) -> list[AuditEntry]:
    """The entries of some actions on any target, newest first."""
    query = (
        select(AuditEntry).where(AuditEntry.project == project,
                                 AuditEntry.action.in_(list(actions)))
        .order_by(AuditEntry.id.desc()).limit(limit)
    )
    return list(session.scalars(query))


def get_entry(session: Session, project: str, entry_id: int) -> AuditEntry | None:
    entry = session.get(AuditEntry, entry_id)
    return entry if entry is not None and entry.project == project else None
