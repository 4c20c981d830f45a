"""Monitors and pipelines, native API.

Monitors: create, list, get, update, delete, run now, results over time. Pipelines: register
(admin: it names code the server will import), list, run (in the background; the
answer carries the run id), run status with its steps.
"""

from __future__ import annotations

import queue
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from triops.core.errors import InvalidInput
from triops.ml import (
    EXECUTORS,
    MonitorSpec,
    RunOutcome,
    code_digest,
    load_pipeline,
    load_registered,
    make_executor,
    recorded_run_id,
    registered_modules,
    run_monitor,
    run_pipeline,
    store_code,
)
from triops.ml import monitor_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsAdmin, AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema_monitoring import Monitor, MonitorResult, PipelineRun

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["monitoring"])
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
MAX_PIPELINE_SOURCE = 1_000_000  # characters of one uploaded pipeline file


class MonitorIn(BaseModel):
    name: str = Field(..., pattern=_NAME)
    endpoint: str = Field(..., min_length=1, max_length=128)
    interval_s: int | None = Field(None, ge=1, le=7 * 86400,
                                   description="run every N seconds; null: on demand only")
    enabled: bool = True
    spec: dict[str, Any] = Field(default_factory=dict, description="see docs/monitoring.md")


class MonitorOut(BaseModel):
    name: str
    endpoint: str
    interval_s: int | None
    enabled: bool
    spec: dict[str, Any]
    created_ms: int
    last_run_ms: int | None
    last_status: str | None = Field(..., description="ok, breach, no_data or error; "
                                                     "null before the first run")
    last_error: str = Field(..., description="why the last run failed; empty otherwise")

    @classmethod
    def of(cls, session: Session, row: Monitor) -> MonitorOut:
        status, error = repo.last_status(session, row)
        return cls(name=row.name, endpoint=row.endpoint, interval_s=row.interval_s,
                   enabled=row.enabled, spec=row.spec, created_ms=row.created_ms,
                   last_run_ms=row.last_run_ms, last_status=status, last_error=error)


class ResultOut(BaseModel):
    time_ms: int
    status: str
    n_reference: int
    n_current: int
    drift: dict[str, Any]
    quality: dict[str, Any]
    performance: dict[str, Any]
    breaches: dict[str, Any]
    error: str
    incidents: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, row: MonitorResult | RunOutcome) -> ResultOut:
        return cls(time_ms=row.time_ms, status=row.status, n_reference=row.n_reference,
                   n_current=row.n_current, drift=row.drift, quality=row.quality,
                   performance=row.performance, breaches=row.breaches, error=row.error,
                   incidents=getattr(row, "incidents", []))


@router.post("/monitors", response_model=MonitorOut, status_code=201)
def create_monitor(body: MonitorIn, request: Request, caller: Caller = AsEditor) -> MonitorOut:
    spec = MonitorSpec.from_dict(body.spec)
    with runtime_of(request).db.write() as session:
        row = repo.create_monitor(session, caller.project, body.name, body.endpoint,
                                  spec.as_dict(), body.interval_s, body.enabled,
                                  actor=caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="monitor.create", target=f"monitor:{body.name}",
                     detail={"endpoint": body.endpoint, "interval_s": body.interval_s})
        return MonitorOut.of(session, row)


@router.get("/monitors", response_model=list[MonitorOut])
def list_monitors(request: Request, caller: Caller = AsViewer) -> list[MonitorOut]:
    with runtime_of(request).db.read() as session:
        return [MonitorOut.of(session, m) for m in repo.list_monitors(session, caller.project)]


@router.get("/monitors/{name}", response_model=MonitorOut)
def get_monitor(name: str, request: Request, caller: Caller = AsViewer) -> MonitorOut:
    with runtime_of(request).db.read() as session:
        return MonitorOut.of(session, repo.get_monitor(session, caller.project, name))


class MonitorPatch(BaseModel):
    interval_s: int | None = Field(None, ge=1, le=7 * 86400)
    clear_interval: bool = Field(False, description="make the monitor on-demand only")
    enabled: bool | None = None
    spec: dict[str, Any] | None = None


@router.patch("/monitors/{name}", response_model=MonitorOut)
def update_monitor(name: str, body: MonitorPatch, request: Request,
                   caller: Caller = AsEditor) -> MonitorOut:
    spec = MonitorSpec.from_dict(body.spec).as_dict() if body.spec is not None else None
    with runtime_of(request).db.write() as session:
        row = repo.update_monitor(session, caller.project, name, spec=spec,
                                  interval_s=body.interval_s, clear_interval=body.clear_interval,
                                  enabled=body.enabled, actor=caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="monitor.update", target=f"monitor:{name}",
                     detail=body.model_dump(exclude={"spec"}) | {"spec": spec is not None})
        return MonitorOut.of(session, row)


@router.delete("/monitors/{name}", status_code=204)
def delete_monitor(name: str, request: Request, caller: Caller = AsEditor) -> Response:
    with runtime_of(request).db.write() as session:
        repo.delete_monitor(session, caller.project, name, actor=caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="monitor.delete", target=f"monitor:{name}")
    return Response(status_code=204)


@router.post("/monitors/{name}/run", response_model=ResultOut)
async def run_now(name: str, request: Request, caller: Caller = AsEditor) -> ResultOut:
    runtime = runtime_of(request)
    service = runtime.monitoring
    outcome = await run_in_threadpool(run_monitor, runtime.db, runtime.artifacts,
                                      caller.project, name, actor=caller.actor,
                                      on_breach=service.on_breach)
    return ResultOut.of(outcome)


@router.get("/monitors/{name}/results", response_model=list[ResultOut])
def results(name: str, request: Request, start_ms: int | None = Query(None, ge=0),
            end_ms: int | None = Query(None, ge=0), limit: int = Query(500, ge=1, le=10_000),
            caller: Caller = AsViewer) -> list[ResultOut]:
    with runtime_of(request).db.read() as session:
        monitor = repo.get_monitor(session, caller.project, name)
        rows = repo.results(session, monitor, start_ms=start_ms, end_ms=end_ms, limit=limit)
        return [ResultOut.of(r) for r in rows]


# -- pipelines ---------------------------------------------------------------------------


class PipelineIn(BaseModel):
    name: str = Field(..., pattern=_NAME)
    ref: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                            description="MODULE:PIPELINE in a module registered with the "
                                        "server (pipeline_modules or 'triops.pipelines' "
                                        "entry points); or give 'source'")
    source: str | None = Field(None, min_length=1, max_length=MAX_PIPELINE_SOURCE,
                               description="the Python source of a pipeline file, stored "
                                           "and run bound to its SHA-256; or give 'ref'")
    pipeline: str | None = Field(None, pattern=r"^[A-Za-z_]\w*$",
                                 description="with 'source': the Pipeline's variable "
                                             "(default: the file's only one)")
    description: str = Field("", max_length=4096)
    replace: bool = Field(False, description="register new code under a name in use")

    @model_validator(mode="after")
    def _one_origin(self) -> PipelineIn:
        if (self.ref is None) == (self.source is None):
            raise ValueError("give exactly one of 'ref' (MODULE:PIPELINE) and 'source'")
        if self.pipeline is not None and self.source is None:
            raise ValueError("'pipeline' goes with 'source'; a 'ref' names its pipeline")
        return self


class PipelineOut(BaseModel):
    name: str
    ref: str
    description: str
    code_sha256: str | None = Field(None, description="SHA-256 of the registered file, "
                                                       "for pipelines registered as source")
    params: list[str] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)


class RunIn(BaseModel):
    params: dict[str, Any] = Field(default_factory=dict)
    executor: Literal["local", "ray"] = "local"
    use_cache: bool = True


class StepOut(BaseModel):
    step: str
    status: str
    cached: bool
    started_ms: int
    ended_ms: int | None
    error: str


class RunOut(BaseModel):
    id: str
    pipeline: str
    status: str
    executor: str
    trigger: str
    params: dict[str, Any]
    outputs: dict[str, Any]
    started_ms: int
    ended_ms: int | None
    error: str
    steps: list[StepOut] = Field(default_factory=list)

    @classmethod
    def of(cls, row: PipelineRun, steps: list[Any] | None = None) -> RunOut:
        return cls(id=row.id, pipeline=row.pipeline, status=row.status, executor=row.executor,
                   trigger=row.trigger, params=row.params, outputs=row.outputs,
                   started_ms=row.started_ms, ended_ms=row.ended_ms, error=row.error,
                   steps=[StepOut(step=s.step, status=s.status, cached=s.cached,
                                  started_ms=s.started_ms, ended_ms=s.ended_ms, error=s.error)
                          for s in steps or []])


@router.post("/pipelines", response_model=PipelineOut, status_code=201)
def register_pipeline(body: PipelineIn, request: Request, caller: Caller = AsAdmin
                      ) -> PipelineOut:
    """Admin only: registering names code the server will run."""
    runtime = runtime_of(request)
    if body.source is not None:
        ref, pipeline = store_code(runtime.artifacts, caller.project, body.source.encode(),
                                   body.pipeline)
    else:
        assert body.ref is not None
        ref = body.ref
        pipeline = load_pipeline(ref, registered_modules(runtime.settings.pipeline_modules))
    steps = [s.name for s in pipeline.order()]
    with runtime.db.write() as session:
        repo.register_pipeline(session, caller.project, body.name, ref, body.description,
                               replace=body.replace)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="pipeline.register", target=f"pipeline:{body.name}",
                     detail={"ref": ref, "code_sha256": code_digest(ref)})
    return PipelineOut(name=body.name, ref=ref, description=body.description,
                       code_sha256=code_digest(ref), params=list(pipeline.params), steps=steps)


@router.get("/pipelines", response_model=list[PipelineOut])
def list_pipelines(request: Request, caller: Caller = AsViewer) -> list[PipelineOut]:
    with runtime_of(request).db.read() as session:
        rows = repo.list_pipelines(session, caller.project)
    return [PipelineOut(name=r.name, ref=r.ref, description=r.description,
                        code_sha256=code_digest(r.ref)) for r in rows]


@router.post("/pipelines/{name}/runs", response_model=RunOut, status_code=202)
def start_run(name: str, body: RunIn, request: Request, caller: Caller = AsEditor) -> RunOut:
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        registered = repo.get_pipeline(session, caller.project, name)
    pipeline = load_registered(registered.ref,
                               registered_modules(runtime.settings.pipeline_modules),
                               runtime.artifacts, caller.project)
    if set(body.params) != set(pipeline.params):
        raise InvalidInput(f"pipeline {name!r} takes parameters {list(pipeline.params)}, "
                           f"got {sorted(body.params)}")
    if body.executor not in EXECUTORS:
        raise InvalidInput(f"executor must be one of {tuple(EXECUTORS)}")
    executor = make_executor(body.executor)
    service = runtime.monitoring
    started: queue.Queue[str] = queue.Queue()
    future = service.submit(run_pipeline, runtime.db, runtime.artifacts, caller.project,
                            pipeline, body.params, ref=registered.ref, executor=executor,
                            trigger=f"api:{caller.actor}", actor=caller.actor,
                            use_cache=body.use_cache, on_start=started.put,
                            name=registered.name)
    # Answer as soon as the run is recorded; the steps go on in the background.
    run_id = recorded_run_id(started, future, "the pipeline run")
    with runtime.db.read() as session:
        return RunOut.of(repo.get_run(session, caller.project, run_id))


@router.get("/pipelines/{name}/runs", response_model=list[RunOut])
def list_runs(name: str, request: Request, limit: int = Query(50, ge=1, le=1000),
              caller: Caller = AsViewer) -> list[RunOut]:
    with runtime_of(request).db.read() as session:
        return [RunOut.of(r) for r in repo.list_runs(session, caller.project, name, limit)]


@router.get("/pipeline-runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, request: Request, caller: Caller = AsViewer) -> RunOut:
    with runtime_of(request).db.read() as session:
        row = repo.get_run(session, caller.project, run_id)
        return RunOut.of(row, repo.steps_of(session, run_id))
