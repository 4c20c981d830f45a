"""Alertmanager webhook notifications → signals, and resolutions → resolved incidents.

Each alert of a notification (``version`` "4") is handled on its own status:

* ``firing``: a Signal (source ops, kind ``alert:<alertname>``, subject
  ``service:<service|job|instance>`` from the first of those labels present, else
  ``alertmanager:<receiver>``; severity from the ``severity`` label; summary from the
  ``summary`` annotation, else ``description``, else the alert name; time ``startsAt``; its annotations and
  ``generatorURL`` are kept on the incident).
  Its labels are the alert's labels minus ``alertname`` and ``severity``, so one
  Alertmanager alert (one label set) is one incident fingerprint, and an escalation
  from warning to critical stays in the same incident. Alertmanager re-sends a firing
  alert with its original ``startsAt`` (every ``repeat_interval``, and with each
  notification of its group): such a repeat is counted as ``repeated`` and raises the
  incident's ``repeat_count``, not its ``signal_count``.
* ``resolved``: the alert's fingerprint, in its active incident, gets a closing info
  signal (time ``endsAt``) and stops firing; the incident is resolved (with an audit
  entry) once none of its members fires, unless it is flapping. A resolution with no
  active incident changes nothing and is counted as ``unmatched``.

The incidents already holding a notification's alerts are locked first, in id order,
and the alerts then applied in fingerprint order, so two notifications naming the same
alerts lock their incidents in one order and never wait on each other in a cycle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ops.correlation import DEFAULT_RULES, Rules, TopologyView
from triops.ops.incidents import ingest, resolve_fingerprint
from triops.ops.topology import observe_alerts
from triops.store.repos import audit
from triops.store.repos import incidents as incident_repo

_SUBJECT_LABELS = ("service", "job", "instance")
_IDENTITY_EXCLUDED = ("alertname", "severity")


@dataclass(frozen=True)
class Alert:
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""
    ends_at: str = ""
    fingerprint: str = ""
    generator_url: str = ""


@dataclass
class AlertReport:
    firing: int = 0
    repeated: int = 0
    resolved: int = 0
    unmatched: int = 0
    incidents: list[str] = field(default_factory=list)


def parse_time(text: str) -> int | None:
    """RFC 3339 → ms; None for empty or Alertmanager's zero time (``0001-01-01...``)."""
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"alert time {text!r} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def annotations_of(alert: Alert) -> dict[str, str]:
    """Every annotation (runbook_url, description, summary...) and the alert's
    ``generatorURL``, which Alertmanager sends beside them."""
    kept = dict(alert.annotations)
    if alert.generator_url:
        kept["generatorURL"] = alert.generator_url
    return kept


def signal_for(alert: Alert, receiver: str) -> Signal:
    name = alert.labels.get("alertname", "").strip()
    if not name:
        raise InvalidInput("an alert has no 'alertname' label")
    subject = next(
        (f"service:{alert.labels[k]}" for k in _SUBJECT_LABELS if alert.labels.get(k)),
        f"alertmanager:{receiver or 'default'}",
    )
    summary = (alert.annotations.get("summary") or alert.annotations.get("description")
               or name)
    return Signal(
        source=Pillar.ops, kind=f"alert:{name}"[:128], subject=subject[:512],
        severity=Severity.parse(alert.labels.get("severity", "warning")),
        time_ms=parse_time(alert.starts_at) or now_ms(),
        labels={k: v for k, v in alert.labels.items() if k not in _IDENTITY_EXCLUDED},
        summary=summary[:2000], annotations=annotations_of(alert),
    )


def receive(
    session: Session, project: str, receiver: str, alerts: list[Alert], actor: str,
    *, rules: Rules = DEFAULT_RULES, topology: TopologyView | None = None,
) -> AlertReport:
    """Handle every alert of one notification in the caller's transaction; firing alerts
    correlate under ``rules`` (and ``topology``) like any signal."""
    prepared = []
    for alert in alerts:  # validate everything before writing anything
        if alert.status not in ("firing", "resolved"):
            raise InvalidInput(f"alert status {alert.status!r} is not 'firing' or 'resolved'")
        prepared.append((alert, signal_for(alert, receiver), parse_time(alert.ends_at)))
    report = AlertReport()
    handled: dict[int, str] = {}
    # Correlated fingerprints share incidents, so fingerprint order alone does not fix
    # the order of row locks: take the locks of the incidents already holding these
    # alerts first, in id order, so two notifications never wait on each other in a cycle.
    homes = {incident_repo.home_of(session, project, s.fingerprint()) for _, s, _ in prepared}
    for incident_id in sorted(h for h in homes if h is not None):
        incident_repo.lock(session, incident_id)
    for index, (alert, signal, ends) in sorted(enumerate(prepared),
                                               key=lambda p: p[1][1].fingerprint()):
        if alert.status == "firing":
            folded = ingest(session, project, signal, repeats_keep_time=True, rules=rules,
                            topology=topology)
            if folded.repeat:
                report.repeated += 1
            else:
                report.firing += 1
            handled[index] = folded.incident_id
            continue
        closing = Signal(
            source=signal.source, kind=signal.kind, subject=signal.subject,
            severity=Severity.info, time_ms=ends or now_ms(), labels=signal.labels,
            summary=f"resolved: {signal.summary}",
        )
        incident = resolve_fingerprint(session, project, closing, closing.time_ms)
        if incident is None:
            report.unmatched += 1
            continue
        if incident.status == "resolved":
            audit.record(session, project=project, actor=actor, action="incident.resolve",
                         target=incident.id, detail={"by": "alertmanager", "alert": signal.kind})
        report.resolved += 1
        handled[index] = incident.id
    report.incidents = [handled[i] for i in sorted(handled)]
    observe_alerts(session, project, ((a.labels, s.subject) for a, s, _ in prepared))
    session.flush()
    return report
