"""What a monitor is: its window, its reference, its limits, and what a breach triggers.

Stored as JSON in ``ml_monitors.spec``; ``MonitorSpec.from_dict`` refuses anything that
is not its shape, so a bad definition fails when it is created, not at 3 a.m.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from triops.core.errors import InvalidInput
from triops.ml.monitoring import drift
from triops.ml.monitoring.fairness import GAPS
from triops.ml.monitoring.performance import HIGHER_IS_BETTER
from triops.ml.monitoring.quality import QualityLimits


@dataclass(frozen=True)
class Window:
    kind: Literal["time", "count"] = "count"
    #: Seconds back from now (time) or the newest N logged requests (count).
    size: int = 1000


@dataclass(frozen=True)
class Reference:
    #: "training": the data of the dataset the model version was trained on (lineage);
    #: "window": the endpoint's own predictions in [start_ms, end_ms).
    kind: Literal["training", "window"] = "training"
    start_ms: int | None = None
    end_ms: int | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class DriftCheck:
    method: str | None = None
    threshold: float | None = None
    tests: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    #: A breach needs at least this many drifted features.
    min_columns: int = 1


@dataclass(frozen=True)
class PerformanceCheck:
    task: Literal["classification", "regression"] = "classification"
    metric: str = "accuracy"
    #: Breach when the metric is on the bad side of this value.
    threshold: float = 0.8
    #: Outputs are class labels ("label") or positive-class scores cut at 0.5 ("score").
    output: Literal["label", "score"] = "label"
    min_labels: int = 20


@dataclass(frozen=True)
class FairnessCheck:
    #: Logged input columns whose values define the groups, each checked on its own.
    sensitive: tuple[str, ...] = ()
    #: The favourable outcome (what counts as "selected" and as a true positive).
    positive: Any = 1
    #: Outputs are class labels ("label") or positive-class scores cut at 0.5 ("score").
    output: Literal["label", "score"] = "label"
    #: Breach when a gap below is above this.
    threshold: float = 0.1
    gaps: tuple[str, ...] = ("demographic_parity_difference", "equalized_odds_difference")
    min_labels: int = 20
    #: Groups with fewer labelled rows in the window are reported but not compared.
    min_group: int = 1


@dataclass(frozen=True)
class RelianceCheck:
    #: The version compared with the monitor's model@alias: "@challenger" or a number.
    compare: str = "@challenger"
    #: Breach when the total variation distance of the two reliances is above this.
    threshold: float = 0.2
    #: The newest logged rows of the window that both versions explain.
    rows: int = 500


@dataclass(frozen=True)
class RetrainPolicy:
    pipeline: str
    metric: str = "accuracy"
    min_improvement: float = 0.0
    task: Literal["classification", "regression"] = "classification"
    #: Which breaches start it.
    on: tuple[str, ...] = ("drift", "performance")
    #: Where its steps run: "local" (the server process) or "ray".
    executor: str = "local"


@dataclass(frozen=True)
class MonitorSpec:
    model: str | None = None
    alias: str = "champion"
    features: tuple[str, ...] | None = None
    window: Window = field(default_factory=Window)
    reference: Reference = field(default_factory=Reference)
    drift: DriftCheck | None = field(default_factory=DriftCheck)
    quality: QualityLimits | None = field(default_factory=QualityLimits)
    performance: PerformanceCheck | None = None
    fairness: FairnessCheck | None = None
    reliance: RelianceCheck | None = None
    retrain: RetrainPolicy | None = None
    severity: str = "warning"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorSpec:
        try:
            spec = cls(
                model=data.get("model"), alias=data.get("alias") or "champion",
                features=tuple(data["features"]) if data.get("features") else None,
                window=Window(**(data.get("window") or {})),
                reference=Reference(**(data.get("reference") or {})),
                drift=None if data.get("drift", {}) is None else DriftCheck(**data.get("drift", {})),
                quality=None if data.get("quality", {}) is None
                else QualityLimits(**data.get("quality", {})),
                performance=PerformanceCheck(**data["performance"])
                if data.get("performance") else None,
                fairness=_fairness(data["fairness"]) if data.get("fairness") else None,
                reliance=RelianceCheck(**data["reliance"]) if data.get("reliance") else None,
                retrain=_retrain(data["retrain"]) if data.get("retrain") else None,
                severity=data.get("severity") or "warning",
            )
        except TypeError as exc:
            raise InvalidInput(f"monitor definition has an unknown or missing field: {exc}") from None
        spec.check()
        return spec

    def check(self) -> None:
        if self.window.kind not in ("time", "count") or self.window.size <= 0:
            raise InvalidInput("window must be {'kind': 'time'|'count', 'size': positive int}")
        if self.reference.kind not in ("training", "window"):
            raise InvalidInput("reference.kind must be 'training' or 'window'")
        if self.reference.kind == "training" and not self.model:
            raise InvalidInput("a training reference needs the monitor's model name")
        if self.reference.kind == "window" and (
                self.reference.start_ms is None or self.reference.end_ms is None
                or self.reference.end_ms <= self.reference.start_ms):
            raise InvalidInput("a window reference needs start_ms < end_ms")
        if self.drift is not None:
            for name in [self.drift.method, *self.drift.tests.values()]:
                if name is not None:
                    drift.REGISTRY.get(name)
            if self.drift.min_columns < 1:
                raise InvalidInput("drift.min_columns must be at least 1")
        if self.performance is not None:
            if self.performance.metric not in HIGHER_IS_BETTER:
                raise InvalidInput(f"performance.metric must be one of {sorted(HIGHER_IS_BETTER)}")
            if self.performance.task not in ("classification", "regression"):
                raise InvalidInput("performance.task must be classification or regression")
        if self.fairness is not None:
            f = self.fairness
            if not f.sensitive or not all(isinstance(c, str) and c for c in f.sensitive):
                raise InvalidInput("fairness.sensitive must name at least one input column")
            unknown = set(f.gaps) - set(GAPS)
            if unknown or not f.gaps:
                raise InvalidInput(f"fairness.gaps must be among {list(GAPS)}")
            if f.output not in ("label", "score"):
                raise InvalidInput("fairness.output must be 'label' or 'score'")
            if not 0 <= f.threshold <= 1 or f.min_labels < 1 or f.min_group < 1:
                raise InvalidInput("fairness.threshold must be in [0, 1] and min_labels, "
                                   "min_group at least 1")
            if not isinstance(f.positive, (str, int, float, bool)):
                raise InvalidInput("fairness.positive must be a label value")
        if self.reliance is not None:
            r = self.reliance
            if not self.model:
                raise InvalidInput("a reliance check needs the monitor's model name")
            if not isinstance(r.compare, str) or not (
                    r.compare.startswith("@") or r.compare.isdigit()):
                raise InvalidInput("reliance.compare must be '@alias' or a version number")
            if not 0 < r.threshold <= 1 or not 1 <= r.rows <= 10_000:
                raise InvalidInput("reliance.threshold must be in (0, 1] and rows in "
                                   "[1, 10000]")
        if self.retrain is not None:
            if self.retrain.metric not in HIGHER_IS_BETTER:
                raise InvalidInput(f"retrain.metric must be one of {sorted(HIGHER_IS_BETTER)}")
            if not self.model:
                raise InvalidInput("retraining needs the monitor's model name")
        if self.severity not in ("info", "warning", "error", "critical"):
            raise InvalidInput("severity must be info, warning, error or critical")


def _fairness(data: dict[str, Any]) -> FairnessCheck:
    if not isinstance(data, dict):
        raise InvalidInput("fairness must be an object")
    return FairnessCheck(**{**data, "sensitive": tuple(data.get("sensitive") or ()),
                            "gaps": tuple(data.get("gaps") or FairnessCheck.gaps)})


def _retrain(data: dict[str, Any]) -> RetrainPolicy:
    on = tuple(data.get("on") or ("drift", "performance"))
    bad = set(on) - {"drift", "performance", "data_quality", "fairness"}
    if bad:
        raise InvalidInput(f"retrain.on has unknown breach kinds {sorted(bad)}")
    if data.get("executor", "local") not in ("local", "ray"):
        raise InvalidInput("retrain.executor must be 'local' or 'ray'")
    return RetrainPolicy(**{**data, "on": on})
