"""What a notification says: one route's group of incidents, firing or resolved."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from triops.core.signals import Severity
from triops.store.schema import Incident

FIRING, RESOLVED = "firing", "resolved"


def labels_of(incident: Incident) -> dict[str, str]:
    """The labels routes, groups and silences match: the incident's own labels plus
    ``severity``, ``kind``, ``subject``, ``source`` and ``alertname`` (the kind without
    its ``alert:`` prefix, so Alertmanager-style matchers read naturally)."""
    kind = incident.kind
    return {
        **{k: str(v) for k, v in incident.labels.items()},
        "severity": Severity(incident.severity).name, "kind": kind,
        "subject": incident.subject, "source": incident.source,
        "alertname": kind.removeprefix("alert:"),
    }


@dataclass(frozen=True)
class IncidentView:
    id: str
    title: str
    status: str
    severity: str
    kind: str
    subject: str
    labels: dict[str, str]
    annotations: dict[str, str]
    first_ms: int
    last_ms: int
    resolved_ms: int | None

    @classmethod
    def of(cls, row: Incident) -> IncidentView:
        return cls(id=row.id, title=row.title, status=row.status,
                   severity=Severity(row.severity).name, kind=row.kind, subject=row.subject,
                   labels={k: str(v) for k, v in row.labels.items()},
                   annotations={k: str(v) for k, v in (row.annotations or {}).items()},
                   first_ms=row.first_ms, last_ms=row.last_ms, resolved_ms=row.resolved_ms)


@dataclass(frozen=True)
class Message:
    delivery_id: str
    project: str
    route: str
    event: str  # firing | resolved
    group_labels: dict[str, str]
    incidents: list[IncidentView] = field(default_factory=list)

    def subject(self) -> str:
        """``[FIRING:2] <first title> (+1 more)``, the line every channel leads with."""
        first = self.incidents[0].title if self.incidents else "(no incidents)"
        more = f" (+{len(self.incidents) - 1} more)" if len(self.incidents) > 1 else ""
        return f"[{self.event.upper()}:{len(self.incidents)}] {first}{more}"

    def text(self) -> str:
        lines = [f"{self.subject()} — project {self.project}, route {self.route}"]
        for incident in self.incidents:
            lines.append(f"- [{incident.severity}] {incident.title} ({incident.subject}, "
                         f"incident {incident.id}, {incident.status})")
            for key in ("description", "runbook_url", "generatorURL"):
                if incident.annotations.get(key):
                    lines.append(f"    {key}: {incident.annotations[key]}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        """The generic webhook's body (documented in docs/notifications.md)."""
        return {
            "version": "1", "delivery_id": self.delivery_id, "project": self.project,
            "route": self.route, "status": self.event, "group_labels": self.group_labels,
            "incidents": [vars(i) for i in self.incidents],
        }


def rfc3339(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")
