"""MLflow 3.x logged models: create, get, finalize, search, tags, params, delete."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from triops.api.mlflow import _messages as msg
from triops.api.mlflow._common import KeyValue, Message, db_of, max_results, pairs, required
from triops.core.errors import InvalidInput
from triops.ml import (
    ATTRIBUTE,
    SortKey,
    check_params,
    check_tags,
    ensure_default_experiment,
    parse_filter,
)
from triops.ml import logged_model_store as repo
from triops.ml import run_store as runs
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])
_STATUS_BY_NUMBER = {1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY",
                     3: "LOGGED_MODEL_UPLOAD_FAILED"}


class CreateLoggedModel(Message):
    experiment_id: str | None = None
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] | None = None
    tags: list[KeyValue] | None = None


class Finalize(Message):
    status: str | int | None = None


class Tags(Message):
    tags: list[KeyValue] = Field(default_factory=list)


class Params(Message):
    params: list[KeyValue] = Field(default_factory=list)


class OrderBy(Message):
    field_name: str
    ascending: bool | None = True


class SearchLoggedModels(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    max_results: int | None = None
    order_by: list[OrderBy] | None = None
    page_token: str | None = None


@router.post("/logged-models")
def create(body: CreateLoggedModel, request: Request, caller: Caller = AsEditor) -> Response:
    params, tags = dict(pairs(body.params)), dict(pairs(body.tags))
    check_params(params)
    check_tags(tags)
    db = db_of(request)
    experiment_id = required(body.experiment_id, "experiment_id")
    if experiment_id == "0":
        ensure_default_experiment(db, caller.project)
    with db.write() as session:
        if body.source_run_id:
            runs.get(session, caller.project, body.source_run_id)
        row = repo.create(session, caller.project, experiment_id, name=body.name,
                          model_type=body.model_type or "", source_run_id=body.source_run_id,
                          params=params, tags=tags)
        return msg.reply({"model": msg.logged_model(row)})


@router.post("/logged-models/search")
def search(body: SearchLoggedModels, request: Request, caller: Caller = AsViewer) -> Response:
    db = db_of(request)
    order = [SortKey(ATTRIBUTE, o.field_name.removeprefix("attributes."), o.ascending is not False)
             for o in body.order_by or []]
    with db.read() as session:
        rows, token = repo.search(
            session, caller.project, body.experiment_ids, clauses=parse_filter(body.filter),
            order_by=order, max_results=max_results(body.max_results, 100, 50_000),
            page_token=body.page_token, sqlite=db.is_sqlite)
        out: dict = {"models": [msg.logged_model(r) for r in rows]}
    if token:
        out["next_page_token"] = token
    return msg.reply(out)


@router.get("/logged-models/{model_id}")
def get(model_id: str, request: Request, caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        return msg.reply({"model": msg.logged_model(repo.get(session, caller.project, model_id))})


@router.patch("/logged-models/{model_id}")
def finalize(model_id: str, body: Finalize, request: Request,
             caller: Caller = AsEditor) -> Response:
    status = body.status
    if isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
        status = _STATUS_BY_NUMBER.get(int(status))
    if not status:
        raise InvalidInput("Missing or unknown value for required parameter 'status'.")
    with db_of(request).write() as session:
        row = repo.finalize(session, caller.project, model_id, str(status))
        return msg.reply({"model": msg.logged_model(row)})


@router.delete("/logged-models/{model_id}")
def delete(model_id: str, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.delete(session, caller.project, model_id)
    return msg.reply()


@router.patch("/logged-models/{model_id}/tags")
def set_tags(model_id: str, body: Tags, request: Request, caller: Caller = AsEditor) -> Response:
    tags = dict(pairs(body.tags))
    check_tags(tags)
    with db_of(request).write() as session:
        row = repo.set_tags(session, caller.project, model_id, tags)
        return msg.reply({"model": msg.logged_model(row)})


@router.delete("/logged-models/{model_id}/tags/{tag_key}")
def delete_tag(model_id: str, tag_key: str, request: Request,
               caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.delete_tag(session, caller.project, model_id, tag_key)
    return msg.reply()


@router.post("/logged-models/{model_id}/params")
def log_params(model_id: str, body: Params, request: Request,
               caller: Caller = AsEditor) -> Response:
    params = dict(pairs(body.params))
    check_params(params)
    with db_of(request).write() as session:
        repo.log_params(session, caller.project, model_id, params)
    return msg.reply()
