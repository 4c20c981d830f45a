"""Per-template rate tracking: flag a template whose rate jumps above its history."""

from __future__ import annotations

import math
from dataclasses import dataclass

from triops.core.baselines import EwmaBaseline


@dataclass(frozen=True)
class RateJump:
    """A template seen far more often in one window than its history predicts."""

    template_id: int
    window_start: float
    count: int
    baseline: float


class RateTracker:
    """Counts lines per template in fixed windows and compares each window to the past.

    At the end of every window, a template is flagged when its count reaches
    ``min_count``, exceeds ``factor`` times its average count per window so far and
    lies ``z`` Poisson standard deviations above it. A template needs ``warmup``
    windows of history before it can be flagged (a new template is a signal of its
    own: :attr:`Match.is_new`). History is an exponentially weighted mean with weight
    ``alpha`` for the newest window; windows in which a template did not occur count
    as zero.

    >>> tracker = RateTracker(window=60.0, warmup=3)
    >>> for minute in range(5):
    ...     for _ in range(2):
    ...         _ = tracker.observe(7, minute * 60.0)
    >>> for _ in range(50):
    ...     _ = tracker.observe(7, 300.0)
    >>> [(j.template_id, j.count) for j in tracker.observe(7, 360.0)]
    [(7, 50)]
    """

    def __init__(
        self,
        window: float = 60.0,
        factor: float = 5.0,
        z: float = 4.0,
        min_count: int = 10,
        warmup: int = 5,
        alpha: float = 0.1,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self.factor = factor
        self.z = z
        self.min_count = min_count
        self.warmup = warmup
        self.alpha = alpha
        self._start: float | None = None
        self._counts: dict[int, int] = {}
        self._history: dict[int, EwmaBaseline] = {}

    def observe(self, template_id: int, timestamp: float) -> list[RateJump]:
        """Count one line; return the jumps of every window this timestamp closes."""
        jumps: list[RateJump] = []
        if self._start is None:
            self._start = timestamp - (timestamp % self.window)
        while timestamp >= self._start + self.window:
            jumps.extend(self._close())
        self._counts[template_id] = self._counts.get(template_id, 0) + 1
        return jumps

    def flush(self) -> list[RateJump]:
        """Close the current window now."""
        return self._close() if self._start is not None else []

    def _close(self) -> list[RateJump]:
        assert self._start is not None
        jumps = []
        counts = self._counts
        for tid in set(counts) | set(self._history):
            count = counts.get(tid, 0)
            hist = self._history.setdefault(tid, EwmaBaseline())
            mean = hist.mean
            if (
                hist.ready(self.warmup)
                and count >= self.min_count
                and count > self.factor * mean
                and count > mean + self.z * math.sqrt(max(mean, 1.0))
            ):
                jumps.append(RateJump(tid, self._start, count, mean))
            hist.learn(float(count), self.alpha)
        jumps.sort(key=lambda j: j.template_id)
        self._counts = {}
        self._start += self.window
        return jumps
