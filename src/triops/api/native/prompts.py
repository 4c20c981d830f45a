"""Prompt registry, native API: versions, labels (move, undo, history), resolve, render, diff."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.llm import prompt_store as repo
from triops.llm import prompts
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema_prompts import PromptLabelMove, PromptVersion

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/prompts", tags=["prompts"])
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_LABEL = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


class MessageIn(BaseModel):
    role: str = Field(..., max_length=32)
    content: str = Field(..., max_length=200_000)


class VersionIn(BaseModel):
    kind: Literal["chat", "text"] = "chat"
    messages: list[MessageIn] | None = Field(None, max_length=500)
    text: str | None = Field(None, max_length=200_000)
    variables: list[str] | None = Field(None, max_length=200,
                                        description="declared variables; default: those used")
    model: str | None = Field(None, max_length=256)
    params: dict[str, Any] = Field(default_factory=dict)
    message: str = Field("", max_length=10_000, description="what changed and why")
    labels: list[str] = Field(default_factory=list, max_length=20)
    description: str = Field("", max_length=10_000)


class VersionOut(BaseModel):
    name: str
    version: int
    kind: str
    template: dict[str, Any]
    variables: list[str]
    model: str | None
    params: dict[str, Any]
    message: str
    created_by: str
    created_ms: int


class LabelOut(BaseModel):
    label: str
    version: int
    updated_by: str
    updated_ms: int


class PromptOut(BaseModel):
    name: str
    kind: str
    description: str
    latest_version: int
    labels: list[LabelOut]


class PromptDetail(PromptOut):
    versions: list[VersionOut]


class MoveOut(BaseModel):
    id: int
    label: str
    from_version: int | None
    to_version: int | None
    kind: str
    undone: bool
    actor: str
    time_ms: int


class LabelIn(BaseModel):
    version: int = Field(..., ge=1)


class ResolvedOut(BaseModel):
    name: str
    version: int
    label: str | None
    kind: str
    template: dict[str, Any]
    variables: list[str]
    model: str | None
    params: dict[str, Any]


class RenderIn(BaseModel):
    ref: str | None = Field(None, max_length=256, description="label or version; default latest")
    variables: dict[str, Any] = Field(default_factory=dict)


class RenderOut(BaseModel):
    name: str
    version: int
    messages: list[dict[str, str]]
    text: str


class DiffOut(BaseModel):
    name: str
    from_version: int
    to_version: int
    lines: list[str]


def version_out(row: PromptVersion, kind: str) -> VersionOut:
    return VersionOut(name=row.name, version=row.version, kind=kind, template=row.template,
                      variables=list(row.variables["names"]), model=row.model,
                      params=row.params, message=row.message, created_by=row.created_by,
                      created_ms=row.created_ms)


def move_out(m: PromptLabelMove) -> MoveOut:
    return MoveOut(id=m.id, label=m.label, from_version=m.from_version,
                   to_version=m.to_version, kind=m.kind, undone=m.undone, actor=m.actor,
                   time_ms=m.time_ms)


def _ref(name: str, ref: str | None) -> str:
    return f"{name}@{ref}" if ref else name


@router.get("", response_model=list[PromptOut])
def list_prompts(request: Request, caller: Caller = AsViewer) -> list[PromptOut]:
    with runtime_of(request).db.read() as session:
        return [PromptOut(name=p.name, kind=p.kind, description=p.description,
                          latest_version=p.latest_version,
                          labels=[LabelOut(**_label(lab)) for lab in
                                  repo.labels_of(session, caller.project, p.name)])
                for p in repo.list_prompts(session, caller.project)]


def _label(row: Any) -> dict[str, Any]:
    return {"label": row.label, "version": row.version, "updated_by": row.updated_by,
            "updated_ms": row.updated_ms}


@router.post("/{name}/versions", response_model=VersionOut, status_code=201)
def create_version(name: str, body: VersionIn, request: Request,
                   caller: Caller = AsEditor) -> VersionOut:
    if body.kind == "chat":
        if body.messages is None or body.text is not None:
            raise InvalidInput("a chat prompt takes 'messages' (and no 'text')")
        template: Any = [m.model_dump() for m in body.messages]
    else:
        if body.text is None or body.messages is not None:
            raise InvalidInput("a text prompt takes 'text' (and no 'messages')")
        template = body.text
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        row = prompts.create_version(
            session, caller.project, name, kind=body.kind, template=template,
            variables=body.variables, model=body.model, params=body.params,
            message=body.message, actor=caller.actor, labels=body.labels,
            description=body.description)
        out = version_out(row, body.kind)
    runtime.prompt_changed(caller.project, name)
    return out


@router.get("/{name}", response_model=PromptDetail)
def get_prompt(name: str, request: Request, caller: Caller = AsViewer) -> PromptDetail:
    with runtime_of(request).db.read() as session:
        p = repo.get_prompt(session, caller.project, name)
        return PromptDetail(
            name=p.name, kind=p.kind, description=p.description,
            latest_version=p.latest_version,
            labels=[LabelOut(**_label(lab)) for lab in repo.labels_of(session, caller.project, name)],
            versions=[version_out(v, p.kind) for v in repo.list_versions(session, caller.project, name)])


@router.get("/{name}/versions/{version}", response_model=VersionOut)
def get_version(name: str, version: int, request: Request, caller: Caller = AsViewer
                ) -> VersionOut:
    with runtime_of(request).db.read() as session:
        p = repo.get_prompt(session, caller.project, name)
        return version_out(repo.get_version(session, caller.project, name, version), p.kind)


@router.get("/{name}/resolve", response_model=ResolvedOut)
def resolve_prompt(name: str, request: Request,
                   label: str | None = Query(None, pattern=_LABEL),
                   version: int | None = Query(None, ge=1),
                   caller: Caller = AsViewer) -> ResolvedOut:
    if label and version:
        raise InvalidInput("ask for a label or a version, not both")
    with runtime_of(request).db.read() as session:
        found = prompts.resolve(session, caller.project,
                                prompts.PromptRef(name, label=label, version=version))
    return ResolvedOut(**found.as_dict())


@router.post("/{name}/render", response_model=RenderOut)
def render_prompt(name: str, body: RenderIn, request: Request, caller: Caller = AsEditor
                  ) -> RenderOut:
    # Rendering writes nothing, but every POST of the API asks for an editor: one rule.
    with runtime_of(request).db.read() as session:
        found = prompts.resolve(session, caller.project, _ref(name, body.ref))
    return RenderOut(name=found.name, version=found.version,
                     messages=found.template.messages(**body.variables),
                     text=found.template.render(**body.variables))


@router.put("/{name}/labels/{label}", response_model=MoveOut)
def set_label(name: str, label: str, body: LabelIn, request: Request,
              caller: Caller = AsEditor) -> MoveOut:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        repo.get_prompt(session, caller.project, name)
        out = move_out(prompts.move_label(session, caller.project, name, label, body.version,
                                          caller.actor))
    runtime.prompt_changed(caller.project, name)
    return out


@router.delete("/{name}/labels/{label}", response_model=MoveOut)
def delete_label(name: str, label: str, request: Request, caller: Caller = AsEditor) -> MoveOut:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        out = move_out(prompts.delete_label(session, caller.project, name, label, caller.actor))
    runtime.prompt_changed(caller.project, name)
    return out


@router.post("/{name}/labels/{label}/undo", response_model=MoveOut)
def undo_label(name: str, label: str, request: Request, caller: Caller = AsEditor) -> MoveOut:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        repo.get_prompt(session, caller.project, name)
        out = move_out(prompts.undo_label(session, caller.project, name, label, caller.actor))
    runtime.prompt_changed(caller.project, name)
    return out


@router.get("/{name}/history", response_model=list[MoveOut])
def label_history(name: str, request: Request, label: str | None = Query(None, pattern=_LABEL),
                  caller: Caller = AsViewer) -> list[MoveOut]:
    with runtime_of(request).db.read() as session:
        repo.get_prompt(session, caller.project, name)
        return [move_out(m) for m in repo.label_history(session, caller.project, name, label)]


@router.get("/{name}/diff", response_model=DiffOut)
def diff(name: str, request: Request, from_version: int = Query(..., alias="from", ge=1),
         to_version: int = Query(..., alias="to", ge=1), caller: Caller = AsViewer) -> DiffOut:
    with runtime_of(request).db.read() as session:
        old = repo.get_version(session, caller.project, name, from_version)
        new = repo.get_version(session, caller.project, name, to_version)
        return DiffOut(name=name, from_version=from_version, to_version=to_version,
                       lines=prompts.diff_versions(old, new))
