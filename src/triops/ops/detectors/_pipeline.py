"""Raw surprise -> anomaly likelihood -> alarm gate: the shape every triops detector has."""

from __future__ import annotations

from triops.ops.detectors._base import StreamingDetector
from triops.ops.detectors._parts import AlarmGate, AnomalyLikelihood, Range


class PipelineDetector(StreamingDetector):
    """A detector made of a raw surprise score and shared post-processing.

    Subclasses implement ``_raw(timestamp, value) -> float`` (any non-negative
    surprise, larger is stranger; it must learn from the point only after scoring
    it). The raw surprise goes through :class:`AnomalyLikelihood` and
    :class:`AlarmGate`; the defaults are the global hyper-parameters chosen on NAB
    (see docs/anomaly-detection.md).
    """

    def __init__(
        self,
        *,
        short: int = 8,
        long: int = 2000,
        warmup: int = 150,
        clip: float = 5.0,
        alarm: float = 0.5,
        refractory: int = 50,
        hold: int = 200,
        penalty: float = 0.45,
    ) -> None:
        self.range = Range()
        self.likelihood = AnomalyLikelihood(short=short, long=long, warmup=warmup, clip=clip)
        self.gate = AlarmGate(level=alarm, hold=hold, refractory=refractory, penalty=penalty)

    def _update(self, timestamp: float, value: float) -> float:
        raw = self._raw(timestamp, value)
        self.range.update(value)
        return self.gate.update(self.likelihood.update(raw))

    def _raw(self, timestamp: float, value: float) -> float:
        raise NotImplementedError
