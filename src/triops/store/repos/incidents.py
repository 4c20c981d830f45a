"""Incidents, their member fingerprints, the signals folded into them, their timeline."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triops.core.errors import Conflict, InvalidInput, NotFound
from triops.core.ids import new_id, now_ms
from triops.core.signals import Signal
from triops.store.schema import (
    ACTIVE_MEMBER_SQL,
    ACTIVE_SQL,
    ACTIVE_STATUSES,
    Incident,
    IncidentEvent,
    IncidentMember,
    IncidentSignal,
)


class Status(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def open_incident(session: Session, project: str, signal: Signal, title: str) -> str | None:
    """Insert a new active incident for the signal's fingerprint and return its id; None
    when an incident opened by that fingerprint is active already.

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
        repeat_count=0, first_ms=signal.time_ms, last_ms=signal.time_ms, flapping=False,
    ).on_conflict_do_nothing(index_elements=["project", "fingerprint"],
                             index_where=text(ACTIVE_SQL))
    return session.execute(statement.returning(table.c.id)).scalar()


def add_member(
    session: Session, project: str, incident_id: str, signal: Signal, reason: str
) -> IncidentMember | None:
    """Make the incident the live home of the signal's fingerprint; None when another
    writer gave the fingerprint a home first (the unique partial index on active members
    decides, as for incidents)."""
    table = IncidentMember.__table__
    statement = _insert(session)(table).values(
        project=project, incident_id=incident_id, fingerprint=signal.fingerprint(),
        active=True, firing=True, source=signal.source.value, kind=signal.kind,
        subject=signal.subject, labels=dict(signal.labels), severity=int(signal.severity),
        signal_count=0, first_ms=signal.time_ms, last_ms=signal.time_ms, flap_count=0,
        reason=reason,
    ).on_conflict_do_nothing(index_elements=["project", "fingerprint"],
                             index_where=text(ACTIVE_MEMBER_SQL))
    member_id = session.execute(statement.returning(table.c.id)).scalar()
    return None if member_id is None else session.get(IncidentMember, member_id)


def delete_incident(session: Session, incident_id: str) -> None:
    """Take back an incident this transaction opened and could not give a member."""
    session.execute(delete(Incident).where(Incident.id == incident_id))


def home_of(session: Session, project: str, fingerprint: str) -> str | None:
    """The id of the incident that is the live home of the fingerprint."""
    query = select(IncidentMember.incident_id).where(
        IncidentMember.project == project, IncidentMember.fingerprint == fingerprint,
        IncidentMember.active.is_(True),
    )
    return session.scalar(query)


def lock(session: Session, incident_id: str) -> Incident | None:
    """The incident, if still active, locked for the rest of the caller's write
    transaction (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already
    serialises writers). Every change to an incident and its members happens under
    this lock, so plain read-modify-write is safe."""
    query = select(Incident).where(
        Incident.id == incident_id, Incident.status.in_(ACTIVE_STATUSES)
    ).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def member(session: Session, incident_id: str, fingerprint: str) -> IncidentMember | None:
    query = select(IncidentMember).where(
        IncidentMember.incident_id == incident_id, IncidentMember.fingerprint == fingerprint,
    )
    found = session.scalars(query.execution_options(populate_existing=True)).all()
    return max(found, key=lambda m: m.active, default=None)


def members_of(session: Session, incident_id: str) -> list[IncidentMember]:
    query = select(IncidentMember).where(IncidentMember.incident_id == incident_id)
    return list(session.scalars(query.order_by(IncidentMember.first_ms, IncidentMember.id)
                                .execution_options(populate_existing=True)))


def recent_members(session: Session, project: str, time_ms: int, window_ms: int
                   ) -> list[IncidentMember]:
    """Live members whose first..last span comes within the window of the time."""
    query = select(IncidentMember).where(
        IncidentMember.project == project, IncidentMember.active.is_(True),
        IncidentMember.last_ms >= time_ms - window_ms,
        IncidentMember.first_ms <= time_ms + window_ms,
    )
    return list(session.scalars(query.limit(1000)))


def source_resolved_member(session: Session, project: str, fingerprint: str, since_ms: int
                           ) -> IncidentMember | None:
    """The fingerprint's latest member that its source resolved at or after ``since_ms``,
    in an incident that is resolved now and was not merged away."""
    query = (
        select(IncidentMember).join(Incident, Incident.id == IncidentMember.incident_id)
        .where(IncidentMember.project == project, IncidentMember.fingerprint == fingerprint,
               IncidentMember.resolved_ms >= since_ms, Incident.status == Status.resolved.value,
               Incident.merged_into.is_(None))
        .order_by(IncidentMember.resolved_ms.desc()).limit(1)
    )
    return session.scalars(query).first()


def count_signal(session: Session, incident: Incident, member: IncidentMember,
                 signal: Signal) -> None:
    """Add the signal to the locked incident and its member."""
    time_ms, severity = signal.time_ms, int(signal.severity)
    member.signal_count += 1
    member.first_ms = min(member.first_ms, time_ms)
    member.last_ms = max(member.last_ms, time_ms)
    member.severity = max(member.severity, severity) if member.firing else severity
    member.firing = True
    incident.signal_count += 1
    incident.first_ms = min(incident.first_ms, time_ms)
    incident.last_ms = max(incident.last_ms, time_ms)
    if signal.annotations:  # the newest annotated signal's (runbook_url, description…)
        incident.annotations = dict(signal.annotations)
    session.add(
        IncidentSignal(
            incident_id=incident.id, time_ms=time_ms, severity=severity, value=signal.value,
            summary=signal.summary, labels=dict(signal.labels), fingerprint=member.fingerprint,
        )
    )
    session.flush()
    refresh_severity(session, incident)


def refresh_severity(session: Session, incident: Incident) -> None:
    """The incident is as severe as its worst firing member (its worst member at all
    when none fires any more)."""
    rows = session.execute(
        select(IncidentMember.severity, IncidentMember.firing)
        .where(IncidentMember.incident_id == incident.id)
    ).all()
    firing = [r.severity for r in rows if r.firing]
    if firing or rows:
        incident.severity = max(firing or [r.severity for r in rows])


def count_repeat(session: Session, incident: Incident) -> None:
    incident.repeat_count += 1


def has_copy(session: Session, incident_id: str, fingerprint: str, signal: Signal,
             *, time_only: bool = False) -> bool:
    """Whether the incident holds a signal of the fingerprint at the signal's time (and,
    unless ``time_only``, with its value)."""
    query = select(IncidentSignal.id).where(
        IncidentSignal.incident_id == incident_id, IncidentSignal.fingerprint == fingerprint,
        IncidentSignal.time_ms == signal.time_ms,
    )
    if not time_only:
        query = query.where(IncidentSignal.value.is_(None) if signal.value is None
                            else IncidentSignal.value == signal.value)
    return session.scalar(query.limit(1)) is not None


def record_event(session: Session, incident_id: str, kind: str, summary: str, *,
                 actor: str = "triops", detail: dict[str, Any] | None = None) -> None:
    session.add(IncidentEvent(incident_id=incident_id, time_ms=now_ms(), kind=kind,
                              actor=actor, summary=summary, detail=detail or {}))


def events_of(session: Session, incident_id: str, limit: int = 500) -> list[IncidentEvent]:
    query = (select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
             .order_by(IncidentEvent.id).limit(limit))
    return list(session.scalars(query))


def move(session: Session, from_id: str, to_id: str, fingerprints: list[str] | None = None
         ) -> None:
    """Move members and their signals (all, or those of the fingerprints) between
    incidents; the caller holds both locks."""
    members = update(IncidentMember).where(IncidentMember.incident_id == from_id)
    signals = update(IncidentSignal).where(IncidentSignal.incident_id == from_id)
    if fingerprints is not None:
        members = members.where(IncidentMember.fingerprint.in_(fingerprints))
        signals = signals.where(IncidentSignal.fingerprint.in_(fingerprints))
    session.execute(members.values(incident_id=to_id).execution_options(synchronize_session=False))
    session.execute(signals.values(incident_id=to_id).execution_options(synchronize_session=False))


def refresh_totals(session: Session, incident: Incident) -> None:
    """Counts and times of a locked incident recomputed from its members."""
    rows = members_of(session, incident.id)
    if rows:
        incident.signal_count = sum(m.signal_count for m in rows)
        incident.first_ms = min(m.first_ms for m in rows)
        incident.last_ms = max(m.last_ms for m in rows)
    refresh_severity(session, incident)


def get(session: Session, project: str, incident_id: str) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None or incident.project != project:
        raise NotFound(f"incident {incident_id!r} does not exist")
    return incident


def list_incidents(
    session: Session, project: str, status: str | None = None, limit: int = 100,
    id_prefix: str | None = None,
) -> list[Incident]:
    query = select(Incident).where(Incident.project == project)
    if id_prefix:
        query = query.where(Incident.id.startswith(id_prefix, autoescape=True))
    if status is not None:
        if status not in Status.__members__:
            raise InvalidInput(f"status {status!r} is not one of: open, acknowledged, resolved")
        query = query.where(Incident.status == status)
    return list(session.scalars(query.order_by(Incident.last_ms.desc()).limit(limit)))


@dataclass(frozen=True)
class ListedSignal:
    """A signal an incident holds, with what its fingerprint is about."""

    signal: IncidentSignal
    source: str
    kind: str
    subject: str


def recent_signals(session: Session, project: str, *, since_ms: int | None = None,
                   until_ms: int | None = None, min_severity: int | None = None,
                   fingerprint: str | None = None, limit: int = 100) -> list[ListedSignal]:
    """The project's signals, newest first, each with its member's source, kind and
    subject (the incident's own when the member is gone)."""
    query = (select(IncidentSignal, Incident).join(Incident, Incident.id == IncidentSignal.incident_id)
             .where(Incident.project == project))
    if since_ms is not None:
        query = query.where(IncidentSignal.time_ms >= since_ms)
    if until_ms is not None:
        query = query.where(IncidentSignal.time_ms < until_ms)
    if min_severity is not None:
        query = query.where(IncidentSignal.severity >= min_severity)
    if fingerprint is not None:
        query = query.where(IncidentSignal.fingerprint == fingerprint)
    rows = session.execute(query.order_by(IncidentSignal.time_ms.desc(), IncidentSignal.id.desc())
                           .limit(limit)).all()
    incident_ids = {signal.incident_id for signal, _ in rows}
    members: dict[tuple[str, str], IncidentMember] = {}
    if incident_ids:
        for m in session.scalars(select(IncidentMember)
                                 .where(IncidentMember.incident_id.in_(incident_ids))):
            members.setdefault((m.incident_id, m.fingerprint), m)
    out = []
    for signal, incident in rows:
        about: IncidentMember | Incident = members.get(
            (signal.incident_id, signal.fingerprint or ""), incident)
        out.append(ListedSignal(signal, about.source, about.kind, about.subject))
    return out


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
    """Resolve the incident; its fingerprints lose their home here, so their next
    signals open (or reopen, when flapping) an incident of their own."""
    incident = get(session, project, incident_id)
    if incident.status != Status.resolved.value:
        incident.status = Status.resolved.value
        incident.resolved_ms = now_ms()
        session.execute(
            update(IncidentMember).where(IncidentMember.incident_id == incident_id)
            .values(active=False).execution_options(synchronize_session="fetch")
        )
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
