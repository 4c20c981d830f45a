"""Prometheus ``query_range`` sources: ``/api/v1/ops/prometheus-sources``.

Admins write them: a source makes the server send requests to the URL it names, so who
may name one is who may point notifications somewhere. Each source is polled by the servers' duty loop (:mod:`triops.ops.prom_query`); its
answer shows the last successful poll and the last error, if the newest poll failed.
Credentials are write-only: answers show them as ``***``, so a PUT that changes anything
else gives them again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from triops.core.ids import now_ms
from triops.ops import PromSourceSpec, check_source_name, masked_spec
from triops.ops import prom_source_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsAdmin, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/ops/prometheus-sources",
                   tags=["telemetry"])

SourceName = PathParam(..., min_length=1, max_length=128)


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., max_length=2000, description="Prometheus base URL, e.g. "
                     "http://prometheus:9090")
    query: str = Field(..., max_length=4000, description="PromQL expression; each label "
                       "set it returns is its own series")
    step: str | int = Field(60, description="resolution: seconds or e.g. 15s, 1m")
    lookback: str | int = Field("1h", description="how far back the first poll reaches")
    every: str | int | None = Field(None, description="how often to poll (default: step)")
    detector: str | None = Field(None, max_length=64)
    bearer_token: str | None = Field(None, max_length=4096, description="sent as "
                                     "'Authorization: Bearer …'; never shown again")
    username: str | None = Field(None, max_length=256, description="HTTP basic auth user")
    password: str | None = Field(None, max_length=4096, description="HTTP basic auth "
                                 "password; never shown again")
    tls_verify: bool | None = Field(None, description="false accepts a certificate that "
                                    "does not verify (self-signed)")


class SourceOut(BaseModel):
    name: str
    spec: dict[str, Any]
    updated_by: str
    updated_ms: int
    last_run_ms: int | None
    fetched_to_ms: int | None
    last_ok_ms: int | None
    last_error: str
    last_error_ms: int | None
    series: int
    points: int
    anomalies: int


def _out(row: Any) -> SourceOut:
    return SourceOut(name=row.name, spec=masked_spec(row.spec), updated_by=row.updated_by,
                     updated_ms=row.updated_ms, last_run_ms=row.last_run_ms,
                     fetched_to_ms=row.fetched_to_ms, last_ok_ms=row.last_ok_ms,
                     last_error=row.last_error, last_error_ms=row.last_error_ms,
                     series=row.series, points=row.points, anomalies=row.anomalies)


@router.put("/{name}", response_model=SourceOut)
def put_source(body: SourceIn, request: Request, name: str = SourceName,
               caller: Caller = AsAdmin) -> SourceOut:
    spec = PromSourceSpec.of(body.model_dump(exclude_none=True)).spec()
    check_source_name(name)
    with runtime_of(request).db.write() as session:
        row = repo.put(session, caller.project, name, spec, caller.actor, now_ms())
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="prometheus_source.put", target=f"prometheus_source:{name}",
                     detail={"url": spec["url"], "query": spec["query"]})
        return _out(row)


@router.get("", response_model=list[SourceOut])
def list_sources(request: Request, caller: Caller = AsViewer) -> list[SourceOut]:
    with runtime_of(request).db.read() as session:
        return [_out(r) for r in repo.list_all(session, caller.project)]


@router.get("/{name}", response_model=SourceOut)
def get_source(request: Request, name: str = SourceName, caller: Caller = AsViewer
               ) -> SourceOut:
    with runtime_of(request).db.read() as session:
        return _out(repo.get(session, caller.project, name))


@router.delete("/{name}")
def delete_source(request: Request, name: str = SourceName, caller: Caller = AsAdmin
                  ) -> dict[str, str]:
    with runtime_of(request).db.write() as session:
        repo.delete(session, caller.project, name)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="prometheus_source.delete", target=f"prometheus_source:{name}",
                     detail={})
    return {"deleted": name}
