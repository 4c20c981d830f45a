"""The incident engine's first stage: fold signals into incidents.

A signal joins the open (or acknowledged) incident with the same fingerprint when that
incident saw a signal within ``window_ms``; otherwise it opens a new incident.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from triops.core.signals import Signal
from triops.store.repos import incidents as repo
from triops.store.schema import Incident

#: Signals of one fingerprint more than this far apart open separate incidents.
DEFAULT_FOLD_WINDOW_MS = 60 * 60 * 1000


@dataclass(frozen=True)
class Folded:
    incident_id: str
    opened: bool


def title_for(signal: Signal) -> str:
    return signal.summary or f"{signal.kind} on {signal.subject}"


def ingest(
    session: Session, project: str, signal: Signal, window_ms: int = DEFAULT_FOLD_WINDOW_MS
) -> Folded:
    """Record one signal in the caller's transaction; returns the incident it joined."""
    incident: Incident | None = repo.find_active(session, project, signal.fingerprint())
    opened = incident is None or signal.time_ms - incident.last_ms > window_ms
    if opened:
        incident = repo.open_for(session, project, signal, title_for(signal))
    assert incident is not None
    repo.attach(session, incident, signal)
    session.flush()
    return Folded(incident_id=incident.id, opened=opened)
