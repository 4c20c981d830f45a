"""Distance of the newest short pattern to its nearest neighbour in the recent past."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from triops.ops.detectors._base import register
from triops.ops.detectors._kernels import discord_run
from triops.ops.detectors._pipeline import PipelineDetector

_CHUNK = 64  # points scored together by ``update_many``


@register
class PatternDiscord(PipelineDetector):
    """Streaming discord: how far the last ``length`` values are from every earlier run.

    The raw surprise is the Euclidean distance between the newest window of
    ``length`` values and its nearest neighbour among the windows that ended in the
    last ``memory`` points and do not overlap it — the newest entry of the left
    matrix profile (Yeh et al., 2016; Zhu et al., 2017). A pattern the series has
    shown before, however large, is near something; a spike, a level the series has
    not visited, or a changed shape is far from everything. Distances are not
    normalised per window, so a shift of level counts as much as a change of shape;
    the anomaly likelihood that follows puts every series on the same scale.

    Cost per point is ``O(length * memory)`` in numpy; the state holds the last
    ``memory + length`` values. A run of points (``update_many``) is scored by a
    compiled loop (numba) instead of numpy calls per point: the same sums in the same
    order, so the same scores, which keeps a request's few points per series (or a
    single one) cheap.
    """

    name = "pattern_discord"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4890

    def __init__(self, *, length: int = 8, memory: int = 1000, long: int = 500, **kw):
        super().__init__(long=long, **kw)
        self.length = length
        self.memory = memory
        self.size = memory + length
        self.buffer = np.zeros(self.size)
        self.count = 0

    def _raw(self, t: float, x: float) -> float | None:
        i = self.count
        self.buffer[i % self.size] = x
        self.count = i + 1
        m = self.length
        # Windows ending at i - lag for lag >= m do not overlap the newest one; the
        # oldest usable lag is bounded by memory and by how much has been seen.
        last_lag = min(self.memory, i - m + 1)
        if last_lag < m:
            return None
        # back[j] is the value j points before the newest; earlier[s, c] is the value
        # s points into the window that ends m + c points back: strided views, no
        # index arrays, and the same arithmetic in the same order as a gather.
        k = (i + 1) % self.size
        back = np.concatenate((self.buffer[k:], self.buffer[:k]))[::-1]
        earlier = sliding_window_view(back[m : 2 * m - 1 + last_lag - m + 1], last_lag - m + 1)
        diff = np.ascontiguousarray(earlier) - back[:m, None]
        diff *= diff
        return math.sqrt(float(diff.sum(axis=0).min()))

    def _raw_many(self, ts: np.ndarray, xs: np.ndarray) -> list[float | None]:
        out: list[float | None] = []
        for start in range(0, len(xs), _CHUNK):
            out += self._discords(xs[start : start + _CHUNK])
        self.range.update(float(xs.min()))
        self.range.update(float(xs.max()))
        return out

    def _discords(self, chunk: np.ndarray) -> list[float | None]:
        """``_raw`` for each value of ``chunk`` in turn, in one compiled loop.

        Point ``i`` (its index in the series) is compared with the windows ending
        ``lag`` points earlier for ``length <= lag <= min(memory, i - length + 1)``
        (``_kernels.discord_run``). The history is padded on the left to a fixed length;
        a window that would reach before the series' first point is skipped (it is
        infinitely far, never the nearest), so a young series costs less. A point's squared distance at one lag is summed newest
        term first, as ``diff.sum(axis=0)`` does in ``_raw``, so the results are
        bit-identical; and a short run (a request's few points per series) costs one
        call instead of several numpy calls per lag.
        """
        m, size, first, memory = self.length, self.size, self.count, self.memory
        end = first + len(chunk)
        kept = min(first, size - 1)  # enough history for the oldest lag of ``first``
        pad = memory + m - 1 - kept  # series index ``first - kept - pad`` is series[0]
        series = np.concatenate((np.full(pad, np.inf),
                                 self.buffer[np.arange(first - kept, first) % size], chunk))
        base = first - kept - pad
        best = np.empty(len(chunk))
        discord_run()(series, pad, first - base, len(chunk), m, memory, best)
        # numpy sums a lone column pairwise rather than row by row, so a point with a
        # single lag (the first scorable one) is summed as ``_raw`` sums it.
        back = np.arange(m)
        for i in range(max(first, 2 * m - 1), min(end, m + memory)):
            if min(memory, i - m + 1) > m:
                break
            col = (series[i - base - m - back] - series[i - base - back])[:, None]
            col *= col
            best[i - first] = col.sum(axis=0)[0]
        # The buffer ends as after ``_raw`` on each value: value i at slot i % size.
        keep = np.arange(max(first, end - size), end)
        self.buffer[keep % size] = chunk[keep - first]
        self.count = end
        found = np.isfinite(best)
        return [math.sqrt(d) if ok else None for d, ok in zip(best.tolist(), found.tolist(), strict=True)]
