"""Retention policies: one per project, with the claim that gives each enforcement to
one replica."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.store.schema_retention import RetentionPolicyRow


def put(session: Session, project: str, spec: dict[str, Any], actor: str, now: int
        ) -> RetentionPolicyRow:
    row = session.get(RetentionPolicyRow, project)
    if row is None:
        row = RetentionPolicyRow(project=project, spec=spec, updated_by=actor, updated_ms=now,
                                 last_run_ms=None, last_report={}, last_error="")
        session.add(row)
    else:
        row.spec, row.updated_by, row.updated_ms = spec, actor, now
    session.flush()
    return row


def get(session: Session, project: str) -> RetentionPolicyRow | None:
    return session.get(RetentionPolicyRow, project)


def delete(session: Session, project: str) -> None:
    row = session.get(RetentionPolicyRow, project)
    if row is None:
        raise NotFound(f"project {project!r} has no retention policy: everything is kept")
    session.delete(row)


def due(session: Session, at_ms: int, every_ms: int) -> list[RetentionPolicyRow]:
    """Policies not enforced in the last ``every_ms``."""
    query = select(RetentionPolicyRow).where(or_(
        RetentionPolicyRow.last_run_ms.is_(None),
        RetentionPolicyRow.last_run_ms <= at_ms - every_ms))
    return list(session.scalars(query.order_by(RetentionPolicyRow.project)))


def claim(session: Session, project: str, seen_last_run_ms: int | None, at_ms: int) -> bool:
    """Take one enforcement of a project's policy: moves ``last_run_ms`` to ``at_ms`` only
    if no other replica moved it since it was read as ``seen_last_run_ms``."""
    last = RetentionPolicyRow.last_run_ms
    unchanged = last.is_(None) if seen_last_run_ms is None else last == seen_last_run_ms
    result = session.execute(update(RetentionPolicyRow).where(
        RetentionPolicyRow.project == project, unchanged).values(last_run_ms=at_ms))
    return result.rowcount == 1


def finish(session: Session, project: str, report: dict[str, Any], error: str) -> None:
    session.execute(update(RetentionPolicyRow).where(RetentionPolicyRow.project == project)
                    .values(last_report=report, last_error=error))
