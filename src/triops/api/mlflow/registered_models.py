"""MLflow registered models: create, get, search, update, rename, delete, tags, aliases."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

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
from triops.ml import check_tags, parse_filter, parse_order_by
from triops.ml import registry_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])


class CreateModel(Message):
    name: str | None = None
    tags: list[KeyValue] | None = None
    description: str | None = None


class ModelRef(Message):
    name: str | None = None


class Rename(ModelRef):
    new_name: str | None = None


class Update(ModelRef):
    description: str | None = None


class ModelTag(ModelRef):
    key: str | None = None
    value: str | None = None


class LatestVersions(ModelRef):
    stages: list[str] | None = None


class Alias(ModelRef):
    alias: str | None = None
    version: str | None = None


def _model_reply(session, row, with_latest: bool = True) -> Response:  # type: ignore[no-untyped-def]
    aliases = repo.aliases_of(session, [row.id])[row.id]
    latest = repo.latest_versions(session, row) if with_latest else None
    return msg.reply({"registered_model": msg.registered_model(row, aliases, latest)})


@router.post("/registered-models/create")
def create(body: CreateModel, request: Request, caller: Caller = AsEditor) -> Response:
    tags = dict(pairs(body.tags))
    check_tags(tags)
    with db_of(request).write() as session:
        row = repo.create_model(session, caller.project, required(body.name, "name"),
                                body.description or "", tags)
        return _model_reply(session, row, with_latest=False)


@router.get("/registered-models/get")
def get(request: Request, name: str = "", caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        return _model_reply(session, repo.get_model(session, caller.project, required(name, "name")))


@router.post("/registered-models/rename")
def rename(body: Rename, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        row = repo.rename_model(session, caller.project, required(body.name, "name"),
                                required(body.new_name, "new_name"))
        return _model_reply(session, row)


@router.patch("/registered-models/update")
def update(body: Update, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        row = repo.get_model(session, caller.project, required(body.name, "name"))
        if body.description is not None:
            row.description = body.description
        return _model_reply(session, row)


@router.delete("/registered-models/delete")
def delete(body: ModelRef, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.delete_model(session, caller.project, required(body.name, "name"))
    return msg.reply()


@router.get("/registered-models/search")
def search(request: Request, filter: str | None = None, page_token: str | None = None,
           caller: Caller = AsViewer) -> Response:
    db = db_of(request)
    with db.read() as session:
        rows, token = repo.search_models(
            session, caller.project, clauses=parse_filter(filter),
            order_by=parse_order_by(request.query_params.getlist("order_by")),
            max_results=max_results(int_query(request, "max_results"), 100, 1000),
            page_token=page_token, sqlite=db.is_sqlite)
        aliases = repo.aliases_of(session, [r.id for r in rows])
        out: dict = {"registered_models": [
            msg.registered_model(r, aliases[r.id], repo.latest_versions(session, r))
            for r in rows]}
    if token:
        out["next_page_token"] = token
    return msg.reply(out)


def _latest(request: Request, caller: Caller, name: str, stages: list[str]) -> Response:
    with db_of(request).read() as session:
        model = repo.get_model(session, caller.project, required(name, "name"))
        aliases = repo.aliases_of(session, [model.id])[model.id]
        versions = repo.latest_versions(session, model, stages)
        return msg.reply({"model_versions": [msg.model_version(model, v, aliases)
                                             for v in versions]})


@router.get("/registered-models/get-latest-versions")
def latest_get(request: Request, name: str = "", caller: Caller = AsViewer) -> Response:
    return _latest(request, caller, name, request.query_params.getlist("stages"))


# A read sent as POST by the client; it asks for editor like every non-search POST.
@router.post("/registered-models/get-latest-versions")
def latest_post(body: LatestVersions, request: Request, caller: Caller = AsEditor) -> Response:
    return _latest(request, caller, body.name or "", body.stages or [])


@router.post("/registered-models/set-tag")
def set_tag(body: ModelTag, request: Request, caller: Caller = AsEditor) -> Response:
    key = required(body.key, "key")
    check_tags({key: body.value or ""})
    with db_of(request).write() as session:
        repo.set_model_tag(session, caller.project, required(body.name, "name"), key,
                           body.value or "")
    return msg.reply()


@router.delete("/registered-models/delete-tag")
def delete_tag(body: ModelTag, request: Request, caller: Caller = AsEditor) -> Response:
    with db_of(request).write() as session:
        repo.delete_model_tag(session, caller.project, required(body.name, "name"),
                              required(body.key, "key"))
    return msg.reply()


@router.post("/registered-models/alias")
def set_alias(body: Alias, request: Request, caller: Caller = AsEditor) -> Response:
    name, alias = required(body.name, "name"), required(body.alias, "alias")
    with db_of(request).write() as session:
        model = repo.get_model(session, caller.project, name)
        before = dict(repo.aliases_of(session, [model.id]).get(model.id, [])).get(alias)
        repo.set_alias(session, caller.project, name, alias, required(body.version, "version"),
                       actor=caller.actor)
        after = repo.get_by_alias(session, caller.project, name, alias)[1].version
        # The alias history runbooks roll back along (``model.rollback_alias``).
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="model.alias.move", target=f"model:{name}@{alias}",
                     detail={"from": before, "to": after})
    return msg.reply()


@router.delete("/registered-models/alias")
def delete_alias(body: Alias, request: Request, caller: Caller = AsEditor) -> Response:
    name, alias = required(body.name, "name"), required(body.alias, "alias")
    with db_of(request).write() as session:
        model = repo.get_model(session, caller.project, name)
        before = dict(repo.aliases_of(session, [model.id]).get(model.id, [])).get(alias)
        repo.delete_alias(session, caller.project, name, alias, actor=caller.actor)
        if before is not None:
            audit.record(session, project=caller.project, actor=caller.actor,
                         action="model.alias.delete", target=f"model:{name}@{alias}",
                         detail={"from": before, "to": None})
    return msg.reply()


@router.get("/registered-models/alias")
def get_by_alias(request: Request, name: str = "", alias: str = "",
                 caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        model, version = repo.get_by_alias(session, caller.project, required(name, "name"),
                                           required(alias, "alias"))
        aliases = repo.aliases_of(session, [model.id])[model.id]
        return msg.reply({"model_version": msg.model_version(model, version, aliases)})
