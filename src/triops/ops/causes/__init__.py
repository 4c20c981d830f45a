"""Probable causes of an incident: recent changes on or near its entities, and the
components whose metrics explain its symptom, merged into one ranked list.

``rank_incident`` computes the list; ``CauseCache`` keeps it per incident for the
server. docs/root-cause.md describes the scoring. The metric ranking (pandas, networkx)
loads on first use (``triops.core.faces``).
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.ops.causes._changes import rank_changes
from triops.ops.causes._model import METRIC_ANOMALY, CausesConfig, ProbableCause
from triops.ops.causes._rank import CauseCache, rank_incident, subjects_of
from triops.ops.causes._series import metric_and_stat, parse_key

if TYPE_CHECKING:
    from triops.ops.causes._metrics import rank_metrics

__getattr__ = lazy_names(__name__, {"rank_metrics": "_metrics"})

__all__ = [
    "METRIC_ANOMALY",
    "CauseCache",
    "CausesConfig",
    "ProbableCause",
    "metric_and_stat",
    "parse_key",
    "rank_changes",
    "rank_incident",
    "rank_metrics",
    "subjects_of",
]
