"""Candidate point forecasters: each maps a history and a horizon to ``h`` values.

All are closed-form or grid-fitted with numpy/scipy so that hundreds of series and
several validation refits stay within seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Smoothing constants tried for simple exponential smoothing (chosen by in-sample
#: one-step squared error).
ALPHAS = np.array([0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0])

Model = Callable[[np.ndarray, int, tuple[int, ...]], np.ndarray]


def naive(x: np.ndarray, h: int, periods: tuple[int, ...]) -> np.ndarray:
    return np.full(h, x[-1])


def seasonal_naive(x: np.ndarray, h: int, period: int, cycles: int = 1) -> np.ndarray:
    """The mean of the last ``cycles`` cycles, phase by phase, repeated."""
    k = max(1, min(cycles, len(x) // period))
    profile = x[len(x) - k * period:].reshape(k, period).mean(axis=0)
    return profile[np.arange(h) % period]


def _centred_mean(z: np.ndarray, p: int) -> np.ndarray:
    """The 2×p (even p) or p (odd p) centred moving average, edges held flat."""
    kernel = np.ones(p + 1) if p % 2 == 0 else np.ones(p)
    if p % 2 == 0:
        kernel[0] = kernel[-1] = 0.5
    kernel /= kernel.sum()
    half = len(kernel) // 2
    padded = np.concatenate([np.full(half, z[:p].mean()), z, np.full(half, z[-p:].mean())])
    return np.convolve(padded, kernel, mode="valid")


def seasonal_components(x: np.ndarray, periods: tuple[int, ...], window: int,
                        h: int) -> tuple[np.ndarray, np.ndarray]:
    """In-sample and future sum of one profile per period (MSTL-style backfitting).

    Each period's profile is the phase mean of the detrended series, with the other
    periods' profiles removed, over the last ``window`` points; two passes let the
    daily and weekly profiles settle against each other.
    """
    n = len(x)
    phase_in = {p: (np.arange(n) - n) % p for p in periods}
    comps = {p: np.zeros(p) for p in periods}
    for _ in range(2 if len(periods) > 1 else 1):
        for p in periods:
            others = sum((comps[q][phase_in[q]] for q in periods if q != p), np.zeros(n))
            z = x - others
            detr = z - _centred_mean(z, p)
            m = max(1, min(window, n) // p) * p
            prof = detr[n - m:].reshape(-1, p).mean(axis=0)
            comps[p] = prof - prof.mean()
    inside = sum((comps[p][phase_in[p]] for p in periods), np.zeros(n))
    future = sum((comps[p][np.arange(h) % p] for p in periods), np.zeros(h))
    return inside, future


def ses_fit(d: np.ndarray) -> tuple[float, float]:
    """(alpha, final level) of simple exponential smoothing, alpha by one-step SSE."""
    # Imported on use: scipy.signal costs about a second to load, which every server
    # start paid for the forecasts only some deployments ask for.
    from scipy.signal import lfilter

    best = (np.inf, 1.0, d[-1])
    for a in ALPHAS:
        level = lfilter([a], [1.0, a - 1.0], d, zi=[(1.0 - a) * d[0]])[0]
        sse = float(np.sum((d[1:] - level[:-1]) ** 2))
        if sse < best[0]:
            best = (sse, float(a), float(level[-1]))
    return best[1], best[2]


def ses(d: np.ndarray, h: int) -> np.ndarray:
    return np.full(h, ses_fit(d)[1])


def theta(d: np.ndarray, h: int) -> np.ndarray:
    """The Theta method (SES plus half the least-squares slope, Hyndman & Billah 2003)."""
    a, level = ses_fit(d)
    n = len(d)
    t = np.arange(n)
    slope = float(np.polyfit(t, d, 1)[0])
    k = np.arange(1, h + 1)
    return level + slope / 2 * (k - 1 + 1 / a - (1 - a) ** n / a)


def drift_recent(d: np.ndarray, h: int, span: int) -> np.ndarray:
    """The level of the last ``span`` points carried on with their least-squares slope,
    damped so that it flattens over the horizon."""
    tail = d[-span:]
    t = np.arange(len(tail))
    slope, intercept = np.polyfit(t, tail, 1)
    k = np.arange(1, h + 1)
    damp = np.cumsum(0.98 ** k)
    return intercept + slope * (len(tail) - 1) + slope * damp


@dataclass(frozen=True)
class Decomposed:
    """Seasonal profiles over the last cycles plus a model of what remains."""

    remainder: str  # "ses" | "theta" | "drift"
    cycles: int  # profile window, in cycles of the longest period

    def __call__(self, x: np.ndarray, h: int, periods: tuple[int, ...]) -> np.ndarray:
        periods = tuple(p for p in periods if 2 * p <= len(x))
        longest = max(periods, default=min(len(x), 24))
        inside, future = seasonal_components(x, periods, self.cycles * longest, h)
        d = x - inside
        if self.remainder == "ses":
            rest = ses(d, h)
        elif self.remainder == "theta":
            rest = theta(d, h)
        else:
            rest = drift_recent(d, h, min(len(d), longest))
        return rest + future


@dataclass(frozen=True)
class SeasonalNaive:
    """Seasonal naive on the longest period (``cycles`` cycles averaged)."""

    cycles: int
    which: int = -1  # index into the found periods: -1 the longest, 0 the shortest

    def __call__(self, x: np.ndarray, h: int, periods: tuple[int, ...]) -> np.ndarray:
        periods = tuple(p for p in periods if p <= len(x))
        if not periods:
            return naive(x, h, periods)
        return seasonal_naive(x, h, periods[self.which], self.cycles)


@dataclass(frozen=True)
class OnLog:
    """A model fitted to log(x) and transformed back (multiplicative seasonality)."""

    inner: Model

    def __call__(self, x: np.ndarray, h: int, periods: tuple[int, ...]) -> np.ndarray:
        if np.min(x) <= 0:
            return self.inner(x, h, periods)
        return np.exp(self.inner(np.log(x), h, periods))


def candidates() -> dict[str, Model]:
    """The candidate models, by name."""
    base: dict[str, Model] = {
        "naive": naive,
        "snaive": SeasonalNaive(1),
        "snaive_short": SeasonalNaive(1, which=0),
        "snaive_mean2": SeasonalNaive(2),
        "snaive_short_mean3": SeasonalNaive(3, which=0),
    }
    for rem in ("ses", "theta", "drift"):
        for label, cycles in (("recent", 2), ("month", 4), ("long", 1_000)):
            base[f"mstl_{rem}_{label}"] = Decomposed(rem, cycles)
    for name in list(base):
        if name.startswith(("mstl", "snaive_mean")):
            base[f"log_{name}"] = OnLog(base[name])
    return base
