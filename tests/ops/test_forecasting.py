"""Forecasting: seasonal series recovered, intervals that cover, the CLI contract."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from triops.cli.main import app
from triops.ops.forecasting import Settings, detect_periods, forecast
from triops.ops.forecasting.io import PARALLEL_FROM, forecast_csv

runner = CliRunner()


def _hourly(n: int, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return (100 + 0.02 * t + 20 * np.sin(2 * np.pi * t / 24) + 8 * np.sin(2 * np.pi * t / 168)
            + noise * rng.standard_normal(n))


def _write(path: Path, rows: list[tuple[object, ...]], header: str = "series,t,value") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_daily_and_weekly_periods_are_found():
    assert detect_periods(_hourly(900)) == (24, 168)
    assert detect_periods(np.random.default_rng(1).standard_normal(900)) == ()


def test_seasonal_series_is_recovered_with_small_error_and_covered_by_the_interval():
    full = _hourly(900 + 48, seed=3)
    history, truth = full[:900], full[900:]
    result = forecast(history, 48)
    assert result.periods == (24, 168)
    # The noise has sd 1 around an amplitude-20 cycle: a seasonal model lands within ~2.
    assert np.mean(np.abs(result.mean - truth)) < 2.0
    inside = np.mean((truth >= result.lo) & (truth <= result.hi))
    assert inside >= 0.8
    assert np.all(result.lo <= result.mean) and np.all(result.mean <= result.hi)


def test_interval_widens_past_the_validated_horizon():
    result = forecast(_hourly(300, seed=5), 200)
    width = result.hi - result.lo
    assert width[-1] > width[0]


def test_cli_writes_horizon_rows_per_series_continuing_integer_steps(tmp_path: Path):
    rows = [("a", t, v) for t, v in enumerate(_hourly(400, seed=1))]
    rows += [("b", 10 + 2 * t, v) for t, v in enumerate(_hourly(300, seed=2) * 3)]
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["ops", "forecast", "--input", str(_write(tmp_path / "h.csv", rows)),
                                 "--horizon", "5", "--output", str(out)])
    assert result.exit_code == 0, result.output
    got = _read(out)
    assert list(got[0]) == ["series", "t", "forecast", "lo", "hi"]
    assert [(r["series"], r["t"]) for r in got] == (
        [("a", str(t)) for t in range(400, 405)] + [("b", str(10 + 2 * t)) for t in range(300, 305)])
    for r in got:
        assert float(r["lo"]) <= float(r["forecast"]) <= float(r["hi"])


def test_a_process_pool_writes_the_same_forecasts_in_the_same_order(tmp_path: Path):
    rows = [(f"s{k}", t, v) for k in range(PARALLEL_FROM) for t, v in enumerate(_hourly(120, seed=k))]
    source = _write(tmp_path / "h.csv", rows)
    alone, pooled = tmp_path / "one.csv", tmp_path / "two.csv"
    seen: list[str] = []
    assert forecast_csv(source, alone, 6, workers=1) == PARALLEL_FROM
    assert forecast_csv(source, pooled, 6, workers=2, on_series=lambda h, _: seen.append(h.name)) == PARALLEL_FROM
    assert pooled.read_text() == alone.read_text()
    assert seen == [f"s{k}" for k in range(PARALLEL_FROM)]


def test_cli_continues_timestamps_at_the_median_step(tmp_path: Path):
    rows = [("cpu", f"2024-03-01T{h:02d}:00:00", 50 + h) for h in range(20)]
    rows.append(("cpu", "2024-03-01T21:00:00", 71))  # one gap; the median step stays 1 h
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["ops", "forecast", "--input", str(_write(tmp_path / "h.csv", rows)),
                                 "--horizon", "3", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["t"] for r in _read(out)] == [
        "2024-03-01T22:00:00", "2024-03-01T23:00:00", "2024-03-02T00:00:00"]


def _exit(tmp_path: Path, rows, header: str = "series,t,value", horizon: str = "3"):  # type: ignore[no-untyped-def]
    path = _write(tmp_path / "bad.csv", rows, header)
    return runner.invoke(app, ["ops", "forecast", "--input", str(path), "--horizon", horizon,
                               "--output", str(tmp_path / "o.csv")])


def test_bad_input_exits_with_a_clear_message(tmp_path: Path):
    ok = [("a", t, t) for t in range(10)]
    cases = [
        (_exit(tmp_path, [(0, 1)] * 5, header="t,value"), "missing: series"),
        (_exit(tmp_path, [*ok, ("a", 10, "lots")]), "line 12: value 'lots' is not a number"),
        (_exit(tmp_path, [("a", 0, 1), ("a", 1, 2)]), "'a' has 2 point(s); at least 3"),
        (_exit(tmp_path, ok, horizon="0"), "--horizon must be at least 1"),
        (_exit(tmp_path, [("a", "yesterday", 1)] * 4), "neither an integer step nor an ISO"),
    ]
    for result, message in cases:
        assert result.exit_code == 2
        assert message in result.output
    assert not (tmp_path / "o.csv").exists()


def test_interval_coverage_is_near_its_level_on_held_out_tails():
    """Conformal intervals: on series the forecaster has not seen the end of, the band
    covers about its nominal share of the next points (not the ~79 % at 90 % that the
    chosen model's own validation errors gave)."""
    rng = np.random.default_rng(11)
    covered = {0.8: [], 0.95: []}
    for _ in range(24):
        n = 500 + 48
        t = np.arange(n)
        level = np.cumsum(rng.normal(0, 0.3, n))  # a wandering level
        x = 50 + level + 8 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.5, n)
        for lv, shares in covered.items():
            result = forecast(x[:500], 48, settings=Settings(level=lv))
            shares.append(np.mean((x[500:] >= result.lo) & (x[500:] <= result.hi)))
    assert 0.7 <= np.mean(covered[0.8]) <= 0.9
    assert 0.88 <= np.mean(covered[0.95]) <= 1.0
    assert np.mean(covered[0.95]) > np.mean(covered[0.8])
