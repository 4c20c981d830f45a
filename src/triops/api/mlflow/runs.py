"""MLflow runs: lifecycle, logging (metric, param, tag, batch, inputs, outputs), search."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from pydantic import Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from triops import ml
from triops.api.mlflow import _messages as msg
from triops.api.mlflow._common import (
    KeyValue,
    Message,
    db_of,
    max_results,
    pairs,
    required,
    view_type,
)
from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ml import run_search_store as runs_search
from triops.ml import run_store as run_repo
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.input_guard import Column, columns_of
from triops.store.engine import Database

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])


class RunRef(Message):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> str:
        return required(self.run_id or self.run_uuid, "run_id")


class CreateRun(Message):
    experiment_id: str | None = None
    user_id: str | None = None
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] | None = None


class UpdateRun(RunRef):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class MetricIn(Message):
    key: str | None = None
    value: float
    timestamp: int | None = None
    step: int | None = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # Booleans are numbers to pydantic; to MLflow a metric value must be a real number.
        if isinstance(value, bool) or value is None:
            raise ValueError("metric value must be a number")
        return value

    def point(self) -> ml.MetricPoint:
        return ml.MetricPoint(
            key=required(self.key, "key"), value=float(self.value),
            timestamp=self.timestamp if self.timestamp is not None else now_ms(),
            step=self.step or 0, model_id=self.model_id or None,
            dataset_name=self.dataset_name or None, dataset_digest=self.dataset_digest or None)


class LogMetric(RunRef, MetricIn):
    pass


class LogParam(RunRef):
    key: str | None = None
    value: str | None = None


class SetTag(RunRef):
    key: str | None = None
    value: str | None = None


class LogBatch(RunRef):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


def plain_metrics(metrics: object, columns: dict[str, Column] | None = None
                  ) -> ml.MetricColumns | None:
    """A ``log-batch`` body's parsed ``metrics`` as columns, without a model or a point
    per metric, when every one is exactly ``{key, value, timestamp, step}`` with a
    non-empty string key, a number value (not a boolean) and integer time and step: what
    the stock client sends. The values are the ones ``MetricIn`` would give; anything
    else (another field, another type, a missing value) is ``None``, for the model to
    decide. ``columns`` are ``metrics``' own, when the input guard already read them.

    >>> plain_metrics([{"key": "loss", "value": 1, "timestamp": 5, "step": 2}])
    MetricColumns(keys=('loss',), values=(1.0,), timestamps=(5,), steps=(2,), model_ids=(None,), dataset_names=(None,), dataset_digests=(None,))
    >>> plain_metrics([{"key": "loss", "value": True, "timestamp": 5, "step": 2}]) is None
    True
    """
    if type(metrics) is not list:
        return None
    if not metrics:
        return ml.MetricColumns.of(())
    if columns is None:
        columns = columns_of(metrics)
    if columns is None or columns.keys() != _PLAIN_FIELDS:
        return None
    keys, values, timestamps, steps = (columns[field] for field in _PLAIN_ORDER)
    if keys.types != _STR or "" in keys.values or not values.types <= _NUMBER \
            or timestamps.types != _INT or steps.types != _INT:
        return None
    floats = values.values if values.types == _FLOAT else tuple(map(float, values.values))
    none = (None,) * len(metrics)  # no model or dataset
    return ml.MetricColumns(keys.values, floats, timestamps.values, steps.values,
                            none, none, none)


_PLAIN_ORDER = ("key", "value", "timestamp", "step")
_PLAIN_FIELDS = frozenset(_PLAIN_ORDER)
_STR, _INT, _FLOAT = frozenset((str,)), frozenset((int,)), frozenset((float,))
_NUMBER = frozenset((float, int))


class DatasetIn(Message):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema_: str | None = Field(None, alias="schema")
    profile: str | None = None


class DatasetInputIn(Message):
    tags: list[KeyValue] | None = None
    dataset: DatasetIn


class ModelRef(Message):
    model_id: str
    step: int | None = 0


class LogInputs(RunRef):
    datasets: list[DatasetInputIn] = Field(default_factory=list)
    models: list[ModelRef] = Field(default_factory=list)


class LogOutputs(RunRef):
    models: list[ModelRef] = Field(default_factory=list)


class SearchRuns(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: str | int | None = None
    max_results: int | None = None
    order_by: list[str] | None = None
    page_token: str | None = None


@router.post("/runs/create")
def create(body: CreateRun, request: Request, caller: Caller = AsEditor) -> Response:
    run, details = ml.create_run(
        db_of(request), caller.project, body.experiment_id or "0",
        user_id=body.user_id or caller.principal.name, run_name=body.run_name,
        start_time=body.start_time, tags=pairs(body.tags))
    return msg.reply({"run": msg.run(run, details)})


@router.post("/runs/update")
def update(body: UpdateRun, request: Request, caller: Caller = AsEditor) -> Response:
    run = ml.update_run(db_of(request), caller.project, body.id, status=body.status,
                        end_time=body.end_time, run_name=body.run_name)
    return msg.reply({"run_info": msg.run_info(run)})


# The hot routes below (get, log-metric, log-parameter, set-tag, log-batch, and search
# further down) are also served by ``triops.api.mlflow.shortcut`` before the router is
# consulted: both call the same ``serve_*`` function once the caller and the body are known.


async def serve_get(request: Request, caller: Caller, run_id: str) -> Response:
    run, details = await anyio.to_thread.run_sync(
        ml.get_run, db_of(request), caller.project, required(run_id, "run_id"))
    return msg.reply({"run": msg.run(run, details)})


@router.get("/runs/get")
async def get(request: Request, run_id: str = "", run_uuid: str = "",
              caller: Caller = AsViewer) -> Response:
    return await serve_get(request, caller, run_id or run_uuid)


@router.post("/runs/delete")
def delete(body: RunRef, request: Request, caller: Caller = AsEditor) -> Response:
    ml.set_run_stage(db_of(request), caller.project, body.id, deleted=True)
    return msg.reply()


@router.post("/runs/restore")
def restore(body: RunRef, request: Request, caller: Caller = AsEditor) -> Response:
    ml.set_run_stage(db_of(request), caller.project, body.id, deleted=False)
    return msg.reply()


async def serve_log_metric(request: Request, caller: Caller, body: LogMetric) -> Response:
    await ml.log_batch_now(db_of(request), caller.project, body.id, metrics=[body.point()])
    return msg.reply()


@router.post("/runs/log-metric")
async def log_metric(body: LogMetric, request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_log_metric(request, caller, body)


async def serve_log_param(request: Request, caller: Caller, body: LogParam) -> Response:
    if body.value is None:
        raise InvalidInput("Missing value for required parameter 'value'.")
    await ml.log_batch_now(db_of(request), caller.project, body.id,
                           params=[(required(body.key, "key"), body.value)])
    return msg.reply()


@router.post("/runs/log-parameter")
async def log_param(body: LogParam, request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_log_param(request, caller, body)


async def serve_set_tag(request: Request, caller: Caller, body: SetTag) -> Response:
    await ml.log_batch_now(db_of(request), caller.project, body.id,
                           tags=[(required(body.key, "key"), body.value or "")])
    return msg.reply()


@router.post("/runs/set-tag")
async def set_tag(body: SetTag, request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_set_tag(request, caller, body)


@router.post("/runs/delete-tag")
def delete_tag(body: SetTag, request: Request, caller: Caller = AsEditor) -> Response:
    ml.delete_run_tag(db_of(request), caller.project, body.id, required(body.key, "key"))
    return msg.reply()


async def serve_log_batch(request: Request, caller: Caller, body: LogBatch,
                          plain: ml.MetricColumns | None = None) -> Response:
    """``plain``, when given, are the body's metrics already read (``plain_metrics``)."""
    metrics = [m.point() for m in body.metrics] if plain is None else plain
    await ml.log_batch_now(db_of(request), caller.project, body.id, metrics=metrics,
                           params=pairs(body.params), tags=pairs(body.tags))
    return msg.reply()


@router.post("/runs/log-batch")
async def log_batch(body: LogBatch, request: Request, caller: Caller = AsEditor) -> Response:
    return await serve_log_batch(request, caller, body)


@router.post("/runs/log-inputs")
def log_inputs(body: LogInputs, request: Request, caller: Caller = AsEditor) -> Response:
    datasets = [
        ml.DatasetUse(name=d.dataset.name, digest=d.dataset.digest,
                      source_type=d.dataset.source_type, source=d.dataset.source,
                      schema=d.dataset.schema_ or "", profile=d.dataset.profile or "",
                      tags=dict(pairs(d.tags)))
        for d in body.datasets
    ]
    ml.log_inputs(db_of(request), caller.project, body.id, datasets,
                  [m.model_id for m in body.models])
    return msg.reply()


@router.post("/runs/outputs")
def log_outputs(body: LogOutputs, request: Request, caller: Caller = AsEditor) -> Response:
    ml.log_outputs(db_of(request), caller.project, body.id,
                   [(m.model_id, m.step or 0) for m in body.models])
    return msg.reply()


def _search(db: Database, project: str, body: SearchRuns) -> Response:
    with db.read() as session:
        rows, token = runs_search.search(
            session, project, body.experiment_ids,
            clauses=ml.parse_filter(body.filter), view_type=view_type(body.run_view_type),
            order_by=ml.parse_order_by(body.order_by),
            max_results=max_results(body.max_results, 1000, 50_000),
            page_token=body.page_token, sqlite=db.is_sqlite)
        details = run_repo.details(session, [r.run_id for r in rows])
        out: dict = {"runs": msg.runs(rows, details)}
    if token:
        out["next_page_token"] = token
    return msg.reply(out)


async def serve_search(request: Request, caller: Caller, body: SearchRuns) -> Response:
    return await anyio.to_thread.run_sync(_search, db_of(request), caller.project, body)


@router.post("/runs/search")
async def search(body: SearchRuns, request: Request, caller: Caller = AsViewer) -> Response:
    return await serve_search(request, caller, body)


