"""AIOps pillar: telemetry intake, detectors, log mining, incidents.

The public face: signals folded into incidents (merged and split by hand), telemetry samples and series, the
server's detector cache with the scoring of samples as they arrive, and the pillar's
stored domains (``incident_store``; ``state_store``: detector and miner state, anomaly
marks; ``prom_source_store``: Prometheus query_range sources; ``retention_store``: the
retention policy), whose functions take the caller's session, with the checks of what
they hold (``PromSourceSpec``, ``RetentionPolicy``). The detection, source and retention
names load on first use (``triops.core.faces``).
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.ops.incidents import DEFAULT_FOLD_WINDOW_MS, Folded, ingest, merge, resolve, split
from triops.ops.telemetry import MetricSample, list_series, read_series
from triops.store.repos import incidents as incident_store
from triops.store.repos import ops as state_store
from triops.store.repos import prom_sources as prom_source_store
from triops.store.repos import retention as retention_store

if TYPE_CHECKING:
    from triops.ops.detection import ANOMALY, DetectorCache, ingest_samples, subject_of
    from triops.ops.prom_query import PromSourceSpec
    from triops.ops.prom_query import check_name as check_source_name
    from triops.ops.prom_query import masked as masked_spec
    from triops.ops.retention import RetentionPolicy

#: The name ``triops ops import`` still imports; ``MetricSample`` is the one to use.
Sample = MetricSample

__getattr__ = lazy_names(__name__, {
    "DetectorCache": "detection", "ingest_samples": "detection", "ANOMALY": "detection",
    "subject_of": "detection", "PromSourceSpec": "prom_query",
    "check_source_name": "prom_query:check_name", "masked_spec": "prom_query:masked",
    "RetentionPolicy": "retention",
})

__all__ = [
    "ANOMALY",
    "DEFAULT_FOLD_WINDOW_MS",
    "DetectorCache",
    "Folded",
    "MetricSample",
    "PromSourceSpec",
    "RetentionPolicy",
    "Sample",
    "check_source_name",
    "incident_store",
    "ingest",
    "ingest_samples",
    "list_series",
    "masked_spec",
    "merge",
    "prom_source_store",
    "read_series",
    "resolve",
    "retention_store",
    "split",
    "state_store",
    "subject_of",
]
