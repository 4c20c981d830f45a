"""MLflow metric history: one run's points, and many runs' points sampled by step."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from triops.api.mlflow import _messages as msg
from triops.api.mlflow._common import db_of, int_query, max_results, required
from triops.core.errors import InvalidInput
from triops.ml import decode_page_token, encode_page_token
from triops.ml import run_store as runs
from triops.server.auth import AsViewer, Caller, RoleFirstRoute

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])

#: MLflow's cap on runs per bulk-interval request.
MAX_BULK_RUNS = 100


@router.get("/metrics/get-history")
def get_history(request: Request, run_id: str = "", run_uuid: str = "", metric_key: str = "",
                page_token: str | None = None,
                caller: Caller = AsViewer) -> Response:
    limit_raw = int_query(request, "max_results")
    limit = max_results(limit_raw, 25_000, 25_000) if limit_raw else None
    offset = decode_page_token(page_token)
    with db_of(request).read() as session:
        points = runs.metric_history(session, caller.project,
                                     required(run_id or run_uuid, "run_id"),
                                     required(metric_key, "metric_key"))
    out: dict = {}
    if limit is not None:
        page = points[offset:offset + limit]
        if offset + limit < len(points):
            out["next_page_token"] = encode_page_token(offset + limit)
    else:
        page = points[offset:]
    out["metrics"] = [msg.metric(p) for p in page]
    return msg.reply(out)


def _sample(points: list, limit: int) -> list:
    """Evenly spaced points by position, always keeping the first and the last."""
    if len(points) <= limit:
        return points
    if limit == 1:
        return points[-1:]
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


@router.get("/metrics/get-history-bulk-interval")
def get_history_bulk_interval(request: Request, metric_key: str = "",
                              start_step: int | None = None, end_step: int | None = None,
                              caller: Caller = AsViewer) -> Response:
    run_ids = request.query_params.getlist("run_ids")
    if not run_ids:
        raise InvalidInput("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise InvalidInput(f"at most {MAX_BULK_RUNS} run_ids may be requested at once")
    limit = max_results(int_query(request, "max_results"), 320, 2500)
    key = required(metric_key, "metric_key")
    out = []
    with db_of(request).read() as session:
        for run_id in run_ids:
            points = runs.metric_history(session, caller.project, run_id, key)
            points = [p for p in points
                      if (start_step is None or p.step >= start_step)
                      and (end_step is None or p.step <= end_step)]
            out += [msg.metric(p, run_id) for p in _sample(points, limit)]
    return msg.reply({"metrics": out})
