"""Capacity signals: matched series are projected as their data arrives, and a projection
that crosses its rule's threshold within the horizon raises a ``capacity`` signal
titled with the expected time ("disk /var on host-3 full in ~3 h").

Each series is evaluated at most once per ``interval_ms`` of its own time (the newest
point's timestamp), so the cost follows the data, not the request rate, and a replayed
history is judged as it would have been live. The signal of a series and rule keeps one
fingerprint, so each evaluation refreshes the same incident (its title follows the
newest estimate); an evaluation that no longer crosses resolves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from triops.core.signals import Pillar, Severity, Signal
from triops.ops import incidents
from triops.ops.capacity import projection
from triops.ops.capacity.rules import CapacityRule, parse_key
from triops.ops.telemetry import MetricSample, list_series, read_series, series_key
from triops.store.repos import capacity as repo
from triops.store.repos import incidents as incident_repo

CAPACITY = "capacity"
DEFAULT_INTERVAL_MS = 5 * 60 * 1000
#: The fewest points a projection is made from.
MIN_POINTS = 12
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Assessment:
    """One rule's view of one series: the projection, the threshold it is held to, and
    the expected crossing (None: no crossing within the horizon)."""

    rule: CapacityRule
    series: str
    threshold: float
    projection: projection.Projection
    crossing_ms: int | None
    #: The crossing was found on the interval's far edge, not on the forecast.
    from_interval: bool = False

    @property
    def eta_hours(self) -> float | None:
        if self.crossing_ms is None:
            return None
        return max(0.0, (self.crossing_ms - self.projection.origin_ms) / HOUR_MS)

    def title(self, labels: dict[str, str]) -> str:
        eta = self.eta_hours
        assert eta is not None
        when = "now" if eta < 0.5 else (f"in ~{eta:.0f} h" if eta < 48 else f"in ~{eta / 24:.0f} days")
        maybe = "may be " if self.from_interval else ""
        return f"{self.rule.what(self.series, labels)} {maybe}{self.rule.goal()} {when}"


def rules_of(session: Session, project: str) -> list[CapacityRule]:
    return [CapacityRule.of(r.name, r.spec) for r in repo.list_rules(session, project)]


def _limit(session: Session, project: str, rule: CapacityRule, labels: dict[str, str]
           ) -> float | None:
    if rule.limit_label is not None:
        try:
            return float(labels[rule.limit_label])
        except (KeyError, ValueError):
            return None
    assert rule.limit_series is not None
    # The limit series whose labels the matched series shares, the most specific first.
    best: tuple[int, str] | None = None
    for key in list_series(session, project, prefix=rule.limit_series):
        name, limit_labels = parse_key(key)
        shared = all(labels.get(k) == v for k, v in limit_labels.items())
        if name == rule.limit_series and shared and (best is None or len(limit_labels) > best[0]):
            best = (len(limit_labels), key)
    if best is None:
        return None
    newest = read_series(session, project, best[1], limit=1, newest_first=True)
    return newest[0][1] if newest else None


def threshold_of(session: Session, project: str, rule: CapacityRule,
                 labels: dict[str, str]) -> float | None:
    if rule.value is not None:
        return rule.value
    limit = _limit(session, project, rule, labels)
    return None if limit is None else limit * rule.percent / 100  # type: ignore[operator]


def assess(session: Session, project: str, rule: CapacityRule, key: str,
           end_ms: int | None = None) -> Assessment | None:
    """The rule's projection of the series up to ``end_ms``; None while the history is
    too short (``min_history``) or the threshold's limit is unknown."""
    _, labels = parse_key(key)
    threshold = threshold_of(session, project, rule, labels)
    if threshold is None:
        return None
    newest = read_series(session, project, key, end_ms=end_ms, limit=1, newest_first=True)
    if not newest:
        return None
    last = newest[0][0]
    points = read_series(session, project, key, start_ms=last - rule.lookback_s * 1000,
                         end_ms=last + 1)
    if len(points) < MIN_POINTS or points[-1][0] - points[0][0] < rule.min_history_s * 1000:
        return None
    proj = projection.project(points, rule.horizon_s * 1000, rule.trend_window_s * 1000)
    above = rule.direction == "above"
    crossing = projection.first_crossing(proj.times_ms, proj.mean, threshold, above)
    from_interval = False
    if crossing is None and rule.use_interval:
        crossing = projection.first_crossing(proj.times_ms, proj.hi if above else proj.lo, threshold, above)
        from_interval = crossing is not None
    return Assessment(rule, key, threshold, proj, crossing, from_interval)


def forecast_of(session: Session, project: str, series: str,
                end_ms: int | None = None) -> list[Assessment]:
    """Each matching rule's projection of the series up to ``end_ms``, the longest
    horizon first; empty when no rule matches or the history is still too short."""
    name, labels = parse_key(series)
    found = [a for rule in rules_of(session, project) if rule.matches(name, labels)
             if (a := assess(session, project, rule, series, end_ms)) is not None]
    return sorted(found, key=lambda a: -a.rule.horizon_s)


def _signal(found: Assessment, labels: dict[str, str]) -> Signal:
    assert found.crossing_ms is not None
    eta = found.eta_hours or 0.0
    at = datetime.fromtimestamp(found.crossing_ms / 1000, UTC).isoformat(timespec="minutes")
    severity = Severity.error if eta * HOUR_MS < found.rule.horizon_s * 1000 / 4 else Severity.warning
    return Signal(
        source=Pillar.ops, kind=CAPACITY, subject=f"series:{found.series}", severity=severity,
        value=round(eta, 3), time_ms=found.projection.origin_ms,
        labels={"rule": found.rule.name}, summary=found.title(labels),
        annotations={"crossing_at": at, "eta_hours": f"{eta:.1f}",
                     "threshold": f"{found.threshold:g}"})


def evaluate(session: Session, project: str, key: str, rules: Sequence[CapacityRule],
             interval_ms: int = DEFAULT_INTERVAL_MS) -> list[Assessment]:
    """Evaluate the series under each matching rule that is due; returns the verdicts
    reached (in the caller's write transaction)."""
    name, labels = parse_key(key)
    done = []
    for rule in rules:
        if not rule.matches(name, labels):
            continue
        state = repo.lock_state(session, project, rule.name, key)
        newest = read_series(session, project, key, limit=1, newest_first=True)
        if not newest or newest[0][0] - state.evaluated_ms < interval_ms:
            continue
        found = assess(session, project, rule, key)
        if found is None:
            continue
        state.evaluated_ms = found.projection.origin_ms
        if found.crossing_ms is not None:
            signal = _signal(found, labels)
            # The incident lasts until an evaluation no longer crosses, however sparse
            # the data: a gap shorter than the horizon does not split it.
            folded = incidents.ingest(session, project, signal,
                                      window_ms=max(rule.horizon_s * 1000,
                                                    incidents.DEFAULT_FOLD_WINDOW_MS))
            # The incident keeps the newest estimate as its title.
            incident_repo.get(session, project, folded.incident_id).title = signal.summary
        elif state.crossing_ms is not None:
            fingerprint = Signal(source=Pillar.ops, kind=CAPACITY, subject=f"series:{key}",
                                 labels={"rule": rule.name}).fingerprint()
            home = incident_repo.home_of(session, project, fingerprint)
            if home is not None:
                incidents.resolve(session, project, home)
        state.crossing_ms = found.crossing_ms
        done.append(found)
    session.flush()
    return done


def evaluate_samples(session: Session, project: str, samples: Sequence[MetricSample],
                     interval_ms: int = DEFAULT_INTERVAL_MS) -> list[Assessment]:
    """Evaluate the series of a just-stored batch (intake calls this after storing it)."""
    rules = rules_of(session, project)
    if not rules:
        return []
    keys = sorted({series_key(s.name, s.labels) for s in samples
                   if any(r.matches(s.name, s.labels) for r in rules)})
    return [a for key in keys for a in evaluate(session, project, key, rules, interval_ms)]
