"""The ranking's settings, apart from the ranking: the command line shows their defaults
without loading pandas and networkx."""

from __future__ import annotations

from dataclasses import dataclass

#: Metrics for which a lower value is the bad direction; every other metric is worse higher.
LOWER_IS_WORSE = frozenset({"availability", "success_rate", "throughput", "apdex"})


@dataclass(frozen=True)
class RcaConfig:
    """Settings of the ranking; the defaults are the ones measured in docs/benchmarks.md."""

    #: Smallest score reported as a cause.
    min_score: float = 5.0
    #: Normal-period points a series needs to be scored at all.
    min_history: int = 10
    #: Relative floor of the scale of a series that was constant in the normal period.
    relative_floor: float = 1e-3
    #: Metric and statistic counting a node's traffic, used to weigh how much of the
    #: target's excess a node accounts for; nodes without it are not weighed.
    volume_metric: str = "requests"
    volume_stat: str = "Sum"
    #: Exponent of that share (clipped to [0, 1]) in the score; 0 ignores traffic.
    coverage_power: float = 3.0
    #: Exponent of the share of a node's excess not accounted for by its callees.
    residual_power: float = 1.0
