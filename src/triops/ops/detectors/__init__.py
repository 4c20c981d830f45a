"""Streaming anomaly detectors for time series.

Every detector implements :class:`Detector` (``update``, ``state``, ``from_state``)
and is declared in :data:`DETECTORS` with :func:`register`; see
docs/anomaly-detection.md for the methods and their NAB scores. The detector used
when none is named is :data:`DEFAULT_DETECTOR`.
"""

from triops.ops.detectors._base import (
    DETECTORS,
    Detector,
    StreamingDetector,
    get_detector,
    register,
)
from triops.ops.detectors._changepoint import BayesianChangePoint
from triops.ops.detectors._context import ContextNovelty
from triops.ops.detectors._default import DEFAULT_DETECTOR
from triops.ops.detectors._discord import PatternDiscord
from triops.ops.detectors._ensemble import Ensemble
from triops.ops.detectors._forecast import HoltWinters, SeasonalZScore
from triops.ops.detectors._io import DetectReport, KnownInAdvance, detect_csv, score_series
from triops.ops.detectors._pipeline import PipelineDetector
from triops.ops.detectors._spectral import SpectralResidual

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "BayesianChangePoint",
    "ContextNovelty",
    "DetectReport",
    "Detector",
    "Ensemble",
    "HoltWinters",
    "KnownInAdvance",
    "PatternDiscord",
    "PipelineDetector",
    "SeasonalZScore",
    "SpectralResidual",
    "StreamingDetector",
    "detect_csv",
    "get_detector",
    "register",
    "score_series",
]
