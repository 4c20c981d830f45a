"""Native telemetry intake and query: JSON batches of samples and of log lines.

Samples are scored by their series' detector on the way in (:mod:`triops.ops.detection`);
log lines are mined into templates per stream (:mod:`triops.ops.logs`).
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ops import MetricSample, ingest_samples, list_series, read_series
from triops.ops import logs as ops_logs
from triops.ops.capacity import evaluate_samples
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/ops", tags=["telemetry"])

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
    #: Points scored by their series' detector; ``late`` ones (not newer than the
    #: newest point already scored) are stored but not scored.
    scored: int = 0
    late: int = 0
    anomalies: int = 0


class PointOut(BaseModel):
    ts_ms: int
    value: float


class SeriesOut(BaseModel):
    series: str
    points: list[PointOut]


@router.post("/samples", response_model=Accepted, status_code=201)
def post_samples(body: SamplesIn, request: Request, caller: Caller = AsEditor) -> Accepted:
    samples = [MetricSample(s.name, s.ts_ms, s.value, s.labels) for s in body.samples]
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        report = ingest_samples(session, caller.project, samples,
                                cache=runtime.detector_cache)
        evaluate_samples(session, caller.project, samples,
                         runtime.settings.capacity_interval_s * 1000)
    return Accepted(accepted=report.accepted, scored=report.scored, late=report.late,
                    anomalies=len(report.anomalies))


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


# -- log lines ----------------------------------------------------------------------

MAX_LOG_BATCH = 50_000


class LogLineIn(BaseModel):
    body: str = Field(..., max_length=1_048_576)
    stream: str | None = Field(None, min_length=1, max_length=200)
    ts_ms: int | None = Field(None, ge=0)
    severity: str = Field("", max_length=32)
    attributes: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, max_length=64)
    trace_id: str = Field("", pattern=r"^([0-9a-f]{32})?$")
    span_id: str = Field("", pattern=r"^([0-9a-f]{16})?$")


class LogLinesIn(BaseModel):
    #: Stream (service) of every line that names none itself.
    stream: str | None = Field(None, min_length=1, max_length=200)
    lines: list[LogLineIn] = Field(..., max_length=MAX_LOG_BATCH)


class LogsAccepted(BaseModel):
    accepted: int
    truncated: int
    new_templates: int
    signals: int


class LogLineOut(BaseModel):
    stream: str
    ts_ms: int
    body: str
    severity: str = ""
    template: str
    attributes: dict[str, object] = Field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""
    truncated: int | None = None


class TemplateOut(BaseModel):
    stream: str
    id: str
    template: str
    count: int
    first_ms: int | None
    last_ms: int | None


@router.post("/logs", response_model=LogsAccepted, status_code=201)
def post_logs(body: LogLinesIn, request: Request, caller: Caller = AsEditor) -> LogsAccepted:
    received = now_ms()
    lines = []
    for i, line in enumerate(body.lines):
        stream = line.stream or body.stream
        if not stream:
            raise InvalidInput(f"lines[{i}] has no stream and the batch names none")
        lines.append(ops_logs.LogLine(
            stream=stream, ts_ms=received if line.ts_ms is None else line.ts_ms,
            body=line.body, severity=line.severity, attributes=line.attributes,
            trace_id=line.trace_id, span_id=line.span_id,
        ))
    with runtime_of(request).db.write() as session:
        report = ops_logs.ingest_lines(session, caller.project, lines)
    return LogsAccepted(accepted=report.accepted, truncated=report.truncated,
                        new_templates=report.new_templates, signals=report.signals)


@router.get("/logs", response_model=list[LogLineOut])
def get_logs(
    request: Request,
    stream: str | None = Query(None, max_length=200),
    template: str | None = Query(None, max_length=24),
    start_ms: int | None = Query(None, ge=0),
    end_ms: int | None = Query(None, ge=0),
    limit: int = Query(1000, ge=1, le=100_000),
    caller: Caller = AsViewer,
) -> list[LogLineOut]:
    with runtime_of(request).db.read() as session:
        found = ops_logs.query_lines(session, caller.project, stream=stream, template=template,
                                     start_ms=start_ms, end_ms=end_ms, limit=limit)
    return [
        LogLineOut(stream=r.stream, ts_ms=r.ts_ms, body=r.data.get("body", ""),
                   severity=r.data.get("severity", ""),
                   template=f"E{r.template_id}",
                   attributes=r.data.get("attributes", {}), trace_id=r.data.get("trace_id", ""),
                   span_id=r.data.get("span_id", ""), truncated=r.data.get("truncated"))
        for r in found
    ]


@router.get("/templates", response_model=list[TemplateOut])
def get_templates(
    request: Request, stream: str | None = Query(None, max_length=200), caller: Caller = AsViewer
) -> list[TemplateOut]:
    with runtime_of(request).db.read() as session:
        found = ops_logs.templates(session, caller.project, stream)
    return [
        TemplateOut(stream=t.stream, id=t.event_id, template=t.template, count=t.count,
                    first_ms=t.first_ms, last_ms=t.last_ms)
        for t in found
    ]
