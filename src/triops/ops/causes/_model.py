"""What a probable cause is, and the settings of the two rankings that find them."""

from __future__ import annotations

from dataclasses import dataclass

#: ``kind`` of a cause found in the metrics rather than in a change event.
METRIC_ANOMALY = "metric_anomaly"


@dataclass(frozen=True)
class ProbableCause:
    """One probable cause of an incident, best first in a ranked list.

    ``entity`` is a topology node key (``model:churn@champion``, ``service:checkout``);
    ``kind`` is the change's kind (``model.alias.moved``, ``service.version``...) for a
    change, :data:`METRIC_ANOMALY` for a component whose metrics explain the symptom;
    ``score`` is in [0, 1]; ``change_id`` names the change event, when there is one.
    """

    entity: str
    kind: str
    score: float
    evidence: str = ""
    change_id: str | None = None


@dataclass(frozen=True)
class CausesConfig:
    """One configuration for every incident; docs/root-cause.md explains each term."""

    #: Changes this long before the first signal (and up to it) are candidates.
    lookback_ms: int = 2 * 3600 * 1000
    #: A change this long before the first signal weighs half as much as one just before.
    half_life_ms: int = 30 * 60 * 1000
    #: Changes farther than this many topology hops from every subject are left out.
    max_hops: int = 3
    #: Earlier changes of the same kind looked at for the history term.
    history_ms: int = 30 * 24 * 3600 * 1000
    history_limit: int = 200
    #: Normal period of the metric ranking: this long, ending where the abnormal one starts.
    normal_ms: int = 24 * 3600 * 1000
    #: Abnormal period: from this long before the first signal...
    abnormal_before_ms: int = 30 * 60 * 1000
    #: ...to this long after it.
    abnormal_after_ms: int = 30 * 60 * 1000
    #: A metric cause's score is ``s / (s + metric_half_score)`` of its RCA score ``s``.
    metric_half_score: float = 10.0
    #: Series of a service subject tried as the symptom, at most.
    max_targets: int = 20
