"""Retention on both backends, on a fake clock: raw samples folded into 5-minute rollups
that reads then serve, old rollups, log lines and traces deleted, and each enforcement
done by exactly one of the replicas that find it due."""

from __future__ import annotations

import doctest
import threading

import pytest
from sqlalchemy import text
from tests.fake_clock import FakeClock
from tests.waiting import wait_until

from triops.core.errors import InvalidInput
from triops.llm.spans import Span
from triops.llm.tracing import TraceFilter, list_traces, record_spans
from triops.ops import logs as ops_logs
from triops.ops import retention_store
from triops.ops.retention import Retention, RetentionPolicy
from triops.ops.telemetry import (
    ROLLUP_MS,
    MetricSample,
    append_samples,
    fold_series,
    list_series,
    read_rollups,
    read_series,
)
from triops.store import records

DAY_S = 86_400
MIN = 60_000
START_S = 1_750_000_000 - 1_750_000_000 % 300  # on a 5-minute boundary
KEY = 'latency_ms{route="/pay"}'


def load(db, days: int) -> None:
    """One sample a minute (value = minute index % 10) on one series, one log line and
    one span an hour, for ``days`` days from START_S."""
    t0 = START_S * 1000
    minutes = days * 24 * 60
    with db.write() as session:
        append_samples(session, "default", [
            MetricSample("latency_ms", t0 + i * MIN, float(i % 10), {"route": "/pay"})
            for i in range(minutes)])
        ops_logs.ingest_lines(session, "default", [
            ops_logs.LogLine(stream="api", ts_ms=t0 + h * 60 * MIN, body=f"request {h} done")
            for h in range(days * 24)])
        record_spans(session, "default", [
            Span(trace_id=f"{h + 1:032x}", span_id=f"{h + 1:016x}", name="ask",
                 start_ns=(t0 + h * 60 * MIN) * 1_000_000,
                 end_ns=(t0 + h * 60 * MIN + 500) * 1_000_000)
            for h in range(days * 24)])


def count(db, kind: str) -> int:
    with db.read() as session:
        return sum(1 for _ in records.scan(session, "default", kind))


def set_policy(db, **spec) -> None:
    with db.write() as session:
        retention_store.put(session, "default", RetentionPolicy.of(spec).spec(), "test", 0)


def test_raw_samples_fold_into_rollups_that_reads_serve(db):
    load(db, days=3)
    clock = FakeClock(now=START_S + 3 * DAY_S)
    set_policy(db, metrics_raw="1d", metrics_rollup="2d", logs="1d", traces="1d")
    duty = Retention(db, every_s=3600, clock=clock)
    assert duty.run_due() == 1

    cutoff = (START_S + 2 * DAY_S) * 1000  # already on a bucket boundary
    with db.read() as session:
        raw = [t for t, _ in read_series(session, "default", KEY, end_ms=cutoff + 1)]
        rollups = read_rollups(session, "default", KEY)
        policy = retention_store.get(session, "default")
        series = list_series(session, "default")
        traces, _ = list_traces(session, "default", TraceFilter(limit=1000))
    # Two days of minutes became 576 buckets of five, of which the first day's aged out
    # at once (rollups are kept two days); the third day stayed raw.
    assert len(rollups) == 24 * 12
    assert rollups[0].ts_ms == (START_S + DAY_S) * 1000
    assert count(db, "sample") == 24 * 60
    assert raw[-1] == cutoff and all(t % ROLLUP_MS == 0 for t in raw[:-1])
    first = rollups[0]
    assert (first.min, first.max, first.sum, first.count) == (0.0, 4.0, 10.0, 5)
    assert first.mean == 2.0
    assert series == [KEY]
    assert count(db, "log") == 24 and count(db, "span") == 24 and len(traces) == 24
    assert policy.last_run_ms == clock.now * 1000 and policy.last_error == ""
    assert {k: policy.last_report[k] for k in ("samples_folded", "rollups_written",
                                               "rollups_deleted", "logs_deleted",
                                               "spans_deleted")} == {
        "samples_folded": 2 * 24 * 60, "rollups_written": 2 * 24 * 12,
        "rollups_deleted": 24 * 12, "logs_deleted": 2 * 24, "spans_deleted": 2 * 24}

    # Nothing is due again within the period; half a day later the window moves on.
    clock.advance(1800)
    assert duty.run_due() == 0
    clock.advance(DAY_S // 2)
    assert duty.run_due() == 1
    with db.read() as session:
        rollups = read_rollups(session, "default", KEY)
        points = read_series(session, "default", KEY)
    assert rollups[0].ts_ms == (START_S + DAY_S * 3 // 2 + 1800) * 1000
    assert len(rollups) == 24 * 12
    assert count(db, "sample") == 24 * 60 - 750
    assert len(points) == 24 * 12 + 24 * 60 - 750
    assert points == sorted(points)


def test_late_sample_in_a_folded_bucket_joins_it(db):
    load(db, days=2)
    clock = FakeClock(now=START_S + 2 * DAY_S)
    set_policy(db, metrics_raw="1d")
    Retention(db, clock=clock).run_due()
    with db.write() as session:
        append_samples(session, "default", [MetricSample(
            "latency_ms", START_S * 1000 + 30_000, 100.0, {"route": "/pay"})])
    clock.advance(3600)
    Retention(db, every_s=3600, clock=clock).run_due()
    with db.read() as session:
        first = read_rollups(session, "default", KEY)[0]
    assert (first.min, first.max, first.sum, first.count) == (0.0, 100.0, 110.0, 6)


def test_each_enforcement_runs_on_one_replica_only(db):
    load(db, days=2)
    clock = FakeClock(now=START_S + 2 * DAY_S)
    set_policy(db, metrics_raw="1d")
    replicas = [Retention(db, clock=clock) for _ in range(3)]
    assert [r.run_due() for r in replicas] == [1, 0, 0]
    with db.read() as session:
        assert len(read_rollups(session, "default", KEY)) == 24 * 12


def test_a_project_without_policy_keeps_everything(db):
    load(db, days=1)
    assert Retention(db, clock=FakeClock(now=START_S + 400 * DAY_S)).run_due() == 0
    assert count(db, "sample") == 24 * 60


@pytest.mark.parametrize("spec, why", [
    ({"metrics_raw": "1m"}, "at least 5m"),
    ({"metrics_raw": "30d", "metrics_rollup": "7d"}, "must not be shorter"),
    ({"samples": "7d"}, "unknown retention field"),
    ({"logs": "soon"}, "must be positive"),
    ({"traces": -1}, "must be positive"),
])
def test_bad_policies_are_refused(spec, why):
    with pytest.raises(InvalidInput, match=why):
        RetentionPolicy.of(spec)


def test_policy_over_the_api(client):
    assert client.get("/api/v1/retention").status_code == 404
    r = client.put("/api/v1/retention", json={"metrics_raw": "7d", "metrics_rollup": "90d",
                                              "logs": "14d"})
    assert r.status_code == 200, r.text
    assert r.json()["policy"] == {"metrics_raw": 7 * DAY_S, "metrics_rollup": 90 * DAY_S,
                                  "logs": 14 * DAY_S}
    assert client.get("/api/v1/retention").json()["last_run_ms"] is None
    assert client.put("/api/v1/retention", json={"metrics_raw": "1m"}).status_code == 400
    refused = client.put("/api/v1/retention", json={"spans": "1d"})
    assert refused.status_code == 400 and "spans" in refused.text
    assert client.delete("/api/v1/retention").status_code == 200
    assert client.delete("/api/v1/retention").status_code == 404


def test_docstring_examples_run():
    from triops.ops import retention

    result = doctest.testmod(retention)
    assert result.attempted > 0 and result.failed == 0


def test_two_replicas_folding_one_series_at_once_count_each_sample_once(db, backend):
    """Should an enforcement outlast the period and a second replica start the next one,
    each sample is still folded by one of them only. (SQLite runs one writer at a time;
    on PostgreSQL the second fold waits on the first's rows, then finds them gone.)"""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: two folds cannot overlap")
    load(db, days=2)
    cutoff = (START_S + DAY_S) * 1000
    second: list[tuple[int, int]] = []
    with db.write() as first:
        assert fold_series(first, "default", KEY, cutoff) == (24 * 60, 24 * 12)

        def fold_again() -> None:
            with db.write() as session:
                second.append(fold_series(session, "default", KEY, cutoff))

        thread = threading.Thread(target=fold_again)
        thread.start()
        wait_until(lambda: waiting_on_a_lock(db), timeout=30,
                   message="the second fold to wait on the first's rows")
    thread.join(30)
    assert second == [(0, 0)]
    with db.read() as session:
        assert sum(b.count for b in read_rollups(session, "default", KEY)) == 24 * 60


def waiting_on_a_lock(db) -> bool:
    with db.read() as session:
        return bool(session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar())
