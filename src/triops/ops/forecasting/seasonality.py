"""Seasonal periods of a series, found by autocorrelation among candidate periods."""

from __future__ import annotations

import numpy as np

#: Candidates for a series whose step is unknown (integer ``t``): the cycles of hourly
#: (day, week), daily (week), monthly and weekly data.
DEFAULT_CANDIDATES: tuple[int, ...] = (7, 12, 24, 52, 168)
#: Smallest autocorrelation that counts as a cycle, for a candidate and for a stand-in
#: lag found by scanning: on long series Bartlett's bound alone passes noise peaks.
MIN_ACF, MIN_ACF_SCANNED = 0.1, 0.3


def candidates_for_step(step_seconds: float | None) -> tuple[int, ...]:
    """Periods worth testing for a series sampled every ``step_seconds`` (a day, a week)."""
    if not step_seconds or step_seconds <= 0:
        return DEFAULT_CANDIDATES
    per_day = 86_400 / step_seconds
    if per_day >= 2 and abs(per_day - round(per_day)) < 1e-6:
        return (round(per_day), round(per_day) * 7)
    if abs(per_day - 1) < 1e-6:
        return (7, 365)
    return DEFAULT_CANDIDATES


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 0..max_lag (FFT, biased estimator)."""
    x = x - x.mean()
    n = len(x)
    size = 1 << (2 * n - 1).bit_length()
    spec = np.fft.rfft(x, size)
    acov = np.fft.irfft(spec * np.conj(spec), size)[: max_lag + 1]
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def detect_periods(x: np.ndarray, candidates: tuple[int, ...] = DEFAULT_CANDIDATES) -> tuple[int, ...]:
    """The candidate periods at which ``x`` is seasonal, ascending.

    A period counts when the series holds at least two cycles of it, its autocorrelation
    is a local peak and exceeds the 90 % bound of Bartlett's test (the test M4 used to
    decide seasonality), in the levels or in the first differences. When no candidate
    passes, the lag with the strongest such peak stands in.
    """
    x = np.asarray(x, dtype=float)
    fitting = [p for p in candidates if 2 * p <= len(x) and p >= 2]
    if not fitting:
        return ()
    n = len(x)
    found: set[int] = set()
    strongest: tuple[float, int] = (0.0, 0)
    # A trend can hide a cycle in the levels and noise can hide it in the changes, so
    # a period found in either counts.
    for series in (x, np.diff(x)):
        acf = autocorrelation(series, max(fitting) + 1)
        for p in range(2, max(fitting) + 1):
            bound = 1.645 * np.sqrt((1 + 2 * np.sum(acf[1:p] ** 2)) / n)
            if acf[p] >= acf[p - 1] and acf[p] >= acf[p + 1] and acf[p] > max(bound, MIN_ACF):
                if p in fitting:
                    found.add(p)
                elif 2 * p <= n and acf[p] > max(strongest[0], MIN_ACF_SCANNED):
                    strongest = (float(acf[p]), p)
    # No candidate fits but a clear cycle of another length exists (e.g. 23 steps):
    # take the strongest one rather than none.
    if not found and strongest[1]:
        found.add(strongest[1])
    return tuple(sorted(found))
