"""``/api/v1/guardrails``: the registered checks, the rules in force, stored rules,
a dry run of a check on a text, and block rates per rule over time.

Rules are gateway configuration shared by every project: storing or deleting one needs
a server admin (an admin key for all projects), as gateway upstreams and routes do. A rule is compiled (its check built with its options)
before it is stored, so a stored rule can always run.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request

from triops.core.errors import InvalidInput, NotFound
from triops.core.guardrail_settings import GuardrailRule
from triops.llm import block_rates, compile_rule, guardrail_names
from triops.llm import guardrail_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsEditor, AsServerAdmin, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/guardrails", tags=["guardrails"])


class RuleIn(BaseModel):
    check: str = Field(..., min_length=1, examples=["pii", "injection"])
    stage: Literal["input", "output", "both"] = "input"
    mode: Literal["block", "redact", "flag"] = "block"
    routes: list[str] = Field(default_factory=list)
    keys: list[str] = Field(default_factory=list)
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class RuleOut(RuleIn):
    name: str
    source: Literal["api", "config"]


class Overview(BaseModel):
    enabled: bool
    checks: list[str]
    rules: list[RuleOut]


class CheckIn(BaseModel):
    text: str = Field(..., max_length=1_000_000)
    rule: str | None = Field(None, description="a rule in force; or give check/options")
    check: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    stage: Literal["input", "output"] = "input"


class FindingOut(BaseModel):
    kind: str
    start: int
    end: int
    score: float
    message: str


class CheckOut(BaseModel):
    findings: list[FindingOut]
    redacted: str | None = Field(None, description="the text as redact mode would send it")
    latency_ms: float


def _engine(request: Request) -> Any:
    return runtime_of(request).gateway.guardrails


@router.get("", summary="Registered checks and the rules in force")
def overview(request: Request, caller: Caller = AsViewer) -> Overview:
    engine = _engine(request)
    stored = {r.name for r in _stored(request)}
    rules = [RuleOut(name=r.name, source="api" if r.name in stored else "config",
                     **r.config.model_dump(exclude={"name"})) for r in engine.rules]
    return Overview(enabled=engine.settings.enabled, checks=guardrail_names(), rules=rules)


def _stored(request: Request) -> list[Any]:
    with runtime_of(request).db.read() as session:
        return repo.list_rules(session)


@router.put("/rules/{name}", summary="Store a rule (replacing a stored one of that name)")
def put_rule(name: str, body: RuleIn, request: Request, caller: Caller = AsServerAdmin
             ) -> RuleOut:
    try:
        config = GuardrailRule(name=name, **body.model_dump())
    except ValidationError as exc:
        raise InvalidInput(f"invalid rule name {name!r}: letters, digits and _ . : - only "
                           f"({exc.error_count()} problem(s))") from None
    compile_rule(config)  # InvalidInput before anything is stored
    with runtime_of(request).db.write() as session:
        repo.put_rule(session, name, body.model_dump(), actor=caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="guardrail.rule.put", target=name, detail=body.model_dump())
    runtime_of(request).guardrails_changed()
    return RuleOut(name=name, source="api", **body.model_dump())


@router.delete("/rules/{name}", status_code=204, summary="Delete a stored rule")
def delete_rule(name: str, request: Request, caller: Caller = AsServerAdmin) -> None:
    with runtime_of(request).db.write() as session:
        repo.delete_rule(session, name, actor=caller.actor)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="guardrail.rule.delete", target=name)
    runtime_of(request).guardrails_changed()


@router.post("/check", summary="Run one check on a text (nothing is stored)")
async def check(body: CheckIn, request: Request, caller: Caller = AsEditor) -> CheckOut:
    engine = _engine(request)
    if body.rule is not None:
        found = [r for r in engine.rules if r.name == body.rule]
        if not found:
            raise NotFound(f"no guardrail rule {body.rule!r} is in force")
        rule = found[0]
    elif body.check is not None:
        rule = compile_rule(GuardrailRule(name="adhoc", check=body.check, mode="flag",
                                          options=body.options))
    else:
        raise InvalidInput("give 'rule' (a rule in force) or 'check' with its 'options'")

    class _Trace:  # what the engine's embedder needs to know about a caller
        project, route, key_id = caller.project, "", caller.principal.key_id

    started = time.perf_counter()
    context = engine.context(_Trace(), body.stage)
    if inspect.iscoroutinefunction(rule.guard.check):
        findings = await engine.run_check(rule, body.text, context)
    else:  # CPU-bound checks leave the event loop free
        findings = await anyio.to_thread.run_sync(rule.guard.check, body.text, context)
    latency = (time.perf_counter() - started) * 1000
    redacted = (rule.guard.redact(body.text, None, findings)
                if getattr(rule.guard, "redacts", False) else None)
    return CheckOut(findings=[FindingOut(kind=f.kind, start=f.start, end=f.end, score=f.score,
                                         message=f.message) for f in findings],
                    redacted=redacted, latency_ms=round(latency, 3))


class RatePoint(BaseModel):
    start_ms: int
    checks: int
    blocked: int
    rate: float


class RuleRates(BaseModel):
    rule: str
    checks: int
    blocked: int
    redacted: int
    flagged: int
    errors: int
    points: list[RatePoint]


@router.get("/stats", summary="Checks and block rate per rule over time")
def stats(request: Request, caller: Caller = AsViewer,
          hours: float = Query(24.0, gt=0, le=24 * 90),
          bucket_s: int = Query(3600, ge=60, le=86400)) -> list[RuleRates]:
    end_ms = int(time.time() * 1000) + 1
    with runtime_of(request).db.read() as session:
        rates = block_rates(session, caller.project, end_ms - int(hours * 3600_000), end_ms,
                            bucket_s * 1000)
    return [RuleRates(**r) for r in rates]
