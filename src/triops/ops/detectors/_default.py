"""The detector triops uses when none is named.

The ensemble scores best on the NAB corpus of every registered detector (see
docs/anomaly-detection.md and ``python bench/nab.py``), so new series, ``triops ops
detect`` and ``score_series`` start with it.
"""

from triops.ops.detectors._ensemble import Ensemble

DEFAULT_DETECTOR: str = Ensemble.name
