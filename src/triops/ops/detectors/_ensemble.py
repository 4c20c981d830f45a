"""An ensemble: several raw detectors, each with its own likelihood, one alarm gate."""

from __future__ import annotations

from triops.ops.detectors._artime import ARTime
from triops.ops.detectors._base import DETECTORS, register
from triops.ops.detectors._pipeline import PipelineDetector


@register
class Ensemble(PipelineDetector):
    """The largest score of its members through one alarm gate.

    Members ``seasonal_zscore`` and ``context_novelty`` contribute their anomaly
    likelihoods (their own gates open); the streaming ARTime port contributes its
    confidence when it is at least ``artime_min`` (its weaker alarms cost more false
    positives than they find windows). Agreement is not required, because the members
    look at different things: a forecast miss, an unseen pattern, a new ART cluster.
    """

    name = "ensemble"
    # Threshold chosen by NAB's standard-profile optimiser for this detector on
    # the 47-series corpus, rounded to 4 places (`python bench/nab.py`).
    threshold = 0.4992

    def __init__(
        self,
        *,
        short: int = 8,
        long: int = 2000,
        warmup: int = 150,
        alarm: float = 0.5,
        hold: int = 120,
        members=("seasonal_zscore", "context_novelty"),
        artime_min: float = 0.7,
    ):
        super().__init__(short=short, long=long, warmup=warmup, alarm=alarm, hold=hold)
        self.members = [
            DETECTORS[m](short=short, long=long, warmup=warmup, alarm=2.0, hold=0) for m in members
        ]
        self.artime = ARTime() if artime_min <= 1.0 else None
        self.artime_min = artime_min

    def _update(self, timestamp: float, value: float) -> float:
        score = max(m._update(timestamp, value) for m in self.members)
        if self.artime is not None:
            a = self.artime._update(timestamp, value)
            if a >= self.artime_min and a > score:
                score = a
        self.range.update(value)
        return self.gate.update(score)
