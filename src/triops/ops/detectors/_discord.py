"""Distance of the newest short pattern to its nearest neighbour in the recent past."""

from __future__ import annotations

import math

import numpy as np

from triops.ops.detectors._base import register
from triops.ops.detectors._kernels import discord_run
from triops.ops.detectors._pipeline import PipelineDetector

_CHUNK = 64  # points scored together by ``update_many``
# Every this many points of a series, a point's distances are summed afresh rather
# than carried from the point before: rounding stays within 32 steps of a sum.
_EXACT_EVERY = 32
_NO_PROFILE = np.zeros(0)


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

    Each point's distances to every lag (its distance profile) are carried from the
    point before it — the term entering each window added, the one leaving taken
    away — and summed afresh every ``_EXACT_EVERY`` points of the series, so a point
    costs ``O(memory)`` rather than ``O(length * memory)`` and rounding never builds up
    for long; the profile is part of the state, so a run, a lone point and a detector
    resumed from its state score alike, whatever the split. One compiled loop (numba)
    scores a run of points (``_kernels.discord_run``).
    """

    name = "pattern_discord"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4890
    # A state stored before the profile was carried starts one afresh.
    profile: np.ndarray = _NO_PROFILE

    def __init__(self, *, length: int = 8, memory: int = 1000, long: int = 500, **kw):
        super().__init__(long=long, **kw)
        self.length = length
        self.memory = memory
        self.size = memory + length
        self.buffer = np.zeros(self.size)
        self.count = 0
        self.profile = _NO_PROFILE

    def _raw(self, t: float, x: float) -> float | None:
        return self._discords(np.array([x]))[0]

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
        infinitely far, never the nearest), so a young series costs less. Carrying
        the first point's profile reads one value more than its window: the whole
        buffer is passed.
        """
        m, size, first, memory = self.length, self.size, self.count, self.memory
        end = first + len(chunk)
        kept = min(first, size)
        pad = memory + m - kept  # series index ``first - kept - pad`` is series[0]
        # Value i sits at slot i % size: the kept history, oldest first, is the buffer
        # rotated to start at slot first % size once it has wrapped.
        turn = first % size if first >= size else 0
        series = np.concatenate((np.full(pad, np.inf), self.buffer[turn:kept],
                                 self.buffer[:turn], chunk))
        base = first - kept - pad
        best = np.empty(len(chunk))
        profile = np.empty(max(memory - m + 1, 0))
        have = len(self.profile)
        profile[:have] = self.profile
        have = discord_run()(series, pad, first - base, len(chunk), m, memory, base,
                             _EXACT_EVERY, profile, have, best)
        self.profile = profile[:have].copy()
        # The buffer ends as after ``_raw`` on each value: value i at slot i % size.
        keep = np.arange(max(first, end - size), end)
        self.buffer[keep % size] = chunk[keep - first]
        self.count = end
        found = np.isfinite(best)
        return [math.sqrt(d) if ok else None for d, ok in zip(best.tolist(), found.tolist(), strict=True)]
