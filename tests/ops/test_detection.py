"""Monitoring: detectors score incoming samples with state persisted per series."""

from __future__ import annotations

import math
import random

import pytest
from sqlalchemy import func, select

from triops.core.errors import InvalidInput
from triops.ops.detection import ingest_samples
from triops.ops.telemetry import MetricSample, read_series
from triops.store import Database
from triops.store.repos import incidents as incident_repo
from triops.store.repos import ops as ops_repo
from triops.store.schema_ops import OpsSeriesState

STEP = 60_000
T0 = 1_600_000_000_000
SPIKE = range(1000, 1005)


def wave(n: int = 1200) -> list[MetricSample]:
    rng = random.Random(7)
    values = [10 + math.sin(i / 20) + rng.gauss(0, 0.2) for i in range(n)]
    for i in SPIKE:
        values[i] += 15
    return [MetricSample("temp", T0 + i * STEP, v, {"host": "a"}) for i, v in enumerate(values)]


KEY = 'temp{host="a"}'


def feed(db: Database, samples: list[MetricSample], batch: int) -> list[int]:
    found = []
    for start in range(0, len(samples), batch):
        with db.write() as session:
            report = ingest_samples(session, "default", samples[start:start + batch])
        found += [a.ts_ms for a in report.anomalies]
    return found


def test_spike_raises_anomaly_signals_folded_into_an_incident(db):
    anomalies = feed(db, wave(), batch=300)
    spike_ms = {T0 + i * STEP for i in SPIKE}
    assert spike_ms & set(anomalies), anomalies
    with db.read() as session:
        state = ops_repo.get_series_state(session, "default", KEY)
        assert state.points == 1200 and state.last_ts_ms == T0 + 1199 * STEP
        assert state.anomalies == len(anomalies)
        marks = ops_repo.signal_marks(session, "default", "anomaly", f"series:{KEY}")
        assert [t for t, _, _ in marks] == anomalies
        assert all(0.0 < v <= 1.0 for _, v, _ in marks)
        incident = incident_repo.get(session, "default", marks[0][2])
        assert (incident.kind, incident.subject, incident.source) == (
            "anomaly", f"series:{KEY}", "ops")


def test_restart_resumes_exactly_where_it_stopped(db, store_url):
    samples = wave()
    # One uninterrupted run in another project is the reference.
    with db.write() as session:
        reference = ingest_samples(session, "reference", samples)
    # The same points in batches, with the store closed and reopened ("restart") between.
    anomalies = []
    for start in range(0, len(samples), 250):
        fresh = Database(store_url)
        try:
            with fresh.write() as session:
                report = ingest_samples(session, "default", samples[start:start + 250])
            anomalies += [a.ts_ms for a in report.anomalies]
        finally:
            fresh.dispose()
    assert anomalies == [a.ts_ms for a in reference.anomalies]
    with db.read() as session:
        ref = ops_repo.get_series_state(session, "reference", KEY)
        split = ops_repo.get_series_state(session, "default", KEY)
        assert split.state == ref.state and split.points == ref.points


def test_unsorted_duplicate_and_late_points(db):
    batch = [MetricSample("q", T0 + ms, v) for ms, v in [(3000, 3.0), (1000, 1.0), (2000, 2.0),
                                                   (2000, 2.5)]]
    with db.write() as session:
        report = ingest_samples(session, "default", batch)
    assert (report.accepted, report.scored, report.late) == (4, 3, 1)
    with db.write() as session:
        late = ingest_samples(session, "default", [MetricSample("q", T0 + 500, 0.5),
                                                   MetricSample("q", T0 + 60_000_000, 4.0)])
    assert (late.accepted, late.scored, late.late) == (2, 1, 1)
    with db.read() as session:
        assert len(read_series(session, "default", "q")) == 6  # every point is kept
        assert ops_repo.get_series_state(session, "default", "q").last_ts_ms == T0 + 60_000_000


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_values_write_nothing(db, value):
    with pytest.raises(InvalidInput, match="finite"), db.write() as session:
        ingest_samples(session, "default", [MetricSample("x", T0, 1.0), MetricSample("x", T0 + 1, value)])
    with db.read() as session:
        assert read_series(session, "default", "x") == []
        assert session.scalar(select(func.count()).select_from(OpsSeriesState)) == 0


def test_unknown_detector_is_refused(db):
    with pytest.raises(InvalidInput, match="unknown detector"), db.write() as session:
        ingest_samples(session, "default", [MetricSample("x", T0, 1.0)], detector="nope")


def test_unreadable_state_starts_afresh(db):
    with db.write() as session:
        ingest_samples(session, "default", [MetricSample("x", T0, 1.0)])
    with db.write() as session:
        row = ops_repo.lock_series(session, "default", ["x"], "ensemble")["x"]
        row.checkpoint({"detector": "ensemble", "vars": {"broken": {"__part__": "Nope"}}})
        ops_repo.save_series(session, [row])
    with db.write() as session:
        report = ingest_samples(session, "default", [MetricSample("x", T0 + 1000, 2.0)])
    assert report.scored == 1


def test_native_api_scores_and_reports(client):
    points = [{"name": "lat", "ts_ms": T0 + i * STEP, "value": 5.0 + (i % 3)} for i in range(50)]
    points.append(points[10])  # a duplicate
    r = client.post("/api/v1/ops/samples", json={"samples": points})
    assert r.status_code == 201, r.text
    assert r.json() == {"accepted": 51, "scored": 50, "late": 1, "anomalies": 0}
    for bad in ("abc", None, [1]):
        r = client.post("/api/v1/ops/samples", json={"samples": [
            {"name": "lat", "ts_ms": T0, "value": bad}]})
        assert r.status_code == 400, r.text
    nan = client.post("/api/v1/ops/samples", content=(
        '{"samples": [{"name": "lat", "ts_ms": 1, "value": NaN}]}'),
        headers={"Content-Type": "application/json"})
    assert nan.status_code == 400, nan.text
    series = client.get("/api/v1/ops/samples", params={"series": "lat"}).json()["points"]
    assert len(series) == 51


def test_detector_cache_matches_the_store_and_notices_other_writers(db):
    from triops.ops.detection import DetectorCache

    full = wave()
    samples = full[:900]
    with db.write() as session:
        reference = ingest_samples(session, "reference", samples)
    cache = DetectorCache()
    anomalies = []
    for n, start in enumerate(range(0, 900, 150)):
        with db.write() as session:
            # Every third batch comes from a writer without the cache (another replica).
            report = ingest_samples(session, "default", samples[start:start + 150],
                                    cache=None if n % 3 == 1 else cache)
        anomalies += [a.ts_ms for a in report.anomalies]
    # A batch whose transaction rolls back must not leave its advanced detector behind.
    with pytest.raises(RuntimeError), db.write() as session:
        ingest_samples(session, "default", full[900:1000], cache=cache)
        raise RuntimeError("rolled back")
    with db.read() as session:
        ref = ops_repo.get_series_state(session, "reference", KEY)
        got = ops_repo.get_series_state(session, "default", KEY)
        assert got.state == ref.state and got.points == 900
    assert anomalies == [a.ts_ms for a in reference.anomalies]
    with db.write() as session:
        after = ingest_samples(session, "default", full[900:1000], cache=cache)
        ingest_samples(session, "reference", full[900:1000])
    assert after.scored == 100
    with db.read() as session:
        assert (ops_repo.get_series_state(session, "default", KEY).state
                == ops_repo.get_series_state(session, "reference", KEY).state)


def test_concurrent_batches_on_one_new_series_lose_nothing(db):
    import threading

    from triops.ops import logs as ops_logs

    errors: list[BaseException] = []
    reports = []

    def writer(n: int) -> None:
        try:
            batch = [MetricSample("hot", T0 + (n * 100 + i) * STEP, float(i % 4)) for i in range(100)]
            lines = [ops_logs.LogLine("svc", T0 + n * 1000 + i, f"job {n} step {i} done")
                     for i in range(50)]
            with db.write() as session:
                reports.append(ingest_samples(session, "default", batch))
                ops_logs.ingest_lines(session, "default", lines)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with db.read() as session:
        state = ops_repo.get_series_state(session, "default", "hot")
        assert len(read_series(session, "default", "hot")) == 600
        assert state.points == sum(r.scored for r in reports)
        assert sum(r.scored + r.late for r in reports) == 600
        stream = ops_repo.get_stream(session, "default", "svc")
        assert stream.lines == 300
        assert sum(t.count for t in ops_logs.templates(session, "default", "svc")) == 300


def test_checkpoints_are_sparse_and_a_resumed_detector_replays_exactly(db):
    """A cached detector writes its state back only at checkpoints; another process
    resuming from the checkpoint replays the stored samples since, so scores and state
    match one detector fed everything; a batch with a late point checkpoints past it."""
    from triops.ops.detection import DetectorCache

    full = wave()
    late = [*full[600:700], full[650], full[10]]  # a duplicate and a late arrival
    with db.write() as session:
        reference = ingest_samples(session, "reference", full[:600] + late + full[700:])
    first, restarted = DetectorCache(), DetectorCache()
    anomalies, late_count = [], 0
    for batch, cache in [(full[:300], first), (full[300:600], first), (late, first),
                         (full[700:900], first), (full[900:], restarted)]:
        with db.write() as session:
            report = ingest_samples(session, "default", batch, cache=cache)
        anomalies += [a.ts_ms for a in report.anomalies]
        late_count += report.late
        with db.read() as session:
            saved = ops_repo.get_series_state(session, "default", KEY).state["points"]
        if batch is full[300:600]:
            assert saved == 300  # a cache hit: not written back
        if batch is late:
            assert saved == 700
    assert late_count == reference.late == 2
    assert anomalies and anomalies == [a.ts_ms for a in reference.anomalies]
    with db.read() as session:
        assert (ops_repo.get_series_state(session, "default", KEY).state
                == ops_repo.get_series_state(session, "reference", KEY).state)
