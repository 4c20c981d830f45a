"""Prompt and eval pages: prompts, a prompt's versions and labels with their history and
an Undo button, a diff between two versions, eval runs, one run, two runs compared."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.core.errors import InvalidInput
from triops.core.principals import Role
from triops.llm import comparison, prompts, run_results, scorer_names
from triops.llm import eval_store as eval_repo
from triops.llm import prompt_store as repo
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm", include_in_schema=False)


@router.get("/prompts", response_class=HTMLResponse)
def prompt_list(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        rows = repo.list_prompts(session, caller.project)
        labels = {p.name: repo.labels_of(session, caller.project, p.name) for p in rows}
    return render(request, "prompt_list.html", prompts=rows, labels=labels)


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a version number, got {value!r}") from None


@router.get("/prompts/{name}", response_class=HTMLResponse)
def prompt_detail(name: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        prompt = repo.get_prompt(session, caller.project, name)
        versions = repo.list_versions(session, caller.project, name)
        labels = repo.labels_of(session, caller.project, name)
        history = repo.label_history(session, caller.project, name)
    by_version: dict[int, list[str]] = {}
    for lab in labels:
        by_version.setdefault(lab.version, []).append(lab.label)
    undoable = {m.label for m in history if m.kind != "undo" and not m.undone}
    can_edit = caller.principal.role >= Role.editor
    return render(request, "prompt_detail.html", prompt=prompt, versions=versions,
                  labels=labels, by_version=by_version, history=history, undoable=undoable,
                  can_edit=can_edit)


@router.get("/prompts/{name}/diff", response_class=HTMLResponse)
def prompt_diff(name: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    params = request.query_params
    with runtime_of(request).db.read() as session:
        prompt = repo.get_prompt(session, caller.project, name)
        latest = prompt.latest_version
        new_v = _int(params.get("to"), "to") or latest
        old_v = _int(params.get("from"), "from") or max(new_v - 1, 1)
        old = repo.get_version(session, caller.project, name, old_v)
        new = repo.get_version(session, caller.project, name, new_v)
        versions = [v.version for v in repo.list_versions(session, caller.project, name)]
    lines = prompts.diff_versions(old, new)
    return render(request, "prompt_diff.html", prompt=prompt, old=old, new=new, lines=lines,
                  versions=versions)


@router.post("/prompts/{name}/labels/{label}/undo")
def undo_from_page(name: str, label: str, request: Request, caller: Caller = AsEditor
                   ) -> Response:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        repo.get_prompt(session, caller.project, name)
        prompts.undo_label(session, caller.project, name, label, caller.actor)
    runtime.prompt_changed(caller.project, name)
    return RedirectResponse(f"/ui/llm/prompts/{name}#labels", status_code=303)


@router.get("/evals", response_class=HTMLResponse)
def eval_runs(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        runs = eval_repo.list_runs(session, caller.project, 200)
        datasets = eval_repo.list_datasets(session, caller.project)
    return render(request, "eval_runs.html", runs=runs, datasets=datasets)


@router.get("/evals/runs/{run_id}", response_class=HTMLResponse)
def eval_run(run_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        run, results = run_results(session, caller.project, run_id)
    return render(request, "eval_run.html", run=run, results=results, scorers=scorer_names(run))


@router.get("/evals/compare", response_class=HTMLResponse)
def eval_compare(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a or not b or a == b:
        raise InvalidInput("pick two different runs to compare")
    with runtime_of(request).db.read() as session:
        data = comparison(session, caller.project, a[:32], b[:32])
    return render(request, "eval_compare.html", c=data,
                  scorers=[d["scorer"] for d in data["deltas"]])
