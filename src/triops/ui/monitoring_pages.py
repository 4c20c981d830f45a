"""Monitoring pages: the monitors of a project, one monitor's drift per feature and
metrics over time, the drift report of one monitor run (a page, or one HTML file to
download), and the pipeline runs with their steps."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.ids import now_ms
from triops.ml import monitor_store as repo
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui import drift_report
from triops.ui.charts import Marker, Threshold, line_chart
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/ml", include_in_schema=False)


@router.get("/monitors", response_class=HTMLResponse)
def monitors_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        monitors = repo.list_monitors(session, caller.project)
        latest = {m.name: repo.last_result(session, m) for m in monitors}
        pipelines = repo.list_pipelines(session, caller.project)
        runs = repo.list_runs(session, caller.project, limit=20)
    return render(request, "monitoring_list.html", monitors=monitors, latest=latest,
                  pipelines=pipelines, runs=runs)


def _series(rows: list, section: str, key: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        for name, values in (getattr(r, section) or {}).items():
            value = values.get(key) if isinstance(values, dict) else None
            if isinstance(value, (int, float)):
                out.setdefault(name, []).append((float(r.time_ms), float(value)))
    return out


@router.get("/monitors/{name}", response_class=HTMLResponse)
def monitor_page(request: Request, name: str, limit: int = Query(500, ge=1, le=10_000),
                 caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        monitor = repo.get_monitor(session, caller.project, name)
        rows = repo.results(session, monitor, limit=limit)
    drift = _series(rows, "drift", "score")
    latest_drift = rows[-1].drift if rows else {}
    thresholds = {c: v.get("threshold") for c, v in latest_drift.items()}
    drift_charts = []
    for feature, points in sorted(drift.items()):
        # A red dot where this feature drifted, not wherever any feature did.
        marks = [Marker(x=float(r.time_ms), label=f"{feature} drifted",
                        href=f"/ui/ml/monitors/{quote(name)}/results/{r.id}")
                 for r in rows if ((r.drift or {}).get(feature) or {}).get("drifted")]
        limit = thresholds.get(feature)
        lines = [] if limit is None else [Threshold(
            value=float(limit), label=drift_report.rule_of(
                str(latest_drift[feature].get("test", "")), limit))]
        drift_charts.append((feature, line_chart(
            points, marks, width=720, height=200, title=f"drift score of {feature}",
            name=f"{feature} score", thresholds=lines, markers_name="drifted")))
    metrics: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        for metric, value in ((r.performance or {}).get("metrics") or {}).items():
            if isinstance(value, (int, float)):
                metrics.setdefault(metric, []).append((float(r.time_ms), float(value)))
    metric_charts = [(metric, line_chart(points, width=720, height=180, title=metric))
                     for metric, points in sorted(metrics.items())]
    fairness_charts, fairness_latest = _fairness(rows, name)
    return render(request, "monitoring_monitor.html", monitor=monitor, rows=rows[-20:][::-1],
                  drift_charts=drift_charts, metric_charts=metric_charts,
                  fairness_charts=fairness_charts, fairness_latest=fairness_latest,
                  thresholds=thresholds, latest=rows[-1] if rows else None)


def _report(request: Request, caller: Caller, name: str, result_id: int) -> dict:
    with runtime_of(request).db.read() as session:
        monitor = repo.get_monitor(session, caller.project, name)
        result = repo.get_result(session, monitor, result_id)
    return {"monitor": monitor, "result": result,
            "features": drift_report.features(result.drift or {})}


@router.get("/monitors/{name}/results/{result_id}", response_class=HTMLResponse)
def report_page(request: Request, name: str, result_id: int,
                caller: Caller = AsViewer) -> HTMLResponse:
    return render(request, "monitoring_report.html", **_report(request, caller, name, result_id))


@router.get("/monitors/{name}/results/{result_id}/report.html", response_class=HTMLResponse)
def report_file(request: Request, name: str, result_id: int,
                caller: Caller = AsViewer) -> HTMLResponse:
    """The same report as one HTML file that opens without triops or a network."""
    context = _report(request, caller, name, result_id)
    stamp = context["result"].time_ms // 1000
    filename = quote(f"drift-{name}-{stamp}.html")
    return HTMLResponse(drift_report.standalone({**context, "exported_ms": now_ms()}),
                        headers={"Content-Disposition":
                                 f"attachment; filename*=UTF-8''{filename}"})


def _fairness(rows: list, name: str) -> tuple[list, dict]:
    """Each window's gaps per sensitive feature over time, and the newest window's
    groups (the run that last computed them)."""
    gaps: dict[str, list[tuple[float, float]]] = {}
    latest: dict = {}
    for r in rows:
        by = ((r.performance or {}).get("fairness") or {}).get("by") or {}
        for feature, report in by.items():
            for gap in ("demographic_parity_difference", "equalized_odds_difference"):
                value = report.get(gap)
                if isinstance(value, (int, float)):
                    gaps.setdefault(f"{gap} by {feature}", []).append(
                        (float(r.time_ms), float(value)))
        if by:
            latest = by
    # A red dot on the runs whose gap went past the threshold, linked to that run.
    marks = [Marker(x=float(r.time_ms), label="fairness breach",
                    href=f"/ui/ml/monitors/{quote(name)}/results/{r.id}")
             for r in rows if "fairness" in (r.breaches or {})]
    charts = [(name, line_chart(points, marks, width=720, height=180, title=name))
              for name, points in sorted(gaps.items())]
    return charts, latest


@router.get("/pipeline-runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        run = repo.get_run(session, caller.project, run_id)
        steps = repo.steps_of(session, run_id)
    return render(request, "monitoring_run.html", run=run, steps=steps)
