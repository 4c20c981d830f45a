"""Root-cause ranking: which component, upstream of a symptom, explains it.

``rank_causes`` scores the nodes a target calls (directly or not) by how their metrics
turned anomalous together with the target's, and prefers the most downstream anomalous
node on the call path; docs/root-cause.md describes the method.
"""

from triops.ops.rca._ranking import LOWER_IS_WORSE, Cause, RcaConfig, rank_causes, robust_z
from triops.ops.rca._tables import read_graph, read_metrics

__all__ = [
    "LOWER_IS_WORSE",
    "Cause",
    "RcaConfig",
    "rank_causes",
    "read_graph",
    "read_metrics",
    "robust_z",
]
