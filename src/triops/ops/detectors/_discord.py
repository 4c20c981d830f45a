"""Distance of the newest short pattern to its nearest neighbour in the recent past."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from triops.ops.detectors._base import register
from triops.ops.detectors._pipeline import PipelineDetector


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
    ``memory + length`` values.
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
