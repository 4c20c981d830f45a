"""AIOps pillar: telemetry intake, detectors, log mining, incidents.

The public face: signals folded into incidents, telemetry samples and series, and the
server's detector cache with the scoring of samples as they arrive. The monitoring names
load on first use (``triops.core.faces``).
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.ops.incidents import DEFAULT_FOLD_WINDOW_MS, Folded, ingest, resolve
from triops.ops.telemetry import Sample, list_series, read_series

if TYPE_CHECKING:
    from triops.ops.monitoring import DetectorCache, ingest_samples

__getattr__ = lazy_names(__name__, {
    "DetectorCache": "monitoring", "ingest_samples": "monitoring",
})

__all__ = [
    "DEFAULT_FOLD_WINDOW_MS", "DetectorCache", "Folded", "Sample", "ingest",
    "ingest_samples", "list_series", "read_series", "resolve",
]
