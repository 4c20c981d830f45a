"""Detection: every incoming sample is scored by its series' streaming detector.

For each series in a batch the detector state is loaded from the store (row locked),
fed the batch's new points in timestamp order, and saved back, all in the caller's
transaction together with the samples themselves: either the samples, the scores'
signals and the advanced state are all committed, or none of them is. A server that
restarts therefore resumes every series exactly where it stopped.

Defined behaviour for awkward input:

* unsorted points in a batch are scored in timestamp order;
* a point whose timestamp is not after the newest point the series' detector has
  already seen (a duplicate, or a late arrival) is stored but not scored;
* gaps are passed to the detector as they are (it sees the timestamps);
* non-finite values are refused by :func:`triops.ops.telemetry.append_samples` before
  anything is written.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS, StreamingDetector, get_detector
from triops.ops.incidents import ingest
from triops.ops.telemetry import MetricSample, append_samples, series_key
from triops.store.repos import ops as repo
from triops.store.schema_ops import OpsSeriesState

log = logging.getLogger("triops.ops.detection")

#: The signal kind of a detector alarm; its subject is ``series:<key>``.
ANOMALY = "anomaly"


@dataclass(frozen=True)
class Anomaly:
    series: str
    ts_ms: int
    value: float
    score: float
    incident_id: str


@dataclass
class MonitorReport:
    accepted: int = 0
    scored: int = 0
    #: Points stored but not scored: not newer than what the detector had seen.
    late: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)


def subject_of(key: str) -> str:
    return f"series:{key}"


class DetectorCache:
    """Live detectors of recently scored series, so a server skips rebuilding each one
    from its stored state on every batch.

    An entry is used only when the stored row still carries the token it was saved
    with (points scored, newest time, update time): a batch scored elsewhere (another
    replica) or a transaction that rolled back changes or keeps the row's token apart
    from the entry's, and the detector is then rebuilt from the store, which stays the
    source of truth. Entries are taken out while in use, so one detector object is never
    advanced by two requests at once.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[tuple, StreamingDetector]] = (
            OrderedDict())
        self._lock = threading.Lock()

    @staticmethod
    def token(row: OpsSeriesState) -> tuple:
        return (row.detector, row.points, row.last_ts_ms, row.updated_ms)

    def take(self, row: OpsSeriesState) -> StreamingDetector | None:
        with self._lock:
            entry = self._entries.pop((row.project, row.series), None)
        if entry is None or entry[0] != self.token(row):
            return None
        return entry[1]

    def put(self, row: OpsSeriesState, model: StreamingDetector) -> None:
        with self._lock:
            self._entries[(row.project, row.series)] = (self.token(row), model)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


def ingest_samples(
    session: Session,
    project: str,
    samples: Sequence[MetricSample],
    *,
    detector: str = DEFAULT_DETECTOR,
    unscored: Collection[str] = (),
    cache: DetectorCache | None = None,
) -> MonitorReport:
    """Store ``samples`` and score them; ``unscored`` series keys are stored only.

    Raises :class:`InvalidInput` (nothing written) for an unknown detector, a bad series
    name or label, or a value that is not a finite number.
    """
    DETECTORS.get(detector)  # raises InvalidInput naming the registered ones
    report = MonitorReport(accepted=append_samples(session, project, samples))
    by_series: dict[str, list[tuple[int, float]]] = {}
    for s in samples:
        key = series_key(s.name, s.labels)
        if key not in unscored:
            by_series.setdefault(key, []).append((s.ts_ms, s.value))
    # One lock order for every writer, so two batches never wait on each other in a cycle.
    for key in sorted(by_series):
        _score_series(session, project, key, by_series[key], detector, report, cache)
    return report


def _restore(row: OpsSeriesState, detector: str) -> StreamingDetector:
    """The series' saved detector; a fresh one when there is none or it cannot be read."""
    name = row.detector if row.detector in DETECTORS else detector
    if row.state:
        try:
            return DETECTORS.get(name).from_state(row.state)
        except (InvalidInput, KeyError, TypeError, ValueError, AttributeError) as exc:
            # Monitoring must not refuse data because an old state is unreadable (e.g.
            # written by a detector version that changed); it starts that series afresh.
            log.warning("detector state of %s unreadable (%s); starting afresh", row.series, exc)
    row.detector = name
    return get_detector(name)


def _score_series(
    session: Session, project: str, key: str, points: list[tuple[int, float]],
    detector: str, report: MonitorReport, cache: DetectorCache | None,
) -> None:
    row = repo.lock_series(session, project, key, detector)
    model = (cache.take(row) if cache is not None else None) or _restore(row, detector)
    last = row.last_ts_ms
    points.sort(key=lambda p: p[0])  # stable: equal timestamps keep arrival order
    fresh = []
    for ts_ms, value in points:
        if last is not None and ts_ms <= last:
            report.late += 1
            continue
        fresh.append((ts_ms, value))
        last = ts_ms
    # One call for the batch: the same scores as one update a point, vectorised.
    scores = model.update_many([ts_ms / 1000.0 for ts_ms, _ in fresh], [v for _, v in fresh])
    for (ts_ms, value), score in zip(fresh, scores, strict=True):
        row.points += 1
        report.scored += 1
        if score >= model.threshold:
            row.anomalies += 1
            signal = Signal(
                source=Pillar.ops, kind=ANOMALY, subject=subject_of(key),
                severity=Severity.warning, value=round(score, 6), time_ms=ts_ms,
                summary=f"anomaly on {key}",
                labels={},
            )
            folded = ingest(session, project, signal)
            report.anomalies.append(Anomaly(key, ts_ms, value, score, folded.incident_id))
    row.last_ts_ms = last
    row.state = model.state()
    # Strictly increasing, so a cached detector never matches an older saved state.
    row.updated_ms = max(now_ms(), row.updated_ms + 1)
    session.flush()
    if cache is not None:
        cache.put(row, model)
