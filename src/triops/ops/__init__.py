"""AIOps pillar: telemetry intake, detectors, log mining, incidents."""

from triops.ops.incidents import DEFAULT_FOLD_WINDOW_MS, Folded, ingest, resolve

__all__ = ["DEFAULT_FOLD_WINDOW_MS", "Folded", "ingest", "resolve"]
