"""Native telemetry intake and query: JSON batches of samples."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.api.auth import AsEditor, AsViewer, Caller
from triops.api.runtime import runtime_of
from triops.ops.telemetry import Sample, append_samples, list_series, read_series

router = APIRouter(prefix="/api/v1/ops", tags=["telemetry"])

MAX_BATCH = 100_000


class SampleIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    ts_ms: int = Field(..., ge=0)
    value: float


class SamplesIn(BaseModel):
    samples: list[SampleIn] = Field(..., max_length=MAX_BATCH)


class Accepted(BaseModel):
    accepted: int


class PointOut(BaseModel):
    ts_ms: int
    value: float


class SeriesOut(BaseModel):
    series: str
    points: list[PointOut]


@router.post("/samples", response_model=Accepted, status_code=201)
def post_samples(body: SamplesIn, request: Request, caller: Caller = AsEditor) -> Accepted:
    samples = [Sample(s.name, s.ts_ms, s.value, s.labels) for s in body.samples]
    with runtime_of(request).db.write() as session:
        count = append_samples(session, caller.project, samples)
    return Accepted(accepted=count)


@router.get("/series", response_model=list[str])
def get_series(
    request: Request, prefix: str | None = Query(None, max_length=200), caller: Caller = AsViewer
) -> list[str]:
    with runtime_of(request).db.read() as session:
        return list_series(session, caller.project, prefix)


@router.get("/samples", response_model=SeriesOut)
def get_samples(
    request: Request,
    series: str = Query(..., max_length=1000),
    start_ms: int | None = Query(None, ge=0),
    end_ms: int | None = Query(None, ge=0),
    limit: int = Query(10_000, ge=1, le=1_000_000),
    caller: Caller = AsViewer,
) -> SeriesOut:
    with runtime_of(request).db.read() as session:
        points = read_series(session, caller.project, series, start_ms, end_ms, limit)
    return SeriesOut(series=series, points=[PointOut(ts_ms=t, value=v) for t, v in points])
