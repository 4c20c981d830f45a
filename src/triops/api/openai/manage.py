"""``/api/v1/gateway/...``: the gateway's upstreams, routes and per-key policies.

Upstreams and routes serve every project, so changing them needs a server admin (an
admin key for all projects); a project admin may not redirect other projects' traffic.
Key policies are per key: a project's admin sets those of the project's keys.
Upstream secrets are write-only: they are stored for calling the upstream and never
returned (``has_secret`` says whether one is set). Where an upstream points (its URL,
whether it has a secret, its timeout) is shown to server admins only; other keys see
its name and provider, enough to read the routes. Every change is checked against the
whole configuration before it is stored, so a stored state can always be served.
``POST /routes/{alias}/rollout`` moves a route to a candidate as a canary only when its
eval gate passes (``triops.llm.evals.rollout``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, SecretStr
from starlette.requests import Request

from triops.core.errors import NotFound
from triops.core.gateway_settings import DeploymentConfig
from triops.llm import eval_store, gateway_admin, online_evals
from triops.llm import gateway_store as repo
from triops.llm.evals import rollout as rollout_gate
from triops.server import audit_log as audit
from triops.server.auth import (
    AsAdmin,
    AsServerAdmin,
    AsViewer,
    Caller,
    RoleFirstRoute,
    is_server_admin,
)
from triops.server.runtime import runtime_of
from triops.store.schema import ApiKey

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/gateway", tags=["gateway"])



class UpstreamIn(BaseModel):
    provider: str = Field("openai", examples=["openai", "anthropic"])
    base_url: str = Field(..., min_length=1, pattern=r"^https?://")
    api_key: SecretStr | None = Field(None, description="omit to keep the stored one")
    clear_api_key: bool = False
    timeout_s: float | None = Field(None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class UpstreamOut(BaseModel):
    """An upstream as listed; the fields after ``provider`` are null unless a server
    admin asks."""

    name: str
    provider: str
    source: Literal["api", "config"]
    base_url: str | None = None
    has_secret: bool | None = None
    timeout_s: float | None = None

    def named_only(self) -> UpstreamOut:
        return UpstreamOut(name=self.name, provider=self.provider, source=self.source)


class RouteIn(BaseModel):
    deployments: list[DeploymentConfig] = Field(..., min_length=1)
    fallbacks: list[str] = Field(default_factory=list)


class RouteOut(RouteIn):
    alias: str
    source: Literal["api", "config"]


class PolicyIn(BaseModel):
    models: list[str] | None = Field(None, description="null: every served model")
    budget_usd: float | None = Field(None, ge=0)
    budget_period: Literal["day", "month", "total"] = "month"
    rpm: int | None = Field(None, ge=0)
    tpm: int | None = Field(None, ge=0)
    cache: bool = True


class PolicyOut(PolicyIn):
    key_id: str


def _who(caller: Caller) -> gateway_admin.Who:
    return gateway_admin.Who(actor=caller.actor, project=caller.project)


def _changed(request: Request) -> None:
    runtime_of(request).gateway_changed()


@router.get("/upstreams", response_model=list[UpstreamOut])
def list_upstreams(request: Request, caller: Caller = AsViewer) -> list[UpstreamOut]:
    runtime = runtime_of(request)
    out = {u.name: UpstreamOut(name=u.name, provider=u.provider, base_url=u.base_url,
                               has_secret=u.api_key is not None, timeout_s=u.timeout_s,
                               source="config") for u in runtime.settings.gateway.upstreams}
    with runtime.db.read() as session:
        for row in repo.list_upstreams(session):
            out[row.name] = UpstreamOut(name=row.name, provider=row.provider,
                                        base_url=row.base_url, has_secret=bool(row.secret),
                                        timeout_s=row.timeout_s, source="api")
    listed = [out[name] for name in sorted(out)]
    # An internal URL or the fact that a secret is set is reconnaissance for an attacker.
    return listed if is_server_admin(caller.principal) else [u.named_only() for u in listed]


@router.put("/upstreams/{name}", response_model=UpstreamOut)
def put_upstream(name: str, body: UpstreamIn, request: Request,
                 caller: Caller = AsServerAdmin) -> UpstreamOut:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        row = gateway_admin.put_upstream(
            session, runtime.settings.gateway, _who(caller), name=name, provider=body.provider,
            base_url=body.base_url,
            secret=None if body.api_key is None else body.api_key.get_secret_value(),
            clear_secret=body.clear_api_key, timeout_s=body.timeout_s, headers=body.headers)
        out = UpstreamOut(name=row.name, provider=row.provider, base_url=row.base_url,
                          has_secret=bool(row.secret), timeout_s=row.timeout_s, source="api")
    _changed(request)
    return out


@router.delete("/upstreams/{name}", status_code=204)
def delete_upstream(name: str, request: Request, caller: Caller = AsServerAdmin) -> None:
    with runtime_of(request).db.write() as session:
        gateway_admin.delete_upstream(session, _who(caller), name)
    _changed(request)


@router.get("/routes", response_model=list[RouteOut])
def list_routes(request: Request, caller: Caller = AsViewer) -> list[RouteOut]:
    runtime = runtime_of(request)
    out = {r.alias: RouteOut(alias=r.alias, deployments=r.deployments, fallbacks=r.fallbacks,
                             source="config") for r in runtime.settings.gateway.routes}
    with runtime.db.read() as session:
        for route in gateway_admin.stored(session)[1]:
            out[route.alias] = RouteOut(alias=route.alias, deployments=route.deployments,
                                        fallbacks=route.fallbacks, source="api")
    return [out[alias] for alias in sorted(out)]


@router.put("/routes/{alias:path}", response_model=RouteOut)
def put_route(alias: str, body: RouteIn, request: Request, caller: Caller = AsServerAdmin
              ) -> RouteOut:
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        gateway_admin.put_route(session, runtime.settings.gateway, _who(caller), alias,
                                body.deployments, body.fallbacks)
    _changed(request)
    return RouteOut(alias=alias, deployments=body.deployments, fallbacks=body.fallbacks,
                    source="api")


class CandidateIn(BaseModel):
    upstream: str = Field(..., min_length=1, max_length=128)
    model: str = Field(..., min_length=1, max_length=256)


class WatchIn(BaseModel):
    scorers: list[Any] = Field(..., min_length=1, max_length=20)
    sample_rate: float = Field(0.1, gt=0, le=1)
    window: int = Field(20, ge=2, le=10_000)
    threshold: float | None = Field(None, ge=0, le=1)
    max_drop: float | None = Field(0.2, ge=0, le=1)
    max_ungrounded_rate: float | None = Field(
        None, ge=0, le=1, description="alarm when a larger share of the window's answers is "
                                      "ungrounded (needs a groundedness scorer)")


class RolloutIn(BaseModel):
    baseline_run: str = Field(..., max_length=32, description="eval run of what serves now")
    candidate_run: str = Field(..., max_length=32, description="eval run of the candidate, "
                                                               "on the same pinned dataset")
    candidate: CandidateIn
    scorers: list[str] | None = Field(None, max_length=50,
                                      description="scorers the gate checks; all shared ones "
                                                  "if absent")
    max_drop: float = Field(0.0, ge=0, le=1, description="the largest drop the gate allows")
    canary_percent: float = Field(10.0, gt=0, lt=100)
    watch: WatchIn | None = Field(None, description="an online evaluator on the candidate")


class RolloutOut(BaseModel):
    passed: bool
    reasons: list[str]
    dataset: str
    deltas: list[dict[str, Any]]
    route: RouteOut | None
    watcher: str | None


@router.post("/routes/{alias:path}/rollout", response_model=RolloutOut)
def rollout(alias: str, body: RolloutIn, request: Request, caller: Caller = AsServerAdmin
            ) -> RolloutOut:
    """Move ``alias`` to the candidate as a canary, only if the eval gate passes; when it
    fails, the route stays as it is and the answer says why."""
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        gate = rollout_gate.judge(session, caller.project, body.baseline_run,
                                  body.candidate_run, scorers=body.scorers,
                                  max_drop=body.max_drop)
    gate_detail = {"candidate": body.candidate.model_dump(), "baseline_run": body.baseline_run,
                   "candidate_run": body.candidate_run, "dataset": gate.dataset,
                   "passed": gate.passed, "reasons": gate.reasons, "deltas": gate.deltas,
                   "max_drop": body.max_drop, "canary_percent": body.canary_percent}
    if not gate.passed:
        # Audited though nothing changed: who tried which candidate, and why it was held back.
        with runtime.db.write() as session:
            audit.record(session, project=caller.project, actor=caller.actor,
                         action=rollout_gate.REFUSED, target=alias, detail=gate_detail)
        return RolloutOut(passed=False, reasons=gate.reasons, dataset=gate.dataset,
                          deltas=gate.deltas, route=None, watcher=None)
    current = runtime.gateway.snapshot.table.routes.get(alias)
    if current is None:
        raise NotFound(f"no route {alias!r} to roll out on")
    deployments = rollout_gate.canary([d.model_dump() for d in current.deployments],
                                      body.candidate.model_dump(), body.canary_percent)
    watcher = None
    if body.watch is not None:
        watcher = f"rollout-{alias.replace('/', '-')}"[:128]
        config = {**body.watch.model_dump(), "model": body.candidate.model, "prompt": None}
        online_evals.check_config(watcher, config)
        with runtime.db.write() as session:
            eval_store.put_online(session, caller.project, watcher, config, True)
    with runtime.db.write() as session:
        stored = gateway_admin.put_route(
            session, runtime.settings.gateway, _who(caller), alias, deployments,
            current.fallbacks, action=rollout_gate.ROLLED_OUT,
            detail={**gate_detail, "watcher": watcher})
    _changed(request)
    route = RouteOut(alias=alias, deployments=stored.deployments, fallbacks=stored.fallbacks,
                     source="api")
    return RolloutOut(passed=True, reasons=[], dataset=gate.dataset, deltas=gate.deltas,
                      route=route, watcher=watcher)


@router.delete("/routes/{alias:path}", status_code=204)
def delete_route(alias: str, request: Request, caller: Caller = AsServerAdmin) -> None:
    with runtime_of(request).db.write() as session:
        gateway_admin.delete_route(session, _who(caller), alias)
    _changed(request)


def _key_in_scope(session, key_id: str, caller: Caller) -> ApiKey:  # type: ignore[no-untyped-def]
    row = session.get(ApiKey, key_id)
    if row is None or (not caller.principal.is_global and row.project != caller.project):
        raise NotFound(f"API key {key_id!r} does not exist")
    return row


@router.get("/keys/{key_id}/policy", response_model=PolicyOut)
def get_policy(key_id: str, request: Request, caller: Caller = AsAdmin) -> PolicyOut:
    with runtime_of(request).db.read() as session:
        _key_in_scope(session, key_id, caller)
        row = repo.get_policy(session, key_id)
        if row is None:
            return PolicyOut(key_id=key_id)
        return PolicyOut(key_id=key_id, models=(row.allowed or {}).get("models"),
                         budget_usd=row.budget_usd, budget_period=row.budget_period,  # type: ignore[arg-type]
                         rpm=row.rpm, tpm=row.tpm, cache=row.cache)


@router.put("/keys/{key_id}/policy", response_model=PolicyOut)
def put_policy(key_id: str, body: PolicyIn, request: Request, caller: Caller = AsAdmin
               ) -> PolicyOut:
    with runtime_of(request).db.write() as session:
        key = _key_in_scope(session, key_id, caller)
        repo.put_policy(session, key_id, models=body.models, budget_usd=body.budget_usd,
                        budget_period=body.budget_period, rpm=body.rpm, tpm=body.tpm,
                        cache=body.cache)
        audit.record(session, project=key.project, actor=caller.actor,
                     action="gateway.policy.put", target=key_id, detail=body.model_dump())
    _changed(request)
    return PolicyOut(key_id=key_id, **body.model_dump())


@router.delete("/keys/{key_id}/policy", status_code=204)
def delete_policy(key_id: str, request: Request, caller: Caller = AsAdmin) -> None:
    with runtime_of(request).db.write() as session:
        key = _key_in_scope(session, key_id, caller)
        repo.delete_policy(session, key_id)
        audit.record(session, project=key.project, actor=caller.actor,
                     action="gateway.policy.delete", target=key_id)
    _changed(request)
