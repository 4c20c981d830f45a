"""Annotation queues (``/api/v1/annotation-queues``): create and fill a queue, share its
items among reviewers, take the next item, answer or skip it, see the progress, and turn
the corrections into a dataset version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.llm import annotation_queues as annotations
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/annotation-queues",
                   tags=["annotations"])
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
ItemId = Path(..., ge=1, le=2**62)


class QueueIn(BaseModel):
    name: str = Field(..., pattern=_NAME)
    score_name: str = Field(..., min_length=1, max_length=256,
                            description="the score config reviewers answer with")
    filter: dict[str, Any] = Field(default_factory=dict)
    description: str = Field("", max_length=10_000)


class QueueOut(BaseModel):
    name: str
    score_name: str
    filter: dict[str, Any]
    description: str
    created_by: str
    created_ms: int
    progress: dict[str, dict[str, int]]


class Added(BaseModel):
    added: int


class AssignIn(BaseModel):
    reviewers: list[str] = Field(..., min_length=1, max_length=100)


class ItemOut(BaseModel):
    id: int
    trace_id: str
    status: str
    assignee: str | None
    reviewer: str | None
    value: str | None
    correction: str | None
    comment: str
    messages: list[Any] = Field(default_factory=list)
    output: str | None = None


class AnswerIn(BaseModel):
    skip: bool = False
    value: bool | float | str | None = Field(None, description="a number, true/false or a "
                                                               "label of the score config")
    correction: str | None = Field(None, max_length=100_000,
                                   description="the output as it should have been")
    comment: str = Field("", max_length=10_000)


class ToDatasetIn(BaseModel):
    dataset: str = Field(..., pattern=_NAME)


class ToDatasetOut(BaseModel):
    dataset: str
    version: int
    cases: int


def _queue_out(session: Any, caller: Caller, row: Any) -> QueueOut:
    return QueueOut(name=row.name, score_name=row.score_name, filter=row.filter,
                    description=row.description, created_by=row.created_by,
                    created_ms=row.created_ms,
                    progress=annotations.progress(session, caller.project, row.name))


def _item_out(item: Any, view: Any = None) -> ItemOut:
    return ItemOut(id=item.id, trace_id=item.trace_id, status=item.status,
                   assignee=item.assignee, reviewer=item.reviewer, value=item.value,
                   correction=item.correction, comment=item.comment,
                   messages=view.messages if view else [], output=view.output if view else None)


@router.post("", response_model=QueueOut, status_code=201)
def create_queue(body: QueueIn, request: Request, caller: Caller = AsEditor) -> QueueOut:
    with runtime_of(request).db.write() as session:
        row = annotations.create_queue(session, caller.project, body.name,
                                       score_name=body.score_name, filter=body.filter,
                                       description=body.description, actor=caller.actor)
        return _queue_out(session, caller, row)


@router.get("", response_model=list[QueueOut])
def list_queues(request: Request, caller: Caller = AsViewer) -> list[QueueOut]:
    with runtime_of(request).db.read() as session:
        return [_queue_out(session, caller, q)
                for q in annotations.list_queues(session, caller.project)]


@router.get("/{name}", response_model=QueueOut)
def get_queue(name: str, request: Request, caller: Caller = AsViewer) -> QueueOut:
    with runtime_of(request).db.read() as session:
        return _queue_out(session, caller, annotations.get_queue(session, caller.project, name))


@router.post("/{name}/fill", response_model=Added)
def fill(name: str, request: Request, limit: int = Query(1000, ge=1, le=annotations.MAX_FILL),
         caller: Caller = AsEditor) -> Added:
    """Add the traces that match the queue's filter and are not in it yet."""
    with runtime_of(request).db.write() as session:
        return Added(added=annotations.fill(session, caller.project, name, limit))


@router.post("/{name}/assign", response_model=dict[str, int])
def assign(name: str, body: AssignIn, request: Request, caller: Caller = AsEditor
           ) -> dict[str, int]:
    """Share the unassigned pending items among the reviewers (their key actors, such as
    ``key:alice``), in turn; how many each got."""
    with runtime_of(request).db.write() as session:
        return annotations.assign(session, caller.project, name, body.reviewers)


@router.get("/{name}/items", response_model=list[ItemOut])
def list_items(name: str, request: Request, caller: Caller = AsViewer) -> list[ItemOut]:
    with runtime_of(request).db.read() as session:
        annotations.get_queue(session, caller.project, name)
        return [_item_out(i) for i in annotations.items(session, caller.project, name)]


@router.post("/{name}/next", response_model=ItemOut | None)
def next_item(name: str, request: Request, caller: Caller = AsEditor) -> ItemOut | None:
    """The caller's next item: one assigned to them, or else an unassigned one, which
    becomes theirs. ``null`` when none is left."""
    with runtime_of(request).db.write() as session:
        view = annotations.next_item(session, caller.project, name, caller.actor)
        return None if view is None else _item_out(view.item, view)


@router.post("/{name}/items/{item_id}", response_model=ItemOut)
def answer(name: str, body: AnswerIn, request: Request, item_id: int = ItemId,
           caller: Caller = AsEditor) -> ItemOut:
    """Score the item's trace with the queue's score config (and maybe correct the
    output), or skip it."""
    with runtime_of(request).db.write() as session:
        item = annotations.answer(session, caller.project, name, item_id, reviewer=caller.actor,
                                  skip=body.skip, value=body.value, correction=body.correction,
                                  comment=body.comment)
        return _item_out(item)


@router.post("/{name}/to-dataset", response_model=ToDatasetOut, status_code=201)
def to_dataset(name: str, body: ToDatasetIn, request: Request, caller: Caller = AsEditor
               ) -> ToDatasetOut:
    """The corrected items not in a dataset yet, as one new version of ``dataset``: the
    trace's input, the corrected output expected."""
    with runtime_of(request).db.write() as session:
        version, count = annotations.to_dataset(session, caller.project, name, body.dataset,
                                                caller.actor)
    return ToDatasetOut(dataset=body.dataset, version=version, cases=count)
