"""Novelty of short value patterns: how often has this context been seen before?"""

from __future__ import annotations

import numpy as np

from triops.ops.detectors._base import register
from triops.ops.detectors._parts import DAY, Range
from triops.ops.detectors._pipeline import PipelineDetector


@register
class ContextNovelty(PipelineDetector):
    """Quantised value contexts (value, its predecessors, time of day) and their counts.

    Values are quantised into ``bins`` steps of the range seen during the first
    ``scale_points`` points (values outside it fall in new bins, which are novel by
    construction). A range given up front (``value_min``/``value_max``) sets the bins
    only with ``bins_from_given_range``: the whole file's range is often stretched by
    its anomalies, which leaves the usual values in one or two coarse bins, and on
    NAB's folders the bins of the first points score higher held out
    (docs/benchmarks.md). The raw surprise is the mean of ``1 / (1 + count)`` over four
    contexts, in the spirit of Numenta's sequence memory and of CAD-OSE.
    """

    name = "context_novelty"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4939

    def __init__(self, *, bins: int = 12, scale_points: int = 150,
                 bins_from_given_range: bool = False, **kw):
        super().__init__(**kw)
        self.bins = bins
        self.scale_points = scale_points
        self.seen = 0
        self.lo = 0.0
        self.width = 1.0
        if self.range.lo is not None:
            if bins_from_given_range:  # bins are known now
                self.scale_points = 0
                self._fix_bins()
            else:  # learn the bins' range from the first points, as when streaming
                self.range = Range()
        self.prev = (None, None)
        self.counts: dict = {}

    def _raw(self, t: float, x: float) -> float | None:
        self.seen += 1
        if self.seen <= self.scale_points:
            if self.seen == self.scale_points:
                self._fix_bins()
            return None
        b = int((x - self.lo) // self.width)
        p1, p2 = self.prev
        hour = int((t % DAY) // 3600)
        keys = ((0, b, p1), (1, b, p1, p2), (2, b, hour), (3, b - (p1 if p1 is not None else b)))
        counts = self.counts
        surprise = 0.0
        for key in keys:
            c = counts.get(key, 0)
            surprise += 1.0 / (1.0 + c)
            counts[key] = c + 1
        self.prev = (b, p1)
        return surprise / len(keys)

    def _raw_many(self, ts: np.ndarray, xs: np.ndarray) -> list[float | None]:
        """``_raw`` over a run, the range learning each point after it: the points
        before the bins are fixed teach the range alone (its extremes), the rest are
        scored in one loop with the state in locals (the four contexts are distinct
        keys, so reading their counts before writing any is what ``_raw`` does)."""
        learning = min(max(self.scale_points - self.seen, 0), len(xs))
        out: list[float | None] = [None] * learning
        if learning:
            # Points that only teach the range; the last of the first ``scale_points``
            # fixes the bins from the range of the points before it.
            self.seen += learning
            fixing = self.seen == self.scale_points
            before = xs[: learning - 1] if fixing else xs[:learning]
            if len(before):
                self.range.update(float(before.min()))
                self.range.update(float(before.max()))
            if fixing:
                self._fix_bins()
                self.range.update(float(xs[learning - 1]))
        if learning == len(xs):
            return out
        ts, xs = ts[learning:], xs[learning:]
        lo, width, counts = self.lo, self.width, self.counts
        get = counts.get
        p1, p2 = self.prev
        for t, x in zip(ts.tolist(), xs.tolist(), strict=True):
            b = int((x - lo) // width)
            hour = int((t % DAY) // 3600)
            k0, k1, k2 = (0, b, p1), (1, b, p1, p2), (2, b, hour)
            k3 = (3, b - (p1 if p1 is not None else b))
            c0, c1, c2, c3 = get(k0, 0), get(k1, 0), get(k2, 0), get(k3, 0)
            counts[k0], counts[k1], counts[k2], counts[k3] = c0 + 1, c1 + 1, c2 + 1, c3 + 1
            out.append((1.0 / (1.0 + c0) + 1.0 / (1.0 + c1) + 1.0 / (1.0 + c2)
                        + 1.0 / (1.0 + c3)) / 4)
            p1, p2 = b, p1
        self.prev = (p1, p2)
        self.seen += len(xs)
        # As one ``Range.update`` a point: only the run's extremes can move it.
        self.range.update(float(xs.min()))
        self.range.update(float(xs.max()))
        return out

    def _fix_bins(self) -> None:
        self.lo = self.range.lo
        self.width = max((self.range.hi - self.range.lo) / self.bins, self.range.floor())
