"""Runbook pages, read-only: the project's runbooks with their trigger, approval mode and
last run, and one runbook's YAML source, older versions and recent runs. Runbooks are
written through the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.ops.runbooks import RunbookSpec, runbook_store
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/runbooks", include_in_schema=False)

RECENT_RUNS = 50


@dataclass(frozen=True)
class BookRow:
    name: str
    version: int
    description: str
    trigger: str
    approval: str
    last_run: Any


def trigger_summary(spec: RunbookSpec) -> str:
    """The trigger in one line: only the conditions it sets.

    >>> spec = RunbookSpec.model_validate({"trigger": {"kind": ["drift", "latency"],
    ...     "entity_prefix": "model:", "min_severity": "error"},
    ...     "steps": [{"action": "notify", "params": {"channel": "c", "message": "m"}}]})
    >>> trigger_summary(spec)
    'kind drift|latency · entity model:* · severity ≥ error'
    """
    t = spec.trigger
    parts = [f"kind {'|'.join(t.kind)}" if t.kind else "",
             f"source {t.source}" if t.source else "",
             f"entity {t.entity}" if t.entity else "",
             f"entity {t.entity_prefix}*" if t.entity_prefix else "",
             f"severity ≥ {t.min_severity}" if t.min_severity != "info" else "",
             *(f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in t.labels.items()),
             f"cause {t.cause.kind or ''} {t.cause.entity or t.cause.entity_prefix or ''}".rstrip()
             if t.cause else ""]
    return " · ".join(p for p in parts if p) or "every incident"


def approval_mode(spec: RunbookSpec) -> str:
    required = spec.approval_required()
    mode = "required" if required else "auto"
    return mode if spec.approval else f"{mode} (default)"


@router.get("", response_class=HTMLResponse)
def runbooks_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        rows = []
        for book in runbook_store.list_current(session, caller.project):
            spec = RunbookSpec.model_validate(book.spec)
            last = runbook_store.list_runs(session, caller.project, runbook=book.name, limit=1)
            rows.append(BookRow(book.name, book.version, spec.description,
                                trigger_summary(spec), approval_mode(spec),
                                last[0] if last else None))
    return render(request, "runbooks.html", books=rows)


@router.get("/{name}", response_class=HTMLResponse)
def runbook_page(name: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    with runtime_of(request).db.read() as session:
        book = runbook_store.get(session, caller.project, name)
        versions = runbook_store.list_versions(session, caller.project, name)
        runs = runbook_store.list_runs(session, caller.project, runbook=name, limit=RECENT_RUNS)
    spec = RunbookSpec.model_validate(book.spec)
    older = [v for v in versions if v.version != book.version]
    return render(request, "runbook.html", book=book, versions=older, runs=runs,
                  trigger=trigger_summary(spec), approval=approval_mode(spec), spec=spec)
