"""``/v1/fine_tuning/jobs`` as OpenAI serves it: create, list, retrieve, cancel, events.

The ``model`` of a job is a gateway model alias: its first deployment says which
upstream trains (one that offers OpenAI's fine-tuning API) and from which base model; or
``pipeline:<name>``, a pipeline registered in the project, which trains on the server's
own pipeline executors. A job is read through from its provider whenever it is read
(``triops.ml.fine_tuning``).
Creating and cancelling need an editor, reads a viewer.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.ml import fine_tuning
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.fine_tuning import provider_for_model, provider_of_job, synced
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, tags=["openai"])


class JobIn(BaseModel):
    model: str = Field(..., min_length=1, max_length=256,
                       description="a gateway model alias; its upstream trains")
    training_file: str = Field(..., min_length=1, max_length=40)
    validation_file: str | None = Field(None, max_length=40)
    hyperparameters: dict[str, int | float | str] = Field(default_factory=dict, max_length=10)
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = Field(None, max_length=16)


class JobOut(BaseModel):
    id: str
    object: str
    created_at: int
    finished_at: int | None
    model: str
    fine_tuned_model: str | None
    organization_id: str
    result_files: list[str]
    status: str
    validation_file: str | None
    training_file: str
    hyperparameters: dict[str, Any]
    trained_tokens: int | None
    error: dict[str, Any] | None
    seed: int | None
    estimated_finish: int | None
    integrations: list[Any]
    metadata: dict[str, str] | None
    user_provided_suffix: str | None
    method: dict[str, Any]
    triops: dict[str, Any]


class JobListOut(BaseModel):
    object: str = "list"
    data: list[JobOut]
    has_more: bool


class EventOut(BaseModel):
    id: str
    object: str
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any]


class EventListOut(BaseModel):
    object: str = "list"
    data: list[EventOut]
    has_more: bool


def _out(job: Any) -> JobOut:
    return JobOut(**fine_tuning.job_dict(job))


@router.post("/v1/fine_tuning/jobs", response_model=JobOut,
             summary="Create a fine-tuning job (OpenAI-compatible)")
async def create_job(body: JobIn, request: Request, caller: Caller = AsEditor) -> JobOut:
    rt = runtime_of(request)
    provider, upstream, upstream_model = provider_for_model(rt, caller.project, body.model,
                                                            body.metadata)
    job = await anyio.to_thread.run_sync(lambda: fine_tuning.create(
        rt.db, rt.artifacts, caller.project, provider, model=body.model,
        upstream=upstream, upstream_model=upstream_model,
        training_file=body.training_file, validation_file=body.validation_file,
        hyperparameters=body.hyperparameters, suffix=body.suffix, seed=body.seed,
        metadata=body.metadata or {}, actor=caller.actor))
    return _out(job)


async def _synced(request: Request, caller: Caller, job_id: str) -> Any:
    return await anyio.to_thread.run_sync(synced, runtime_of(request), caller.project, job_id)


@router.get("/v1/fine_tuning/jobs", response_model=JobListOut,
            summary="List the project's fine-tuning jobs, newest first")
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=100),
              after: str | None = Query(None, max_length=64),
              caller: Caller = AsViewer) -> JobListOut:
    jobs, more = fine_tuning.listing(runtime_of(request).db, caller.project, limit, after)
    return JobListOut(data=[_out(j) for j in jobs], has_more=more)


@router.get("/v1/fine_tuning/jobs/{job_id}", response_model=JobOut,
            summary="One fine-tuning job, brought up to date with its provider")
async def retrieve_job(job_id: str, request: Request, caller: Caller = AsViewer) -> JobOut:
    return _out(await _synced(request, caller, job_id))


@router.post("/v1/fine_tuning/jobs/{job_id}/cancel", response_model=JobOut,
             summary="Cancel a fine-tuning job that has not finished")
async def cancel_job(job_id: str, request: Request, caller: Caller = AsEditor) -> JobOut:
    rt = runtime_of(request)
    job = fine_tuning.get(rt.db, caller.project, job_id)
    provider = provider_of_job(rt, job)
    return _out(await anyio.to_thread.run_sync(fine_tuning.cancel, rt.db, caller.project,
                                               job_id, provider))


@router.get("/v1/fine_tuning/jobs/{job_id}/events", response_model=EventListOut,
            summary="A fine-tuning job's events, newest first")
async def job_events(job_id: str, request: Request, limit: int = Query(20, ge=1, le=1000),
                     after: str | None = Query(None, max_length=64),
                     caller: Caller = AsViewer) -> EventListOut:
    await _synced(request, caller, job_id)
    rows, more = fine_tuning.events(runtime_of(request).db, caller.project, job_id, limit,
                                    after)
    return EventListOut(data=[EventOut(**fine_tuning.event_dict(r)) for r in rows],
                        has_more=more)
