"""Annotation queue pages: the queues with their progress, one queue's items, and the
review screen where a reviewer scores, corrects or skips the next trace (keyboard
shortcuts in ``static/annotate.js``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.llm import annotation_queues as queues
from triops.llm import score_configs
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.llm_pages import typed_form_value
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm/annotations",
                   include_in_schema=False)


def _choices(config: object) -> list[str]:
    """The answers offered as buttons: a config's labels, true/false; none for numbers."""
    kind = getattr(config, "data_type", "numeric")
    if kind == "categorical":
        return list(config.categories)  # type: ignore[attr-defined]
    return ["true", "false"] if kind == "boolean" else []


@router.get("", response_class=HTMLResponse)
def queues_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        rows = [(q, queues.progress(session, caller.project, q.name))
                for q in queues.list_queues(session, caller.project)]
    return render(request, "llm_annotation_queues.html", rows=rows)


@router.get("/{name}", response_class=HTMLResponse)
def queue_page(name: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        queue = queues.get_queue(session, caller.project, name)
        progress = queues.progress(session, caller.project, name)
        items = queues.items(session, caller.project, name)
    return render(request, "llm_annotation_queue.html", queue=queue, progress=progress,
                  items=items)


@router.get("/{name}/review", response_class=HTMLResponse)
def review_page(name: str, request: Request, caller: Caller = AsEditor) -> HTMLResponse:
    with runtime_of(request).db.write() as session:
        queue = queues.get_queue(session, caller.project, name)
        current = queues.next_item(session, caller.project, name, caller.actor)
        config = score_configs.get_config(session, caller.project, queue.score_name)
        progress = queues.progress(session, caller.project, name)
        choices = _choices(config)
    return render(request, "llm_annotate.html", queue=queue, current=current,
                  choices=choices, progress=progress, mine=progress.get(caller.actor, {}))


@router.post("/{name}/items/{item_id}")
def answer(name: str, item_id: int, request: Request,
           action: Annotated[str, Form(max_length=16)] = "score",
           value: Annotated[str, Form(max_length=256)] = "",
           correction: Annotated[str, Form(max_length=100_000)] = "",
           original: Annotated[str, Form(max_length=100_000)] = "",
           comment: Annotated[str, Form(max_length=10_000)] = "",
           caller: Caller = AsEditor) -> Response:
    # The correction box starts as the model's answer: unchanged, it corrects nothing.
    fixed = correction if correction.strip() and correction != original else None
    with runtime_of(request).db.write() as session:
        queues.answer(session, caller.project, name, item_id, reviewer=caller.actor,
                      skip=action == "skip",
                      value=typed_form_value(value) if value.strip() else None,
                      correction=fixed, comment=comment)
    return RedirectResponse(f"/ui/llm/annotations/{quote(name)}/review", status_code=303)


@router.post("/{name}/to-dataset")
def to_dataset(name: str, request: Request, dataset: Annotated[str, Form(max_length=128)],
               caller: Caller = AsEditor) -> Response:
    with runtime_of(request).db.write() as session:
        queues.to_dataset(session, caller.project, name, dataset.strip(), caller.actor)
    return RedirectResponse(f"/ui/llm/datasets/{quote(dataset.strip())}", status_code=303)
