"""Drift, data-quality and performance monitoring of served models.

The public face: drift tests and their registry, the drift report, quality and
performance checks, monitor definitions and runs, the server's monitoring service.
Monitor runs and the service (which need the store and the incident engine) load on
first use, so a notebook or a batch job computing a drift report imports only numpy
and pandas.
"""

from typing import Any

from triops.ml.monitoring.drift import REGISTRY, ColumnSample, DriftTest, drifted, register
from triops.ml.monitoring.performance import metrics
from triops.ml.monitoring.quality import QualityLimits, QualityReport, quality_report
from triops.ml.monitoring.report import ColumnDrift, DriftReport, drift_report

_LAZY = {
    "DATA_QUALITY": "monitors", "DRIFT": "monitors", "PERFORMANCE": "monitors",
    "RunOutcome": "monitors", "evaluate": "monitors", "run_monitor": "monitors",
    "MonitoringService": "service",
    "MonitorSpec": "spec", "RetrainPolicy": "spec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"triops.ml.monitoring.{_LAZY[name]}"), name)
    raise AttributeError(name)


__all__ = [
    # loaded on first use, see _LAZY
    "DATA_QUALITY",
    "DRIFT",
    "PERFORMANCE",
    "REGISTRY",
    "ColumnDrift",
    "ColumnSample",
    "DriftReport",
    "DriftTest",
    "MonitorSpec",
    "MonitoringService",
    "QualityLimits",
    "QualityReport",
    "RetrainPolicy",
    "RunOutcome",
    "drift_report",
    "drifted",
    "evaluate",
    "metrics",
    "quality_report",
    "register",
    "run_monitor",
]
