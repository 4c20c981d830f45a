"""Detectors that forecast the next value and score the size of the miss."""

from __future__ import annotations

from triops.ops.detectors._base import register
from triops.ops.detectors._parts import DAY, WEEK, EwStats, Seasonal
from triops.ops.detectors._pipeline import PipelineDetector


@register
class SeasonalZScore(PipelineDetector):
    """Robust residual z-score over the best of several online baselines.

    Four baselines forecast each point: the previous value, a fast moving average,
    the level at the same time of day (48 bins) and of week (168 bins). Each keeps
    an exponentially weighted mean absolute error; the point is scored against the
    baseline that has been the most accurate so far, so a series picks its own
    model (flat, random walk, daily or weekly cycle) without per-series tuning.
    """

    name = "seasonal_zscore"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4996

    def __init__(self, *, fast: float = 0.1, err_alpha: float = 0.01, cap: float = 12.0, **kw):
        super().__init__(**kw)
        self.last = None
        self.fast = EwStats(fast)
        self.daily = Seasonal(DAY, 48)
        self.weekly = Seasonal(WEEK, 168)
        self.err = [0.0, 0.0, 0.0, 0.0]
        self.err_n = [0, 0, 0, 0]
        self.err_alpha = err_alpha
        self.cap = cap

    def _raw(self, t: float, x: float) -> float | None:
        bd = self.daily.bin(t)
        bw = self.weekly.bin(t)
        preds = (
            self.last,
            self.fast.mean if self.fast.n else None,
            self.daily.predict(bd),
            self.weekly.predict(bw),
        )
        floor = self.range.floor()
        best_err = None
        best_res = 0.0
        for k, p in enumerate(preds):
            if p is None:
                continue
            res = abs(x - p)
            if self.err_n[k] >= 10 and (best_err is None or self.err[k] < best_err):
                best_err = self.err[k]
                best_res = res
            n = self.err_n[k] = self.err_n[k] + 1
            a = max(self.err_alpha, 1.0 / n)
            self.err[k] += a * (res - self.err[k])
        self.last = x
        self.fast.update(x)
        self.daily.learn(bd, x)
        self.weekly.learn(bw, x)
        if best_err is None:
            return None
        z = best_res / (best_err + floor)
        return min(self.cap, z)


@register
class HoltWinters(PipelineDetector):
    """Additive Holt-Winters (level, trend, daily season) one-step forecast error."""

    name = "holt_winters"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.5005

    def __init__(
        self,
        *,
        level: float = 0.3,
        trend: float = 0.01,
        season: float = 0.1,
        err_alpha: float = 0.01,
        cap: float = 12.0,
        **kw,
    ):
        super().__init__(**kw)
        self.a, self.b, self.g = level, trend, season
        self.level = None
        self.slope = 0.0
        self.season = Seasonal(DAY, 48, alpha=season, min_count=1)
        self.err = EwStats(err_alpha)
        self.cap = cap

    def _raw(self, t: float, x: float) -> float | None:
        if self.level is None:
            self.level = x
            return None
        b = self.season.bin(t)
        s = self.season.level[b] if self.season.count[b] else 0.0
        forecast = self.level + self.slope + s
        res = abs(x - forecast)
        scale = self.err.mean + self.range.floor()
        z = res / scale if self.err.n >= 10 else None
        self.err.update(res)
        new_level = self.a * (x - s) + (1.0 - self.a) * (self.level + self.slope)
        self.slope = self.b * (new_level - self.level) + (1.0 - self.b) * self.slope
        self.level = new_level
        self.season.learn(b, x - new_level)
        return None if z is None else min(self.cap, z)
