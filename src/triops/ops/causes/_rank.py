"""One ranked list of probable causes per incident, and a cache that keeps the last
list of each incident until the incident changes or the list grows old."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from sqlalchemy.orm import Session

from triops.ops.causes._changes import rank_changes
from triops.ops.causes._model import CausesConfig, ProbableCause
from triops.ops.topology import load_view
from triops.store.repos import incidents as incident_repo
from triops.store.schema import Incident


def subjects_of(session: Session, incident: Incident) -> list[str]:
    """The entities an incident is about: its own subject first, then the subjects of
    the fingerprints correlation folded into it (a database alert joined to a checkout
    latency incident makes the database a place to look as well)."""
    subjects = [incident.subject]
    for member in incident_repo.members_of(session, incident.id):
        if member.subject not in subjects:
            subjects.append(member.subject)
    return subjects


def rank_incident(session: Session, project: str, incident_id: str,
                  config: CausesConfig | None = None) -> list[ProbableCause]:
    """Probable causes of one incident, best first: its recent changes and the
    components whose metrics explain it, on one [0, 1] scale."""
    # Imported on use: the metric ranking (pandas, networkx) is half a second of every
    # server start, and most incidents are ranked long after it, if at all.
    from triops.ops.causes._metrics import rank_metrics

    config = config or CausesConfig()
    incident = incident_repo.get(session, project, incident_id)
    subjects = subjects_of(session, incident)
    view = load_view(session, project)
    found = (rank_changes(session, project, view, incident.id, subjects, incident.first_ms,
                          config)
             + rank_metrics(session, project, view, subjects, incident.first_ms, config))
    # Stable: of equal scores the newer change (changes come newest first) stays ahead.
    return sorted(found, key=lambda c: -c.score)


class CauseCache:
    """Ranked causes per incident, reused while the incident's signals, status and the
    age of the list (``ttl_s``: changes and metrics keep arriving) say it is current."""

    def __init__(self, ttl_s: float = 60.0, capacity: int = 256) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[tuple, float, list[ProbableCause]]] = (
            OrderedDict())
        self._lock = threading.Lock()

    def causes(self, session: Session, project: str, incident_id: str,
               config: CausesConfig | None = None) -> list[ProbableCause]:
        incident = incident_repo.get(session, project, incident_id)
        token = (incident.last_ms, incident.signal_count, incident.status)
        with self._lock:
            entry = self._entries.get((project, incident_id))
        if entry is not None and entry[0] == token and time.monotonic() - entry[1] < self.ttl_s:
            return entry[2]
        ranked = rank_incident(session, project, incident_id, config)
        with self._lock:
            self._entries[(project, incident_id)] = (token, time.monotonic(), ranked)
            self._entries.move_to_end((project, incident_id))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return ranked
