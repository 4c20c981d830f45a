"""A series' path ahead on the time axis, and when it first crosses a threshold.

Telemetry arrives at irregular times, so the history is first put on a regular grid
(the mean of each step, gaps carried forward). The forecasting engine models level,
seasonality and the interval; the models it validates on short tails damp trends
away, which is right for a 48-step forecast and wrong for "when is this disk full in
a week", so the trend is estimated here, removed before the engine sees the series
and carried on undamped afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from triops.ops.forecasting import candidates_for_step, detect_periods, forecast

#: The grid is coarsened so that neither the history nor the horizon passes this many steps.
MAX_STEPS = 1_500
#: Grid steps (ms) a coarsened grid snaps up to: each divides a day, so that daily and
#: weekly cycles stay a whole number of steps.
_DAY_DIVISORS_MS = tuple(s * 1000 for s in (
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800,
    14400, 21600, 43200, 86400))
#: The interval's two-sided coverage (as the forecasting engine's default).
Z90 = 1.645


@dataclass(frozen=True)
class Projection:
    """Forecast ``mean`` with its interval ``[lo, hi]`` at ``times_ms``, from ``origin_ms``
    (the newest point of the history), with the trend per hour it carries on."""

    origin_ms: int
    step_ms: int
    times_ms: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    slope_per_hour: float
    last_value: float


def regular_grid(points: Sequence[tuple[int, float]], max_steps: int = MAX_STEPS,
                 min_step_ms: int = 0) -> tuple[int, int, np.ndarray]:
    """``(start_ms, step_ms, values)``: the points' mean per step of the median spacing
    (coarsened to at most ``max_steps`` steps), empty steps carrying the last value."""
    ts = np.array([p[0] for p in points], dtype=np.int64)
    vs = np.array([p[1] for p in points], dtype=float)
    order = np.argsort(ts, kind="stable")
    ts, vs = ts[order], vs[order]
    span = int(ts[-1] - ts[0])
    step = int(np.median(np.diff(ts))) if len(ts) > 1 else 1
    coarse = max(min_step_ms, -(-span // max_steps))
    if coarse > step:
        step = next((d for d in _DAY_DIVISORS_MS if d >= coarse), coarse)
    step = max(step, 1)
    # The grid ends at the newest point, so the last step holds fresh data.
    idx = (ts - ts[-1]) // step
    idx = idx - idx[0]
    n = int(idx[-1]) + 1
    sums = np.bincount(idx, weights=vs, minlength=n)
    counts = np.bincount(idx, minlength=n)
    values = np.empty(n)
    last = vs[0]
    for i in range(n):
        if counts[i]:
            last = sums[i] / counts[i]
        values[i] = last
    start = int(ts[-1]) - (n - 1) * step
    return start, step, values


def cycles(values: np.ndarray, step_ms: int) -> tuple[int, ...]:
    """The daily/weekly cycles (in steps) of a series that may carry a strong trend.

    The engine's test looks for a local autocorrelation peak, which a trend flattens and
    the estimator's decay shifts off the exact lag; telemetry cycles are known in
    advance, so a candidate also counts when the detrended series correlates with
    itself one cycle later (r > 0.5).
    """
    t = np.arange(len(values), dtype=float)
    rest = values - np.polyval(np.polyfit(t, values, 1), t)
    candidates = candidates_for_step(step_ms / 1000)
    found = set(detect_periods(rest, candidates))
    for p in candidates:
        if 2 * p <= len(rest) and np.std(rest) > 0:
            r = np.corrcoef(rest[:-p], rest[p:])[0, 1]
            if np.isfinite(r) and r > 0.5:
                found.add(p)
    return tuple(sorted(found))


def trend(values: np.ndarray, periods: tuple[int, ...], window: int) -> tuple[float, float]:
    """(slope per step, its standard error) of the recent ``window`` steps.

    With a seasonal cycle of ``p`` steps, the slope is the change between the means of
    the last two cycles over ``p`` (the window widens to two cycles): a least-squares
    line through a cycle would tilt with the cycle's shape. Otherwise a least-squares line.
    """
    seasonal = [p for p in periods if 2 * p <= len(values)]
    if seasonal:
        p = max(seasonal)
        recent, before = values[-p:], values[-2 * p:-p]
        slope = (recent.mean() - before.mean()) / p
        spread = np.sqrt((recent.var() + before.var()) / p) / p
        return float(slope), float(spread)
    tail = values[-window:]
    if len(tail) < 3:
        return 0.0, 0.0
    t = np.arange(len(tail), dtype=float)
    slope, intercept = np.polyfit(t, tail, 1)
    resid = tail - (intercept + slope * t)
    sxx = float(np.sum((t - t.mean()) ** 2))
    return float(slope), float(np.sqrt(np.sum(resid ** 2) / (len(tail) - 2) / sxx))


def project(points: Sequence[tuple[int, float]], horizon_ms: int,
            trend_window_ms: int) -> Projection:
    """The path of ``points`` over the next ``horizon_ms``.

    >>> hours = [(h * 3_600_000, 10.0 + 2.0 * h) for h in range(48)]
    >>> p = project(hours, horizon_ms=10 * 3_600_000, trend_window_ms=24 * 3_600_000)
    >>> round(p.slope_per_hour, 3), round(float(p.mean[-1]), 1)
    (2.0, 124.0)
    """
    if len(points) < 3:
        raise ValueError("at least 3 points are needed to project a series")
    start, step, values = regular_grid(points, min_step_ms=-(-horizon_ms // MAX_STEPS))
    origin = start + (len(values) - 1) * step
    h = max(1, -(-horizon_ms // step))
    periods = cycles(values, step)
    window = max(3, min(len(values), trend_window_ms // step))
    slope, slope_se = trend(values, periods, window)
    t = np.arange(len(values), dtype=float)
    detrended = values - slope * t
    ahead = forecast(detrended, h, periods=periods)
    k = np.arange(1, h + 1, dtype=float)
    carried = slope * (len(values) - 1 + k)
    spread = Z90 * slope_se * k
    return Projection(
        origin_ms=origin, step_ms=step, times_ms=origin + step * k.astype(np.int64),
        mean=ahead.mean + carried, lo=ahead.lo + carried - spread,
        hi=ahead.hi + carried + spread, slope_per_hour=slope * 3_600_000 / step,
        last_value=float(values[-1]))


def first_crossing(times_ms: np.ndarray, path: np.ndarray, threshold: float,
                   above: bool = True) -> int | None:
    """The time at which ``path`` first reaches ``threshold`` (from below when
    ``above``), linearly interpolated between steps; None when it does not."""
    hit = path >= threshold if above else path <= threshold
    if not hit.any():
        return None
    i = int(np.argmax(hit))
    if i == 0:
        return int(times_ms[0])
    a, b = path[i - 1], path[i]
    frac = (threshold - a) / (b - a) if b != a else 1.0
    return int(times_ms[i - 1] + frac * (times_ms[i] - times_ms[i - 1]))
