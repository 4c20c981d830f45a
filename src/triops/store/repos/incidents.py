"""Incidents and the signals folded into them."""

from __future__ import annotations

import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput, NotFound
from triops.core.ids import new_id, now_ms
from triops.core.signals import Signal
from triops.store.schema import Incident, IncidentSignal


class Status(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


ACTIVE = (Status.open.value, Status.acknowledged.value)


def find_active(session: Session, project: str, fingerprint: str) -> Incident | None:
    query = select(Incident).where(
        Incident.project == project,
        Incident.fingerprint == fingerprint,
        Incident.status.in_(ACTIVE),
    )
    return session.scalars(query.order_by(Incident.last_ms.desc()).limit(1)).first()


def open_for(session: Session, project: str, signal: Signal, title: str) -> Incident:
    incident = Incident(
        id=new_id(), project=project, fingerprint=signal.fingerprint(), status=Status.open.value,
        title=title, source=signal.source.value, kind=signal.kind, subject=signal.subject,
        severity=int(signal.severity), labels=dict(signal.labels), signal_count=0,
        first_ms=signal.time_ms, last_ms=signal.time_ms,
    )
    session.add(incident)
    return incident


def attach(session: Session, incident: Incident, signal: Signal) -> None:
    incident.signal_count += 1
    incident.last_ms = max(incident.last_ms, signal.time_ms)
    incident.severity = max(incident.severity, int(signal.severity))
    session.add(
        IncidentSignal(
            incident_id=incident.id, time_ms=signal.time_ms, severity=int(signal.severity),
            value=signal.value, summary=signal.summary, labels=dict(signal.labels),
        )
    )


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
