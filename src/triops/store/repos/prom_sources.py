"""Prometheus query_range sources, with the claim that gives each poll to one replica."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.store.schema_ops import PromSourceRow


def put(session: Session, project: str, name: str, spec: dict[str, Any], actor: str, now: int
        ) -> PromSourceRow:
    """Create or replace a source; a changed spec starts its fetching afresh."""
    row = session.get(PromSourceRow, (project, name))
    if row is None:
        row = PromSourceRow(project=project, name=name, spec=spec, updated_by=actor,
                            updated_ms=now, last_run_ms=None, fetched_to_ms=None,
                            last_ok_ms=None, last_error="", last_error_ms=None, series=0,
                            points=0, anomalies=0)
        session.add(row)
    else:
        if row.spec != spec:
            row.fetched_to_ms, row.last_error, row.last_error_ms = None, "", None
        row.spec, row.updated_by, row.updated_ms = spec, actor, now
        row.last_run_ms = None  # due at once
    session.flush()
    return row


def get(session: Session, project: str, name: str) -> PromSourceRow:
    row = session.get(PromSourceRow, (project, name))
    if row is None:
        raise NotFound(f"Prometheus source {name!r} does not exist")
    return row


def list_all(session: Session, project: str) -> list[PromSourceRow]:
    query = select(PromSourceRow).where(PromSourceRow.project == project)
    return list(session.scalars(query.order_by(PromSourceRow.name)))


def delete(session: Session, project: str, name: str) -> None:
    session.delete(get(session, project, name))


def everything(session: Session) -> list[PromSourceRow]:
    """Every project's sources: the poller decides which are due by each one's interval."""
    return list(session.scalars(select(PromSourceRow).order_by(
        PromSourceRow.project, PromSourceRow.name)))


def claim(session: Session, project: str, name: str, seen_last_run_ms: int | None,
          at_ms: int) -> bool:
    """Take one poll of a source: moves ``last_run_ms`` to ``at_ms`` only if no other
    replica moved it since it was read as ``seen_last_run_ms``."""
    last = PromSourceRow.last_run_ms
    unchanged = last.is_(None) if seen_last_run_ms is None else last == seen_last_run_ms
    result = session.execute(update(PromSourceRow).where(
        PromSourceRow.project == project, PromSourceRow.name == name, unchanged)
        .values(last_run_ms=at_ms))
    return result.rowcount == 1
