"""ARTime: adaptive resonance over wavelet features of a downsampled stream.

After ARTime (Mark Hampton, ARTimeNAB.jl, ``src/ARTime.jl``, AGPL-3.0). This module
is a derivative of ARTimeNAB.jl and is distributed under the GNU Affero General
Public License version 3 (https://www.gnu.org/licenses/agpl-3.0.html).

The algorithm, step by step as in the original:

* the stream is downsampled by ``sstep`` points; each block keeps its extreme value
  (the maximum, or the minimum when it lies further from a fast moving average)
  unless it is within 10% of the block mean, in which case the mean is kept;
* the value is normalised to the series range, quantised into 80 levels, and
  snapped to a running median level when within 0.075 of it;
* the features of a downsampled point are the Haar wavelet transform of the last 8
  levels (min-max normalised) followed by the 8 levels themselves;
* a dual-vigilance fuzzy ART (:mod:`._fuzzy_art`) learns the features; a sample that
  makes a new cluster is an anomaly unless masked (just after an earlier anomaly or
  a new cluster, unless markedly less similar than the last anomaly); its score is a
  confidence from the distance to both vigilances and the energy similarity;
* the probation period is learned in one batch: an initial vigilance comes from a
  DVFA trained on the probation features ordered from least to most typical; the
  vigilances then adapt every half trend window and after every anomaly.

ARTime, as run by NAB, is given each file's minimum, maximum and length in advance.
A streaming detector cannot know them, so by default this port fixes the range from
the first ``probation`` points, widened by ``margin`` on each side (levels outside
are clipped), and its sampling step and trend window from ``probation``. Passing
``dmin``, ``dmax`` and ``length`` reproduces NAB's run of ARTime (scores of earlier
points then depend on the file's later values; use it only to check the port).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from triops.ops.detectors._base import StreamingDetector, register
from triops.ops.detectors._fuzzy_art import DualVigilanceFuzzyArt

_SQRT2 = math.sqrt(2.0)


def haar_dwt(x) -> list[float]:
    """Full Haar decomposition of a power-of-two vector, coarsest first (Wavelets.jl).

    Wavelets.jl's detail coefficient is ``(odd - even) / sqrt(2)``; the sign matters
    because the coefficients are min-max normalised afterwards.
    """
    approx = [float(v) for v in x]
    details: list[list[float]] = []
    while len(approx) > 1:
        even, odd = approx[0::2], approx[1::2]
        details.append([(o - e) / _SQRT2 for e, o in zip(even, odd, strict=True)])
        approx = [(e + o) / _SQRT2 for e, o in zip(even, odd, strict=True)]
    out = approx
    for d in reversed(details):
        out = out + d
    return out


def _similarity_matrix(x: np.ndarray) -> np.ndarray:
    """ARTime's near-cosine similarity of every pair of rows (diagonal 1)."""
    norms = np.linalg.norm(x, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = (x @ x.T) / np.outer(norms, norms)
    zi = norms == 0.0
    if zi.any():
        sim[zi, :] = 1.0 - norms[None, :]
        sim[:, zi] = 1.0 - norms[:, None]
    np.fill_diagonal(sim, 1.0)
    return sim


def nab_probation(length: int) -> int:
    """NAB's probation for a series of ``length`` rows, as ARTime computes it."""
    return math.floor(0.15 * length) if length < 5000 else 750


@register
class ARTime(StreamingDetector):
    """ARTime's detector: sparse scores where a new ART cluster is an anomaly."""

    name = "artime"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.3503

    window = 8
    windows_per_probation = 13
    chomp = 0.075
    levels = 80
    initial_rho = 0.80

    def __init__(
        self,
        *,
        probation: int = 450,
        margin: float = 0.25,
        dmin: float | None = None,
        dmax: float | None = None,
        length: int | None = None,
    ) -> None:
        pp = nab_probation(length) if length is not None else probation
        pp -= pp % 2
        self.sstep = max(1, pp // (self.window * self.windows_per_probation))
        self.trend_window = pp // self.sstep
        self.mask = int(self.window * 1.5)
        self.margin = margin
        self.dmin = dmin
        self.dmax = dmax
        self.i = 0
        self.pending: list[float] | None = []
        # classification state (ARTime's ClassifyState)
        self.art = DualVigilanceFuzzyArt(2 * self.window)
        self.last_anomaly_i = 0
        self.last_anomaly_sim = 0.0
        self.last_rho_update_i = 0
        self.mask_after_cat = False
        self.no_new_cat_count = 0
        self.trend_features: list = []
        self.history: list[float] = []  # lowest similarity around each anomaly
        self.sim_window = deque(
            [1.0] * (self.trend_window // 2 + 1), maxlen=self.trend_window // 2 + 1
        )
        self.sim_diff_window = deque([0.0] * (self.trend_window + 1), maxlen=self.trend_window + 1)
        self.rho_ub_mean = 0.0
        self.rho_ub_n = 0
        self.ds_window = deque([0.0] * self.sstep, maxlen=self.sstep)
        self.ds_moving_average = 0.0
        self.medbin = [0] * (self.levels + 1)
        self.medlevel = 0
        self.belowmed = 0
        self.abovemed = 0
        self.f_window = [0.0] * self.window
        self.dsi = 1

    # -- streaming shell -------------------------------------------------------------

    def _update(self, timestamp: float, value: float) -> float:
        self.i += 1
        if self.pending is None:
            return self._sample(self.i, value)
        self.pending.append(value)
        if self.i == self.trend_window * self.sstep:
            if self.dmin is None or self.dmax is None:
                lo, hi = min(self.pending), max(self.pending)
                self.dmin = lo - self.margin * (hi - lo)
                self.dmax = hi + self.margin * (hi - lo)
            pending, self.pending = self.pending, None
            for k, v in enumerate(pending, start=1):
                self._sample(k, v)
        return 0.0

    # -- ARTime's process_sample! ----------------------------------------------------

    def _sample(self, i: int, value: float) -> float:
        self.ds_window.append(value)
        if i % self.sstep:
            return 0.0
        block = self.ds_window
        mean = sum(block) / len(block)
        hi, lo = max(block), min(block)
        if self.dsi == 1:
            self.ds_moving_average = mean
        self.ds_moving_average = (self.ds_moving_average + mean) / 2.0
        ds = hi
        if abs(hi - self.ds_moving_average) < abs(lo - self.ds_moving_average):
            ds = lo  # a spike below the mean
        if abs(ds - mean) < 0.1 * mean:  # a spike must be at least 10%
            ds = mean
        ds -= self.dmin
        if self.dmax - self.dmin != 0:
            ds /= self.dmax - self.dmin
        level = min(max(round(ds * self.levels), 0), self.levels)
        ds = level / self.levels
        self._levelize(level)
        med = self.medlevel / self.levels
        if abs(ds - med) < self.chomp:
            ds = med
        self.f_window = self.f_window[1:] + [ds]
        features = np.zeros(2 * self.window)
        if self.dsi >= self.window:
            low = min(self.f_window)
            dw = [v - low for v in self.f_window]
            top = max(dw)
            if top != 0:
                dw = [v / top for v in dw]
            fw = haar_dwt(dw)
            low = min(fw)
            fw = [v - low for v in fw]
            top = max(fw)
            if top != 0:
                fw = [v / top for v in fw]
            features = np.array(fw + self.f_window)
        anomaly = self._features(features, self.dsi)
        self.dsi += 1
        return anomaly

    def _levelize(self, level: int) -> None:
        """ARTime's running median level (close to, not exactly, a running median)."""
        self.medbin[level] += 1
        medpos = self.dsi // 2
        if self.dsi == 1:
            self.medlevel = level
        if self.medlevel > level:
            self.belowmed += 1
        elif self.medlevel < level:
            self.abovemed += 1
        if medpos < self.abovemed:
            self.belowmed += self.medbin[self.medlevel]
            self.medlevel += 1
            while self.medbin[self.medlevel] == 0:
                self.medlevel += 1
            self.abovemed -= self.medbin[self.medlevel]
        elif medpos < self.belowmed:
            self.abovemed += self.medbin[self.medlevel]
            self.medlevel -= 1
            while self.medbin[self.medlevel] == 0:
                self.medlevel -= 1
            self.belowmed -= self.medbin[self.medlevel]

    # -- ARTime's process_features!, detect!, confidence, init_rho -------------------

    def _features(self, f: np.ndarray, i: int) -> float:
        if i > self.trend_window:
            return self._detect(f, i)
        self.trend_features.append(f.tolist())
        if i == self.trend_window:
            batch = np.asarray(self.trend_features, dtype=float)
            self.trend_features = []
            rho = self._initial_rho(batch[self.window - 1 :])
            self.art.rho_lb = self.art.rho_ub = rho
            for k, row in enumerate(batch, start=1):
                self._detect(row, k)
        return 0.0

    def _initial_rho(self, x: np.ndarray) -> float:
        order = np.argsort(_similarity_matrix(x).sum(axis=0), kind="stable")
        art = DualVigilanceFuzzyArt(2 * self.window)
        art.rho_lb = art.rho_ub = self.initial_rho
        sims = art.train_batch(x[order])
        return float(np.mean(sims[self.trend_window // 2 - 1 :]))

    def _detect(self, f: np.ndarray, i: int) -> float:
        since = i - self.last_anomaly_i
        update_rho_after_anomaly = since == self.mask
        update_rho_for_trend = (i - self.last_rho_update_i) >= self.trend_window // 2
        mask_after_anomaly = since <= self.mask
        if (
            i > self.trend_window + self.mask
            and self.mask_after_cat
            and self.no_new_cat_count >= self.mask
        ):
            self.mask_after_cat = False
        art = self.art
        if i < self.window:
            art.train(f, learning=False)
            cat = -1
        else:
            cat = art.train(f)
        self.no_new_cat_count = 0 if cat == -1 else self.no_new_cat_count + 1
        sim = art.similarity
        self.rho_ub_n += 1
        self.rho_ub_mean += (sim - self.rho_ub_mean) / self.rho_ub_n
        self.sim_window.append(sim)
        self.sim_diff_window.append(art.rho_ub - sim)
        if since < self.mask and self.history and sim < self.history[-1]:
            self.history[-1] = sim
        masking = self.mask_after_cat or mask_after_anomaly
        below_last = sim < self.last_anomaly_sim * (0.90 if mask_after_anomaly else 0.70)
        anomaly = 0.0
        if i > self.trend_window and cat == -1 and (not masking or below_last):
            anomaly = self._confidence(sim, art.energy)
            self.history.append(sim)
            self.last_anomaly_sim = sim
            self.last_anomaly_i = i
        self.mask_after_cat = cat == -1 or self.mask_after_cat
        if i > self.trend_window and (update_rho_after_anomaly or update_rho_for_trend):
            self._update_rho(i)
        return anomaly

    def _update_rho(self, i: int) -> None:
        art = self.art
        lowest = min(self.sim_window)
        new_ub = min(0.97, self.rho_ub_mean)
        prev_lb = art.rho_lb
        if prev_lb <= lowest:
            new_lb = prev_lb + (lowest - prev_lb) * 0.19
        else:
            decr = 0.0
            if i > self.trend_window * 2:
                below = [min(0.37, d) for d in self.sim_diff_window if d > 0.05]
                if below:
                    decr = sum(below) / len(below)
            new_lb = prev_lb - max(0.01, decr) / 2.0
            if self.history:
                new_lb = max(float(np.mean(self.history)), new_lb)
        art.rho_lb = min(new_ub, new_lb)
        art.rho_ub = new_ub
        self.last_rho_update_i = i
        self.mask_after_cat = True

    def _confidence(self, features_sim: float, energy_sim: float) -> float:
        fs = min(0.999, features_sim)
        ub = ((1.0 - fs) - (1.0 - self.art.rho_ub)) / (1.0 - fs)
        lb = ((1.0 - fs) - (1.0 - self.art.rho_lb)) / (1.0 - fs)
        s = (ub * 0.35 + lb * 0.65) + (1.0 - energy_sim) * 1.5
        return round(min(1.0, s), 6)
