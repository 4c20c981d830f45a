"""Runbooks and their runs: manage versioned YAML runbooks, dry-run them against an
incident, approve or reject runs."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.ops.runbooks import parse_runbook
from triops.ops.runbooks import runbook_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema_runbooks import RunbookRun, RunbookVersion

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["runbooks"])

MAX_SOURCE_BYTES = 256 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RunbookOut(BaseModel):
    name: str
    version: int
    spec: dict[str, Any]
    source: str
    created_by: str
    created_ms: int

    @classmethod
    def of(cls, row: RunbookVersion) -> RunbookOut:
        return cls(name=row.name, version=row.version, spec=row.spec, source=row.source,
                   created_by=row.created_by, created_ms=row.created_ms)


class RunOut(BaseModel):
    id: str
    runbook: str
    runbook_version: int
    incident_id: str
    status: str
    reason: str
    causes: list[dict[str, Any]]
    plan: list[dict[str, Any]] = Field(..., description="the dry-run of every step")
    steps: list[dict[str, Any]] = Field(..., description="what each executed step did")
    decided_by: str | None
    decided_ms: int | None
    created_ms: int
    acted_ms: int | None
    verify_due_ms: int | None
    finished_ms: int | None

    @classmethod
    def of(cls, row: RunbookRun) -> RunOut:
        return cls(id=row.id, runbook=row.runbook, runbook_version=row.runbook_version,
                   incident_id=row.incident_id, status=row.status, reason=row.reason,
                   causes=row.causes.get("ranked", []), plan=row.plan.get("steps", []),
                   steps=sorted(row.steps.get("done", []), key=lambda s: s["index"]),
                   decided_by=row.decided_by, decided_ms=row.decided_ms,
                   created_ms=row.created_ms, acted_ms=row.acted_ms,
                   verify_due_ms=row.verify_due_ms, finished_ms=row.finished_ms)


class DecisionIn(BaseModel):
    note: str = Field("", max_length=2000)


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"runbook name {name!r} is not valid: use 1-128 letters, digits, "
                           "'.', '_' or '-', starting with a letter or digit")
    return name


@router.put("/runbooks/{name}", response_model=RunbookOut, status_code=201)
async def put_runbook(name: str, request: Request, caller: Caller = AsEditor) -> RunbookOut:
    """The body is the runbook's YAML; each PUT adds a version."""
    body = await request.body()
    if len(body) > MAX_SOURCE_BYTES:
        raise InvalidInput(f"runbook is over {MAX_SOURCE_BYTES} bytes")
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("runbook must be UTF-8 text") from None
    spec = parse_runbook(source)
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        row = repo.put(session, caller.project, _name(name), source,
                       spec.model_dump(mode="json", by_alias=True), caller.actor,
                       runtime.runbooks.clock())
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="runbook.put", target=f"runbook:{name}",
                     detail={"version": row.version})
        return RunbookOut.of(row)


@router.get("/runbooks", response_model=list[RunbookOut])
def list_runbooks(request: Request, caller: Caller = AsViewer) -> list[RunbookOut]:
    with runtime_of(request).db.read() as session:
        return [RunbookOut.of(r) for r in repo.list_current(session, caller.project)]


@router.get("/runbooks/{name}", response_model=RunbookOut)
def get_runbook(name: str, request: Request, version: int | None = Query(None, ge=1),
                caller: Caller = AsViewer) -> RunbookOut:
    with runtime_of(request).db.read() as session:
        return RunbookOut.of(repo.get(session, caller.project, name, version))


@router.delete("/runbooks/{name}", status_code=204)
def delete_runbook(name: str, request: Request, caller: Caller = AsEditor) -> None:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        repo.delete_runbook(session, caller.project, name, runtime.runbooks.clock())
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="runbook.delete", target=f"runbook:{name}")


@router.get("/runbooks/{name}/dry-run")
def dry_run(name: str, request: Request, incident_id: str = Query(...),
            caller: Caller = AsViewer) -> list[dict[str, Any]]:
    """What the runbook would change for this incident; changes nothing."""
    return runtime_of(request).runbooks.dry_run(caller.project, name, incident_id)


@router.get("/runbook-runs", response_model=list[RunOut])
def list_runs(request: Request, incident_id: str | None = None, status: str | None = None,
              limit: int = Query(100, ge=1, le=1000), caller: Caller = AsViewer
              ) -> list[RunOut]:
    with runtime_of(request).db.read() as session:
        rows = repo.list_runs(session, caller.project, incident_id=incident_id,
                              status=status, limit=limit)
        return [RunOut.of(r) for r in rows]


@router.get("/runbook-runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, request: Request, caller: Caller = AsViewer) -> RunOut:
    with runtime_of(request).db.read() as session:
        return RunOut.of(repo.get_run(session, caller.project, run_id))


@router.post("/runbook-runs/{run_id}/approve", response_model=RunOut)
def approve(run_id: str, request: Request, body: DecisionIn | None = None,
            caller: Caller = AsEditor) -> RunOut:
    return _decide(request, caller, run_id, True, body)


@router.post("/runbook-runs/{run_id}/reject", response_model=RunOut)
def reject(run_id: str, request: Request, body: DecisionIn | None = None,
           caller: Caller = AsEditor) -> RunOut:
    return _decide(request, caller, run_id, False, body)


def _decide(request: Request, caller: Caller, run_id: str, approved: bool,
            body: DecisionIn | None) -> RunOut:
    run = runtime_of(request).runbooks.decide(caller.project, run_id, caller.actor, approved,
                                               body.note if body else "")
    return RunOut.of(run)
