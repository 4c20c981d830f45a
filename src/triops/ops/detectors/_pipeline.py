"""Raw surprise -> anomaly likelihood -> alarm gate: the shape every triops detector has."""

from __future__ import annotations

import numpy as np

from triops.ops.detectors._base import StreamingDetector
from triops.ops.detectors._parts import AlarmGate, AnomalyLikelihood, Range


class PipelineDetector(StreamingDetector):
    """A detector made of a raw surprise score and shared post-processing.

    Subclasses implement ``_raw(timestamp, value) -> float | None`` (any
    non-negative surprise, larger is stranger; it must learn from the point only
    after scoring it). ``None`` means the raw detector cannot score yet (it is still
    learning its own scale or filling its window): the likelihood learns nothing
    from such a point and its warm-up does not count it. Were those placeholder
    points taught as zeros, the first real surprises would look infinitely unusual
    against a zero-variance history and alarm on any signal, a clean sine included.
    The raw surprise goes through :class:`AnomalyLikelihood` and
    :class:`AlarmGate`; the defaults are the global hyper-parameters chosen on NAB
    (see docs/anomaly-detection.md).

    Live telemetry is scored strictly streaming. A caller that knows more up front,
    as NAB's harness does, may pass ``value_min``/``value_max`` (the series' range:
    scales are known from the first point) and ``probation`` (rows whose scores are
    not used: the detector only learns there and raises no alarm).
    """

    # Class-level defaults keep detector states stored before these settings existed
    # loadable.
    probation: int = 0
    rows: int = 0

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
        value_min: float | None = None,
        value_max: float | None = None,
        probation: int = 0,
    ) -> None:
        self.range = Range()
        if value_min is not None and value_max is not None:
            self.range.update(float(value_min))
            self.range.update(float(value_max))
        self.likelihood = AnomalyLikelihood(short=short, long=long, warmup=warmup, clip=clip)
        self.gate = AlarmGate(level=alarm, hold=hold, refractory=refractory, penalty=penalty)
        self.probation = probation
        self.rows = 0

    def _update(self, timestamp: float, value: float) -> float:
        raw = self._raw(timestamp, value)
        self.range.update(value)
        return self._alarm(0.0 if raw is None else self.likelihood.update(raw))

    def _update_many(self, ts: np.ndarray, xs: np.ndarray) -> list[float]:
        return self._alarm_many(self._likely_many(ts, xs))

    def _likely_many(self, ts: np.ndarray, xs: np.ndarray) -> list[float]:
        """Anomaly likelihoods of a run of points, before the gate."""
        return self.likelihood.update_many(self._raw_many(ts, xs))

    def _alarm_many(self, scores: list[float]) -> list[float]:
        """``_alarm`` for each score in turn."""
        quiet = min(max(self.probation - self.rows, 0), len(scores))
        self.rows += len(scores)
        return [0.0] * quiet + self.gate.update_many(scores[quiet:])

    def _raw_many(self, ts: np.ndarray, xs: np.ndarray) -> list[float | None]:
        """``_raw`` over a run of points, the range learning each point after its raw
        score as in ``_update``; a vectorised detector overrides this."""
        raw, learn = self._raw, self.range.update
        out = []
        for t, x in zip(ts.tolist(), xs.tolist(), strict=True):
            out.append(raw(t, x))
            learn(x)
        return out

    def _alarm(self, score: float) -> float:
        """The gated score; nothing alarms (or starts a silence) during probation."""
        self.rows += 1
        if self.rows <= self.probation:
            return 0.0
        return self.gate.update(score)

    def _raw(self, timestamp: float, value: float) -> float | None:
        raise NotImplementedError
