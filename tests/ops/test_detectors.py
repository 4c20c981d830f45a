"""Streaming detectors: protocol, state round-trip, no look-ahead, detection, CSV and CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from triops.cli.ops_detect import app
from triops.core.errors import InvalidInput
from triops.ops.detectors import (
    DEFAULT_DETECTOR,
    DETECTORS,
    Detector,
    StreamingDetector,
    detect_csv,
    get_detector,
    score_series,
)
from triops.ops.detectors._parts import AlarmGate, AnomalyLikelihood

NAMES = DETECTORS.names()


def _series(n: int = 1200, seed: int = 3) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 300.0 + 1.7e9
    x = 10 + 3 * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0, 0.3, n)
    return t.tolist(), x.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_every_detector_implements_the_protocol(name):
    d = get_detector(name)
    assert isinstance(d, Detector)
    assert 0.0 <= DETECTORS.get(name).threshold <= 1.0
    assert DEFAULT_DETECTOR in DETECTORS


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_resumes_exactly(name):
    t, x = _series(700)
    x[500] += 15.0
    a = get_detector(name)
    for ti, xi in zip(t[:400], x[:400], strict=True):
        a.update(ti, xi)
    stored = json.loads(json.dumps(a.state()))  # must survive JSON
    b = StreamingDetector.from_state(stored)
    assert type(b) is type(a)
    rest_a = [a.update(ti, xi) for ti, xi in zip(t[400:], x[400:], strict=True)]
    rest_b = [b.update(ti, xi) for ti, xi in zip(t[400:], x[400:], strict=True)]
    assert rest_a == rest_b


@pytest.mark.parametrize("name", NAMES)
def test_no_look_ahead(name):
    t, x = _series(900)
    full = score_series(t, x, name)
    prefix = score_series(t[:600], x[:600], name)
    assert full[:600] == prefix
    assert all(0.0 <= s <= 1.0 for s in full)


@pytest.mark.parametrize("name", ["seasonal_zscore", "holt_winters", "pattern_discord", "ensemble"])
def test_spike_and_level_shift_score_high(name):
    t, x = _series(1600)
    quiet = score_series(t, x, name)
    spiked = list(x)
    spiked[1000] += 12.0
    shifted = list(x)
    for i in range(1300, 1600):
        shifted[i] += 8.0
    s_spike = score_series(t, spiked, name)
    s_shift = score_series(t, shifted, name)
    threshold = DETECTORS.get(name).threshold
    assert max(s_spike[1000:1010]) >= threshold
    assert max(s_shift[1300:1310]) >= threshold
    assert max(quiet[1000:1010]) < threshold


def test_pattern_discord_raw_is_the_nearest_earlier_window_distance():
    d = get_detector("pattern_discord", length=3, memory=20)
    cycle = [1.0, 5.0, 2.0, 7.0]
    raws = [d._raw(0.0, v) for v in cycle * 6]
    assert raws[:5] == [None] * 5  # no earlier non-overlapping window yet
    assert max(raws[8:]) == 0.0  # a repeated pattern is close to its last repeat
    assert d._raw(0.0, 9.0) > 0.0  # a value never seen makes a new pattern

    # Against a brute-force search over every earlier window in memory.
    length, memory = 4, 30
    d = get_detector("pattern_discord", length=length, memory=memory)
    x = np.random.default_rng(1).normal(size=120)
    for i, v in enumerate(x):
        got = d._raw(0.0, float(v))
        newest = x[i - length + 1 : i + 1]
        dists = [
            np.linalg.norm(newest - x[i - lag - length + 1 : i - lag + 1])
            for lag in range(length, memory + 1)
            if i - lag - length + 1 >= 0
        ]
        assert got == (pytest.approx(min(dists)) if dists else None)


def test_alarm_gate_silences_then_raises_the_bar():
    gate = AlarmGate(level=0.5, hold=5, refractory=2, penalty=0.3)
    out = [gate.update(s) for s in [0.9, 0.9, 0.9, 0.6, 0.85, 0.9, 0.9, 0.6]]
    # alarm, two silent points, two points where 0.3 is taken off (0.85 - 0.3
    # alarms again and restarts the cycle), then silence again.
    assert out[0] == 0.9 and out[1:3] == [0.0, 0.0]
    assert out[3] == pytest.approx(0.3) and out[4] == pytest.approx(0.55)
    assert out[5:7] == [0.0, 0.0] and out[7] == pytest.approx(0.3)


def test_likelihood_is_not_numbed_by_an_earlier_incident():
    rng = np.random.default_rng(5)
    noise = rng.normal(1.0, 0.1, 1200).clip(0)

    def peak_after_incident(clip: float) -> float:
        lk = AnomalyLikelihood(short=4, long=500, warmup=50, clip=clip)
        raws = noise.copy()
        raws[300:340] += 40.0  # a first, long incident
        raws[900:904] += 4.0  # a second, smaller one
        scores = [lk.update(r) for r in raws]
        return max(scores[900:910])

    assert peak_after_incident(5.0) > 0.5
    assert peak_after_incident(float("inf")) < peak_after_incident(5.0)


def test_nan_and_non_numbers_are_skipped_with_score_zero():
    d = get_detector(DEFAULT_DETECTOR)
    t, x = _series(400)
    for ti, xi in zip(t[:300], x[:300], strict=True):
        d.update(ti, xi)
    before = json.dumps(d.state())
    assert d.update(t[300], math.nan) == 0.0
    assert d.update(math.inf, 1.0) == 0.0
    assert d.update(t[300], "abc") == 0.0
    assert json.dumps(d.state()) == before  # nothing was learned from them


def test_irregular_timestamps_are_accepted():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(10, 900, 800)) + 1.6e9
    x = rng.normal(0, 1, 800)
    scores = score_series(t.tolist(), x.tolist(), DEFAULT_DETECTOR)
    assert len(scores) == 800 and all(0.0 <= s <= 1.0 for s in scores)


def test_unknown_detector_is_invalid_input():
    with pytest.raises(InvalidInput, match="unknown detector"):
        get_detector("nope")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_detect_csv_keeps_every_row_in_order(tmp_path):
    t, x = _series(500)
    lines = ["timestamp,value"]
    for i, (ti, xi) in enumerate(zip(t, x, strict=True)):
        value = {10: "abc", 11: "", 12: "nan"}.get(i, f"{xi:.4f}")
        stamp = "not-a-date" if i == 13 else f"{ti:.0f}"
        lines.append(f"{stamp},{value}")
    lines.insert(100, f"{t[50]:.0f},1.0")  # out of order
    lines.insert(101, f"{t[50]:.0f},1.0")  # duplicate
    src = _write(tmp_path / "in.csv", "\n".join(lines) + "\n")
    report = detect_csv(src, tmp_path / "out.csv", "seasonal_zscore")
    rows = _read(tmp_path / "out.csv")
    assert report.rows == len(rows) == 502
    assert (report.bad_values, report.bad_timestamps, report.out_of_order) == (3, 1, 2)
    assert [r["timestamp"] for r in rows] == [line.split(",")[0] for line in lines[1:]]
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "is_anomaly"]
    for i in (10, 11, 12, 13):
        assert rows[i]["anomaly_score"] == "0.000000" and rows[i]["is_anomaly"] == "false"


def test_detect_csv_iso_timestamps_and_extra_columns(tmp_path):
    src = _write(
        tmp_path / "in.csv",
        "host,value,timestamp\na,1,2024-01-01 00:00:00\na,2,2024-01-01T00:05:00Z\n",
    )
    report = detect_csv(src, tmp_path / "out.csv")
    assert report.rows == 2 and report.bad_timestamps == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("time,val\n1,2\n", "lacks column"),
        (None, "does not exist"),
    ],
)
def test_detect_csv_rejects_unusable_files(tmp_path, content, message):
    src = tmp_path / "in.csv"
    if content is not None:
        _write(src, content)
    with pytest.raises(InvalidInput, match=message):
        detect_csv(src, tmp_path / "out.csv")


def test_header_only_file_gives_header_only_output(tmp_path):
    src = _write(tmp_path / "in.csv", "timestamp,value\n")
    assert detect_csv(src, tmp_path / "out.csv").rows == 0
    assert _read(tmp_path / "out.csv") == []


def test_cli_detect_writes_scores_and_reports_errors(tmp_path):
    runner = CliRunner()
    t, x = _series(300)
    body = "\n".join(f"{ti:.0f},{xi}" for ti, xi in zip(t, x, strict=True))
    src = _write(tmp_path / "in.csv", "timestamp,value\n" + body + "\n1,oops\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["detect", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert len(_read(out)) == 301
    assert "1 row(s) kept with score 0" in result.output
    bad = runner.invoke(
        app, ["detect", "--input", str(tmp_path / "missing.csv"), "--output", str(out)]
    )
    assert bad.exit_code != 0
    assert "error:" in bad.output and "Traceback" not in bad.output
    wrong = runner.invoke(
        app, ["detect", "--input", str(src), "--output", str(out), "--detector", "nope"]
    )
    assert wrong.exit_code != 0 and "unknown detector" in wrong.output
    helped = runner.invoke(app, ["detect", "--help"], env={"COLUMNS": "200"})
    assert all(name in helped.output for name in DETECTORS.names())


def _sine(noise: float, n: int = 1500, period: float = 100.0, seed: int = 11):
    t = (1.7e9 + np.arange(n) * 300.0).tolist()
    rng = np.random.default_rng(seed)
    x = np.sin(2 * np.pi * np.arange(n) / period) + noise * rng.normal(size=n)
    return t, x.tolist()


def _alarms(t, x, **known) -> list[int]:
    d = get_detector(DEFAULT_DETECTOR, **known)
    return [i for i, (ti, xi) in enumerate(zip(t, x, strict=True)) if d.update(ti, xi) >= d.threshold]


@pytest.mark.parametrize("noise", [0.0, 0.05])
@pytest.mark.parametrize("period", [24.0, 100.0, 288.0])
def test_clean_sine_raises_no_alarm(noise, period):
    # Members that cannot score yet used to teach the likelihood zeros, so their
    # first real surprise alarmed on any signal, and again each time the gate reopened.
    t, x = _sine(noise, period=period)
    assert _alarms(t, x) == []
    known = {"value_min": min(x), "value_max": max(x), "probation": 225}
    assert _alarms(t, x, **known) == []


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_spike_on_a_sine_is_still_caught(noise):
    t, x = _sine(noise)
    x[1000] += 3.0
    hits = _alarms(t, x)
    assert hits and all(1000 <= i <= 1010 for i in hits)
    known = {"value_min": min(x), "value_max": max(x), "probation": 225}
    hits = _alarms(t, x, **known)
    assert hits and all(1000 <= i <= 1010 for i in hits)


def test_probation_rows_raise_no_alarm_and_start_no_silence():
    t, x = _series(900)
    x[200] += 30.0  # inside probation: only learned from
    x[400] -= 30.0  # a pattern not seen in probation
    d = get_detector(DEFAULT_DETECTOR, probation=300)
    scores = [d.update(ti, xi) for ti, xi in zip(t, x, strict=True)]
    assert max(scores[:300]) == 0.0
    assert max(scores[400:410]) >= d.threshold


def test_cli_passes_the_known_range_and_probation(tmp_path):
    runner = CliRunner()
    t, x = _series(600)
    x[450] += 20.0
    body = "\n".join(f"{ti:.0f},{xi}" for ti, xi in zip(t, x, strict=True))
    src = _write(tmp_path / "in.csv", "timestamp,value\n" + body + "\n")
    out = tmp_path / "out.csv"
    args = ["detect", "--input", str(src), "--output", str(out)]
    known = ["--input-min", str(min(x)), "--input-max", str(max(x)), "--probation", "90"]
    result = runner.invoke(app, args + known)
    assert result.exit_code == 0, result.output
    rows = _read(out)
    assert all(r["is_anomaly"] == "false" for r in rows[:90])
    assert any(r["is_anomaly"] == "true" for r in rows[450:460])
    expected = score_series(t, x, DEFAULT_DETECTOR, value_min=min(x), value_max=max(x), probation=90)
    assert [float(r["anomaly_score"]) for r in rows] == pytest.approx(expected, abs=1e-6)
    half = runner.invoke(app, args + ["--input-min", "0"])
    assert half.exit_code == 2 and "both the input minimum and the input maximum" in half.output
    upside_down = runner.invoke(app, args + ["--input-min", "5", "--input-max", "1"])
    assert upside_down.exit_code == 2 and "not above the maximum" in upside_down.output


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("known", [{}, {"value_min": 5.0, "value_max": 16.0, "probation": 150}])
def test_update_many_is_update_on_each_point(name, known):
    """The batch path (``ops detect``) gives every score and the end state of one
    ``update`` a point, also across calls and around points it must skip."""
    t, x = _series(1500, seed=7)
    x[900] += 12.0
    x[100] = math.nan
    x[101] = "abc"
    t[102] = math.inf
    try:
        one, many = get_detector(name, **known), get_detector(name, **known)
    except TypeError:
        pytest.skip(f"{name} takes no known range")
    expected = [one.update(ti, xi) for ti, xi in zip(t, x, strict=True)]
    got = many.update_many(t[:40], x[:40]) + many.update_many(t[40:1300], x[40:1300])
    got += many.update_many(t[1300:], x[1300:])
    assert got == expected
    assert many.state() == one.state()


def test_pattern_discord_batch_crosses_its_buffer_and_chunks(monkeypatch):
    """Runs longer than the buffer and than one vectorised chunk keep exact scores."""
    import triops.ops.detectors._discord as discord

    monkeypatch.setattr(discord, "_CHUNK", 97)
    t, x = _series(900, seed=11)
    one = get_detector("pattern_discord", memory=120, length=5)
    many = get_detector("pattern_discord", memory=120, length=5)
    expected = [one.update(ti, xi) for ti, xi in zip(t, x, strict=True)]
    assert many.update_many(t[:300], x[:300]) + many.update_many(t[300:], x[300:]) == expected
    assert many.state() == one.state()


@pytest.mark.parametrize(("length", "memory"), [(4, 3), (2, 2), (3, 5)])
def test_pattern_discord_short_memory_runs_as_points(length, memory):
    """A memory no longer than the window (no lag or one) scores runs as points."""
    t, x = _series(200, seed=5)
    one = get_detector("pattern_discord", memory=memory, length=length)
    many = get_detector("pattern_discord", memory=memory, length=length)
    expected = [one.update(ti, xi) for ti, xi in zip(t, x, strict=True)]
    assert many.update_many(t[:13], x[:13]) + many.update_many(t[13:], x[13:]) == expected


def test_pattern_discord_carried_distances_stay_near_the_exact_ones():
    """Distances carried from point to point (summed afresh every 32 points) stay within
    rounding of a brute-force search, on a series far from zero with spikes, in runs and
    across a state round trip; a state without the carried profile starts one afresh."""
    length, memory = 8, 150
    rng = np.random.default_rng(7)
    x = 1e6 + np.sin(np.arange(1500) / 9.0) * 50 + rng.normal(size=1500)
    x[[400, 401, 900]] += [5e4, -3e4, 8e4]
    d = get_detector("pattern_discord", length=length, memory=memory)
    got = []
    for start in range(0, len(x), 37):
        run = x[start : start + 37]
        if start != 37 * 20:
            got += d._discords(run)
            continue
        state = d.state()
        d = StreamingDetector.from_state(state)
        del state["vars"]["profile"]
        older = StreamingDetector.from_state(state)
        got += d._discords(run)
        assert older._discords(run) == pytest.approx(got[start:], rel=1e-9)
    for i in range(2 * length - 1, len(x), 7):
        newest = x[i - length + 1 : i + 1]
        exact = min(np.linalg.norm(newest - x[i - lag - length + 1 : i - lag + 1])
                    for lag in range(length, min(memory, i - length + 1) + 1))
        assert got[i] == pytest.approx(exact, rel=1e-9, abs=1e-6)


def _tuple_contexts(t: list[float], x: list[float], d) -> dict:
    """The context counts ``context_novelty`` kept before contexts were packed into
    ints: one tuple a context, from the bins ``d`` fixed."""
    counts: dict = {}
    p1 = p2 = None
    for ti, xi in zip(t[d.scale_points:], x[d.scale_points:], strict=True):
        b = int((xi - d.lo) // d.width)
        hour = int((ti % 86400.0) // 3600)
        for key in ((0, b, p1), (1, b, p1, p2), (2, b, hour),
                    (3, b - (p1 if p1 is not None else b))):
            counts[key] = counts.get(key, 0) + 1
        p1, p2 = b, p1
    return counts


@pytest.mark.parametrize("far", [0.0, 1e9])
def test_context_novelty_resumes_a_state_with_tuple_contexts(far):
    """A state stored before contexts were packed (tuple keys, no ``key_format``)
    continues exactly as the packed detector does; one context per tuple, including
    bins too far from the first range to pack (a value ``far`` off), which stay tuples."""
    t, x = _series(900, seed=5)
    x[300] += far
    x[301] -= far
    packed = get_detector("context_novelty")
    packed.update_many(t[:600], x[:600])
    legacy = packed.state()
    del legacy["vars"]["key_format"]
    tuples = _tuple_contexts(t[:600], x[:600], packed)
    assert len(tuples) == len(packed.counts)
    assert any(isinstance(k, tuple) for k in packed.counts) == bool(far)
    legacy["vars"]["counts"] = {"__dict__": [[list(k), c] for k, c in tuples.items()]}
    resumed = StreamingDetector.from_state(json.loads(json.dumps(legacy)))
    assert resumed.update_many(t[600:], x[600:]) == packed.update_many(t[600:], x[600:])
    assert resumed.counts == packed.counts


def test_context_novelty_keeps_at_most_max_contexts():
    """On a drifting series the contexts stop at ``max_contexts``, the rarest forgotten
    first; points, batches and a state round trip in between forget the same ones."""
    t, x = _series(3000, seed=9)
    x = (np.asarray(x) + np.arange(3000) * 0.05).tolist()  # new bins all the time
    one, many = (get_detector("context_novelty", max_contexts=200) for _ in range(2))
    expected = [one.update(ti, xi) for ti, xi in zip(t, x, strict=True)]
    got = many.update_many(t[:1000], x[:1000])
    many = StreamingDetector.from_state(json.loads(json.dumps(many.state())))
    got += many.update_many(t[1000:], x[1000:])
    assert got == expected
    assert many.state() == one.state()
    assert 150 <= len(many.counts) <= 200
    unbounded = get_detector("context_novelty")
    unbounded.update_many(t, x)
    assert len(unbounded.counts) > 1000


def test_context_counts_are_stored_as_two_int_lists():
    """Counts keyed by packed ints are stored as a list of keys and a list of counts,
    not a pair a count, and read back as the same dict; a state whose counts hold a
    tuple context (a bin too far to pack) keeps the general form."""
    t, x = _series(900, seed=5)
    packed = get_detector("context_novelty")
    packed.update_many(t, x)
    stored = json.loads(json.dumps(packed.state()))
    keys, counts = stored["vars"]["counts"]["__ints__"]
    assert len(keys) == len(counts) == len(packed.counts)
    assert StreamingDetector.from_state(stored).counts == packed.counts
    far = get_detector("context_novelty")
    x[300] += 1e9
    far.update_many(t, x)
    assert "__dict__" in far.state()["vars"]["counts"]
    assert StreamingDetector.from_state(json.loads(json.dumps(far.state()))).counts == far.counts
