"""Drift, data-quality and performance monitoring of served models.

The public face: drift tests and their registry, the drift report, quality and
performance checks, monitor definitions and runs, the server's monitoring service.
"""

from triops.ml.monitoring.drift import REGISTRY, DriftTest, Sample, drifted, register
from triops.ml.monitoring.monitors import (
    DATA_QUALITY, DRIFT, PERFORMANCE, RunOutcome, evaluate, run_monitor,
)
from triops.ml.monitoring.performance import metrics
from triops.ml.monitoring.quality import QualityLimits, QualityReport, quality_report
from triops.ml.monitoring.report import ColumnDrift, DriftReport, drift_report
from triops.ml.monitoring.service import SERVICE, MonitoringService
from triops.ml.monitoring.spec import MonitorSpec, RetrainPolicy

__all__ = [
    "DATA_QUALITY", "DRIFT", "PERFORMANCE", "REGISTRY", "SERVICE", "ColumnDrift", "DriftReport",
    "DriftTest", "MonitorSpec", "MonitoringService", "QualityLimits", "QualityReport",
    "RetrainPolicy", "RunOutcome", "Sample", "drift_report", "drifted", "evaluate", "metrics",
    "quality_report", "register", "run_monitor",
]
