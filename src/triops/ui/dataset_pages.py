"""Eval dataset pages: the list, one dataset at any of its versions (cases with the trace
each came from), editing and deleting cases, and adding traces from the trace list."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.core.errors import InvalidInput
from triops.llm import case_from, cases_from_traces
from triops.llm import eval_store as repo
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm/datasets",
                   include_in_schema=False)
MAX_TRACES = 1000


def _page(name: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/ui/llm/datasets/{quote(name)}{anchor}", status_code=303)


@router.get("", response_class=HTMLResponse)
def datasets_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        datasets = repo.list_datasets(session, caller.project)
    return render(request, "llm_datasets.html", datasets=datasets)


@router.get("/{name}", response_class=HTMLResponse)
def dataset_page(name: str, request: Request, version: str = "",
                 caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        dataset = repo.get_dataset(session, caller.project, name)
        versions = repo.versions_of(session, caller.project, name)
        shown = dataset.version
        if version.strip():
            if not version.strip().isdigit():
                raise InvalidInput(f"version must be a number, got {version!r}")
            shown = repo.get_version(session, caller.project, name, int(version)).version
        cases = repo.cases_of(session, caller.project, name,
                              None if shown == dataset.version else shown)
    return render(request, "llm_dataset.html", dataset=dataset, versions=versions,
                  shown=shown, cases=cases, latest=shown == dataset.version,
                  dumps=lambda v: json.dumps(v, indent=1, ensure_ascii=False),
                  compact=lambda v: json.dumps(v, ensure_ascii=False))


@router.post("/from-traces")
def add_traces(request: Request, dataset: Annotated[str, Form(max_length=128)],
               trace_id: Annotated[list[str] | None, Form(max_length=MAX_TRACES)] = None,
               caller: Caller = AsEditor) -> Response:
    ids = [t.strip().lower() for t in trace_id or [] if t.strip()]
    if not ids:
        raise InvalidInput("select at least one trace to add")
    name = dataset.strip()
    with runtime_of(request).db.write() as session:
        cases = cases_from_traces(session, caller.project, ids)
        found = session.get(repo.EvalDataset, (caller.project, name))
        if found is None:
            if not name[:1].isalnum() or any(not (c.isalnum() or c in "_.-") for c in name):
                raise InvalidInput("a dataset name is letters, digits, '_', '.' and '-', "
                                   "starting with a letter or digit")
            found = repo.create_dataset(session, caller.project, name, "", caller.actor)
        repo.add_cases(session, found, cases, f"added {len(cases)} case(s) from traces",
                       caller.actor)
    return _page(name)


@router.post("/{name}/cases/{position}")
def edit_case(name: str, position: int, request: Request,
              inputs: Annotated[str, Form(max_length=1_000_000)],
              expected: Annotated[str, Form(max_length=1_000_000)] = "",
              message: Annotated[str, Form(max_length=10_000)] = "",
              caller: Caller = AsEditor) -> Response:
    try:
        parsed = json.loads(inputs)
    except ValueError:
        raise InvalidInput("inputs must be a JSON object of variable name to value") from None
    case = case_from({"inputs": parsed, "expected": expected or None}, "the form")
    with runtime_of(request).db.write() as session:
        dataset = repo.get_dataset(session, caller.project, name)
        repo.edit_case(session, dataset, position, case, message, caller.actor)
    return _page(name, f"#case-{position}")


@router.post("/{name}/cases/{position}/delete")
def delete_case(name: str, position: int, request: Request,
                caller: Caller = AsEditor) -> Response:
    with runtime_of(request).db.write() as session:
        dataset = repo.get_dataset(session, caller.project, name)
        repo.remove_case(session, dataset, position, actor=caller.actor)
    return _page(name)
