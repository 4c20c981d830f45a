"""LLM pages: landing, trace list with filters, one trace as tree and waterfall, dashboard."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.llm import (
    SCORE_SOURCES,
    ScoreCondition,
    TraceFilter,
    add_score,
    dashboard,
    get_trace,
    list_traces,
    parse_score_condition,
)
from triops.llm import trace_store as trace_repo
from triops.server import key_store
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui import charts
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm", include_in_schema=False)

#: Time windows offered by the pages, by their label.
WINDOWS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}
PAGE_SIZE = 50


def _number(params: dict[str, str], name: str, problems: list[str]) -> float | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        problems.append(f"{name.replace('_', ' ')} must be a number ≥ 0, got {raw!r}")
        return None
    return value


def _score_conditions(raw: str, problems: list[str]) -> tuple[ScoreCondition, ...]:
    """``helpfulness<0.5; thumbs=false``: conditions separated by semicolons, all must hold."""
    found = []
    for part in (p for p in raw.split(";") if p.strip()):
        try:
            found.append(parse_score_condition(part))
        except InvalidInput as exc:
            problems.append(exc.message)
    return tuple(found)


def _filter_from(params: dict[str, str]) -> tuple[TraceFilter, list[str]]:
    problems: list[str] = []
    since = params.get("since", "")
    offset = _number(params, "offset", problems)
    f = TraceFilter(
        model=params.get("model") or None,
        status=params.get("status") if params.get("status") in ("ok", "error") else None,
        min_latency_ms=_number(params, "min_latency_ms", problems),
        max_latency_ms=_number(params, "max_latency_ms", problems),
        min_cost=_number(params, "min_cost", problems),
        max_cost=_number(params, "max_cost", problems),
        user=params.get("user") or None, session=params.get("session") or None,
        name=params.get("name") or None, api_key=params.get("key") or None,
        start_ms=now_ms() - WINDOWS[since] if since in WINDOWS else None,
        scores=_score_conditions(params.get("score", ""), problems),
        limit=PAGE_SIZE, offset=int(offset or 0),
    )
    return f, problems


@router.get("", response_class=HTMLResponse)
def llm_home(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    end = now_ms()
    with runtime_of(request).db.read() as session:
        day = dashboard(session, caller.project, end - WINDOWS["24h"], end, buckets=24)
        recent, total = list_traces(session, caller.project, TraceFilter(limit=10))
    return render(request, "llm_home.html", day=day, recent=recent, total=total)


@router.get("/traces", response_class=HTMLResponse)
def traces_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    params = {k: v[:512] for k, v in request.query_params.items()}
    f, problems = _filter_from(params)
    with runtime_of(request).db.read() as session:
        traces, total = list_traces(session, caller.project, f)
        models = trace_repo.distinct_values(session, caller.project, "model")
    base = {k: v for k, v in params.items() if v and k != "offset"}
    return render(request, "llm_traces.html", traces=traces, total=total, f=f, params=params,
                  problems=problems, models=models, windows=list(WINDOWS), base=base,
                  page_size=PAGE_SIZE)


@dataclass(frozen=True)
class Bar:
    """One waterfall row: where the span's bar starts and how wide it is, in percent."""

    left: float
    width: float


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(trace_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        detail = get_trace(session, caller.project, trace_id)
        key_names = key_store.names_of(session, [detail.trace.api_key or ""])
    t0, total_ns = detail.trace.start_ns, max(detail.trace.end_ns - detail.trace.start_ns, 1)
    bars = [Bar(left=100 * (n.span.start_ns - t0) / total_ns,
                width=max(100 * (n.span.end_ns - n.span.start_ns) / total_ns, 0.3))
            for n in detail.spans]
    return render(request, "llm_trace.html", d=detail, t=detail.trace, rows=zip(detail.spans, bars),
                  sources=SCORE_SOURCES, key_names=key_names)


def typed_form_value(value: str) -> float | bool | str:
    """What a form's text means: a number, true/false, or else a category's label."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


@router.post("/traces/{trace_id}/scores")
def score_from_page(
    trace_id: str, request: Request, name: str = Form(..., max_length=256),
    value: str = Form(..., max_length=64), comment: str = Form("", max_length=10_000),
    source: str = Form("human", max_length=16), caller: Caller = AsEditor,
) -> Response:
    if not name.strip() or not value.strip():
        raise InvalidInput("a score needs a name and a value")
    with runtime_of(request).db.write() as session:
        add_score(session, caller.project, trace_id, name=name.strip(),
                  value=typed_form_value(value),
                  comment=comment, source=source, actor=caller.actor)
    return RedirectResponse(f"/ui/llm/traces/{trace_id}#scores", status_code=303)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, window: str = "24h", caller: Caller = AsViewer
                   ) -> HTMLResponse:
    if window not in WINDOWS:
        window = "24h"
    end = now_ms()
    with runtime_of(request).db.read() as session:
        d = dashboard(session, caller.project, end - WINDOWS[window], end, buckets=48)
        key_names = key_store.names_of(session, d.by_key)

    def series(values: list[float]) -> list[tuple[float, float]]:
        return [(d.start_ms + (i + 0.5) * d.bucket_ms, v) for i, v in enumerate(values)]

    def chart(title: str, values: list[float], only_busy: bool = False) -> object:
        points = series(values)
        if only_busy:  # a bucket without requests has no latency, not a latency of 0
            points = [p for p, s in zip(points, d.buckets) if s.requests]
        return charts.line_chart(points, width=600, height=200, title=title)

    b = d.buckets
    panels = [
        ("Requests", chart("requests", [s.requests for s in b])),
        ("Errors", chart("errors", [s.errors for s in b])),
        ("p50 latency (ms)", chart("p50 latency", [s.p50_ms for s in b], True)),
        ("p95 latency (ms)", chart("p95 latency", [s.p95_ms for s in b], True)),
        ("Tokens", chart("tokens", [s.tokens for s in b])),
        ("Cost (USD)", chart("cost", [s.cost for s in b])),
    ]
    per_model = [(model, chart(f"tokens of {model}", [s.tokens for s in stats]))
                 for model, stats in d.model_buckets.items()]
    model_bars = {
        "requests": charts.bar_chart([(m, s.requests) for m, s in d.by_model.items()],
                                     title="requests per model"),
        "cost": charts.bar_chart([(m, s.cost) for m, s in d.by_model.items()],
                                 title="cost per model"),
    }
    return render(request, "llm_dashboard.html", d=d, window=window, windows=list(WINDOWS),
                  panels=panels, per_model=per_model, model_bars=model_bars,
                  key_names=key_names)
