"""Serving endpoints, native API: deploy, list, get, delete; predict; labels; the log.

``POST /api/v1/endpoints/{name}/predict`` takes ``{"records": [{...}, ...]}`` or MLflow's
scoring-server ``{"dataframe_split": {"columns": [...], "data": [[...]]}}`` and answers
``{"predictions": [...]}`` (plus the serving version), once the prediction is logged.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from triops.core.errors import InvalidInput, PermissionDenied
from triops.core.ids import now_ms
from triops.core.principals import Role
from triops.ml import (
    EndpointSpec,
    ServingService,
    Table,
    append_labels,
    deploy,
    from_records,
    from_split,
    predictions_window,
    traffic,
    undeploy,
)
from triops.ml import deployment_store as deployments
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema_deployments import ServingEndpoint

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["serving"])
MAX_LABELS = 10_000


class CanaryIn(BaseModel):
    ref: str = Field(..., description="'@alias' or a version number")
    percent: float = Field(..., gt=0, lt=100)


class ShadowIn(BaseModel):
    ref: str = Field(..., description="'@alias' or a version number")


class EndpointIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=128)
    model: str = Field(..., description="NAME@ALIAS or NAME/VERSION, e.g. churn@champion")
    canary: CanaryIn | None = None
    shadow: ShadowIn | None = None
    max_batch_size: int = Field(32, ge=1, le=4096)
    max_wait_ms: float = Field(2.0, ge=0, le=1000)
    log_sample_rate: float = Field(1.0, ge=0, le=1)
    trust_pickle: bool = Field(
        False, description="load pickle-serialized models, which run their author's code; "
                           "admin only, bound to the files' SHA-256 (audited)")
    trusted_types: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=64,
        description="skops types to load beyond the reviewed ones; admin only, bound to the "
                    "files' SHA-256 (audited)")
    replace: bool = False

    def to_spec(self) -> EndpointSpec:
        model_name, ref = traffic.parse_model(self.model)
        policy: dict[str, Any] = {}
        if self.canary is not None:
            policy["canary"] = self.canary.model_dump()
        if self.shadow is not None:
            policy["shadow"] = self.shadow.model_dump()
        return EndpointSpec(
            name=self.name, model_name=model_name, model_ref=ref, policy=policy,
            max_batch_size=self.max_batch_size, max_wait_ms=self.max_wait_ms,
            log_sample_rate=self.log_sample_rate, trust_pickle=self.trust_pickle,
            trusted_types=tuple(self.trusted_types))


class EndpointOut(BaseModel):
    name: str
    model: str
    model_ref: str
    policy: dict[str, Any]
    max_batch_size: int
    max_wait_ms: float
    log_sample_rate: float
    trust_pickle: bool
    trusted_types: list[str] = Field(default_factory=list)
    trusted_files: list[str] = Field(default_factory=list,
                                     description="SHA-256 of the files the trust is for")
    created_by: str
    created_ms: int
    updated_ms: int
    versions: dict[str, int] = Field(default_factory=dict,
                                     description="the version each role resolves to now")
    batching: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per loaded version on this server: model calls, "
                                          "requests and rows served since start")

    @classmethod
    def of(cls, row: ServingEndpoint, versions: dict[str, int] | None = None) -> EndpointOut:
        return cls(name=row.name, model=row.model_name, model_ref=row.model_ref,
                   policy=row.policy or {}, max_batch_size=row.max_batch_size,
                   max_wait_ms=row.max_wait_ms, log_sample_rate=row.log_sample_rate,
                   trust_pickle=row.trust_pickle, trusted_types=list(row.trusted_types or []),
                   trusted_files=list(row.trusted_files or []), created_by=row.created_by,
                   created_ms=row.created_ms, updated_ms=row.updated_ms,
                   versions=versions or {})


class LabelIn(BaseModel):
    request_id: str = Field(..., min_length=1, max_length=128)
    label: Any


def _service(request: Request) -> ServingService:
    return runtime_of(request).serving


@router.post("/endpoints", response_model=EndpointOut, status_code=201)
async def create_endpoint(body: EndpointIn, request: Request,
                          caller: Caller = AsEditor) -> EndpointOut:
    if (body.trust_pickle or body.trusted_types) and not caller.principal.allows(Role.admin):
        # Trust lets a model file run code in the server: an editor may not grant it.
        raise PermissionDenied("trust_pickle and trusted_types need the admin role; the key "
                               f"has {caller.principal.role.name}")
    runtime = runtime_of(request)
    done = await run_in_threadpool(deploy, runtime.db, runtime.artifacts, caller.project,
                                   body.to_spec(), actor=caller.actor, replace=body.replace)
    service = _service(request)
    service.forget(caller.project, done.spec.name)
    for version, handle in done.handles.items():
        service.adopt(caller.project, done.spec.model_name, version, handle, done.spec)
    return EndpointOut.of(done.row, done.versions)


@router.get("/endpoints", response_model=list[EndpointOut])
def list_endpoints(request: Request, caller: Caller = AsViewer) -> list[EndpointOut]:
    with runtime_of(request).db.read() as session:
        return [EndpointOut.of(row) for row in deployments.list_all(session, caller.project)]


@router.get("/endpoints/{name}", response_model=EndpointOut)
def get_endpoint(name: str, request: Request, caller: Caller = AsViewer) -> EndpointOut:
    service = _service(request)
    with runtime_of(request).db.read() as session:
        row = deployments.get(session, caller.project, name)
    spec = deployments.spec_of(row)
    policy = traffic.parse_policy(spec.policy)
    refs = {"primary": spec.model_ref, "canary": policy.canary_ref, "shadow": policy.shadow_ref}
    versions = {role: service.resolve_now(caller.project, spec.model_name, ref)
                for role, ref in refs.items() if ref is not None}
    out = EndpointOut.of(row, versions)
    out.batching = service.batch_stats(caller.project, spec.model_name)
    return out


@router.delete("/endpoints/{name}", status_code=204)
def delete_endpoint(name: str, request: Request, caller: Caller = AsEditor) -> Response:
    undeploy(runtime_of(request).db, caller.project, name, actor=caller.actor)
    _service(request).forget(caller.project, name)
    return Response(status_code=204)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None


def _table_of(body: Any) -> Table:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object with 'records' or 'dataframe_split'")
    if "records" in body:
        return from_records(body["records"])
    if "dataframe_records" in body:  # MLflow's name for the same shape
        return from_records(body["dataframe_records"])
    if "dataframe_split" in body:
        return from_split(body["dataframe_split"])
    raise InvalidInput("the body needs 'records' (a list of objects) or 'dataframe_split'")


async def _predict(name: str, request: Request, caller: Caller, explain: bool) -> Response:
    table = _table_of(await _json_body(request))
    result = await _service(request).predict(
        caller.project, name, lambda _signature: table, request.state.request_id,
        explain=explain)
    body = {"predictions": result.outputs, "model": result.model, "version": result.version,
            "served_by": result.served_by, "request_id": result.request_id}
    if result.explanation is not None:
        body["explanation"] = result.explanation
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")


@router.post("/endpoints/{name}/predict")
async def predict(name: str, request: Request,
                  explain: bool = Query(False, description="also return (and log) feature "
                                        "attributions of every row"),
                  caller: Caller = AsEditor) -> Response:
    return await _predict(name, request, caller, explain)


@router.post("/endpoints/{name}/explain")
async def explain(name: str, request: Request, caller: Caller = AsEditor) -> Response:
    """Predict and attribute: ``explanation.values[r][j]`` is feature ``j``'s share of row
    ``r``'s output above ``explanation.base_values[r]``."""
    return await _predict(name, request, caller, True)


@router.get("/endpoints/{name}/importance")
async def importance(name: str, request: Request,
                     limit: int = Query(1000, ge=1, le=10_000),
                     version: Annotated[list[int] | None, Query(
                         description="versions to compare on the same logged rows "
                         "(default: those that served them)")] = None,
                     caller: Caller = AsViewer) -> dict[str, Any]:
    service = _service(request)
    found = await service.importance(caller.project, name, limit, version or None)
    return {"importance": [i.as_dict() for i in found]}


@router.post("/endpoints/{name}/labels")
def post_labels(name: str, labels: list[LabelIn], request: Request,
                caller: Caller = AsEditor) -> dict[str, int]:
    if not labels:
        raise InvalidInput("send at least one {\"request_id\", \"label\"}")
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"at most {MAX_LABELS} labels per request")
    with runtime_of(request).db.write() as session:
        deployments.get(session, caller.project, name)
        count = append_labels(session, caller.project, name, now_ms(),
                              [(item.request_id, item.label) for item in labels])
    return {"accepted": count}


@router.get("/endpoints/{name}/predictions")
def list_predictions(name: str, request: Request, start_ms: int | None = Query(None, ge=0),
                     end_ms: int | None = Query(None, ge=0),
                     limit: int = Query(100, ge=1, le=10_000),
                     caller: Caller = AsViewer) -> dict[str, Any]:
    with runtime_of(request).db.read() as session:
        deployments.get(session, caller.project, name)
        found = predictions_window(session, caller.project, name, start_ms, end_ms, limit)
    return {"predictions": [
        {"request_id": p.request_id, "time_ms": p.time_ms, "model": p.model,
         "version": p.version, "served_by": p.served_by, "latency_ms": p.latency_ms,
         "inputs": p.inputs, "outputs": p.outputs, "label": p.label,
         "shadow": None if p.shadow is None else {
             "version": p.shadow.version, "outputs": p.shadow.outputs,
             "agree": p.shadow.agree, "error": p.shadow.error},
         **({"explanation": p.explanation} if p.explanation is not None else {})}
        for p in found]}
