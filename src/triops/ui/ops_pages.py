"""Ops pages: one series with its anomaly markers, the changes of its service and its
capacity forecast, log templates, a template's lines."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.ops import ANOMALY, read_series, subject_of
from triops.ops import changes as ops_changes
from triops.ops import logs as ops_logs
from triops.ops import state_store as ops_repo
from triops.ops.capacity import Assessment, forecast_of, parse_key
from triops.ops.topology import keys as node_types
from triops.ops.topology import load_graph
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.charts import Forecast, Marker, Threshold, bar_chart, line_chart
from triops.ui.rendering import render
from triops.ui.topology_svg import node_href

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/ops", include_in_schema=False)

#: Points drawn at most; the chart reduces them to two per pixel column anyway.
MAX_POINTS = 200_000
MAX_CHANGES = 200


@router.get("/series", response_class=HTMLResponse)
def series_page(
    request: Request,
    key: str = Query(..., min_length=1, max_length=1000),
    start_ms: int | None = Query(None, ge=0),
    end_ms: int | None = Query(None, ge=0),
    caller: Caller = AsViewer,
) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        points = read_series(session, caller.project, key, start_ms, end_ms, MAX_POINTS)
        marks = ops_repo.signal_marks(session, caller.project, ANOMALY, subject_of(key),
                                      start_ms, end_ms)
        state = ops_repo.get_series_state(session, caller.project, key)
        changes = _service_changes(session, caller.project, key, points)
        capacity = forecast_of(session, caller.project, key, end_ms) if points else []
    markers = [
        Marker(x=float(t), label=f"anomaly score {v:.3f}" if v is not None else "anomaly",
               href=f"/ui/incidents/{incident}")
        for t, v, incident in marks
    ]
    flags = [Marker(x=float(c.time_ms), href=node_href(c.entity),
                    label=f"{c.entity}: {c.summary or c.kind}"
                    + (f" (version {c.version})" if c.version else ""))
             for c in changes]
    chart = line_chart([(float(t), v) for t, v in points], markers, title=f"series {key}",
                       changes=flags, forecast=_forecast(key, capacity))
    incidents = sorted({incident for _, _, incident in marks})
    return render(request, "ops_series.html", key=key, chart=chart, points=len(points),
                  truncated=len(points) >= MAX_POINTS, marks=marks[-50:], state=state,
                  incidents=incidents, changes=changes, capacity=capacity,
                  first=points[0][0] if points else None,
                  last=points[-1][0] if points else None)


def _forecast(key: str, found: list[Assessment]) -> Forecast | None:
    """The longest-horizon projection, with each rule's threshold and the crossing
    captioned as its signal would be titled ("disk /var on host-3 full in ~36 h")."""
    if not found:
        return None
    _, labels = parse_key(key)
    p = found[0].projection
    return Forecast(
        points=[(float(t), float(m), float(lo), float(hi))
                for t, m, lo, hi in zip(p.times_ms, p.mean, p.lo, p.hi, strict=True)],
        thresholds=[Threshold(value=a.threshold, label=f"{a.rule.name}: {a.threshold:g}",
                              crossing_x=None if a.crossing_ms is None else float(a.crossing_ms),
                              caption="" if a.crossing_ms is None else a.title(labels),
                              rising=a.rule.direction == "above")
                    for a in found])


def _service_changes(session: Session, project: str, key: str,
                     points: list[tuple[int, float]]) -> list[ops_changes.Change]:
    """Changes, within the drawn time range, of the services the series measures."""
    if not points:
        return []
    graph = load_graph(session, project)
    services = sorted(n for n in graph.neighbours(subject_of(key))
                      if graph.nodes[n].type == node_types.SERVICE)
    if not services:
        return []
    return ops_changes.search(session, project, entities=services, since_ms=points[0][0],
                              until_ms=points[-1][0], limit=MAX_CHANGES)


@router.get("/logs", response_class=HTMLResponse)
def logs_page(
    request: Request, stream: str | None = Query(None, max_length=200), caller: Caller = AsViewer
) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        streams = ops_repo.list_streams(session, caller.project)
        found = ops_logs.templates(session, caller.project, stream) if streams else []
    top = sorted(found, key=lambda t: -t.count)[:15]
    chart = bar_chart([(f"{t.stream}/{t.event_id}", float(t.count)) for t in top],
                      width=720, title="lines per template") if top else None
    return render(request, "ops_logs.html", streams=streams, stream=stream or "",
                  templates=found, chart=chart)


@router.get("/logs/lines", response_class=HTMLResponse)
def log_lines_page(
    request: Request,
    stream: str = Query(..., min_length=1, max_length=200),
    template: str | None = Query(None, max_length=24),
    caller: Caller = AsViewer,
) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        lines = ops_logs.query_lines(session, caller.project, stream=stream, template=template,
                                     limit=500)
    return render(request, "ops_log_lines.html", stream=stream, template=template or "",
                  lines=lines)
