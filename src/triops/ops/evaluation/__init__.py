"""Benchmarks that score triops' detectors with each benchmark's own rules."""

from triops.ops.evaluation.nab import (
    PROFILES,
    NabResult,
    NabSeries,
    Profile,
    load_corpus,
    load_published_scores,
    score_corpus,
)

__all__ = [
    "PROFILES",
    "NabResult",
    "NabSeries",
    "Profile",
    "load_corpus",
    "load_published_scores",
    "score_corpus",
]
