"""An ensemble: several raw detectors, each with its own likelihood, one alarm gate."""

from __future__ import annotations

from triops.ops.detectors._base import DETECTORS, register
from triops.ops.detectors._pipeline import PipelineDetector


@register
class Ensemble(PipelineDetector):
    """The largest anomaly likelihood of its members, through one alarm gate.

    Members run with their own gates open; agreement is not required, because the
    members look at different things (a forecast miss, an unseen pattern).
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
        hold: int = 200,
        members=("seasonal_zscore", "context_novelty"),
    ):
        super().__init__(short=short, long=long, warmup=warmup, alarm=alarm, hold=hold)
        self.members = [
            DETECTORS[m](short=short, long=long, warmup=warmup, alarm=2.0, hold=0) for m in members
        ]

    def _update(self, timestamp: float, value: float) -> float:
        score = max(m._update(timestamp, value) for m in self.members)
        self.range.update(value)
        return self.gate.update(score)
