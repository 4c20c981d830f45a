"""Native tracking API for triops' SDK: idempotent run creation and exactly-once batches.

``POST /api/v1/runs`` takes a client-chosen run id and returns the existing run when
it is sent again; ``POST /api/v1/runs/{id}/batch`` takes a client-chosen ``batch_id``
and applies each id once. Both can therefore be retried blindly, which is what lets
the SDK spool to disk while the server is down and re-send later.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.ml import MetricPoint, encode_value, get_run
from triops.ml import native_tracking as nt
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/runs", tags=["tracking"])


class RunIn(BaseModel):
    run_id: str = Field(..., description="32 lowercase hex characters chosen by the client")
    experiment: str = Field(..., min_length=1, max_length=500,
                            description="experiment name; created on first use")
    name: str = Field("", max_length=500)
    user_id: str = Field("", max_length=256)
    start_time: int | None = Field(None, ge=0)
    tags: dict[str, str] = Field(default_factory=dict)


class RunOut(BaseModel):
    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    created: bool = False


class BatchIn(BaseModel):
    batch_id: str = Field(..., min_length=8, max_length=64)
    #: ``[key, value, timestamp_ms, step]``; a null value stands for NaN (JSON has none).
    metrics: list[tuple[str, float | None, int, int]] = Field(
        default_factory=list, max_length=nt.MAX_BATCH_POINTS)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class BatchOut(BaseModel):
    batch_id: str
    applied: bool = Field(..., description="false when this batch id was applied before")
    points: int


class EndIn(BaseModel):
    status: Literal["FINISHED", "FAILED", "KILLED"] = "FINISHED"
    end_time: int = Field(..., ge=0)


class RunDetailOut(RunOut):
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, Any]


def _out(run: Any, created: bool = False) -> RunOut:
    return RunOut(run_id=run.run_id, experiment_id=run.experiment_id, name=run.run_name,
                  status=run.status, start_time=run.start_time, end_time=run.end_time,
                  created=created)


@router.post("", response_model=RunOut)
def open_run(body: RunIn, request: Request, caller: Caller = AsEditor) -> RunOut:
    run, created = nt.open_run(
        runtime_of(request).db, caller.project, run_id=body.run_id,
        experiment=body.experiment, run_name=body.name, user_id=body.user_id,
        start_time=body.start_time, tags=body.tags)
    return _out(run, created)


@router.get("/{run_id}", response_model=RunDetailOut)
def read_run(run_id: str, request: Request, caller: Caller = AsViewer) -> RunDetailOut:
    run, details = get_run(runtime_of(request).db, caller.project, run_id)
    return RunDetailOut(**_out(run).model_dump(), params=details.params, tags=details.tags,
                        metrics={m.key: encode_value(m.value) for m in details.metrics})


@router.post("/{run_id}/batch", response_model=BatchOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": BatchIn.model_json_schema()}}}})
async def log_batch(run_id: str, request: Request, caller: Caller = AsEditor) -> BatchOut:
    # Parsed by pydantic-core straight from the bytes: a 10,000-point batch must not
    # go through the standard json module and a model object per point.
    raw = await request.body()
    try:
        body = BatchIn.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"invalid batch at {where or 'body'}: {first['msg']}") from None
    points = [MetricPoint(k, math.nan if v is None else v, ts, step)
              for k, v, ts, step in body.metrics]
    batch = nt.Batch(body.batch_id, points, body.params, body.tags)
    applied = await run_in_threadpool(nt.apply_batch, runtime_of(request).db, caller.project,
                                      run_id, batch)
    return BatchOut(batch_id=body.batch_id, applied=applied, points=len(points))


@router.post("/{run_id}/end", response_model=RunOut)
def end_run(run_id: str, body: EndIn, request: Request, caller: Caller = AsEditor) -> RunOut:
    return _out(nt.close_run(runtime_of(request).db, caller.project, run_id, body.status,
                             body.end_time))
