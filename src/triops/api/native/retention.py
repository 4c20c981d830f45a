"""The project's retention policy: ``/api/v1/retention`` (admins set and clear it).

Without a policy a project keeps everything. Enforcement is a background duty of the
servers (:mod:`triops.ops.retention`); the answer shows when it last ran and what it did.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from triops.core.errors import NotFound
from triops.core.ids import now_ms
from triops.ops import RetentionPolicy
from triops.ops import retention_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsAdmin, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/retention", tags=["retention"])

Age = str | int | None
_AGE = "how long to keep it: seconds or a duration such as 36h, 7d, 2w; absent keeps it"


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics_raw: Age = Field(None, description=f"raw samples, then 5-minute rollups: {_AGE}")
    metrics_rollup: Age = Field(None, description=f"5-minute rollups: {_AGE}")
    logs: Age = Field(None, description=f"log lines: {_AGE}")
    traces: Age = Field(None, description=f"spans and traces: {_AGE}")


class RetentionOut(BaseModel):
    project: str
    #: Ages in seconds; an absent one is kept for ever.
    policy: dict[str, int]
    updated_by: str
    updated_ms: int
    last_run_ms: int | None
    last_report: dict[str, Any]
    last_error: str


def _out(row: Any) -> RetentionOut:
    return RetentionOut(project=row.project, policy=row.spec, updated_by=row.updated_by,
                        updated_ms=row.updated_ms, last_run_ms=row.last_run_ms,
                        last_report=row.last_report, last_error=row.last_error)


@router.get("", response_model=RetentionOut)
def get_policy(request: Request, caller: Caller = AsViewer) -> RetentionOut:
    with runtime_of(request).db.read() as session:
        row = repo.get(session, caller.project)
        if row is None:
            raise NotFound(f"project {caller.project!r} has no retention policy: "
                           "everything is kept")
        return _out(row)


@router.put("", response_model=RetentionOut)
def put_policy(body: RetentionIn, request: Request, caller: Caller = AsAdmin) -> RetentionOut:
    policy = RetentionPolicy.of(body.model_dump(exclude_none=True))
    with runtime_of(request).db.write() as session:
        row = repo.put(session, caller.project, policy.spec(), caller.actor, now_ms())
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="retention.put", target=f"project:{caller.project}",
                     detail=policy.spec())
        return _out(row)


@router.delete("")
def delete_policy(request: Request, caller: Caller = AsAdmin) -> dict[str, str]:
    with runtime_of(request).db.write() as session:
        repo.delete(session, caller.project)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="retention.delete", target=f"project:{caller.project}", detail={})
    return {"deleted": caller.project}
