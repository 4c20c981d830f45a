"""Detection: every incoming sample is scored by its series' streaming detector.

For the series of a batch the state rows are locked in one query, each series' new
points are scored in one vectorised call, and the rows are written back by one batched
statement (a second for those given a new checkpoint), in the caller's transaction
together with the samples themselves: either the samples, the scores' signals and the
series' counters are all committed, or none of them is.

A replica keeps the detectors it scored last in memory (:class:`DetectorCache`) and
writes a detector's whole state back to its row only as a checkpoint: when it had to
resume the detector from the store, when a batch brought points it did not score
(late or duplicate), and otherwise every :data:`CHECKPOINT_POINTS` points or
:data:`CHECKPOINT_MS` of wall time. A detector resumed from its checkpoint (after a
restart, on another replica, or after leaving the cache) is fed again the stored
samples it scored after that checkpoint, which are in the same transaction as the
counters that record them, so it continues exactly where it stopped: no acknowledged
sample is lost and no score differs. (Samples folded into rollups by retention cannot
be replayed; a detector whose checkpoint is older than the raw samples kept continues
from the checkpoint and logs it.)

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
from operator import itemgetter

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS, StreamingDetector, get_detector
from triops.ops.incidents import ingest
from triops.ops.telemetry import SAMPLE, MetricSample, append_samples, sample_keys
from triops.store import records
from triops.store.repos import ops as repo

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


#: A cached detector's state is written back at least every this many points...
CHECKPOINT_POINTS = 1000
#: ... and at least this often (wall time), so a replica that stops replays little.
CHECKPOINT_MS = 60_000


@dataclass
class _Live:
    """A detector in memory and the series' counters when its state was last saved."""

    model: StreamingDetector
    saved_points: int
    saved_ms: int


class DetectorCache:
    """Live detectors of recently scored series, so a server skips rebuilding each one
    from its stored state on every batch.

    An entry is used only when the stored row still carries the token it was saved
    with (points scored, newest time, update time): a batch scored elsewhere (another
    replica) or a transaction that rolled back changes or keeps the row's token apart
    from the entry's, and the detector is then resumed from the store, which stays the
    source of truth. Entries are taken out while in use, so one detector object is never
    advanced by two requests at once.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[tuple, _Live]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def token(row: repo.SeriesRow) -> tuple:
        return (row.detector, row.points, row.last_ts_ms, row.updated_ms)

    def take(self, row: repo.SeriesRow) -> _Live | None:
        with self._lock:
            entry = self._entries.pop((row.project, row.series), None)
        if entry is None or entry[0] != self.token(row):
            return None
        return entry[1]

    def put(self, row: repo.SeriesRow, live: _Live) -> None:
        with self._lock:
            self._entries[(row.project, row.series)] = (self.token(row), live)
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
    by_series: dict[str, list[tuple[int, float]]] = {}
    series_of_sample = sample_keys(samples)
    for s, key in zip(samples, series_of_sample, strict=True):
        if key not in unscored:
            by_series.setdefault(key, []).append((s.ts_ms, s.value))
    keys = sorted(by_series)
    rows = repo.lock_series(session, project, keys, detector) if keys else {}
    # Detectors are resumed before this batch's samples are stored: a resumed one replays
    # the stored samples it scored after its checkpoint, and none of this batch's.
    found = {key: cache.take(rows[key]) if cache is not None else None for key in keys}
    # Only the detectors not cached need their checkpoints, read in one query.
    repo.load_series_states(session, [rows[key] for key in keys if found[key] is None])
    live = {key: _resume(session, project, rows[key], detector) if found[key] is None
            else found[key] for key in keys}
    report = MonitorReport(accepted=append_samples(session, project, samples, series_of_sample))
    now = now_ms()
    for key in keys:
        _score_series(session, project, key, by_series[key], rows[key], live[key], report, now)
    repo.save_series(session, [rows[key] for key in keys])
    if cache is not None:
        for key in keys:
            cache.put(rows[key], live[key])
    return report


def _restore(row: repo.SeriesRow, detector: str) -> StreamingDetector:
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
    row.checkpoint({})
    return get_detector(name)


def _resume(session: Session, project: str, row: repo.SeriesRow, detector: str) -> _Live:
    """The series' detector resumed from its checkpoint in the store."""
    model = _restore(row, detector)
    saved_points, saved_ts = row.state.get("points", 0), row.state.get("last_ts_ms")
    if saved_points < row.points and saved_ts is not None:
        # Points scored since the checkpoint: their samples were stored with them.
        replay = [(r.ts_ms, r.data["v"]) for r in records.scan(
            session, project, SAMPLE, streams=[row.series], start_ms=saved_ts + 1,
            end_ms=row.last_ts_ms + 1)]
        if len(replay) != row.points - saved_points:
            log.warning("series %s: %d points to replay since its detector's checkpoint, "
                        "%d stored; continuing with those", row.series,
                        row.points - saved_points, len(replay))
        model.update_many([t / 1000.0 for t, _ in replay], [v for _, v in replay])
    # Saving at once makes the row the checkpoint again, so the next replica to resume
    # the series (or this one, after the entry leaves the cache) replays nothing.
    return _Live(model, saved_points=-1, saved_ms=0)


def _score_series(
    session: Session, project: str, key: str, points: list[tuple[int, float]],
    row: repo.SeriesRow, live: _Live, report: MonitorReport, now: int,
) -> None:
    model = live.model
    last = row.last_ts_ms
    points.sort(key=itemgetter(0))  # stable: equal timestamps keep arrival order
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
    row.points += len(fresh)
    report.scored += len(fresh)
    row.last_ts_ms = last
    # A point stored but not scored must never be replayed: checkpoint past it.
    if (live.saved_points < 0 or len(fresh) < len(points)
            or row.points - live.saved_points >= CHECKPOINT_POINTS
            or now - live.saved_ms >= CHECKPOINT_MS):
        row.checkpoint({**model.state(), "points": row.points, "last_ts_ms": last})
        live.saved_points, live.saved_ms = row.points, now
    # Strictly increasing, so a cached detector never matches an older saved row.
    row.updated_ms = max(now, row.updated_ms + 1)
