"""Incidents and the signals folded into them."""

from __future__ import annotations

import enum

from sqlalchemy import case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput, NotFound
from triops.core.ids import new_id, now_ms
from triops.core.signals import Signal
from triops.store.schema import ACTIVE_SQL, ACTIVE_STATUSES, Incident, IncidentSignal


class Status(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def open_active(session: Session, project: str, signal: Signal, title: str) -> str | None:
    """Insert a new active incident for the signal's fingerprint and return its id; None
    when one is active already.

    The unique partial index on active incidents decides, so of two writers racing to
    open the same fingerprint exactly one inserts; PostgreSQL makes the other wait until
    the first commits and then reports the conflict.
    """
    table = Incident.__table__
    statement = _insert(session)(table).values(
        id=new_id(), project=project, fingerprint=signal.fingerprint(), status=Status.open.value,
        title=title, source=signal.source.value, kind=signal.kind, subject=signal.subject,
        severity=int(signal.severity), labels=dict(signal.labels),
        annotations=dict(signal.annotations), signal_count=0,
        repeat_count=0, first_ms=signal.time_ms, last_ms=signal.time_ms,
    ).on_conflict_do_nothing(index_elements=["project", "fingerprint"],
                             index_where=text(ACTIVE_SQL))
    return session.execute(statement.returning(table.c.id)).scalar()


def lock_active(session: Session, project: str, fingerprint: str) -> Incident | None:
    """The active incident of the fingerprint, locked for the rest of the caller's write
    transaction (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already
    serialises writers)."""
    query = select(Incident).where(
        Incident.project == project,
        Incident.fingerprint == fingerprint,
        Incident.status.in_(ACTIVE_STATUSES),
    ).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def count_signal(session: Session, incident_id: str, signal: Signal) -> None:
    """Add the signal to the incident; the count, last time and severity change in SQL,
    so concurrent writers never lose each other's increments."""
    time_ms, severity = signal.time_ms, int(signal.severity)
    newest = {"annotations": dict(signal.annotations)} if signal.annotations else {}
    session.execute(
        update(Incident).where(Incident.id == incident_id).values(
            signal_count=Incident.signal_count + 1,
            last_ms=case((Incident.last_ms < time_ms, time_ms), else_=Incident.last_ms),
            severity=case((Incident.severity < severity, severity), else_=Incident.severity),
            **newest,
        ).execution_options(synchronize_session="fetch")
    )
    session.add(
        IncidentSignal(
            incident_id=incident_id, time_ms=time_ms, severity=severity,
            value=signal.value, summary=signal.summary, labels=dict(signal.labels),
        )
    )


def count_repeat(session: Session, incident_id: str) -> None:
    session.execute(
        update(Incident).where(Incident.id == incident_id)
        .values(repeat_count=Incident.repeat_count + 1)
        .execution_options(synchronize_session="fetch")
    )


def has_signal_at(session: Session, incident_id: str, time_ms: int) -> bool:
    query = select(IncidentSignal.id).where(
        IncidentSignal.incident_id == incident_id, IncidentSignal.time_ms == time_ms
    )
    return session.scalar(query.limit(1)) is not None


def get(session: Session, project: str, incident_id: str) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None or incident.project != project:
        raise NotFound(f"incident {incident_id!r} does not exist")
    return incident


def list_incidents(
    session: Session, project: str, status: str | None = None, limit: int = 100
) -> list[Incident]:
    query = select(Incident).where(Incident.project == project)
    if status is not None:
        if status not in Status.__members__:
            raise InvalidInput(f"status {status!r} is not one of: open, acknowledged, resolved")
        query = query.where(Incident.status == status)
    return list(session.scalars(query.order_by(Incident.last_ms.desc()).limit(limit)))


def signals_of(session: Session, incident_id: str, limit: int = 500) -> list[IncidentSignal]:
    query = (
        select(IncidentSignal).where(IncidentSignal.incident_id == incident_id)
        .order_by(IncidentSignal.time_ms.desc()).limit(limit)
    )
    return list(session.scalars(query))


def acknowledge(session: Session, project: str, incident_id: str, actor: str) -> Incident:
    incident = get(session, project, incident_id)
    if incident.status == Status.resolved.value:
        raise Conflict(f"incident {incident_id} is resolved already; it cannot be acknowledged")
    incident.status = Status.acknowledged.value
    incident.acked_by = actor
    incident.acked_ms = now_ms()
    return incident


def resolve(session: Session, project: str, incident_id: str) -> Incident:
    incident = get(session, project, incident_id)
    if incident.status != Status.resolved.value:
        incident.status = Status.resolved.value
        incident.resolved_ms = now_ms()
    return incident


def active_counts(session: Session, project: str) -> dict[str, int]:
    """Open or acknowledged incidents per subject."""
    query = (select(Incident.subject, func.count()).where(
        Incident.project == project, Incident.status.in_(ACTIVE_STATUSES))
        .group_by(Incident.subject))
    return {subject: count for subject, count in session.execute(query)}


def opened_between(session: Session, project: str, start_ms: int, end_ms: int,
                   limit: int = 1000) -> list[Incident]:
    """Incidents whose first signal is in ``[start_ms, end_ms]``, oldest first."""
    query = select(Incident).where(Incident.project == project,
                                   Incident.first_ms.between(start_ms, end_ms))
    return list(session.scalars(query.order_by(Incident.first_ms).limit(limit)))
