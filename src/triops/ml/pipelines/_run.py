"""Running a pipeline: cache lookups, step calls, and a record of every run and step.

The run row is written (and committed) before the first step starts and each step's row
as soon as it finishes, so a crash leaves a truthful trail: the steps that ran, and a
run still marked ``running``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ml.pipelines._cache import StepCache, content_hash, step_key
from triops.ml.pipelines._executors import Executor, LocalExecutor
from triops.ml.pipelines._graph import Pipeline
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import audit
from triops.store.repos import monitoring as repo


@dataclass(frozen=True)
class StepOutcome:
    step: str
    cached: bool
    seconds: float


@dataclass
class RunResult:
    run_id: str
    status: str
    values: dict[str, Any] = field(default_factory=dict)
    steps: list[StepOutcome] = field(default_factory=list)
    error: str = ""


def _summary(value: Any) -> Any:
    """What the run row keeps of an output: small plain values, else their type."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value if not isinstance(value, str) or len(value) < 1000 else value[:1000]
    return {"type": type(value).__name__}


def run_pipeline(
    db: Database, artifacts: ArtifactStore, project: str, pipeline: Pipeline,
    params: dict[str, Any] | None = None, *, ref: str = "", executor: Executor | None = None,
    trigger: str = "manual", actor: str = "cli", use_cache: bool = True,
    on_start: Callable[[str], None] | None = None, name: str | None = None,
    stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run every step in order; returns the values of all outputs.

    ``stop`` is asked before each step: when it answers True the run ends ``cancelled``
    (a step already running finishes first; a step cannot be interrupted safely).

    ``on_start`` is called with the run id once the run is recorded (before any step),
    so a caller running this in the background can answer with the id at once.
    ``name`` is what the run is recorded under (the registered name; default the
    pipeline's own).
    """
    recorded = name or pipeline.name
    params = dict(params or {})
    unknown = sorted(set(params) - set(pipeline.params))
    missing = sorted(set(pipeline.params) - set(params))
    if unknown or missing:
        raise InvalidInput(f"pipeline {pipeline.name!r} takes parameters {list(pipeline.params)}"
                           f"; unknown: {unknown}, missing: {missing}")
    steps = pipeline.order()
    executor = executor or LocalExecutor()
    cache = StepCache(artifacts, project)
    with db.write() as session:
        run = repo.start_run(session, project, recorded, ref or pipeline.name,
                             executor=executor.name, trigger=trigger,
                             params={k: _summary(v) for k, v in params.items()})
        audit.record(session, project=project, actor=actor, action="pipeline.run.start",
                     target=f"pipeline:{recorded}",
                     detail={"run_id": run.id, "executor": executor.name, "trigger": trigger})
    if on_start is not None:
        on_start(run.id)
    result = RunResult(run_id=run.id, status="running")
    values: dict[str, Any] = dict(params)
    hashes: dict[str, str] = {k: content_hash(v) for k, v in params.items()}
    for step in steps:
        if stop is not None and stop():
            with db.write() as session:
                repo.finish_run(session, run.id, "cancelled", {}, f"cancelled before {step.name}")
                audit.record(session, project=project, actor=actor,
                             action="pipeline.run.cancel", target=f"pipeline:{recorded}",
                             detail={"run_id": run.id, "before": step.name})
            result.status = "cancelled"
            return result
        started, clock = now_ms(), time.perf_counter()
        key = step_key(step.code_hash(), {i: hashes[i] for i in step.inputs})
        try:
            outputs = cache.get(key) if use_cache and step.cache else None
            cached = outputs is not None
            if outputs is None:
                outputs = step.split(executor.call(step, {i: values[i] for i in step.inputs}))
                if step.cache:
                    cache.put(key, outputs)
        except Exception as exc:  # noqa: BLE001 - user code: any failure is the run's failure
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            with db.write() as session:
                repo.record_step(session, run.id, step.name, status="failed", cache_key=key,
                                 cached=False, started_ms=started, ended_ms=now_ms(),
                                 error=detail)
                repo.finish_run(session, run.id, "failed", {}, f"step {step.name}: {detail}")
                audit.record(session, project=project, actor=actor, action="pipeline.run.fail",
                             target=f"pipeline:{recorded}",
                             detail={"run_id": run.id, "step": step.name, "error": detail})
            result.status, result.error = "failed", f"step {step.name}: {detail}"
            return result
        for key_name, value in outputs.items():
            values[key_name] = value
            hashes[key_name] = content_hash(value)
        result.steps.append(StepOutcome(step.name, cached, time.perf_counter() - clock))
        with db.write() as session:
            repo.record_step(session, run.id, step.name, status="succeeded", cache_key=key,
                             cached=cached, started_ms=started, ended_ms=now_ms())
    produced = {k: v for k, v in values.items() if k not in params}
    with db.write() as session:
        repo.finish_run(session, run.id, "succeeded",
                        {k: _summary(v) for k, v in produced.items()})
        audit.record(session, project=project, actor=actor, action="pipeline.run.finish",
                     target=f"pipeline:{recorded}",
                     detail={"run_id": run.id,
                             "cached_steps": [s.step for s in result.steps if s.cached]})
    result.status, result.values = "succeeded", produced
    return result
