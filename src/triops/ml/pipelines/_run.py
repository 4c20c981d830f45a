"""Running a pipeline: cache lookups, step calls, and a record of every run and step.

The run row is written (and committed) before the first step starts and each step's row
as soon as it finishes, so a crash leaves a truthful trail: the steps that ran, and a
run still marked ``running``.
"""

from __future__ import annotations

import queue
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ml.pipelines._cache import StepCache, content_hash, step_key
from triops.ml.pipelines._executors import Executor, LocalExecutor
from triops.ml.pipelines._graph import Pipeline, Step
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


@dataclass(frozen=True)
class _Done:
    key: str
    started_ms: int
    seconds: float
    cached: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _call(executor: Executor, cache: StepCache, step: Step, key: str,
          kwargs: dict[str, Any], use_cache: bool) -> _Done:
    """One step, from the cache or through the executor; a failure is its outcome."""
    started, clock = now_ms(), time.perf_counter()
    try:
        outputs = cache.get(key) if use_cache and step.cache else None
        if outputs is not None:
            return _Done(key, started, time.perf_counter() - clock, True, outputs)
        outputs = step.split(executor.call(step, kwargs))
        if step.cache:
            cache.put(key, outputs)
    except Exception as exc:  # noqa: BLE001 - user code: any failure is the run's failure
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _Done(key, started, time.perf_counter() - clock, error=detail)
    return _Done(key, started, time.perf_counter() - clock, False, outputs)


def recorded_run_id(started: queue.Queue[str], running: Future[Any], what: str) -> str:
    """The run id that ``on_start`` put on ``started``, once a run started in the
    background is recorded; raises what stopped it before that, or ``InvalidInput``."""
    while True:
        try:
            return started.get(timeout=0.05)
        except queue.Empty:
            if running.done():
                running.result()  # raises what stopped the run before it was recorded
                raise InvalidInput(f"{what} could not start") from None


def run_pipeline(
    db: Database, artifacts: ArtifactStore, project: str, pipeline: Pipeline,
    params: dict[str, Any] | None = None, *, ref: str = "", executor: Executor | None = None,
    trigger: str = "manual", actor: str = "cli", use_cache: bool = True,
    on_start: Callable[[str], None] | None = None, name: str | None = None,
    stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run every step after the steps it needs; returns the values of all outputs.

    Steps that do not need each other run at the same time, as many at once as the
    executor has ``slots`` (one for the local executor, the cluster's CPUs for Ray).

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
    failure: tuple[str, str] | None = None  # the first failed step and its error
    cancelled_before: str | None = None  # the step that ``stop`` kept from starting
    pending = list(steps)
    running: dict[Future[_Done], Step] = {}
    # An executor from a plug-in written before ``slots`` existed runs one step at a time.
    slots = max(1, getattr(executor, "slots", 1))
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="triops-step") as pool:
        while pending or running:
            # Start every step whose inputs are all there, in graph order, while the
            # executor has room; none after a failure.
            for step in [s for s in pending if all(i in values for i in s.inputs)]:
                if failure is not None or cancelled_before is not None or len(running) >= slots:
                    break
                if stop is not None and stop():
                    cancelled_before = step.name
                    break
                pending.remove(step)
                key = step_key(step.code_hash(), {i: hashes[i] for i in step.inputs})
                running[pool.submit(_call, executor, cache, step, key,
                                    {i: values[i] for i in step.inputs},
                                    use_cache)] = step
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step, done = running.pop(future), future.result()
                with db.write() as session:
                    repo.record_step(session, run.id, step.name,
                                     status="failed" if done.error else "succeeded",
                                     cache_key=done.key, cached=done.cached,
                                     started_ms=done.started_ms, ended_ms=now_ms(),
                                     error=done.error)
                if done.error:
                    failure = failure or (step.name, done.error)
                    continue
                for key_name, value in done.outputs.items():
                    values[key_name] = value
                    hashes[key_name] = content_hash(value)
                result.steps.append(StepOutcome(step.name, done.cached, done.seconds))
    if failure is None and cancelled_before is not None:
        with db.write() as session:
            repo.finish_run(session, run.id, "cancelled", {},
                            f"cancelled before {cancelled_before}")
            audit.record(session, project=project, actor=actor,
                         action="pipeline.run.cancel", target=f"pipeline:{recorded}",
                         detail={"run_id": run.id, "before": cancelled_before})
        result.status = "cancelled"
        return result
    if failure is not None:
        failed, detail = failure
        with db.write() as session:
            repo.finish_run(session, run.id, "failed", {}, f"step {failed}: {detail}")
            audit.record(session, project=project, actor=actor, action="pipeline.run.fail",
                         target=f"pipeline:{recorded}",
                         detail={"run_id": run.id, "step": failed, "error": detail})
        result.status, result.error = "failed", f"step {failed}: {detail}"
        return result
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
