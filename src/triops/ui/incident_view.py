"""What the incident page shows, read in one session: the grouping, a timeline of the
incident's signals and the changes on or near its entities, its topology neighbourhood,
runbook runs and notification deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from triops.ops import changes as ops_changes
from triops.ops import incident_store
from triops.ops.notifications import notification_store
from triops.ops.runbooks import runbook_store
from triops.ops.topology import Graph, load_graph

#: Hops around the subject drawn on the page, and whose changes join the timeline.
NEAR_HOPS = 2
#: Changes this long before the first signal belong on the timeline.
CHANGES_BEFORE_MS = 2 * 3600 * 1000
#: ...and this long after the last one.
CHANGES_AFTER_MS = 10 * 60 * 1000
MAX_SIGNALS = 200


@dataclass(frozen=True)
class GroupMember:
    """One fingerprint folded into the incident, and why it belongs there."""

    fingerprint: str
    subject: str
    kind: str
    signals: int
    first_ms: int
    last_ms: int
    explanation: str


@dataclass(frozen=True)
class TimelineEntry:
    time_ms: int
    what: str  # "signal" | "change"
    entity: str
    summary: str
    severity: int = 0
    detail: str = ""


@dataclass(frozen=True)
class IncidentPage:
    incident: Any
    grouping: list[GroupMember]
    timeline: list[TimelineEntry]
    neighbourhood: Graph
    open_incidents: dict[str, int]
    runs: list[Any]
    deliveries: list[Any]
    #: Other active incidents of the project, offered as targets of a merge.
    merge_targets: list[Any]


def grouping(session: Session, incident: Any) -> list[GroupMember]:
    """The fingerprints this incident folds, each with the reason it joined."""
    return [GroupMember(m.fingerprint, m.subject, m.kind, m.signal_count, m.first_ms,
                        m.last_ms, m.reason or "opened the incident")
            for m in incident_store.members_of(session, incident.id) if m.active]


def merge_targets(session: Session, project: str, incident: Any) -> list[Any]:
    """The project's other open or acknowledged incidents, most recent first."""
    active = [i for status in ("open", "acknowledged")
              for i in incident_store.list_incidents(session, project, status)]
    return sorted((i for i in active if i.id != incident.id), key=lambda i: -i.last_ms)


def relative(ms: int, origin: int) -> str:
    """``ms`` against ``origin`` as a signed, rounded duration.

    >>> relative(1_000, 0), relative(0, 125_000), relative(7_500_000, 0), relative(0, 0)
    ('+1s', '−2m 5s', '+2h 5m', '±0s')
    """
    delta = int((ms - origin) / 1000)  # toward zero: half a second before is not "−1s"
    if delta == 0:
        return "±0s"
    sign, delta = ("+" if delta > 0 else "−"), abs(delta)
    hours, rest = divmod(delta, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        text = f"{hours}h {minutes}m" if minutes else f"{hours}h"
    elif minutes:
        text = f"{minutes}m {seconds}s" if seconds else f"{minutes}m"
    else:
        text = f"{seconds}s"
    return sign + text


def timeline(session: Session, project: str, incident: Any, entities: list[str]
             ) -> list[TimelineEntry]:
    """The incident's signals and the changes of ``entities`` around them, oldest first."""
    entries = [TimelineEntry(s.time_ms, "signal", incident.subject, s.summary or incident.kind,
                             s.severity, "" if s.value is None else f"value {s.value:.4g}")
               for s in incident_store.signals_of(session, incident.id, MAX_SIGNALS)]
    found = ops_changes.search(session, project, entities=entities,
                               since_ms=incident.first_ms - CHANGES_BEFORE_MS,
                               until_ms=incident.last_ms + CHANGES_AFTER_MS)
    entries += [TimelineEntry(c.time_ms, "change", c.entity, c.summary or c.kind, 0,
                              " · ".join(p for p in (c.kind, c.version and f"version {c.version}",
                                                     c.actor and f"by {c.actor}") if p))
                for c in found]
    return sorted(entries, key=lambda e: (e.time_ms, e.what))


def load(session: Session, project: str, incident_id: str) -> IncidentPage:
    incident = incident_store.get(session, project, incident_id)
    graph = load_graph(session, project)
    near = graph.within(incident.subject, NEAR_HOPS)
    entities = sorted(near) or [incident.subject]
    return IncidentPage(
        incident=incident,
        grouping=grouping(session, incident),
        timeline=timeline(session, project, incident, entities),
        neighbourhood=graph.subgraph(near),
        open_incidents=incident_store.active_counts(session, project),
        runs=runbook_store.list_runs(session, project, incident_id=incident.id),
        deliveries=notification_store.list_deliveries(session, project,
                                                       incident_id=incident.id),
        merge_targets=merge_targets(session, project, incident),
    )
