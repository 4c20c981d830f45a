"""Stateful building blocks shared by the detectors (each learns online, O(1) a point)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np

from triops.ops.detectors._base import part
from triops.ops.detectors._kernels import CLIP_AFTER, LOG_FLOOR, likelihood_run

DAY = 86400.0
WEEK = 7 * DAY
#: Runs of at least this many raw scores go through the compiled likelihood loop.
COMPILED_FROM = 4


@part
class EwStats:
    """Exponentially weighted mean and variance (Welford-style, West 1979)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def update(self, x: float) -> None:
        self.n += 1
        if self.n == 1:
            self.mean = x
            return
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)


@part
class Range:
    """Running minimum and maximum: the scale floor for flat or constant series."""

    def __init__(self) -> None:
        self.lo = None
        self.hi = None

    def update(self, x: float) -> None:
        if self.lo is None:
            self.lo = self.hi = x
        elif x < self.lo:
            self.lo = x
        elif x > self.hi:
            self.hi = x

    def floor(self, fraction: float = 1e-3) -> float:
        if self.lo is None:
            return 1e-9
        return fraction * (self.hi - self.lo) + 1e-9 * (abs(self.hi) + 1.0)


@part
class Seasonal:
    """Per-phase level of a cycle (a day or a week), learned per bin as points arrive.

    Timestamps may be irregular: the phase is the timestamp modulo the period. A bin
    predicts only once it has seen ``min_count`` points.
    """

    def __init__(self, period: float, bins: int, alpha: float = 0.25, min_count: int = 3):
        self.period = period
        self.bins = bins
        self.alpha = alpha
        self.min_count = min_count
        self.level = [0.0] * bins
        self.count = [0] * bins

    def bin(self, t: float) -> int:
        return int((t % self.period) / self.period * self.bins) % self.bins

    def predict(self, b: int) -> float | None:
        return self.level[b] if self.count[b] >= self.min_count else None

    def learn(self, b: int, x: float) -> None:
        c = self.count[b] = self.count[b] + 1
        a = max(self.alpha, 1.0 / c)
        self.level[b] += a * (x - self.level[b])


@part
class AnomalyLikelihood:
    """How unusual the recent raw scores are against their own long-run distribution.

    In the manner of Numenta's anomaly likelihood: the mean of the last ``short`` raw
    scores is compared with the running mean and variance of that same average; the
    Gaussian tail probability is mapped to ``log(1 - likelihood) / log(1e-10)`` so
    that 0.5 means a one-in-a-hundred-thousand event. Outputs 0 during ``warmup``.

    The running statistics learn an average capped at ``clip`` standard deviations
    above their mean: one incident must not widen what counts as normal, or the
    next incident of the same size would pass unnoticed.
    """

    def __init__(
        self, short: int = 8, long: int = 2000, warmup: int = 150, clip: float = 5.0
    ) -> None:
        self.recent = deque(maxlen=short)
        self.total = 0.0
        self.stats = EwStats(1.0 / long)
        self.warmup = warmup
        self.clip = clip
        self.seen = 0

    def update(self, raw: float) -> float:
        return self.update_many((raw,))[0]

    def update_many(self, raws: Iterable[float | None]) -> list[float]:
        """``update`` for each raw score in turn; ``None`` (the raw detector cannot
        score yet) gives 0 and teaches nothing. A run of :data:`COMPILED_FROM` points or
        more goes through the compiled loop (``_kernels.likelihood_run``, the same
        arithmetic), a shorter one through the interpreted loop, which costs less than
        the call into compiled code for a point or two."""
        raws = list(raws)
        if len(raws) < COMPILED_FROM:
            return self._interpreted(raws)
        values = np.array(raws, dtype=float)  # None becomes NaN
        known = ~np.isnan(values)
        if not known.all():  # a NaN raw score is still a score: tell it from None
            known = np.array([r is not None for r in raws], dtype=bool)
        recent, stats = self.recent, self.stats
        maxlen = recent.maxlen
        ring = np.zeros(maxlen)
        ring[: len(recent)] = list(recent)
        out = np.empty(len(raws))
        head, size, self.total, n, mean, var, seen = likelihood_run()(
            values, known, ring, len(recent), float(self.total), float(stats.alpha),
            int(stats.n), float(stats.mean), float(stats.var), int(self.seen),
            int(self.warmup), float(self.clip), out)
        self.recent = deque(np.roll(ring, -head)[:size].tolist(), maxlen=maxlen)
        stats.n, stats.mean, stats.var, self.seen = int(n), float(mean), float(var), int(seen)
        return out.tolist()

    def _interpreted(self, raws: list[float | None]) -> list[float]:
        """``update_many`` in Python, the state in locals."""
        recent, maxlen, total = self.recent, self.recent.maxlen, self.total
        stats, seen, warmup, clip = self.stats, self.seen, self.warmup, self.clip
        learn, erfc, log, sqrt = stats.update, math.erfc, math.log, math.sqrt
        root2 = math.sqrt(2.0)
        out = []
        for raw in raws:
            if raw is None:
                out.append(0.0)
                continue
            if len(recent) == maxlen:
                total -= recent[0]
            recent.append(raw)
            total += raw
            avg = total / len(recent)
            seen += 1
            mean = stats.mean
            std = sqrt(max(stats.var, 1e-10)) + 1e-3 * abs(mean) + 1e-6
            score = 0.0
            if seen > warmup:
                z = (avg - mean) / std
                tail = 0.5 * erfc(z / root2)
                likelihood = 1.0 - tail
                score = log(1.0000000001 - likelihood) / LOG_FLOOR
            if stats.n > CLIP_AFTER:
                avg = min(avg, mean + clip * std)
            learn(avg)
            out.append(score)
        self.total, self.seen = total, seen
        return out


@part
class AlarmGate:
    """One alarm per event: quiet for ``refractory`` points after an alarm, then a
    raised bar (scores lowered by ``penalty``) until ``hold`` points have passed.

    NAB, like an on-call engineer, rewards the first alarm of an event and charges for
    every repeat. A short silence followed by a raised bar, rather than one long
    silence, still lets a second, stronger event close behind the first through.
    """

    def __init__(self, level: float, refractory: int, hold: int, penalty: float) -> None:
        self.level = level
        self.refractory = min(refractory, hold)
        self.hold = hold
        self.penalty = penalty
        self.since = hold  # points since the last alarm

    def update(self, score: float) -> float:
        return self.update_many((score,))[0]

    def update_many(self, scores: Iterable[float]) -> list[float]:
        """``update`` for each score in turn."""
        since, refractory, hold, penalty, level = (
            self.since, self.refractory, self.hold, self.penalty, self.level)
        out = []
        for score in scores:
            since += 1
            if since <= refractory:
                out.append(0.0)
                continue
            if since <= hold:
                score = max(0.0, score - penalty)
            if score >= level:
                since = 0
            out.append(score)
        self.since = since
        return out
