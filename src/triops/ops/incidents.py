"""The incident engine's first stage: fold signals into incidents.

A fingerprint has at most one active (open or acknowledged) incident. A signal joins it
when that incident saw a signal within ``window_ms``; a signal later than that resolves
the quiet incident and opens a new one.

Many writers may fold signals of one fingerprint at the same moment (replicas, request
threads): the unique partial index on active incidents lets exactly one of them open
the incident, the others lock that row and count into it in SQL, so no signal is lost
and no second incident appears.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from triops.core.signals import Signal
from triops.ops.notifications import FIRING, RESOLVED, notify_incident
from triops.store.repos import incidents as repo
from triops.store.repos import runbooks as runbook_queue
from triops.store.schema import Incident

#: Signals of one fingerprint more than this far apart open separate incidents.
DEFAULT_FOLD_WINDOW_MS = 60 * 60 * 1000


@dataclass(frozen=True)
class Folded:
    incident_id: str
    opened: bool
    #: The signal was a re-sent copy of one the incident holds; only its repeats rose.
    repeat: bool = False


def title_for(signal: Signal) -> str:
    return signal.summary or f"{signal.kind} on {signal.subject}"


def ingest(
    session: Session, project: str, signal: Signal, window_ms: int = DEFAULT_FOLD_WINDOW_MS,
    *, repeats_keep_time: bool = False,
) -> Folded:
    """Record one signal in the caller's write transaction; returns the incident it joined.

    ``repeats_keep_time`` is for sources that re-send an occurrence with its original
    time (Alertmanager keeps ``startsAt``): a signal whose time equals one the incident
    already holds then counts as a repeat, not as a new signal.
    """
    fingerprint = signal.fingerprint()
    while True:
        opened = repo.open_active(session, project, signal, title_for(signal))
        if opened is not None:
            repo.count_signal(session, opened, signal)
            # Same transaction: an incident that opens is always announced and offered to
            # runbooks, or neither happens.
            notify_incident(session, project, opened, FIRING)
            runbook_queue.enqueue(session, project, opened, "open", signal.time_ms)
            return Folded(incident_id=opened, opened=True)
        incident = repo.lock_active(session, project, fingerprint)
        if incident is None:
            continue  # resolved since the insert saw it; open a new one
        if repeats_keep_time and repo.has_signal_at(session, incident.id, signal.time_ms):
            repo.count_repeat(session, incident.id)
            return Folded(incident_id=incident.id, opened=False, repeat=True)
        if signal.time_ms - incident.last_ms > window_ms:
            resolve(session, project, incident.id)
            session.flush()  # the index must see it resolved before the next insert
            continue
        escalates = int(signal.severity) > incident.severity
        repo.count_signal(session, incident.id, signal)
        if escalates:
            notify_incident(session, project, incident.id, FIRING)
            runbook_queue.enqueue(session, project, incident.id, "escalate", signal.time_ms)
        return Folded(incident_id=incident.id, opened=False)


def resolve(session: Session, project: str, incident_id: str) -> Incident:
    """Resolve the incident (if it is not already) and queue its resolve notifications in
    the same transaction."""
    incident = repo.get(session, project, incident_id)
    if incident.status != repo.Status.resolved.value:
        repo.resolve(session, project, incident_id)
        session.flush()
        notify_incident(session, project, incident_id, RESOLVED)
    return incident
