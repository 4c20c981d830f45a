"""The MLflow tracking client's hot routes, served before the framework's router is
consulted (see ``triops.api.shortcut``): ``runs/log-metric``, ``runs/log-batch``,
``runs/log-parameter``, ``runs/set-tag``, ``runs/get`` and ``runs/search``, under both of
MLflow's prefixes. A logging client calls these once per value, so routing cost per call
counts; a search is what the UI and the client's ``search_runs`` wait on.

A body is served here only when it is JSON (``application/json``) that parses and
validates into the route's model; anything else goes on to the declared route, so a
malformed request gets the framework's own answer, word for word. A ``log-batch`` body
is parsed once, by the input guard, which checks the value instead of the bytes
(``is_log_batch``); the other routes' bodies are small enough for the byte checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from triops.api.mlflow import runs
from triops.api.shortcut import Handler, HotRoute, Shortcut
from triops.core.principals import Role
from triops.server.auth import Caller
from triops.server.input_guard import NOT_READ, checked_columns, checked_json

PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
M = TypeVar("M", bound=BaseModel)
_LOG_BATCH_PATHS = frozenset(prefix + "/runs/log-batch" for prefix in PREFIXES)


def is_log_batch(scope: Scope) -> bool:
    """Whether the request is a ``log-batch``: the input guard reads its body for it (one
    orjson parse and a check of the value, column by column, instead of byte scans of
    126 kB and then this module's own parse)."""
    return scope.get("method") == "POST" and scope["path"] in _LOG_BATCH_PATHS


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json"


async def _json_object(request: Request) -> dict | None:
    """The body as a JSON object, or ``None`` for the declared route to answer."""
    if not _is_json(request):
        return None
    data = checked_json(request.scope)  # the value the input guard read, if it read one
    if data is NOT_READ:
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None  # orjson is stricter than json (NaN literals, huge ints): the route decides
    return data if type(data) is dict else None


def _with_body(model: type[M], serve: Callable[[Request, Caller, M], Awaitable[Response]]
               ) -> Handler:
    async def handler(request: Request, caller: Caller) -> Response | None:
        data = await _json_object(request)
        if data is None:
            return None
        try:
            body = model.model_validate(data)
        except ValidationError:
            return None
        return await serve(request, caller, body)

    return handler


async def _log_batch(request: Request, caller: Caller) -> Response | None:
    """``_with_body`` for ``log-batch``, with plain metrics read as columns without a
    model each (``runs.plain_metrics``; the columns the input guard read, when it did):
    the rest of the body is still validated by the model."""
    data = await _json_object(request)
    if data is None:
        return None
    metrics = data.get("metrics", [])
    plain = runs.plain_metrics(metrics, checked_columns(request.scope, metrics))
    try:
        body = runs.LogBatch.model_validate(data if plain is None else {**data, "metrics": []})
    except ValidationError:
        return None
    return await runs.serve_log_batch(request, caller, body, plain)


async def _get(request: Request, caller: Caller) -> Response:
    query = request.query_params
    return await runs.serve_get(request, caller,
                                query.get("run_id", "") or query.get("run_uuid", ""))


_ROUTES: list[tuple[str, str, Role, Handler]] = [
    ("POST", "/runs/log-metric", Role.editor, _with_body(runs.LogMetric, runs.serve_log_metric)),
    ("POST", "/runs/log-batch", Role.editor, _log_batch),
    ("POST", "/runs/log-parameter", Role.editor, _with_body(runs.LogParam, runs.serve_log_param)),
    ("POST", "/runs/set-tag", Role.editor, _with_body(runs.SetTag, runs.serve_set_tag)),
    ("GET", "/runs/get", Role.viewer, _get),
    ("POST", "/runs/search", Role.viewer, _with_body(runs.SearchRuns, runs.serve_search)),
]


class MlflowShortcut(Shortcut):
    # Labelled in metrics by the path within the prefix, as the included routes are.
    routes: ClassVar[dict[tuple[str, str], HotRoute]] = {
        (method, prefix + path): HotRoute(path, role, handler)
        for prefix in PREFIXES for method, path, role, handler in _ROUTES}
