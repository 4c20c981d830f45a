"""Root-cause ranking: which component, upstream of a symptom, explains it.

``rank_causes`` scores the nodes a target calls (directly or not) by how their metrics
turned anomalous together with the target's, and prefers the most downstream anomalous
node on the call path; docs/root-cause.md describes the method. The settings load
alone; the ranking and the table readers (pandas, networkx) on first use
(``triops.core.faces``).
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.ops.rca._config import LOWER_IS_WORSE, RcaConfig

if TYPE_CHECKING:
    from triops.ops.rca._ranking import Cause, rank_causes, robust_z
    from triops.ops.rca._tables import read_graph, read_metrics

__getattr__ = lazy_names(__name__, {
    "Cause": "_ranking", "rank_causes": "_ranking", "robust_z": "_ranking",
    "read_graph": "_tables", "read_metrics": "_tables",
})

__all__ = [
    "LOWER_IS_WORSE",
    "Cause",
    "RcaConfig",
    "rank_causes",
    "read_graph",
    "read_metrics",
    "robust_z",
]
