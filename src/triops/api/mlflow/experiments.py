"""MLflow experiments: create, get, get-by-name, search, update, delete, restore, tags."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

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
from triops.ml import check_tags, ensure_default_experiment, parse_filter, parse_order_by
from triops.ml import experiment_store as repo
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])


class CreateExperiment(Message):
    name: str | None = None
    artifact_location: str | None = None
    tags: list[KeyValue] | None = None


class ExperimentRef(Message):
    experiment_id: str | None = None


class UpdateExperiment(ExperimentRef):
    new_name: str | None = None


class ExperimentTag(ExperimentRef):
    key: str | None = None
    value: str | None = None


class SearchExperiments(Message):
    max_results: int | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] | None = None
    view_type: str | int | None = None


@router.post("/experiments/create")
def create(body: CreateExperiment, request: Request, caller: Caller = AsEditor) -> Response:
    tags = dict(pairs(body.tags))
    check_tags(tags)
    with db_of(request).write() as session:
        row = repo.create(session, caller.project, required(body.name, "name"),
                          body.artifact_location or None, tags)
        return msg.reply({"experiment_id": row.experiment_id})


@router.get("/experiments/get")
def get(request: Request, experiment_id: str = "", caller: Caller = AsViewer) -> Response:
    db = db_of(request)
    if experiment_id == repo.DEFAULT_ID:
        ensure_default_experiment(db, caller.project)
    with db.read() as session:
        row = repo.get(session, caller.project, required(experiment_id, "experiment_id"))
        return msg.reply({"experiment": msg.experiment(row)})


@router.get("/experiments/get-by-name")
def get_by_name(request: Request, experiment_name: str = "",
                caller: Caller = AsViewer) -> Response:
    db = db_of(request)
    if experiment_name == repo.DEFAULT_NAME:
        ensure_default_experiment(db, caller.project)
    with db.read() as session:
        row = repo.get_by_name(session, caller.project,
                               required(experiment_name, "experiment_name"))
        return msg.reply({"experiment": msg.experiment(row)})


def _search(request: Request, caller: Caller, body: SearchExperiments) -> Response:
    db = db_of(request)
    ensure_default_experiment(db, caller.project)
    with db.read() as session:
        rows, token = repo.search(
            session, caller.project, clauses=parse_filter(body.filter),
            view_type=view_type(body.view_type), order_by=parse_order_by(body.order_by),
            max_results=max_results(body.max_results, 1000, 50_000),
            page_token=body.page_token, sqlite=db.is_sqlite)
        out: dict = {"experiments": [msg.experiment(r) for r in rows]}
        if token:
            out["next_page_token"] = token
        return msg.reply(out)


@router.post("/experiments/search")
def search(body: SearchExperiments, request: Request, caller: Caller = AsViewer) -> Response:
    return _search(request, caller, body)


@router.get("/experiments/search")
def search_get(request: Request, max_results: int | None = None, page_token: str | None = None,
               filter: str | None = None, view_type: str | None = None,
               caller: Caller = AsViewer) -> Response:
    order_by = request.query_params.getlist("order_by")
    return _search(request, caller, SearchExperiments(
        max_results=max_results, page_token=page_token, filter=filter, order_by=order_by,
        view_type=view_type))


@router.post("/experiments/update")
def update(body: UpdateExperiment, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.rename(session, caller.project, required(body.experiment_id, "experiment_id"),
                    required(body.new_name, "new_name"))
    return msg.reply()


@router.post("/experiments/delete")
def delete(body: ExperimentRef, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.set_stage(session, caller.project, required(body.experiment_id, "experiment_id"),
                       repo.DELETED)
    return msg.reply()


@router.post("/experiments/restore")
def restore(body: ExperimentRef, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.set_stage(session, caller.project, required(body.experiment_id, "experiment_id"),
                       repo.ACTIVE)
    return msg.reply()


@router.post("/experiments/set-experiment-tag")
def set_tag(body: ExperimentTag, request: Request, caller: Caller = AsEditor) -> Response:
    key = required(body.key, "key")
    check_tags({key: body.value or ""})
    with db_of(request).write() as session:
        repo.set_tag(session, caller.project, required(body.experiment_id, "experiment_id"),
                     key, body.value or "")
    return msg.reply()


@router.post("/experiments/delete-experiment-tag")
def delete_tag(body: ExperimentTag, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.delete_tag(session, caller.project, required(body.experiment_id, "experiment_id"),
                        required(body.key, "key"))
    return msg.reply()
