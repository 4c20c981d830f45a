"""Novelty of short value patterns: how often has this context been seen before?"""

from __future__ import annotations

from operator import itemgetter

import numpy as np

from triops.ops.detectors._base import register
from triops.ops.detectors._parts import DAY, Range
from triops.ops.detectors._pipeline import PipelineDetector

#: Radix of a packed context's bounded fields (a previous bin, ``None`` included): bins
#: within about 500,000 steps of the first range, far more than a series visits; a
#: context whose previous bin is farther stays a tuple (see :func:`contexts`).
_RADIX = 1 << 20
_MIDDLE = _RADIX >> 1
#: Contexts a series keeps by default (see ``ContextNovelty``): above the most any
#: NAB series reaches (3,508), so the bound costs no score there.
MAX_CONTEXTS = 4096
#: ``key_format`` of a detector whose counts are keyed by :func:`contexts`; states
#: stored before it existed read the class default, tuple keys, and are repacked.
_PACKED = 2


def contexts(b: int, p1: int | None, p2: int | None, hour: int) -> tuple:
    """The four contexts of bin ``b`` after bins ``p1`` and ``p2`` (``None`` before the
    series has them) at ``hour``, each one int: (bin, previous), (bin, two previous),
    (bin, hour) and the step from the previous bin. Each is a number in mixed radix,
    its kind the lowest digit (base 4), bounded fields above it and the bin, which may
    be any integer, the highest: one int is one context. An int costs a third of the
    tuple it replaces; a previous bin too far away to fit its field keeps the context
    a tuple, which never equals an int.
    """
    q1 = 0 if p1 is None else p1 + _MIDDLE
    q2 = 0 if p2 is None else p2 + _MIDDLE
    if 0 <= q1 < _RADIX:
        k0 = (b * _RADIX + q1) * 4
        k1 = ((b * _RADIX + q1) * _RADIX + q2) * 4 + 1 if 0 <= q2 < _RADIX else (1, b, p1, p2)
    else:
        k0, k1 = (0, b, p1), (1, b, p1, p2)
    k2 = (b * 32 + hour) * 4 + 2  # hour < 24 < 32
    k3 = (b - p1 if p1 is not None else 0) * 4 + 3
    return k0, k1, k2, k3


def run_contexts(b: np.ndarray, p1: int, p2: int, hours: np.ndarray) -> list[list[int]] | None:
    """:func:`contexts` of a run of bins ``b`` (int64) after bins ``p1`` and ``p2``, as
    four lists of ints, computed with numpy: ``None`` when a bin or a previous bin is too
    far to pack (those points take :func:`contexts`, one at a time). The same numbers:
    a packed context stays below 2**62 within these bounds."""
    if len(b) == 0 or max(-int(b.min()), int(b.max()), abs(p1), abs(p2)) >= _MIDDLE:
        return None
    prev1 = np.concatenate(([p1], b[:-1]))
    prev2 = np.concatenate(([p2, p1], b[:-2]))[: len(b)]
    base = b * _RADIX + (prev1 + _MIDDLE)
    return [(base * 4).tolist(), ((base * _RADIX + (prev2 + _MIDDLE)) * 4 + 1).tolist(),
            ((b * 32 + hours) * 4 + 2).tolist(), ((b - prev1) * 4 + 3).tolist()]


def _legacy(key: tuple) -> int | tuple:
    """A context stored as a tuple (states before ``key_format``) as :func:`contexts`
    packs it."""
    kind = key[0]
    if kind == 3:  # the step from the previous bin
        return key[1] * 4 + 3
    if kind == 2:
        return contexts(key[1], None, None, key[2])[2]
    packed = contexts(key[1], key[2], key[3] if kind == 1 else None, 0)[kind]
    return packed if isinstance(packed, int) else key


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

    Bins outside the first range, and their hours, are unbounded on drifting data, so
    a series keeps at most ``max_contexts`` contexts: past it the rarest are forgotten
    (see ``_forget``), which keeps the memory of a series bounded (docs/benchmarks.md,
    soak).
    """

    name = "context_novelty"
    key_format: int = 1  # states stored before contexts were packed
    # States stored before the bound existed continue with today's default.
    max_contexts: int = MAX_CONTEXTS
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4939

    def __init__(self, *, bins: int = 12, scale_points: int = 150,
                 bins_from_given_range: bool = False, max_contexts: int = MAX_CONTEXTS, **kw):
        super().__init__(**kw)
        self.bins = bins
        self.scale_points = scale_points
        self.max_contexts = max_contexts
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
        self.counts: dict[int | tuple, int] = {}
        self.key_format = _PACKED

    def _raw(self, t: float, x: float) -> float | None:
        self.seen += 1
        if self.seen <= self.scale_points:
            if self.seen == self.scale_points:
                self._fix_bins()
            return None
        if self.key_format != _PACKED:
            self._repack()
        b = int((x - self.lo) // self.width)
        p1, p2 = self.prev
        counts = self.counts
        surprise = 0.0
        for key in contexts(b, p1, p2, int((t % DAY) // 3600)):
            c = counts.get(key, 0)
            surprise += 1.0 / (1.0 + c)
            counts[key] = c + 1
        if len(counts) > self.max_contexts:
            self._forget()
        self.prev = (b, p1)
        return surprise / 4

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
        if self.key_format != _PACKED:
            self._repack()
        ts, xs = ts[learning:], xs[learning:]
        lo, width, counts = self.lo, self.width, self.counts
        get, most = counts.get, self.max_contexts
        p1, p2 = self.prev
        # numpy's float floor division and remainder are Python's (the same divmod),
        # so the bins and hours are those of ``_raw``.
        bins = np.floor_divide(xs - lo, width)
        keys = None
        if p1 is not None and p2 is not None and bool(np.all(np.abs(bins) < _MIDDLE)):
            hours = np.floor_divide(np.remainder(ts, DAY), 3600).astype(np.int64)
            keys = run_contexts(bins.astype(np.int64), p1, p2, hours)
        if keys is None:  # the series' first points, or a bin too far to pack
            keys = [[], [], [], []]
            q1, q2 = p1, p2
            for t, v in zip(ts.tolist(), bins.tolist(), strict=True):
                b = int(v)
                for key, into in zip(contexts(b, q1, q2, int((t % DAY) // 3600)), keys,
                                     strict=True):
                    into.append(key)
                q1, q2 = b, q1
        for k0, k1, k2, k3 in zip(*keys, strict=True):
            c0, c1, c2, c3 = get(k0, 0), get(k1, 0), get(k2, 0), get(k3, 0)
            counts[k0], counts[k1], counts[k2], counts[k3] = c0 + 1, c1 + 1, c2 + 1, c3 + 1
            if len(counts) > most:
                self._forget()  # in place: ``counts`` is still the detector's
            out.append((1.0 / (1.0 + c0) + 1.0 / (1.0 + c1) + 1.0 / (1.0 + c2)
                        + 1.0 / (1.0 + c3)) / 4)
        last = [int(b) for b in bins[-2:].tolist()]
        self.prev = (last[-1], last[0] if len(last) == 2 else p1)
        self.seen += len(xs)
        # As one ``Range.update`` a point: only the run's extremes can move it.
        self.range.update(float(xs.min()))
        self.range.update(float(xs.max()))
        return out

    def _forget(self) -> None:
        """Drop the rarest contexts, the first seen first among equally rare ones, down to
        three quarters of ``max_contexts``: one that comes back is as novel as one never
        seen, which a context seen a few times long ago nearly is."""
        counts = self.counts
        drop = len(counts) - self.max_contexts * 3 // 4
        # sorted is stable: equal counts stay in the order they were first seen.
        for key, _ in sorted(counts.items(), key=itemgetter(1))[:drop]:
            del counts[key]

    def _repack(self) -> None:
        """Counts stored with tuple keys, keyed as :func:`contexts` keys them."""
        self.counts = {_legacy(k): c for k, c in self.counts.items()}
        self.key_format = _PACKED

    def _fix_bins(self) -> None:
        self.lo = self.range.lo
        self.width = max((self.range.hi - self.range.lo) / self.bins, self.range.floor())
