"""Capacity projections on synthetic filling series, and the signals they raise."""

from __future__ import annotations

import numpy as np
import pytest

from triops.core.errors import InvalidInput
from triops.ops.capacity import CapacityRule, evaluate_samples, first_crossing, project
from triops.ops.telemetry import MetricSample, append_samples
from triops.store.repos import capacity as repo
from triops.store.repos import incidents as incident_repo

H = 3_600_000
STEP = 5 * 60 * 1000
DAYS = 3


def hours() -> np.ndarray:
    return np.arange(DAYS * 24 * 12) * STEP / H


def eta(values: np.ndarray, threshold: float, horizon_h: float = 7 * 24) -> float | None:
    points = [(i * STEP, float(v)) for i, v in enumerate(values)]
    p = project(points, int(horizon_h * H), 24 * H)
    at = first_crossing(p.times_ms, p.mean, threshold)
    return None if at is None else (at - p.origin_ms) / H


def truth(fill, threshold: float) -> float:
    """Hours from the last point until ``fill`` (a function of hours) first reaches it."""
    t = hours()[-1] + np.arange(1, 20_000) / 60
    return float(t[np.argmax(fill(t) >= threshold)] - hours()[-1])


def test_linear_fill_crosses_when_the_line_does():
    fill = lambda t: 40 + 0.5 * t
    assert eta(fill(hours()), 100) == pytest.approx(truth(fill, 100), abs=0.5)


def test_daily_cycle_does_not_tilt_the_trend():
    fill = lambda t: 40 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 24)
    assert eta(fill(hours()), 100) == pytest.approx(truth(fill, 100), abs=2)


def test_noisy_fill_is_close():
    rng = np.random.default_rng(7)
    fill = lambda t: 40 + 0.5 * t
    got = eta(fill(hours()) + rng.normal(0, 2, len(hours())), 100)
    assert got == pytest.approx(truth(fill, 100), rel=0.1)


def test_flat_noisy_series_never_crosses():
    rng = np.random.default_rng(3)
    for seed_shift in range(5):
        values = 70 + rng.normal(0, 3, len(hours())) + seed_shift
        assert eta(values, 95) is None


def test_falling_series_crosses_below():
    values = 50 - 0.25 * hours()
    points = [(i * STEP, float(v)) for i, v in enumerate(values)]
    p = project(points, 7 * 24 * H, 24 * H)
    at = first_crossing(p.times_ms, p.mean, 10, above=False)
    assert (at - p.origin_ms) / H == pytest.approx((values[-1] - 10) / 0.25, abs=0.5)


def test_rule_validation_says_what_is_missing():
    with pytest.raises(InvalidInput, match="exactly one of 'value' or 'percent'"):
        CapacityRule.of("disk", {"metric": "disk"})
    with pytest.raises(InvalidInput, match="limit_series"):
        CapacityRule.of("disk", {"metric": "disk", "percent": 90})
    rule = CapacityRule.of("disk", {"metric": "system.filesystem.usage", "percent": 100,
                                    "limit_series": "system.filesystem.limit", "horizon": "2d"})
    assert (rule.metric, rule.limit_series, rule.horizon_s) == (
        "system_filesystem_usage", "system_filesystem_limit", 172_800)
    assert CapacityRule.of("disk", rule.spec()) == rule


DISK = {"host_name": "host-3", "mountpoint": "/var", "state": "used"}
RULE = {"metric": "disk_used", "labels": {"state": "used"}, "percent": 100,
        "limit_series": "disk_limit", "horizon": "3d", "min_history": "6h",
        "subject": "disk {mountpoint} on {host_name}"}


def send(db, start_h: float, end_h: float, level) -> None:
    """Samples every 5 minutes from ``start_h`` to ``end_h``, in hourly batches (the
    hours are floats, so batches may land a millisecond over an hour apart)."""
    t = start_h
    while t < end_h:
        batch = [MetricSample("disk_used", int((t + k * STEP / H) * H), float(level(t + k * STEP / H)), DISK)
                 for k in range(12)]
        with db.write() as session:
            append_samples(session, "default", batch)
            evaluate_samples(session, "default", batch)
        t += 1


def capacity_incidents(db) -> list:
    with db.read() as session:
        return [i for i in incident_repo.list_incidents(session, "default") if i.kind == "capacity"]


def test_filling_disk_raises_full_in_n_hours_then_clears(db):
    with db.write() as session:
        repo.put_rule(session, "default", "disk-full", CapacityRule.of("disk-full", RULE).spec(),
                      "tests", 0)
        append_samples(session, "default", [MetricSample("disk_limit", 0, 500.0,
                                                         {"host_name": "host-3", "mountpoint": "/var"})])
    fill = lambda t: 200 + 5 * t
    send(db, 0, 24, fill)
    [incident] = capacity_incidents(db)
    assert incident.status == "open"
    assert incident.title.startswith("disk /var on host-3 full in ~")
    first = float(incident.title.split("~")[1].split()[0])
    assert first == pytest.approx(60 - 24, abs=2)

    send(db, 24, 36, fill)  # refreshed: the same incident, the estimate moves closer
    [incident] = capacity_incidents(db)
    assert incident.signal_count > 1
    assert float(incident.title.split("~")[1].split()[0]) == pytest.approx(60 - 36, abs=2)

    send(db, 36, 66, lambda t: 200 + 5 * 36)  # the trend turns flat
    [incident] = capacity_incidents(db)
    assert incident.status == "resolved"


def test_no_rule_no_work_and_short_history_no_verdict(db):
    send(db, 0, 2, lambda t: 200 + 50 * t)
    assert capacity_incidents(db) == []
    with db.write() as session:
        repo.put_rule(session, "default", "disk-full",
                      CapacityRule.of("disk-full", {**RULE, "percent": None, "value": 400}).spec(),
                      "tests", 0)
    send(db, 2, 4, lambda t: 200 + 50 * t)  # 4 h of history < min_history 6 h
    assert capacity_incidents(db) == []
