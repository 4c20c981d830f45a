"""Metric samples from any intake (OTLP, Prometheus remote write, Prometheus
``query_range`` sources) stored, scored and learnt from the same way."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.orm import Session

from triops.ops import capacity, topology
from triops.ops.detection import DetectorCache, MonitorReport, ingest_samples
from triops.ops.detectors import DEFAULT_DETECTOR
from triops.ops.telemetry import MetricSample


def store_samples(session: Session, project: str, samples: Sequence[MetricSample], *,
                  cache: DetectorCache | None, capacity_interval_ms: int,
                  unscored: Collection[str] = (), detector: str = DEFAULT_DETECTOR,
                  ) -> MonitorReport:
    """Store and score ``samples`` in the caller's transaction, and learn from them which
    series belong to which service and which are filling up."""
    report = ingest_samples(session, project, samples, detector=detector, unscored=unscored,
                            cache=cache)
    topology.observe_samples(session, project, samples)
    capacity.evaluate_samples(session, project, samples, capacity_interval_ms)
    return report
