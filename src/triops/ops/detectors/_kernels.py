"""Compiled loops of the detectors' per-point recurrences (numba).

Each loop is written once, in plain Python over numpy arrays, and compiled on first
use: a request's few points per series cost a fraction of a microsecond each compiled,
where the same loop interpreted costs several. The arithmetic is the interpreted
code's, operation for operation and in the same order (no fast-math, no fused
multiply-add; ``math.erfc``, ``math.log`` and ``math.sqrt`` reach the same C library
functions), so the scores are bit-identical (``tests/ops/test_detectors.py``).
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
                 memory: int, best: np.ndarray) -> None:
    """``PatternDiscord``'s squared nearest-neighbour distances of ``points`` values
    from ``series[first]`` on, into ``best``: for each point and each lag from ``m`` to
    ``memory``, the squared differences between the ``m`` values ending at the point
    and the ``m`` ending ``lag`` earlier, summed newest term first (as ``_raw`` sums
    them with numpy), then the smallest over the lags. ``series`` holds the series'
    values from index ``start`` on: lags whose window would begin before it are
    skipped (infinitely far), and a point whose own window would is NaN."""
    lags = memory - m + 1
    acc = np.empty(max(lags, 0))
    # series[i] is back[n - 1 - i]: the values a lag loop reads, newest lag first, are a
    # forward slice of ``back``, which the compiler vectorises (3x the speed of the
    # same loop indexing ``series`` backwards).
    n = series.shape[0]
    back = series[::-1].copy()
    for j in range(points):
        p = first + j
        if p - (m - 1) < start:
            best[j] = np.nan
            continue
        # The earliest value of lag m + k's window is p - (m - 1) - m - k >= start.
        usable = min(lags, p - (m - 1) - m - start + 1)
        if usable <= 0:
            best[j] = np.inf
            continue
        # series[p - s - m - k] is back[newest + s + k].
        newest = n - 1 - p + m
        x = series[p]
        earlier = back[newest : newest + usable]
        for k in range(usable):
            t = earlier[k] - x
            acc[k] = t * t
        for s in range(1, m):
            x = series[p - s]
            earlier = back[newest + s : newest + s + usable]
            for k in range(usable):
                t = earlier[k] - x
                acc[k] += t * t
        low = np.inf
        for k in range(usable):
            low = min(low, acc[k])
        best[j] = low


@functools.cache
def discord_run() -> Any:
    import numba

    return numba.njit(nogil=True, cache=True)(_discord_run)
