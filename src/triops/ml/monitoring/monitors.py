"""Running a monitor: build the frames, compute drift, quality and performance, store
the result, and turn every breach into a signal for the incident engine.

Subjects: drift and performance concern the model (``model:churn@champion``, or
``endpoint:churn`` for a monitor without a model); data quality concerns what the
endpoint receives (``endpoint:churn``).

A run that cannot compute its checks (no training dataset in lineage, a reference
without the features, a failing query) is stored as an ``error`` result and raises a
``monitor_failed`` signal about ``monitor:<name>``, so a monitor that fails on every
run keeps one incident open instead of failing unseen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import Conflict, TriopsError
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ml.monitoring import reliance
from triops.ml.monitoring.fairness import FairnessCounts, is_positive
from triops.ml.monitoring.performance import is_worse, metrics
from triops.ml.monitoring.quality import quality_report
from triops.ml.monitoring.report import drift_report
from triops.ml.monitoring.sources import LABEL, OUTPUT, served_frame, training_frame
from triops.ml.monitoring.spec import MonitorSpec
from triops.ops import DEFAULT_FOLD_WINDOW_MS, ingest
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import audit
from triops.store.repos import monitoring as repo
from triops.store.schema_monitoring import Monitor

DRIFT, DATA_QUALITY, PERFORMANCE = "drift", "data_quality", "performance"
FAIRNESS = "fairness"
RELIANCE = "reliance_shift"
#: The signal kind of a run that could not compute its checks.
MONITOR_FAILED = "monitor_failed"

log = logging.getLogger("triops.monitoring")

#: Called with (project, monitor name, breached kinds) when a run breaches; the server
#: uses it to start retraining off the request path.
OnBreach = Callable[[str, str, list[str]], None]


@dataclass
class RunOutcome:
    monitor: str
    time_ms: int
    status: str
    drift: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, Any] = field(default_factory=dict)
    breaches: dict[str, Any] = field(default_factory=dict)
    incidents: list[str] = field(default_factory=list)
    error: str = ""
    n_reference: int = 0
    n_current: int = 0


def _finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def _subject(spec: MonitorSpec, endpoint: str) -> str:
    return f"model:{spec.model}@{spec.alias}" if spec.model else f"endpoint:{endpoint}"


def _current(db: Database, project: str, endpoint: str, spec: MonitorSpec, at_ms: int
             ) -> pd.DataFrame:
    with db.read() as session:
        if spec.window.kind == "time":
            served = served_frame(session, project, endpoint,
                                  start_ms=at_ms - spec.window.size * 1000, end_ms=at_ms + 1,
                                  limit=None)
        else:
            served = served_frame(session, project, endpoint, start_ms=None, end_ms=at_ms + 1,
                                  limit=spec.window.size)
    return served.frame


def _reference(db: Database, artifacts: ArtifactStore, project: str, endpoint: str,
               spec: MonitorSpec) -> pd.DataFrame:
    if spec.reference.kind == "window":
        with db.read() as session:
            return served_frame(session, project, endpoint, start_ms=spec.reference.start_ms,
                                end_ms=spec.reference.end_ms, limit=None).frame
    frame, _what = training_frame(db, artifacts, project, spec)
    return frame


def _features(spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    if spec.features:
        return list(spec.features)
    return sorted((set(reference.columns) & set(current.columns)) - {OUTPUT, LABEL})


def _performance(spec: MonitorSpec, current: pd.DataFrame) -> dict[str, Any]:
    check = spec.performance
    assert check is not None
    if LABEL not in current.columns:
        return {"labels": 0}
    labelled = current[current[LABEL].notna() & current[OUTPUT].notna()]
    out: dict[str, Any] = {"labels": len(labelled)}
    if len(labelled) < check.min_labels:
        return out
    truth = labelled[LABEL].to_numpy()
    outputs = labelled[OUTPUT].to_numpy()
    score = None
    if check.task == "classification" and check.output == "score":
        score = pd.to_numeric(labelled[OUTPUT], errors="coerce").to_numpy(dtype=np.float64)
        outputs = (score >= 0.5).astype(np.int64)
        truth = pd.to_numeric(labelled[LABEL], errors="coerce").to_numpy().astype(np.int64)
    out["metrics"] = {k: _finite(v) for k, v in
                      metrics(check.task, truth, outputs, score).items()}
    return out


def _fairness(spec: MonitorSpec, current: pd.DataFrame) -> dict[str, Any]:
    """Per sensitive feature: each group's rates and the gaps, over the window's
    labelled rows."""
    check = spec.fairness
    assert check is not None
    if LABEL not in current.columns:
        return {"labels": 0}
    labelled = current[current[LABEL].notna() & current[OUTPUT].notna()]
    out: dict[str, Any] = {"labels": len(labelled), "by": {}}
    if len(labelled) < check.min_labels:
        return out
    truth = is_positive(labelled[LABEL].tolist(), check.positive)
    if check.output == "score":
        pred = pd.to_numeric(labelled[OUTPUT], errors="coerce").to_numpy(np.float64) >= 0.5
    else:
        pred = is_positive(labelled[OUTPUT].tolist(), check.positive)
    for column in check.sensitive:
        if column not in labelled.columns:
            out["by"][column] = {"error": f"'{column}' is not among the logged inputs"}
            continue
        counts = FairnessCounts()
        counts.update(labelled[column].tolist(), truth, pred)
        small = [g for g, c in counts.groups.items() if c.n < check.min_group]
        compared = FairnessCounts({g: c for g, c in counts.groups.items() if g not in small})
        report = compared.report()
        report["groups"] = counts.report()["groups"]
        report["small_groups"] = small
        out["by"][column] = report
    return out


def _fairness_breach(spec: MonitorSpec, result: dict[str, Any]) -> dict[str, Any] | None:
    check = spec.fairness
    assert check is not None
    worst = None
    for column, report in (result.get("by") or {}).items():
        for gap in check.gaps:
            value = report.get(gap)
            if value is not None and value > check.threshold and (
                    worst is None or value > worst["value"]):
                worst = {"feature": column, "gap": gap, "value": value,
                         "threshold": check.threshold}
    return worst


def evaluate(db: Database, artifacts: ArtifactStore, project: str, monitor: Monitor,
             at_ms: int | None = None) -> RunOutcome:
    """Compute the monitor's checks over its window; stores nothing."""
    spec = MonitorSpec.from_dict(monitor.spec)
    at = at_ms if at_ms is not None else now_ms()
    outcome = RunOutcome(monitor=monitor.name, time_ms=at, status="ok")
    current = _current(db, project, monitor.endpoint, spec, at)
    outcome.n_current = len(current)
    if current.empty:
        outcome.status, outcome.error = "no_data", "no predictions in the window"
        return outcome
    needs_reference = spec.drift is not None or spec.quality is not None
    if needs_reference:
        reference = _reference(db, artifacts, project, monitor.endpoint, spec)
        outcome.n_reference = len(reference)
        if reference.empty:
            raise Conflict("the monitor's reference holds no rows")
        names = _features(spec, reference, current)
        missing = [n for n in names if n not in reference.columns]
        if missing:
            raise Conflict(f"features {missing} are not in the reference data")
        if spec.drift is not None:
            usable = [n for n in names if n in current.columns]
            report = drift_report(reference[usable], current[usable], method=spec.drift.method,
                                  threshold=spec.drift.threshold, tests=spec.drift.tests,
                                  thresholds=spec.drift.thresholds)
            # Each column keeps its two distributions for the drift report page.
            outcome.drift = {c.column: {"test": c.test, "score": _finite(c.score),
                                        "threshold": c.threshold, "drifted": c.drifted,
                                        "n_reference": c.n_reference, "n_current": c.n_current,
                                        **({"distribution": c.distribution.as_dict()}
                                           if c.distribution else {})}
                             for c in report.columns}
            if len(report.drifted_columns) >= spec.drift.min_columns:
                outcome.breaches[DRIFT] = {"columns": report.drifted_columns,
                                           "share": report.share_drifted}
        if spec.quality is not None:
            q = quality_report(reference[names], current[[n for n in names if n in current]],
                               spec.quality)
            outcome.quality = {c.column: {"missing": c.missing, "type_errors": c.type_errors,
                                          "out_of_range": c.out_of_range, "unseen": c.unseen,
                                          "breaches": c.breaches} for c in q.columns}
            if q.missing_columns:
                outcome.quality["__missing_columns__"] = {"columns": q.missing_columns}
            if q.breached:
                outcome.breaches[DATA_QUALITY] = {
                    "columns": sorted([c.column for c in q.columns if c.breaches]
                                      + q.missing_columns), "worst": q.worst()}
    if spec.performance is not None:
        outcome.performance = _performance(spec, current)
        value = (outcome.performance.get("metrics") or {}).get(spec.performance.metric)
        if value is not None and is_worse(spec.performance.metric, value,
                                          spec.performance.threshold):
            outcome.breaches[PERFORMANCE] = {"metric": spec.performance.metric, "value": value,
                                             "threshold": spec.performance.threshold}
    if spec.fairness is not None:
        # Stored with the label-based results: a fairness gap is performance by group.
        outcome.performance["fairness"] = _fairness(spec, current)
        breach = _fairness_breach(spec, outcome.performance["fairness"])
        if breach is not None:
            outcome.breaches[FAIRNESS] = breach
    if spec.reliance is not None:
        assert spec.model is not None
        rows = current.drop(columns=[c for c in (OUTPUT, LABEL) if c in current.columns])
        found = reliance.compare(db, artifacts, project, monitor.endpoint, spec.model,
                                 f"@{spec.alias}", spec.reliance.compare,
                                 rows.tail(spec.reliance.rows))
        outcome.performance["reliance"] = found
        if found["shift"] > spec.reliance.threshold:
            top = {k: max(found[k]["share"], key=found[k]["share"].get)
                   for k in ("champion", "challenger")}
            outcome.breaches[RELIANCE] = {"value": found["shift"],
                                          "threshold": spec.reliance.threshold,
                                          "versions": [found["champion"]["version"],
                                                       found["challenger"]["version"]],
                                          "top": top}
    if outcome.breaches:
        outcome.status = "breach"
    return outcome


def _signals(spec: MonitorSpec, monitor: Monitor, outcome: RunOutcome) -> list[Signal]:
    severity = Severity[spec.severity]
    labels = {"monitor": monitor.name, "endpoint": monitor.endpoint}
    out = []
    for kind, detail in outcome.breaches.items():
        if kind == DRIFT:
            value, summary = detail["share"], (f"drift on {monitor.endpoint}: "
                                               f"{', '.join(detail['columns'])}")
            subject = _subject(spec, monitor.endpoint)
        elif kind == PERFORMANCE:
            value = detail["value"]
            summary = (f"{detail['metric']} {value:.3f} below {detail['threshold']} "
                       f"on {monitor.endpoint}")
            subject = _subject(spec, monitor.endpoint)
        elif kind == RELIANCE:
            value = detail["value"]
            first, second = detail["versions"]
            summary = (f"versions {first} and {second} of {spec.model} rely on different "
                       f"features (shift {value:.3f} above {detail['threshold']}; top "
                       f"{detail['top']['champion']} vs {detail['top']['challenger']})")
            subject = _subject(spec, monitor.endpoint)
        elif kind == FAIRNESS:
            value = detail["value"]
            summary = (f"{detail['gap']} {value:.3f} by {detail['feature']} above "
                       f"{detail['threshold']} on {monitor.endpoint}")
            subject = _subject(spec, monitor.endpoint)
        else:
            value = detail["worst"]
            summary = f"data quality on {monitor.endpoint}: {', '.join(detail['columns'])}"
            subject = f"endpoint:{monitor.endpoint}"
        out.append(Signal(source=Pillar.ml, kind=kind, subject=subject, severity=severity,
                          value=float(value), time_ms=outcome.time_ms, labels=labels,
                          summary=summary))
    return out


def _failure_signal(monitor: Monitor, outcome: RunOutcome) -> Signal:
    # The error text stays out of the fingerprint (it is the summary), so every failing
    # run of one monitor folds into one incident even when its message changes.
    return Signal(source=Pillar.ml, kind=MONITOR_FAILED, subject=f"monitor:{monitor.name}",
                  severity=Severity.error, time_ms=outcome.time_ms,
                  labels={"monitor": monitor.name, "endpoint": monitor.endpoint},
                  summary=f"monitor {monitor.name} failed: {outcome.error}"[:4096])


def _fold_window_ms(monitor: Monitor) -> int:
    """Signals of consecutive scheduled runs fold together even when runs are far apart."""
    return max(DEFAULT_FOLD_WINDOW_MS, 2 * 1000 * (monitor.interval_s or 0))


def _attempt(db: Database, artifacts: ArtifactStore, project: str, monitor: Monitor,
             at_ms: int) -> RunOutcome:
    """Evaluate; a failure becomes an ``error`` outcome that says what went wrong."""
    try:
        return evaluate(db, artifacts, project, monitor, at_ms)
    except TriopsError as exc:
        error = exc.message
    except Exception as exc:  # a failing query or a bug must still show on the monitor
        log.exception("monitor %s in project %s failed", monitor.name, project)
        first_line = (str(exc).splitlines() or [""])[0]
        error = f"{type(exc).__name__}: {first_line}"[:1000]
    return RunOutcome(monitor=monitor.name, time_ms=at_ms, status="error", error=error)


def run_monitor(db: Database, artifacts: ArtifactStore, project: str, name: str, *,
                actor: str = "scheduler", at_ms: int | None = None,
                on_breach: OnBreach | None = None) -> RunOutcome:
    """Evaluate, store the result and raise signals for breaches or a failure, in one
    transaction."""
    with db.read() as session:
        monitor = repo.get_monitor(session, project, name)
    outcome = _attempt(db, artifacts, project, monitor, at_ms if at_ms is not None else now_ms())
    with db.write() as session:
        row = repo.get_monitor(session, project, name)
        repo.add_result(session, row, time_ms=outcome.time_ms, status=outcome.status,
                        n_reference=outcome.n_reference, n_current=outcome.n_current,
                        drift=outcome.drift, quality=outcome.quality,
                        performance=outcome.performance, breaches=outcome.breaches,
                        error=outcome.error)
        signals = ([_failure_signal(row, outcome)] if outcome.status == "error" else
                   _signals(MonitorSpec.from_dict(row.spec), row, outcome))
        for signal in signals:
            folded = ingest(session, project, signal, window_ms=_fold_window_ms(row))
            outcome.incidents.append(folded.incident_id)
        audit.record(session, project=project, actor=actor, action="monitor.run",
                     target=f"monitor:{name}",
                     detail={"status": outcome.status, "breaches": sorted(outcome.breaches)})
    if outcome.breaches and on_breach is not None:
        on_breach(project, name, sorted(outcome.breaches))
    return outcome


def safe_run(db: Database, artifacts: ArtifactStore, project: str, name: str,
             **kwargs: Any) -> RunOutcome | None:
    """For the scheduler: a failing monitor must not stop the others."""
    try:
        return run_monitor(db, artifacts, project, name, **kwargs)
    except TriopsError:
        return None
