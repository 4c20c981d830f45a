"""MLflow model versions: create, get, search, update, stage, delete, tags, download URI."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from triops import ml
from triops.api.mlflow import _messages as msg
from triops.api.mlflow._common import (
    KeyValue,
    Message,
    db_of,
    int_query,
    max_results,
    pairs,
    required,
)
from triops.core.ids import now_ms
from triops.ml import registry_store as repo
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])


class CreateVersion(Message):
    name: str | None = None
    source: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None
    tags: list[KeyValue] | None = None


class VersionRef(Message):
    name: str | None = None
    version: str | None = None


class UpdateVersion(VersionRef):
    description: str | None = None


class Transition(VersionRef):
    stage: str | None = None
    archive_existing_versions: bool | None = False


class VersionTag(VersionRef):
    key: str | None = None
    value: str | None = None


def _version_reply(session, caller: Caller, name: str, version: str) -> Response:  # type: ignore[no-untyped-def]
    model, row = repo.get_version(session, caller.project, name, version)
    aliases = repo.aliases_of(session, [model.id])[model.id]
    return msg.reply({"model_version": msg.model_version(model, row, aliases)})


@router.post("/model-versions/create")
def create(body: CreateVersion, request: Request, caller: Caller = AsEditor) -> Response:
    model, row, aliases = ml.create_version(
        db_of(request), caller.project, required(body.name, "name"),
        source=required(body.source, "source"), run_id=body.run_id or None,
        run_link=body.run_link or "", description=body.description or "",
        tags=dict(pairs(body.tags)), model_id=body.model_id or None)
    return msg.reply({"model_version": msg.model_version(model, row, aliases)})


@router.get("/model-versions/get")
def get(request: Request, name: str = "", version: str = "",
        caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        return _version_reply(session, caller, required(name, "name"), required(version, "version"))


@router.patch("/model-versions/update")
def update(body: UpdateVersion, request: Request, caller: Caller = AsEditor) -> Response:
    name, version = required(body.name, "name"), required(body.version, "version")
    with db_of(request).write() as session:
        _model, row = repo.get_version(session, caller.project, name, version)
        if body.description is not None:
            row.description = body.description
            row.last_updated_timestamp = now_ms()
        return _version_reply(session, caller, name, version)


@router.post("/model-versions/transition-stage")
def transition(body: Transition, request: Request, caller: Caller = AsEditor) -> Response:
    name, version = required(body.name, "name"), required(body.version, "version")
    with db_of(request).write() as session:
        repo.transition_stage(session, caller.project, name, version,
                              required(body.stage, "stage"), bool(body.archive_existing_versions))
        return _version_reply(session, caller, name, version)


@router.delete("/model-versions/delete")
def delete(body: VersionRef, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.delete_version(session, caller.project, required(body.name, "name"),
                            required(body.version, "version"))
    return msg.reply()


@router.get("/model-versions/search")
def search(request: Request, filter: str | None = None, page_token: str | None = None,
           caller: Caller = AsViewer) -> Response:
    db = db_of(request)
    with db.read() as session:
        rows, token = repo.search_versions(
            session, caller.project, clauses=ml.parse_filter(filter),
            order_by=ml.parse_order_by(request.query_params.getlist("order_by")),
            max_results=max_results(int_query(request, "max_results"), 10_000, 200_000),
            page_token=page_token, sqlite=db.is_sqlite)
        aliases = repo.aliases_of(session, list({m.id for m, _ in rows}))
        out: dict = {"model_versions": [msg.model_version(m, v, aliases[m.id]) for m, v in rows]}
    if token:
        out["next_page_token"] = token
    return msg.reply(out)


@router.get("/model-versions/get-download-uri")
def download_uri(request: Request, name: str = "", version: str = "",
                 caller: Caller = AsViewer) -> Response:
    uri = ml.download_uri(db_of(request), caller.project, required(name, "name"),
                          required(version, "version"))
    return msg.reply({"artifact_uri": uri})


@router.post("/model-versions/set-tag")
def set_tag(body: VersionTag, request: Request, caller: Caller = AsEditor) -> Response:
    key = required(body.key, "key")
    ml.check_tags({key: body.value or ""})
    with db_of(request).write() as session:
        _model, row = repo.get_version(session, caller.project, required(body.name, "name"),
                                       required(body.version, "version"))
        row.tags = {**row.tags, key: body.value or ""}
    return msg.reply()


@router.delete("/model-versions/delete-tag")
def delete_tag(body: VersionTag, request: Request, caller: Caller = AsEditor) -> Response:
    key = required(body.key, "key")
    with db_of(request).write() as session:
        _model, row = repo.get_version(session, caller.project, required(body.name, "name"),
                                       required(body.version, "version"))
        row.tags = {k: v for k, v in row.tags.items() if k != key}
    return msg.reply()
