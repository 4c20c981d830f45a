"""Compiled loops of the detectors' per-point recurrences (numba).

Each loop is written once, in plain Python over numpy arrays, and compiled on first
use: a request's few points per series cost a fraction of a microsecond each compiled,
where the same loop interpreted costs several. The likelihood loop's arithmetic is the
interpreted code's, operation for operation and in the same order (no fast-math, no
fused multiply-add; ``math.erfc``, ``math.log`` and ``math.sqrt`` reach the same C
library functions), so its scores are bit-identical (``tests/ops/test_detectors.py``);
the discord loop has no interpreted twin: a lone point and a run both take it.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

LOG_FLOOR = math.log(1.0 - 0.9999999999)  # Numenta's log-likelihood scale
CLIP_AFTER = 30  # points before the running statistics are trusted enough to clip


def _likelihood_run(raws: np.ndarray, known: np.ndarray, ring: np.ndarray, size: int,
                    total: float, alpha: float, n: int, mean: float, var: float, seen: int,
                    warmup: int, clip: float, out: np.ndarray) -> tuple:
    """``AnomalyLikelihood.update_many`` over ``raws`` (``known[i]`` false: no raw score,
    0 out and nothing learnt). ``ring`` holds the recent raw scores, oldest first, in
    its first ``size`` slots and ends holding them from slot ``head`` on (returned);
    ``n``, ``mean`` and ``var`` are the running statistics (``EwStats``)."""
    maxlen = ring.shape[0]
    head = 0
    root2 = math.sqrt(2.0)
    for i in range(raws.shape[0]):
        if not known[i]:
            out[i] = 0.0
            continue
        raw = raws[i]
        if size == maxlen:
            total -= ring[head]
            ring[head] = raw
            head = (head + 1) % maxlen
        else:
            ring[(head + size) % maxlen] = raw
            size += 1
        total += raw
        avg = total / size
        seen += 1
        # max(var, 1e-10) and min(avg, cap) as Python's builtins pick (the first unless
        # the second is strictly larger or smaller), NaN included.
        floor = 1e-10 if 1e-10 > var else var  # noqa: FURB136
        std = math.sqrt(floor) + 1e-3 * abs(mean) + 1e-6
        score = 0.0
        if seen > warmup:
            z = (avg - mean) / std
            tail = 0.5 * math.erfc(z / root2)
            likelihood = 1.0 - tail
            score = math.log(1.0000000001 - likelihood) / LOG_FLOOR
        if n > CLIP_AFTER:
            cap = mean + clip * std
            if cap < avg:  # noqa: PLR1730
                avg = cap
        # EwStats.update(avg)
        n += 1
        if n == 1:
            mean = avg
        else:
            a = alpha
            inv = 1.0 / n
            if inv > a:  # noqa: PLR1730
                a = inv
            d = avg - mean
            mean += a * d
            var = (1.0 - a) * (var + a * d * d)
        out[i] = score
    return head, size, total, n, mean, var, seen


@functools.cache
def likelihood_run() -> Any:
    # Imported here, as in ml.serving.trees: numba takes ~0.5 s to import, which only a
    # server or command that scores series needs.
    import numba

    return numba.njit(nogil=True, cache=True)(_likelihood_run)


def _discord_run(series: np.ndarray, start: int, first: int, points: int, m: int,
                 memory: int, offset: int, period: int, profile: np.ndarray, have: int,
                 best: np.ndarray) -> int:
    """``PatternDiscord``'s squared nearest-neighbour distances of ``points`` values
    from ``series[first]`` on, into ``best``: for each point and each lag ``m + k`` from
    ``m`` to ``memory``, the squared distance ``D[k]`` between the ``m`` values ending at
    the point and the ``m`` ending ``m + k`` earlier, then the smallest over the lags.

    ``profile[:have]`` holds ``D`` of the point before ``series[first]`` (``have`` 0:
    none) and ends holding the last point's; the number of its lags is returned. A
    point carries the profile of the one before it: ``D[k] + (x[p] - x[p-m-k])**2 -
    (x[p-m] - x[p-2m-k])**2`` (the term entering the window less the one leaving), two
    terms a lag instead of ``m``. A point whose series index (``offset + p``) is a
    multiple of ``period``, and one with no profile before it, sums its ``m`` terms
    afresh (newest first), so rounding never builds up over more than ``period``
    points and the result depends on the series alone, not on how it was split into
    runs. ``series`` holds the series' values from index ``start`` on: lags whose window
    would begin before it are skipped (infinitely far), and a point whose own window
    would is NaN.
    """
    lags = memory - m + 1
    # series[i] is back[n - 1 - i]: the values a lag loop reads, newest lag first, are a
    # forward slice of ``back``, which the compiler vectorises (3x the speed of the
    # same loop indexing ``series`` backwards).
    n = series.shape[0]
    back = series[::-1].copy()
    for j in range(points):
        p = first + j
        if p - (m - 1) < start:
            best[j] = np.nan
            have = 0
            continue
        # The earliest value of lag m + k's window is p - (m - 1) - m - k >= start.
        usable = min(lags, p - (m - 1) - m - start + 1)
        if usable <= 0:
            best[j] = np.inf
            have = 0
            continue
        # series[p - s - m - k] is back[newest + s + k].
        newest = n - 1 - p + m
        carried = 0 if (offset + p) % period == 0 else have
        if carried > 0:
            x = series[p]
            old = series[p - m]
            entering = back[newest : newest + carried]
            leaving = back[newest + m : newest + m + carried]
            for k in range(carried):
                t = entering[k] - x
                u = leaving[k] - old
                profile[k] = profile[k] + t * t - u * u
        # The lags the previous point had no distance for (all of them at an anchor).
        if carried < usable:
            x = series[p]
            earlier = back[newest + carried : newest + usable]
            for k in range(usable - carried):
                t = earlier[k] - x
                profile[carried + k] = t * t
            for s in range(1, m):
                x = series[p - s]
                earlier = back[newest + s + carried : newest + s + usable]
                for k in range(usable - carried):
                    t = earlier[k] - x
                    profile[carried + k] += t * t
        have = usable
        # The smallest in four interleaved running minima: a single one waits on the
        # previous comparison at every lag, and was most of this loop's time.
        low0 = low1 = low2 = low3 = np.inf
        k = 0
        while k + 4 <= usable:
            low0 = min(low0, profile[k])
            low1 = min(low1, profile[k + 1])
            low2 = min(low2, profile[k + 2])
            low3 = min(low3, profile[k + 3])
            k += 4
        while k < usable:
            low0 = min(low0, profile[k])
            k += 1
        # A carried sum can round a zero distance to a hair below it.
        best[j] = max(min(min(low0, low1), min(low2, low3)), 0.0)
    return have


@functools.cache
def discord_run() -> Any:
    import numba

    return numba.njit(nogil=True, cache=True)(_discord_run)
