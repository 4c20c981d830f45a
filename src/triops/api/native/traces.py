"""Native trace API: list and filter traces, read one as a span tree, attach scores,
and take spans from triops' own SDK."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.llm import (
    PriceTable,
    Score,
    Span,
    SpanKind,
    SpanStatus,
    Trace,
    TraceFilter,
    add_score,
    derive_kind,
    get_trace,
    list_traces,
    parse_score_condition,
    record_spans,
)
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/traces", tags=["traces"])

MAX_SPANS = 50_000


class SpanIn(BaseModel):
    trace_id: str = Field(..., pattern=r"^[0-9a-f]{32}$")
    span_id: str = Field(..., pattern=r"^[0-9a-f]{16}$")
    parent_span_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")
    name: str = Field(..., max_length=1000)
    start_ns: int = Field(..., ge=0)
    end_ns: int = Field(..., ge=0)
    kind: SpanKind = SpanKind.unknown
    status: SpanStatus = SpanStatus.unset
    status_message: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    resource: dict[str, Any] = Field(default_factory=dict)
    service_name: str = Field("", max_length=256)


class SpansIn(BaseModel):
    spans: list[SpanIn] = Field(..., max_length=MAX_SPANS)


class Accepted(BaseModel):
    accepted: int


class SpanOut(BaseModel):
    # Unconstrained: spans from OTLP were checked on the way in, not against SpanIn.
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: SpanKind
    status: SpanStatus
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    service_name: str
    depth: int
    children: list[str]
    duration_ms: float


class TraceOut(BaseModel):
    trace_id: str
    name: str
    start_ms: int
    duration_ms: float
    status: str
    span_count: int
    error_count: int
    model: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    user_id: str | None
    session_id: str | None
    api_key: str | None
    service: str | None


class TracePage(BaseModel):
    traces: list[TraceOut]
    total: int
    limit: int
    offset: int


class ScoreIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=256)
    value: bool | float | str = Field(
        ..., description="a number, true/false, or a category's label (the score config "
                         "of `name`, when there is one, says which)")
    comment: str = Field("", max_length=10_000)
    source: Literal["human", "llm", "code"] = "human"
    span_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")


class ScoreOut(BaseModel):
    id: int
    trace_id: str
    span_id: str | None
    name: str
    value: float
    data_type: str
    string_value: str | None
    comment: str
    source: str
    actor: str
    created_ms: int


class TraceDetailOut(TraceOut):
    spans: list[SpanOut]
    scores: list[ScoreOut]


def trace_out(t: Trace) -> dict[str, Any]:
    return {
        "trace_id": t.trace_id, "name": t.name, "start_ms": t.start_ms,
        "duration_ms": t.duration_ms, "status": t.status, "span_count": t.span_count,
        "error_count": t.error_count, "model": t.model, "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens, "total_tokens": t.total_tokens, "cost": t.cost,
        "user_id": t.user_id, "session_id": t.session_id, "api_key": t.api_key,
        "service": t.service,
    }


def score_out(s: Score) -> ScoreOut:
    return ScoreOut(id=s.id, trace_id=s.trace_id, span_id=s.span_id, name=s.name,
                    value=s.value, data_type=s.data_type, string_value=s.string_value,
                    comment=s.comment, source=s.source, actor=s.actor,
                    created_ms=s.created_ms)


@router.post("/spans", response_model=Accepted, status_code=201)
def post_spans(body: SpansIn, request: Request, caller: Caller = AsEditor) -> Accepted:
    spans = []
    for s in body.spans:
        fields = s.model_dump()
        fields["kind"] = derive_kind(s.attributes, s.kind)
        spans.append(Span(**fields))
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        record_spans(session, caller.project, spans, api_key=caller.principal.key_id or None,
                     prices=PriceTable(runtime.settings.gateway.prices).price)
    return Accepted(accepted=len(spans))


@router.get("", response_model=TracePage)
def get_traces(
    request: Request,
    model: str | None = Query(None, max_length=256),
    status: Literal["ok", "error", "OK", "ERROR"] | None = None,
    min_latency_ms: float | None = Query(None, ge=0),
    max_latency_ms: float | None = Query(None, ge=0),
    min_cost: float | None = Query(None, ge=0),
    max_cost: float | None = Query(None, ge=0),
    user: str | None = Query(None, max_length=256),
    session: str | None = Query(None, max_length=256),
    service: str | None = Query(None, max_length=256),
    name: str | None = Query(None, max_length=512),
    key: str | None = Query(None, max_length=256),
    start_ms: int | None = Query(None, ge=0),
    end_ms: int | None = Query(None, ge=0),
    score: Annotated[list[str] | None, Query(
        max_length=10, description="NAME OP VALUE, e.g. helpfulness<0.5, thumbs=false, "
                                   "verdict!=ok, or NAME alone; repeat to combine")] = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
    caller: Caller = AsViewer,
) -> TracePage:
    f = TraceFilter(
        model=model, status=status.lower() if status else None, min_latency_ms=min_latency_ms,
        max_latency_ms=max_latency_ms, min_cost=min_cost, max_cost=max_cost, user=user,
        session=session, service=service, name=name, api_key=key, start_ms=start_ms,
        end_ms=end_ms, scores=tuple(parse_score_condition(c[:600]) for c in score or ()),
        limit=limit, offset=offset,
    )
    with runtime_of(request).db.read() as db_session:
        traces, total = list_traces(db_session, caller.project, f)
    return TracePage(traces=[TraceOut(**trace_out(t)) for t in traces], total=total,
                     limit=limit, offset=offset)


@router.get("/{trace_id}", response_model=TraceDetailOut)
def get_one(
    request: Request, trace_id: str, caller: Caller = AsViewer
) -> TraceDetailOut:
    with runtime_of(request).db.read() as session:
        detail = get_trace(session, caller.project, trace_id)
    spans = [
        SpanOut(**n.span.__dict__, depth=n.depth, children=n.children, duration_ms=n.span.duration_ms)
        for n in detail.spans
    ]
    return TraceDetailOut(**trace_out(detail.trace), spans=spans,
                          scores=[score_out(s) for s in detail.scores])


@router.post("/{trace_id}/scores", response_model=ScoreOut, status_code=201)
def post_score(
    request: Request, trace_id: str, body: ScoreIn, caller: Caller = AsEditor
) -> ScoreOut:
    with runtime_of(request).db.write() as session:
        score = add_score(session, caller.project, trace_id.lower(), name=body.name,
                          value=body.value, comment=body.comment, source=body.source,
                          actor=caller.actor, span_id=body.span_id)
    return score_out(score)
